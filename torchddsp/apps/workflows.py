"""End-to-end workflows behind the commands: evaluate, report, demo.

``demo`` is the README's main job: on a fresh machine, offline and without user data, it
prepares real example audio, trains the small model for ``DEMO_STEPS`` steps (about three minutes
on 2 CPU cores; a fixed number of steps, so a busy machine takes longer but gives the same model),
resynthesises the
recording, transfers a melody onto the learned timbre, writes an HTML report and returns its
path. Example audio comes from ``$TORCHDDSP_EXAMPLE_AUDIO`` when that names a folder of
recordings (tests point it at the shared development recordings), otherwise from the CMU ARCTIC
sentence that ships inside the ``pysptk`` wheel.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from torchddsp.apps.inference import TrainedModel, resynthesize, transfer
from torchddsp.data import long_audio
from torchddsp.data.audio import write_wav
from torchddsp.evaluation import metrics, report
from torchddsp.features import extract_features
from torchddsp.features.confidence import EVALUATION_F0_CONFIDENCE, confident_frames

MSS_SEGMENT_SECONDS = 30.0     # the multi-scale spectral distance is averaged over segments this long


def multiscale_spectral_distance_in_segments(audio: torch.Tensor, output: torch.Tensor, sample_rate: int,
                                             segment_seconds: float = MSS_SEGMENT_SECONDS) -> float:
    """``metrics.multiscale_spectral_distance`` over equal segments of at most ``segment_seconds``,
    averaged weighted by length: memory bounded on long recordings, the plain distance on shorter ones."""
    length = min(audio.shape[-1], output.shape[-1])
    parts = max(1, math.ceil(length / (segment_seconds * sample_rate)))
    bounds = [round(i * length / parts) for i in range(parts + 1)]
    total = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        total += (b - a) * metrics.multiscale_spectral_distance(audio[a:b], output[a:b])
        long_audio.release_pages()                      # the scratch files' pages read so far
    return total / length


def resynthesis_metrics(audio: torch.Tensor, output: torch.Tensor, sample_rate: int, hop_size: int,
                        f0_tracker: str = "crepe-tiny", reference: dict | None = None) -> dict:
    """Engel et al.'s resynthesis metrics of ``output`` against ``audio`` (mono, same rate), plus
    the multi-scale spectral distance.

    Both signals are analysed by ``f0_tracker`` (an ``extract_features`` f0 method; CREPE, as
    Engel et al., in its tiny capacity by default; YIN when the CREPE weights are not installed,
    which the returned ``"f0_tracker"`` says) a chunk at a time, as ``analyse`` does. f0 is
    compared on the frames where the input's confidence is at least
    ``metrics.EVALUATION_F0_CONFIDENCE``. ``reference``: the features of ``audio`` already extracted
    by ``f0_tracker`` (its analysis is then not repeated). The spectral distance is
    :func:`multiscale_spectral_distance_in_segments`.
    """
    length = min(audio.shape[-1], output.shape[-1])
    audio, output = audio[..., :length], output[..., :length]

    def features(signal: torch.Tensor, tracker: str) -> dict:
        def extract(segment: torch.Tensor) -> dict:
            return extract_features(segment, sample_rate, hop_size, f0_method=tracker)
        arrays = long_audio.features_in_chunks(extract, signal.numpy(), sample_rate, hop_size)
        return {name: torch.from_numpy(value) for name, value in arrays.items()}

    if reference is None:
        try:
            reference = features(audio, f0_tracker)
        except FileNotFoundError:                # CREPE weights not installed: the built-in tracker
            f0_tracker = "yin"
            reference = features(audio, f0_tracker)
    again = features(output, f0_tracker)
    confident = confident_frames(reference["f0_hz"], reference["f0_confidence"], EVALUATION_F0_CONFIDENCE)
    return {
        "loudness_l1_db": metrics.loudness_l1(reference["loudness_db"], again["loudness_db"]),
        "loudness_bias_db": metrics.loudness_bias(reference["loudness_db"], again["loudness_db"]),
        "f0_l1_cents": metrics.f0_l1_cents(reference["f0_hz"], again["f0_hz"], confident),
        "f0_outlier_ratio": metrics.f0_outlier_ratio(reference["f0_hz"], again["f0_hz"], confident),
        "mss": multiscale_spectral_distance_in_segments(audio, output, sample_rate),
        "seconds": length / sample_rate,
        "f0_tracker": f0_tracker,
    }


def evaluate_audio(trained: TrainedModel, audio: str | Path | np.ndarray, sample_rate: int | None = None,
                   seed: int = 0, f0_tracker: str = "crepe-tiny") -> tuple[dict, dict]:
    """``(metrics, resynthesis)``: :func:`resynthesis_metrics` of the model's resynthesis of one
    recording (a path, or an array at ``sample_rate``; at the model's rate), and the
    ``resynthesize`` result they were computed from."""
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


REPORT_SECONDS = 60.0     # a report shows at most this much of a recording (its players are embedded)


def _distribution(trained: TrainedModel, f0: torch.Tensor, loudness: torch.Tensor,
                  mfcc: torch.Tensor | None) -> torch.Tensor:
    with torch.no_grad():
        mfcc = None if mfcc is None else mfcc[None]
        return trained.model.controls(f0[None], loudness[None], mfcc)["harmonic_distribution"][0]


def _excerpt(trained: TrainedModel, name: str, result: dict) -> tuple[str, int, int]:
    """(section title, frames, samples) of the part of ``result`` a report shows: at most REPORT_SECONDS."""
    frames = result["f0_hz"].shape[-1]
    shown = min(frames, max(1, round(REPORT_SECONDS * trained.sample_rate / trained.hop_size)))
    if shown < frames:
        name += f" (first {shown * trained.hop_size / trained.sample_rate:.4g} s of " \
                f"{frames * trained.hop_size / trained.sample_rate:.4g} s)"
    return name, shown, shown * trained.hop_size


def _mfcc(result: dict, frames: int) -> torch.Tensor | None:
    return result["mfcc"][:frames] if "mfcc" in result else None


def resynthesis_item(trained: TrainedModel, name: str, result: dict) -> dict:
    """A report section for a ``resynthesize`` result (its first REPORT_SECONDS)."""
    name, frames, samples = _excerpt(trained, name, result)
    f0, loudness = result["f0_hz"][:frames], result["loudness_db"][:frames]
    return {"name": name, "audio": {"input": result["audio"][:samples], "resynthesis": result["output"][:samples]},
            "f0": {"input f0": f0}, "loudness": {"input loudness": loudness},
            "distribution": _distribution(trained, f0, loudness, _mfcc(result, frames))}


def transfer_item(trained: TrainedModel, name: str, result: dict) -> dict:
    """A report section for a ``transfer`` result (its first REPORT_SECONDS)."""
    name, frames, samples = _excerpt(trained, name, result)
    shifted_f0, shifted_loudness = result["f0_shifted"][:frames], result["loudness_shifted"][:frames]
    return {"name": name, "audio": {"input": result["audio"][:samples], "transfer": result["output"][:samples]},
            "f0": {"input f0": result["f0_hz"][:frames],
                   f"shifted {result['octave_shift']:+d} octave(s)": shifted_f0},
            "loudness": {"input": result["loudness_db"][:frames],
                         f"shifted {result['loudness_shift_db']:+.1f} dB": shifted_loudness},
            "distribution": _distribution(trained, shifted_f0, shifted_loudness, _mfcc(result, frames))}


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


DEMO_STEPS = 1000     # the transfer config: 7.1 to 7.6 steps/s on 2 cores of this project's CI machine kind (2.3 min)


def demo(out_dir: str | Path, steps: int = DEMO_STEPS, audio: str | Path | None = None, log=print) -> Path:
    """Prepare, train ``steps`` steps of the ``transfer`` config, resynthesise, transfer, report; returns the
    report's path. The steps are a fixed number, not a time budget: the result is the same on a quiet
    and on a loaded machine (the trainer's threads are fixed too); the progress bar shows the ETA."""
    from torchddsp.apps.inference import load_trained
    from torchddsp.checks import check_positive_int
    from torchddsp.data import prepare
    from torchddsp.data.examples import example_controls
    from torchddsp.data.prepare import AUDIO_EXTENSIONS
    from torchddsp.files import check_output_folder
    from torchddsp.processors import HarmonicPlusNoise
    from torchddsp.training import latest_checkpoint, load_config, train

    check_positive_int("steps", steps)
    out = check_output_folder("--out", out_dir)
    source = Path(audio) if audio else example_audio()
    if not source.is_file() or source.suffix.lower() not in AUDIO_EXTENSIONS:
        raise ValueError(f"audio: expected an existing audio file ({', '.join(sorted(AUDIO_EXTENSIONS))}), "
                         f"received {str(source)!r}")
    long_audio.open_mono(source)                      # unreadable: a ValueError naming it, before any work
    log(f"demo: training on {source}")
    staging = out / "audio"
    staging.mkdir(parents=True, exist_ok=True)
    link = staging / source.name
    if not link.exists():
        link.write_bytes(source.read_bytes())
    prepare(staging, out / "data", sample_rate=16000, example_seconds=4.0, log=log)
    config = load_config("transfer", [f"train.steps={steps}"])       # f0 and loudness only: it also transfers
    run_dir = out / "run"
    resume = latest_checkpoint(run_dir) is not None
    if not resume and run_dir.exists():           # the demo's own run, killed before its first checkpoint
        log(f"demo: {run_dir} has no checkpoint yet; starting it again")
        shutil.rmtree(run_dir)
    began = time.time()
    train(out / "data", run_dir, config, resume=resume, log=log)
    log(f"demo: trained for {time.time() - began:.0f} s")
    trained = load_trained(run_dir)
    metrics_row, result = evaluate_audio(trained, source)
    write_wav(out / "resynthesis.wav", result["output"], trained.sample_rate, normalise=True)
    # Transfer: a melody rendered by hand (torchddsp render's phrase) played with the learned timbre.
    controls = example_controls(4.0, 16000, 64, 60, 65)
    with torch.no_grad():
        melody = HarmonicPlusNoise(16000, 64, 60, 65).render(**controls, noise_seed=0)[0]
    melody = (0.8 * melody / melody.abs().max()).numpy()
    moved = transfer(trained, melody, 16000)
    write_wav(out / "transfer.wav", moved["output"], trained.sample_rate, normalise=True)
    (out / "metrics.json").write_text(json.dumps(metrics_row, indent=1))
    items = [resynthesis_item(trained, f"Resynthesis of {source.name}", result),
             transfer_item(trained, "Timbre transfer of a synthesised melody", moved)]
    return run_report(trained, items, out / "report.html", "torchddsp demo", [{"file": source.name, **metrics_row}])
