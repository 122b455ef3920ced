"""Using a trained autoencoder: resynthesis and timbre transfer of any recording.

``resynthesize``: the recording's own f0 and loudness drive the model (a reconstruction test).
``transfer``: another recording's f0 and loudness drive the model; following Engel et al.'s
demo, f0 is shifted by whole octaves so its median lands nearest the training data's median
pitch, and loudness is shifted so the recording's mean loudness over its confidently pitched
frames matches the training data's. Both shifts can be overridden. Any input length and sample
rate: the input is resampled to the model's rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from torchddsp.features import confident_frames, extract_features
from torchddsp.functional.core.resample import resample
from torchddsp.models import DDSPAutoencoder, ModelConfig
from torchddsp.training.checkpoint import inference_weights, latest_checkpoint, load_checkpoint, read_state


@dataclass
class TrainedModel:
    model: DDSPAutoencoder
    stats: dict
    f0_method: str
    run_dir: Path
    f0_refine: bool = False

    @property
    def sample_rate(self) -> int:
        return self.model.config.sample_rate

    @property
    def hop_size(self) -> int:
        return self.model.config.hop_size


def load_trained(run_dir: str | Path) -> TrainedModel:
    """The model of the last checkpoint in ``run_dir`` (weights loaded safely from safetensors; the
    moving average of the weights when training kept one, ``train.average_decay``)."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"run_dir: expected a training run with a checkpoint, received {str(run_dir)!r}")
    state = read_state(checkpoint)
    if not isinstance(state.get("config"), dict) or not isinstance(state["config"].get("model", {}), dict):
        raise ValueError(f"checkpoint: {str(checkpoint / 'state.json')!r} holds no model config table; "
                         "this folder was not written by `torchddsp train`")
    task = state["config"].get("task", "autoencoder")         # runs saved before tasks existed are autoencoders
    if task != "autoencoder":
        raise ValueError(f"run_dir: expected a run of the autoencoder task, received {str(run_dir)!r} "
                         f"of task {task!r}")
    try:
        config = ModelConfig.from_dict(state["config"].get("model", {}))
    except ValueError as error:                 # checked before any allocation
        raise ValueError(f"checkpoint: {str(checkpoint / 'state.json')!r} holds an invalid model config: "
                         f"{error}") from None
    model = DDSPAutoencoder(config)
    load_checkpoint(checkpoint, model, weights=inference_weights(checkpoint))
    model.eval()
    return TrainedModel(model, state.get("stats", {}), state.get("f0_method", "yin"), Path(run_dir),
                        state.get("f0_refine", False))


def analyse(trained: TrainedModel, audio: np.ndarray, sample_rate: int) -> dict:
    """Mono ``audio`` at any rate -> resampled audio and features at the model's rate and hop."""
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    if audio.size == 0 or not np.isfinite(audio).all():
        raise ValueError("audio: expected a non-empty recording of finite samples")
    audio = resample(audio.astype(np.float64), sample_rate, trained.sample_rate).astype(np.float32)
    frames = math.ceil(len(audio) / trained.hop_size)
    audio = np.pad(audio, (0, frames * trained.hop_size - len(audio)))
    features = extract_features(torch.from_numpy(audio), trained.sample_rate, trained.hop_size,
                                f0_method=trained.f0_method, f0_refine=trained.f0_refine)
    return {"audio": torch.from_numpy(audio), **{k: v.reshape(-1)[:frames].float() for k, v in features.items()}}


@torch.no_grad()
def render(trained: TrainedModel, f0_hz: torch.Tensor, loudness_db: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return trained.model(f0_hz[None], loudness_db[None], noise_seed=seed)[0]


def automatic_shifts(trained: TrainedModel, features: dict) -> tuple[int, float]:
    """(octaves, dB) that move the input's pitch and loudness into the training data's range."""
    voiced = confident_frames(features["f0_hz"], features["f0_confidence"])
    octaves, loudness = 0, 0.0
    if bool(voiced.any()) and "f0_midi_p50" in trained.stats:
        midi = 12 * torch.log2(features["f0_hz"][voiced] / 440.0) + 69
        octaves = int(round((trained.stats["f0_midi_p50"] - float(midi.median())) / 12))
    if "loudness_mean" in trained.stats:
        reference = features["loudness_db"][voiced] if bool(voiced.any()) else features["loudness_db"]
        loudness = float(trained.stats["loudness_mean"] - reference.mean())
    return octaves, loudness


def resynthesize(trained: TrainedModel, audio: np.ndarray, sample_rate: int, seed: int = 0) -> dict:
    features = analyse(trained, audio, sample_rate)
    return {**features, "output": render(trained, features["f0_hz"], features["loudness_db"], seed)}


MAX_OCTAVE_SHIFT = 8             # 2^8: from 20 Hz past 5 kHz
MAX_LOUDNESS_SHIFT_DB = 120.0    # the loudness floor is -120 dB


def transfer(trained: TrainedModel, audio: np.ndarray, sample_rate: int, octave_shift: int | None = None,
             loudness_shift_db: float | None = None, seed: int = 0) -> dict:
    """Render ``audio``'s melody with the learned timbre; shifts default to :func:`automatic_shifts`.

    ``octave_shift`` is an integer in ``[-MAX_OCTAVE_SHIFT, MAX_OCTAVE_SHIFT]``; ``loudness_shift_db``
    a finite number of dB in ``[-MAX_LOUDNESS_SHIFT_DB, MAX_LOUDNESS_SHIFT_DB]``.
    """
    if octave_shift is not None and (isinstance(octave_shift, bool) or not isinstance(octave_shift, int)
                                     or abs(octave_shift) > MAX_OCTAVE_SHIFT):
        raise ValueError(f"octave_shift: expected an integer in [-{MAX_OCTAVE_SHIFT}, {MAX_OCTAVE_SHIFT}] "
                         f"(beyond that f0 leaves the audible range), received {octave_shift!r}")
    if loudness_shift_db is not None and not (isinstance(loudness_shift_db, (int, float))
                                              and abs(loudness_shift_db) <= MAX_LOUDNESS_SHIFT_DB):
        raise ValueError(f"loudness_shift: expected a number of dB in [-{MAX_LOUDNESS_SHIFT_DB}, "
                         f"{MAX_LOUDNESS_SHIFT_DB}], received {loudness_shift_db!r}")
    features = analyse(trained, audio, sample_rate)
    auto_octaves, auto_loudness = automatic_shifts(trained, features)
    octaves = auto_octaves if octave_shift is None else octave_shift
    loud_shift = auto_loudness if loudness_shift_db is None else loudness_shift_db
    f0 = features["f0_hz"] * 2.0 ** octaves
    loudness = features["loudness_db"] + loud_shift
    return {**features, "f0_shifted": f0, "loudness_shifted": loudness, "octave_shift": octaves,
            "loudness_shift_db": loud_shift, "output": render(trained, f0, loudness, seed)}
