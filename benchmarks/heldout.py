"""The held-out protocol as one command: per instrument and rate, train on melodies 1, 3, 5, 7 and
score on melodies 4, 6, 8 against WORLD and the naive harmonic synth (``torchddsp.evaluation.heldout``).

    python -m benchmarks.heldout --instruments violin flute --rates 16000 44100 --steps 4000

For each instrument and rate: prepare the training melodies (``--f0-method``, default CREPE tiny
refined), score the references on the held-out melodies, then train the rate's config
(``--config-16k``, ``--config-44k``) for ``--steps`` steps in ``--evaluations`` stretches, recording
the held-out MSS and the training time after each (MSS against training time), and finally score
the model on the held-out melodies (and, with ``--score-train``, on its training melodies: the
other view of the gap). A fixed number of steps, not a time budget, so a loaded machine changes
the time, not the model. Results go to ``OUT/heldout.json`` after every step of the protocol, and
a table per instrument is printed at the end. ``--reuse EARLIER_OUT`` takes the prepared data and
the reference scores of an earlier run instead of computing them again (to compare configs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from torchddsp.apps.inference import load_trained, resynthesize
from torchddsp.apps.workflows import multiscale_spectral_distance_in_segments
from torchddsp.data import prepare
from torchddsp.evaluation.heldout import INSTRUMENTS, score_model, score_references, split, summarise
from torchddsp.training import load_config, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "audio" / "dev"
COLUMNS = ("mss", "loudness_l1_db", "loudness_bias_db", "f0_l1_cents", "f0_outlier_ratio")


def held_out_mss(run_dir: Path, files: list[Path]) -> float:
    """The model's MSS on ``files`` (no f0 tracking: cheap enough to repeat along training), length-weighted."""
    trained = load_trained(run_dir)
    total = seconds = 0.0
    for path in files:
        result = resynthesize(trained, path)
        length = len(result["audio"]) / trained.sample_rate
        total += length * multiscale_spectral_distance_in_segments(result["audio"], result["output"],
                                                                   trained.sample_rate)
        seconds += length
    return total / seconds


def run_one(instrument: str, rate: int, args, work: Path, record: dict, save) -> None:
    train_files, held_out = split(args.root, instrument, rate)
    key = f"{instrument}@{rate}"
    entry = record.setdefault(key, {"train_files": [p.name for p in train_files],
                                    "held_out_files": [p.name for p in held_out]})
    folder = work / key
    reused = Path(args.reuse) / key if args.reuse else None
    if reused is not None and "references" not in entry:
        earlier = json.loads((Path(args.reuse) / "heldout.json").read_text()).get(key, {})
        if earlier.get("held_out_files") == entry["held_out_files"] and "references" in earlier:
            entry["references"] = earlier["references"]
    if reused is not None and (reused / "data").exists() and not (folder / "data").exists():
        shutil.copytree(reused / "data", folder / "data")
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    for path in train_files:
        shutil.copyfile(path, folder / "audio" / path.name)
    prepare(folder / "audio", folder / "data", sample_rate=rate, f0_method=args.f0_method, f0_refine=args.f0_refine,
            progress=False, log=lambda m: None)
    hop = round(rate / 250)
    if "references" not in entry:
        references = score_references(held_out, hop, args.f0_tracker, args.f0_method, args.f0_refine)
        entry["references"] = {name: {"rows": rows, "summary": summarise(rows)} for name, rows in references.items()}
        save()
    config_name = args.config_16k if rate == 16000 else args.config_44k
    entry["config"], entry["set"] = config_name, list(args.set)
    curve, trained_seconds = entry.setdefault("mss_curve", []), 0.0
    run_dir = folder / "run"
    for point in range(1, args.evaluations + 1):
        steps = round(args.steps * point / args.evaluations)
        if curve and curve[-1]["step"] >= steps:
            trained_seconds = curve[-1]["train_seconds"]
            continue
        config = load_config(config_name, [f"train.steps={steps}", f"train.threads={args.threads}", *args.set])
        began = time.perf_counter()
        train(folder / "data", run_dir, config, resume=run_dir.exists(), progress=False, log=lambda m: None)
        trained_seconds += time.perf_counter() - began
        curve.append({"step": steps, "train_seconds": trained_seconds, "mss": held_out_mss(run_dir, held_out)})
        print(f"{key}: step {steps}, {trained_seconds / 60:.1f} min, held-out MSS {curve[-1]['mss']:.3f}", flush=True)
        save()
    trained = load_trained(run_dir)
    rows = score_model(trained, held_out, args.f0_tracker)
    entry["model"] = {"rows": rows, "summary": summarise(rows)}
    if args.score_train:
        rows = score_model(trained, train_files, args.f0_tracker)
        entry["model_on_train"] = {"rows": rows, "summary": summarise(rows)}
    save()


def table(record: dict) -> str:
    lines = ["| instrument@rate | system | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for key, entry in record.items():
        systems = {"model": entry.get("model"), "model (train melodies)": entry.get("model_on_train"),
                   **entry.get("references", {})}
        for name, result in systems.items():
            if result:
                values = " | ".join(f"{result['summary'][c]:.3g}" for c in COLUMNS)
                lines.append(f"| {key} | {name} | {values} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(SHARED), help="the development recordings (default: ../shared/audio/dev)")
    parser.add_argument("--instruments", nargs="+", default=list(INSTRUMENTS), choices=INSTRUMENTS)
    parser.add_argument("--rates", nargs="+", type=int, default=[16000, 44100], choices=[16000, 44100])
    parser.add_argument("--steps", type=int, default=4000, help="training steps per model (default: 4000)")
    parser.add_argument("--evaluations", type=int, default=4, help="points of the MSS-against-time curve")
    parser.add_argument("--config-16k", default="small")
    parser.add_argument("--config-44k", default="small_44k")
    parser.add_argument("--set", action="append", default=[], help="config overrides for every model")
    parser.add_argument("--f0-method", default="crepe-tiny")
    parser.add_argument("--no-f0-refine", dest="f0_refine", action="store_false")
    parser.add_argument("--f0-tracker", default="crepe-tiny", help="the evaluation's f0 tracker")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--score-train", action="store_true", help="also score each model on its training melodies")
    parser.add_argument("--reuse", default=None, help="an earlier --out folder whose prepared data and reference "
                        "scores to reuse (same f0 method; the references do not depend on the model)")
    parser.add_argument("--out", default=None, help="work folder; run again to resume (default: a new temp folder)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(args.out or tempfile.mkdtemp(prefix="torchddsp-heldout-"))
    work.mkdir(parents=True, exist_ok=True)
    results = work / "heldout.json"
    record = json.loads(results.read_text()) if results.exists() else {}

    def save() -> None:
        results.write_text(json.dumps(record, indent=1))

    for instrument in args.instruments:
        for rate in args.rates:
            run_one(instrument, rate, args, work, record, save)
    print(table(record))
    print(f"results in {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
