"""The held-out protocol: train on some melodies of an instrument, score on melodies it never heard.

A model that only reproduces its training recording is not yet an instrument; what a user plays
is new. The development recordings (``../shared/audio/dev``) hold seven FluidR3 instruments
(``INSTRUMENTS``), each playing melody 1 and melodies 3 to 8 (``fluid_<instrument>[_mN].<16k|44k>.flac``,
about 40 s each): 3 and 4 in the low register, 5 and 6 in the high one, 7 and 8 across the whole
range, with wider dynamics than melody 1. The fixed split is

- train on ``TRAIN_MELODIES`` = m1, m3, m5, m7 (about 2.7 minutes);
- score on ``HELD_OUT_MELODIES`` = m4, m6, m8 (about 2 minutes): a new low melody, a new high
  one and a new melody across the range, each next to a training melody of its register.

Every system is scored by :func:`torchddsp.apps.workflows.resynthesis_metrics` on the same files
(MSS, loudness L1 and bias, f0 L1 and outliers; CREPE tiny on input and output): the trained
model, WORLD copy-synthesis and the naive harmonic synth (:mod:`torchddsp.evaluation.references`).
:func:`summarise` averages a system's rows over the held-out files, weighted by their length.
``python -m benchmarks.heldout`` runs the whole protocol (training included).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from torchddsp.apps.inference import TrainedModel
from torchddsp.apps.workflows import evaluate_audio, resynthesis_metrics
from torchddsp.data import long_audio
from torchddsp.evaluation.references import naive_harmonic, world_resynthesis

__all__ = ["INSTRUMENTS", "TRAIN_MELODIES", "HELD_OUT_MELODIES", "melody_path", "split", "score_model",
           "score_references", "summarise"]

INSTRUMENTS = ("altosax", "cello", "clarinet", "flute", "oboe", "trumpet", "violin")
TRAIN_MELODIES = ("m1", "m3", "m5", "m7")
HELD_OUT_MELODIES = ("m4", "m6", "m8")
RATES = {16000: "16k", 44100: "44k"}


def melody_path(root: str | Path, instrument: str, melody: str, sample_rate: int) -> Path:
    """``ROOT/fluid_<instrument>[_<melody>].<16k|44k>.flac`` (melody 1 has no suffix)."""
    if instrument not in INSTRUMENTS:
        raise ValueError(f"instrument: expected one of {INSTRUMENTS}, received {instrument!r}")
    if sample_rate not in RATES:
        raise ValueError(f"sample_rate: expected one of {tuple(RATES)}, received {sample_rate!r}")
    suffix = "" if melody == "m1" else f"_{melody}"
    return Path(root) / f"fluid_{instrument}{suffix}.{RATES[sample_rate]}.flac"


def split(root: str | Path, instrument: str, sample_rate: int) -> tuple[list[Path], list[Path]]:
    """``(train files, held-out files)`` of ``instrument`` at ``sample_rate``; ``ValueError`` naming a missing one."""
    train = [melody_path(root, instrument, m, sample_rate) for m in TRAIN_MELODIES]
    held_out = [melody_path(root, instrument, m, sample_rate) for m in HELD_OUT_MELODIES]
    missing = [str(p) for p in train + held_out if not p.is_file()]
    if missing:
        raise ValueError(f"root: the held-out protocol needs {missing[0]!r} (and {len(missing) - 1} more missing); "
                         "it reads the development recordings of ../shared/audio/dev")
    return train, held_out


def _mono(path: Path) -> tuple[np.ndarray, int]:
    source = long_audio.open_mono(path)
    return source.read(0, source.length), source.sample_rate


def score_model(trained: TrainedModel, files: list[Path], f0_tracker: str = "crepe-tiny") -> list[dict]:
    """One row per file: the model's resynthesis metrics (at the model's rate)."""
    rows = []
    for path in files:
        metrics, _ = evaluate_audio(trained, path, f0_tracker=f0_tracker)
        rows.append({"file": path.name, **metrics})
    return rows


def score_references(files: list[Path], hop_size: int, f0_tracker: str = "crepe-tiny",
                     f0_method: str = "crepe-tiny", f0_refine: bool = False) -> dict[str, list[dict]]:
    """``{"world": rows, "naive harmonic": rows}`` on ``files`` at their own rate (the same metrics as
    :func:`score_model`; the naive synth follows ``f0_method`` / ``f0_refine``, as the model's data does)."""
    rows: dict[str, list[dict]] = {"world": [], "naive harmonic": []}
    for path in files:
        audio, sample_rate = _mono(path)
        reference = torch.from_numpy(audio)
        for name, output in (("world", world_resynthesis(audio, sample_rate)),
                             ("naive harmonic", naive_harmonic(audio, sample_rate, hop_size, f0_method, f0_refine))):
            metrics = resynthesis_metrics(reference, torch.from_numpy(output), sample_rate, hop_size, f0_tracker)
            rows[name].append({"file": path.name, **metrics})
    return rows


def summarise(rows: list[dict]) -> dict:
    """The rows' numeric metrics averaged over files, weighted by ``seconds``; ``seconds`` summed."""
    total = sum(row["seconds"] for row in rows)
    keys = [k for k, v in rows[0].items() if isinstance(v, float) and k != "seconds"]
    summary = {}
    for key in keys:
        values = [(row[key], row["seconds"]) for row in rows if not math.isnan(row[key])]
        weight = sum(s for _, s in values)
        summary[key] = sum(v * s for v, s in values) / weight if weight else math.nan
    return {**summary, "seconds": total}
