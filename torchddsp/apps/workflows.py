"""End-to-end workflows behind the commands: evaluate, report, demo.

``demo`` is the README's main job: on a fresh machine, offline and without user data, it
prepares real example audio, trains the small model for a few minutes, resynthesises the
recording, transfers a melody onto the learned timbre, writes an HTML report and returns its
path. Example audio comes from ``$TORCHDDSP_EXAMPLE_AUDIO`` when that names a folder of
recordings (tests point it at the shared development recordings), otherwise from the CMU ARCTIC
sentence that ships inside the ``pysptk`` wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from torchddsp.apps.inference import TrainedModel, resynthesize, transfer
from torchddsp.data.audio import read_audio, write_wav
from torchddsp.evaluation import metrics, report
from torchddsp.features import extract_features
from torchddsp.features.confidence import EVALUATION_F0_CONFIDENCE, confident_frames


def resynthesis_metrics(audio: torch.Tensor, output: torch.Tensor, sample_rate: int, hop_size: int,
                        f0_tracker: str = "crepe-tiny", reference: dict | None = None) -> dict:
    """Engel et al.'s resynthesis metrics of ``output`` against ``audio`` (mono, same rate), plus
    the multi-scale spectral distance.

    Both signals are analysed by ``f0_tracker`` (an ``extract_features`` f0 method; CREPE, as
    Engel et al., in its tiny capacity by default; YIN when the CREPE weights are not installed,
    which the returned ``"f0_tracker"`` says). f0 is compared on the frames where the input's
    confidence is at least ``metrics.EVALUATION_F0_CONFIDENCE``. ``reference``: the features of
    ``audio`` already extracted by ``f0_tracker`` (its analysis is then not repeated).
    """
    length = min(audio.shape[-1], output.shape[-1])
    audio, output = audio[..., :length], output[..., :length]
    if reference is None:
        try:
            reference = extract_features(audio, sample_rate, hop_size, f0_method=f0_tracker)
        except FileNotFoundError:                # CREPE weights not installed: the built-in tracker
            f0_tracker = "yin"
            reference = extract_features(audio, sample_rate, hop_size, f0_method=f0_tracker)
    again = extract_features(output, sample_rate, hop_size, f0_method=f0_tracker)
    confident = confident_frames(reference["f0_hz"], reference["f0_confidence"], EVALUATION_F0_CONFIDENCE)
    return {
        "loudness_l1_db": metrics.loudness_l1(reference["loudness_db"], again["loudness_db"]),
        "f0_l1_cents": metrics.f0_l1_cents(reference["f0_hz"], again["f0_hz"], confident),
        "f0_outlier_ratio": metrics.f0_outlier_ratio(reference["f0_hz"], again["f0_hz"], confident),
        "mss": metrics.multiscale_spectral_distance(audio, output),
        "seconds": length / sample_rate,
        "f0_tracker": f0_tracker,
    }


def evaluate_audio(trained: TrainedModel, audio: np.ndarray, sample_rate: int, seed: int = 0,
                   f0_tracker: str = "crepe-tiny") -> tuple[dict, dict]:
    """``(metrics, resynthesis)``: :func:`resynthesis_metrics` of the model's resynthesis of one
    recording (at the model's rate), and the ``resynthesize`` result they were computed from."""
    result = resynthesize(trained, audio, sample_rate, seed)
    # The input's features are reused when the model analysed it with the evaluation's own tracker.
    known = result if trained.f0_method == f0_tracker and not trained.f0_refine else None
    return resynthesis_metrics(result["audio"], result["output"], trained.sample_rate, trained.hop_size,
                               f0_tracker, known), result


def run_report(trained: TrainedModel, items: list[dict], path: str | Path, title: str,
               metric_rows: list[dict] | None = None) -> Path:
    """HTML page: for each item (name, input, output[, transfer]) players, spectrograms, curves."""
    sr, frame_rate = trained.sample_rate, trained.sample_rate / trained.hop_size
    sections = []
    if metric_rows:
        sections.append(("Metrics", report.table_html(metric_rows)))
    for item in items:
        players = "".join(f"<p>{name}</p>{report.audio_tag(audio, sr)}" for name, audio in item["audio"].items())
        body = players + report.spectrogram_tag(item["audio"], sr)
        body += report.curves_tag(frame_rate, item["f0"], item["loudness"])
        if "distribution" in item:
            body += report.distribution_tag(item["distribution"], frame_rate)
        sections.append((item["name"], body))
    sections.append(("Training loss", report.loss_curve_tag(trained.run_dir / "losses.csv")))
    return report.write_report(path, title, sections)


def _distribution(trained: TrainedModel, f0: torch.Tensor, loudness: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return trained.model.controls(f0[None], loudness[None])["harmonic_distribution"][0]


def resynthesis_item(trained: TrainedModel, name: str, result: dict) -> dict:
    return {"name": name, "audio": {"input": result["audio"], "resynthesis": result["output"]},
            "f0": {"input f0": result["f0_hz"]}, "loudness": {"input loudness": result["loudness_db"]},
            "distribution": _distribution(trained, result["f0_hz"], result["loudness_db"])}


def transfer_item(trained: TrainedModel, name: str, result: dict) -> dict:
    return {"name": name, "audio": {"input": result["audio"], "transfer": result["output"]},
            "f0": {"input f0": result["f0_hz"], f"shifted {result['octave_shift']:+d} octave(s)": result["f0_shifted"]},
            "loudness": {"input": result["loudness_db"],
                         f"shifted {result['loudness_shift_db']:+.1f} dB": result["loudness_shifted"]},
            "distribution": _distribution(trained, result["f0_shifted"], result["loudness_shifted"])}


def example_audio(preferred: str = "fluid_violin.16k.flac") -> Path:
    """A real recording for the demo: ``$TORCHDDSP_EXAMPLE_AUDIO`` or pysptk's shipped ARCTIC sentence."""
    root = os.environ.get("TORCHDDSP_EXAMPLE_AUDIO")
    if root:
        for candidate in (Path(root) / preferred, Path(root) / "dev" / preferred):
            if candidate.exists():
                return candidate
        raise ValueError(f"TORCHDDSP_EXAMPLE_AUDIO: expected {preferred} in {root!r} or its dev/ folder, not found")
    try:
        import importlib.util
        spec = importlib.util.find_spec("pysptk")
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / "example_audio_data" / "arctic_a0007.wav"
        if path.exists():
            return path
    raise ValueError("example audio: none found; set TORCHDDSP_EXAMPLE_AUDIO to a folder of recordings "
                     "or install pysptk (its wheel ships a CMU ARCTIC sentence)")


def demo(out_dir: str | Path, minutes: float = 3.0, audio: str | Path | None = None, log=print) -> Path:
    """Prepare, train for ``minutes``, resynthesise, transfer, report; returns the report's path."""
    from torchddsp.apps.inference import load_trained
    from torchddsp.checks import check_positive
    from torchddsp.data import prepare
    from torchddsp.data.examples import example_controls
    from torchddsp.processors import HarmonicPlusNoise
    from torchddsp.training import latest_checkpoint, load_config, train

    check_positive("minutes", minutes)
    out = Path(out_dir)
    source = Path(audio) if audio else example_audio()
    if not source.is_file():
        raise ValueError(f"audio: expected an existing audio file, received {str(source)!r}")
    log(f"demo: training on {source}")
    staging = out / "audio"
    staging.mkdir(parents=True, exist_ok=True)
    link = staging / source.name
    if not link.exists():
        link.write_bytes(source.read_bytes())
    prepare(staging, out / "data", sample_rate=16000, example_seconds=4.0, log=log)
    config = load_config("small", [f"train.time_limit_seconds={minutes * 60}", "train.steps=100000"])
    run_dir = out / "run"
    resume = latest_checkpoint(run_dir) is not None
    if not resume and run_dir.exists():           # the demo's own run, killed before its first checkpoint
        log(f"demo: {run_dir} has no checkpoint yet; starting it again")
        shutil.rmtree(run_dir)
    began = time.time()
    train(out / "data", run_dir, config, resume=resume, log=log)
    log(f"demo: trained for {time.time() - began:.0f} s")
    trained = load_trained(run_dir)
    data, sr = read_audio(source, mono=True)
    metrics_row, result = evaluate_audio(trained, data.numpy(), sr)
    write_wav(out / "resynthesis.wav", result["output"].clamp(-1, 1), trained.sample_rate)
    # Transfer: a melody rendered by hand (torchddsp render's phrase) played with the learned timbre.
    controls = example_controls(4.0, 16000, 64, 60, 65)
    with torch.no_grad():
        melody = HarmonicPlusNoise(16000, 64, 60, 65).render(**controls, noise_seed=0)[0]
    melody = (0.8 * melody / melody.abs().max()).numpy()
    moved = transfer(trained, melody, 16000)
    write_wav(out / "transfer.wav", (moved["output"] / moved["output"].abs().max().clamp_min(1.0)), trained.sample_rate)
    (out / "metrics.json").write_text(json.dumps(metrics_row, indent=1))
    items = [resynthesis_item(trained, f"Resynthesis of {source.name}", result),
             transfer_item(trained, "Timbre transfer of a synthesised melody", moved)]
    return run_report(trained, items, out / "report.html", "torchddsp demo", [{"file": source.name, **metrics_row}])
