"""Using a trained autoencoder: resynthesis and timbre transfer of any recording.

``resynthesize``: the recording's own f0 and loudness drive the model (a reconstruction test).
``transfer``: another recording's f0 and loudness drive the model; following Engel et al.'s
demo, f0 is shifted by whole octaves so its median lands nearest the training data's median
pitch, and loudness is shifted so the recording's mean loudness over its confidently pitched
frames matches the training data's. Both shifts can be overridden. Any input length and sample
rate: the input is resampled to the model's rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from torchddsp.data import long_audio
from torchddsp.features import confident_frames, extract_features
from torchddsp.features.voicing import periodicity_confidence, warn_if_not_monophonic
from torchddsp.models import DDSPAutoencoder, ModelConfig, mfcc_frames
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


def analyse(trained: TrainedModel, audio: str | Path | np.ndarray, sample_rate: int | None = None) -> dict:
    """A recording at any rate -> its audio and features at the model's rate and hop.

    ``audio``: an audio file's path, or an array ``(time,)`` / ``(channels, time)`` at
    ``sample_rate`` Hz; channels are mixed to mono. The audio is resampled and analysed a chunk at
    a time (:mod:`torchddsp.data.long_audio`) with the same results as at once. Returns
    ``{"audio": (frames * hop_size,), "f0_hz", "f0_confidence", "voiced", "loudness_db": (frames,)}``
    float32 tensors, ``frames = ceil(resampled length / hop_size)`` (the audio zero-padded to
    whole frames), and for a model with a ``z`` encoder ``"mfcc": (frames, n_mfcc)``. Warns once
    when the recording looks polyphonic or unpitched
    (:func:`torchddsp.features.voicing.warn_if_not_monophonic`).
    """
    source = long_audio.open_mono(audio, sample_rate)
    frames = -(-long_audio.resampled_length(source, trained.sample_rate) // trained.hop_size)
    resampled = long_audio.scratch_array(frames * trained.hop_size)         # zero-padded to whole frames
    try:
        long_audio.resample_into(source, trained.sample_rate, out=resampled)
    except ValueError as reason:
        raise ValueError(f"audio: expected a non-empty recording of finite samples, received {source.name!r}: "
                         f"{reason}") from None

    def extract(segment: torch.Tensor) -> dict:
        features = extract_features(segment, trained.sample_rate, trained.hop_size, f0_method=trained.f0_method,
                                    f0_refine=trained.f0_refine)
        if trained.model.encoder is not None:
            features["mfcc"] = mfcc_frames(segment, trained.model.config)
        if trained.f0_method != "yin":
            features["periodicity"] = periodicity_confidence(segment, trained.sample_rate, trained.hop_size)
        return features
    features = long_audio.features_in_chunks(extract, resampled, trained.sample_rate, trained.hop_size)
    features = {name: torch.from_numpy(value) for name, value in features.items()}
    periodicity = features.pop("periodicity", features["f0_confidence"])
    warn_if_not_monophonic({"f0_confidence": periodicity, "loudness_db": features["loudness_db"]}, source.name,
                           training_periodic_fraction(trained))
    return {"audio": torch.from_numpy(resampled), **features}


def training_periodic_fraction(trained: TrainedModel) -> float | None:
    """The training data's share of clearly periodic frames on YIN's confidence, or ``None`` when
    unknown (data prepared before it was recorded, or measured on another tracker's confidence)."""
    stats = trained.stats
    if "yin_periodic_fraction" in stats:
        return stats["yin_periodic_fraction"]
    if "periodic_fraction" in stats and trained.f0_method == "yin":      # data prepared before 2026-12-08
        return stats["periodic_fraction"]
    return None


@torch.no_grad()
def render(trained: TrainedModel, f0_hz: torch.Tensor, loudness_db: torch.Tensor, seed: int = 0,
           mfcc: torch.Tensor | None = None) -> torch.Tensor:
    """The model's audio ``(frames * hop_size,)`` for features ``(frames,)`` (and, for a model with a
    ``z`` encoder, ``mfcc`` ``(frames, n_mfcc)``), rendered a chunk at a time.

    The model streams (its state carried from chunk to chunk) and the stream is flushed by holding
    the last frame for ``latency`` more samples, so the result equals one call of the model on all
    the frames except in its last ``latency`` samples, and memory does not grow with length.
    """
    model, hop = trained.model, trained.hop_size
    frames = f0_hz.shape[-1]
    length = frames * hop
    out = long_audio.scratch_array(length)
    flush = -(-model.latency // hop)
    f0 = torch.cat([f0_hz, f0_hz[-1:].expand(flush)]).float()
    loudness = torch.cat([loudness_db, loudness_db[-1:].expand(flush)]).float()
    if model.encoder is not None:
        if mfcc is None or tuple(mfcc.shape) != (frames, model.config.n_mfcc):
            raise ValueError(f"mfcc: this model reads a latent z from MFCCs, expected shape ({frames}, "
                             f"{model.config.n_mfcc}), received {None if mfcc is None else tuple(mfcc.shape)}")
        mfcc = torch.cat([mfcc, mfcc[-1:].expand(flush, -1)]).float()
    state = model.initial_state(1, noise_seed=seed)
    chunk = max(1, round(long_audio.CHUNK_SECONDS * trained.sample_rate / hop))
    for first in range(0, frames + flush, chunk):
        block_mfcc = None if model.encoder is None else mfcc[None, first:first + chunk]
        block, state = model(f0[None, first:first + chunk], loudness[None, first:first + chunk], block_mfcc,
                             state=state)
        begin = first * hop - model.latency                    # where the block's first sample belongs
        lo, hi = max(begin, 0), min(begin + block.shape[-1], length)
        if hi > lo:
            out[lo:hi] = block[0, lo - begin:hi - begin].numpy()
        long_audio.release_pages(out)
    return torch.from_numpy(out)


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


def resynthesize(trained: TrainedModel, audio: str | Path | np.ndarray, sample_rate: int | None = None,
                 seed: int = 0) -> dict:
    """The model driven by ``audio``'s own f0 and loudness (``audio`` as :func:`analyse`): its features
    and ``"output"``, the resynthesis ``(frames * hop_size,)``."""
    features = analyse(trained, audio, sample_rate)
    return {**features, "output": render(trained, features["f0_hz"], features["loudness_db"], seed,
                                         features.get("mfcc"))}


MAX_OCTAVE_SHIFT = 8             # 2^8: from 20 Hz past 5 kHz
MAX_LOUDNESS_SHIFT_DB = 120.0    # the loudness floor is -120 dB


def transfer(trained: TrainedModel, audio: str | Path | np.ndarray, sample_rate: int | None = None,
             octave_shift: int | None = None, loudness_shift_db: float | None = None, seed: int = 0) -> dict:
    """Render ``audio``'s melody with the learned timbre; shifts default to :func:`automatic_shifts`.

    ``octave_shift`` is an integer in ``[-MAX_OCTAVE_SHIFT, MAX_OCTAVE_SHIFT]``; ``loudness_shift_db``
    a finite number of dB in ``[-MAX_LOUDNESS_SHIFT_DB, MAX_LOUDNESS_SHIFT_DB]``. A model with a ``z``
    encoder reads ``z`` from ``audio``'s MFCCs, which carry some of ``audio``'s own timbre: Engel et
    al.'s transfer model (and our ``transfer`` configs) use f0 and loudness only.
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
    nyquist = trained.sample_rate / 2
    if float(f0.max()) > nyquist:
        raise ValueError(f"octave_shift: {octaves:+d} octave(s) moves f0 up to {float(f0.max()):.0f} Hz, above the "
                         f"model's Nyquist frequency {nyquist:g} Hz; choose a lower shift")
    loudness = features["loudness_db"] + loud_shift
    return {**features, "f0_shifted": f0, "loudness_shifted": loudness, "octave_shift": octaves,
            "loudness_shift_db": loud_shift, "output": render(trained, f0, loudness, seed, features.get("mfcc"))}
