"""Autoencoder quality against wall-clock time, with two reference points from the same run.

    python -m benchmarks.quality_autoencoder ../shared/audio/dev/fluid_violin.16k.flac --minutes 20

The recording is split: the first ``1 - holdout`` of it is prepared (f0 by ``--f0-method``,
CREPE tiny by default, refined with ``--f0-refine``) and trained on, the rest is held out. At
evenly spaced points of the training budget the model resynthesises both parts and we report the multi-scale spectral
distance (MSS, defined in ``torchddsp.evaluation.metrics``) with loudness L1, f0 L1 and f0 outliers
(``torchddsp.apps.workflows.resynthesis_metrics``: CREPE tiny on input and output). References,
computed on the same parts with the same metrics:

- WORLD analysis/resynthesis and a naive harmonic synth (``torchddsp.evaluation.references``).

Also reported: training throughput (examples/s) and single-thread inference real-time factor.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from torchddsp.apps.inference import load_trained
from torchddsp.apps.workflows import evaluate_audio, resynthesis_metrics
from torchddsp.data import prepare
from torchddsp.evaluation.references import naive_harmonic, world_resynthesis
from torchddsp.functional.core import resample
from torchddsp.training import load_config, train


def inference_rtf(run_dir: Path, seconds: float = 10.0) -> float:
    trained = load_trained(run_dir)
    torch.set_num_threads(1)
    frames = int(seconds * trained.sample_rate / trained.hop_size)
    f0 = torch.full((1, frames), 220.0)
    loud = torch.full((1, frames), -30.0)
    with torch.no_grad():
        trained.model(f0, loud, noise_seed=0)
        begin = time.perf_counter()
        for _ in range(3):
            trained.model(f0, loud, noise_seed=0)
        elapsed = (time.perf_counter() - begin) / 3
    return seconds / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("audio")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--sample-rate", type=int, default=None, help="default: the file's own rate")
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--config", default="small")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--evaluations", type=int, default=5, help="evaluation points along the run")
    parser.add_argument("--f0-method", default="crepe-tiny", help="f0 tracker of the prepared data")
    parser.add_argument("--f0-refine", action="store_true", help="refine that f0 (features.refine_f0)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for training (default: 2)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    audio, rate = sf.read(args.audio, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    sample_rate = args.sample_rate or rate
    audio = resample(audio.astype(np.float64), rate, sample_rate).astype(np.float32)
    split = int(len(audio) * (1 - args.holdout))
    parts = {"train part": audio[:split], "held-out part": audio[split:]}
    work = Path(args.out or tempfile.mkdtemp(prefix="ddsp_quality_"))
    (work / "audio").mkdir(parents=True, exist_ok=True)
    sf.write(work / "audio" / "train.wav", parts["train part"], sample_rate, subtype="FLOAT")
    prepare(work / "audio", work / "data", sample_rate=sample_rate, f0_method=args.f0_method,
            f0_refine=args.f0_refine, progress=False)
    hop = round(sample_rate / 250)

    rows = []
    for name, x in parts.items():
        began = time.perf_counter()
        y = world_resynthesis(x, sample_rate)
        wall = time.perf_counter() - began
        rows.append({"system": "pyworld (harvest+cheaptrick+d4c)", "part": name, "wall_s": wall,
                     **resynthesis_metrics(torch.from_numpy(x), torch.from_numpy(y), sample_rate, hop)})
        y = naive_harmonic(x, sample_rate, hop, args.f0_method, args.f0_refine)
        rows.append({"system": "naive harmonic (1/k, frame RMS)", "part": name,
                     **resynthesis_metrics(torch.from_numpy(x), torch.from_numpy(y), sample_rate, hop)})
    for row in rows:
        print(row, flush=True)

    overrides = [f"train.time_limit_seconds={args.minutes * 60 / args.evaluations}", "train.steps=1000000",
                 f"train.threads={args.threads}", *args.set]
    total, run_dir = 0.0, work / "run"
    for point in range(args.evaluations):
        config = load_config(args.config, overrides)
        began = time.perf_counter()
        result = train(work / "data", run_dir, config, resume=point > 0, progress=False, log=lambda s: None)
        total += time.perf_counter() - began
        trained = load_trained(run_dir)
        for name, x in parts.items():
            values, _ = evaluate_audio(trained, x, sample_rate)
            row = {"system": "torchddsp small", "part": name, "train_minutes": total / 60, "step": result["step"],
                   **values}
            rows.append(row)
            print(row, flush=True)
    config = load_config(args.config, overrides)
    steps = result["step"]
    crop_s = config.train.crop_seconds
    throughput = steps * config.train.batch_size / total
    rtf = inference_rtf(run_dir)
    summary = {"file": args.audio, "sample_rate": sample_rate, "f0_method": args.f0_method,
               "f0_refine": args.f0_refine, "threads": args.threads,
               "train_seconds": total, "steps": steps,
               "examples_per_second": throughput, "example_seconds": crop_s,
               "inference_realtime_factor_1_thread": rtf, "rows": rows}
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=1))
    (work / "quality.json").write_text(json.dumps(summary, indent=1, default=float))
    print(f"results in {work / 'quality.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
