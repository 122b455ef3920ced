"""One call for the frame-rate features that condition a DDSP model: f0, its confidence, loudness.

Alignment. For a signal of ``time`` samples and hop ``hop_size`` every feature has
``frames = ceil(time / hop_size)`` frames, and frame ``m`` describes the audio *centred* at sample
``m * hop_size`` (analysis windows are centred there, zero-padded beyond the signal's ends). This
is the synthesisers' convention (:func:`torchddsp.functional.core.upsample`: frame ``m`` sits at
sample ``m * hop_size``), so features extracted from a recording and fed back to a synthesiser
render ``frames * hop_size >= time`` samples aligned with the recording, without a shift.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from torchddsp.checks import check_choice, check_positive, check_positive_int
from torchddsp.features.crepe import crepe
from torchddsp.features.f0_refine import refine_f0
from torchddsp.features.loudness import loudness
from torchddsp.features.yin import check_audio, check_f0_range, num_frames, yin

# Recordings shorter than this are analysed with silence after them (longer than every analysis window).
SHORTEST_ANALYSIS_SECONDS = 0.3

__all__ = ["extract_features", "harvest", "F0_METHODS"]

F0_METHODS = ("yin", "crepe", "crepe-tiny", "harvest")


def harvest(audio: torch.Tensor, sample_rate: float, hop_size: int, fmin: float = 50.0, fmax: float = 2000.0):
    """WORLD's Harvest f0 (Morise 2017, through the optional ``pyworld`` package) on our frame grid.

    Returns ``(f0_hz, confidence, voiced)`` ``(..., ceil(time / hop_size))``; Harvest's frame ``m``
    lies at ``m * hop_size / sample_rate`` seconds, as ours. Harvest reports 0 Hz in unvoiced
    frames; here those hold the voiced f0 interpolated linearly in log-frequency (held at the
    ends; ``fmin`` when nothing is voiced) and confidence is 1 (voiced) or 0. Items are analysed
    one after another on the CPU (``sample_rate`` must be an integer number of Hz).
    """
    try:
        with warnings.catch_warnings():          # pyworld imports the deprecated pkg_resources
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            import pyworld
    except ImportError as error:                                       # pragma: no cover - optional
        raise ImportError("f0_method='harvest' needs the optional package pyworld (pip install pyworld)") from error
    check_audio(audio)
    check_positive_int("hop_size", hop_size)
    if float(sample_rate) != int(sample_rate):
        raise ValueError(f"sample_rate: expected an integer number of Hz for harvest, received {sample_rate!r}")
    frames = num_frames(audio.shape[-1], hop_size)
    flat = audio.detach().reshape(-1, audio.shape[-1]).cpu().to(torch.float64).numpy()
    f0 = np.zeros((flat.shape[0], frames))
    voiced = np.zeros((flat.shape[0], frames), dtype=bool)
    index = np.arange(frames)
    for i, item in enumerate(flat):
        if frames == 0:
            break
        raw, _ = pyworld.harvest(np.ascontiguousarray(item), int(sample_rate), f0_floor=float(fmin),
                                 f0_ceil=float(fmax), frame_period=1000.0 * hop_size / float(sample_rate))
        raw = np.pad(raw[:frames], (0, max(0, frames - len(raw))), mode="edge")
        on = raw > 0
        voiced[i] = on
        f0[i] = np.exp(np.interp(index, index[on], np.log(raw[on]))) if on.any() else fmin
    shape = (*audio.shape[:-1], frames)
    as_tensor = lambda a, dtype: torch.from_numpy(a).reshape(shape).to(dtype=dtype, device=audio.device)  # noqa: E731
    return as_tensor(f0, audio.dtype), as_tensor(voiced.astype(np.float64), audio.dtype), as_tensor(voiced, torch.bool)


def extract_features(audio: torch.Tensor, sample_rate: float, hop_size: int, f0_method: str = "yin", *,
                     fmin: float | None = None, fmax: float | None = None, crepe_capacity: str = "full",
                     yin_threshold: float = 0.15, median_filter: int = 1, f0_refine: bool = False,
                     loudness_n_fft: int | None = None, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """f0, f0 confidence, voicing and A-weighted loudness of ``audio`` ``(..., time)`` on one frame grid.

    Args:
        audio: real, finite ``(..., time)``, float32/float64, any device.
        sample_rate: in Hz (any rate). hop_size: samples between frames (>= 1).
        f0_method: ``"yin"`` (built in, no weights; :func:`~torchddsp.features.yin`), ``"crepe"``
            (pretrained network of capacity ``crepe_capacity``; :func:`~torchddsp.features.crepe`),
            ``"crepe-tiny"`` (the same with the tiny network, ~30x faster on a CPU) or
            ``"harvest"`` (WORLD, needs ``pyworld``; :func:`harvest`).
        fmin, fmax: f0 search range in Hz. Defaults: 50 Hz and ``min(2000, sample_rate / 4)``
            for yin and harvest; CREPE's whole range (31.7 to 2005.5 Hz) for crepe.
        crepe_capacity: ``"full"`` or ``"tiny"``. yin_threshold, median_filter: as :func:`yin`.
        f0_refine: refine the tracker's f0 from the instantaneous frequency of the first harmonics
            (:func:`~torchddsp.features.refine_f0`), which follows vibrato and onsets more closely.
        loudness_n_fft: FFT size of :func:`~torchddsp.features.loudness` (default 128 ms).
        batch_size: CREPE frames per forward pass.

    Returns ``{"f0_hz", "f0_confidence", "voiced", "loudness_db"}``, each ``(..., frames)`` with
    ``frames = ceil(time / hop_size)`` and frame ``m`` centred at sample ``m * hop_size`` (see
    the module docstring). f0 holds an estimate in every frame (see each method for unvoiced
    frames); ``f0_confidence`` is in [0, 1]; loudness is in dB (floor -120 dB at silence).
    Only the loudness is differentiable.
    """
    check_audio(audio)
    check_positive("sample_rate", sample_rate)
    check_positive_int("hop_size", hop_size)
    check_choice("f0_method", f0_method, F0_METHODS)
    time = audio.shape[-1]
    shortest = math.ceil(SHORTEST_ANALYSIS_SECONDS * sample_rate)
    if time < shortest:
        # Too short for the trackers' and the loudness' analysis windows: analyse the recording
        # followed by silence and keep its own frames (a 1-sample file gets one frame).
        padded = torch.nn.functional.pad(audio, (0, shortest - time))
        features = extract_features(padded, sample_rate, hop_size, f0_method, fmin=fmin, fmax=fmax,
                                    crepe_capacity=crepe_capacity, yin_threshold=yin_threshold,
                                    median_filter=median_filter, f0_refine=f0_refine,
                                    loudness_n_fft=loudness_n_fft, batch_size=batch_size)
        frames = -(-time // hop_size)
        return {name: value[..., :frames] for name, value in features.items()}
    if f0_method in ("crepe", "crepe-tiny"):
        capacity = "tiny" if f0_method == "crepe-tiny" else crepe_capacity
        est = crepe(audio, sample_rate, hop_size, capacity, fmin=fmin, fmax=fmax, batch_size=batch_size)
        f0, confidence, voiced = est
    else:
        lo = 50.0 if fmin is None else fmin
        hi = min(2000.0, sample_rate / 4) if fmax is None else fmax
        lo, hi = check_f0_range(lo, hi, sample_rate)
        if f0_method == "yin":
            f0, confidence, voiced = yin(audio, sample_rate, hop_size, lo, hi, threshold=yin_threshold,
                                         median_filter=median_filter)
        else:
            f0, confidence, voiced = harvest(audio, sample_rate, hop_size, lo, hi)
    if f0_refine:
        f0 = refine_f0(audio, sample_rate, hop_size, f0)
    loud = loudness(audio, sample_rate, hop_size, loudness_n_fft)
    return {"f0_hz": f0, "f0_confidence": confidence, "voiced": voiced, "loudness_db": loud}
