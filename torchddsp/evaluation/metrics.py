"""Resynthesis metrics (Engel et al. 2020) and the multi-scale spectral distance.

- ``multiscale_spectral_distance``: mean over FFT sizes 2048..64 (Hann window, hop n/4) of
  ``mean|X - Y| + mean|log(X + 1e-7) - log(Y + 1e-7)|`` on magnitude spectrograms;
- ``loudness_l1``: mean absolute difference of A-weighted loudness in dB;
- ``loudness_bias``: mean signed difference (output minus reference) in dB over the sounding
  frames of the reference (within 30 dB of its loudest): below 0, a resynthesis too quiet;
- ``f0_l1_cents``: mean absolute f0 difference in cents over frames voiced in the reference;
- ``f0_outlier_ratio``: fraction of those frames whose f0 differs by more than 50 cents
  (an octave or other gross error).

Engel et al. track f0 with CREPE on both the input and the resynthesis, keep the frames where the
input's CREPE confidence is at least 0.85 (``EVALUATION_F0_CONFIDENCE``, the threshold of the one f0-confidence
rule, :func:`torchddsp.features.confident_frames`), and report the f0 L1
in MIDI units (1 unit = 100 cents); their outliers are whole clips whose mean error exceeds an
octave or whose resynthesis is untrackable. Our per-frame 50-cent outliers are stricter.
"""

from __future__ import annotations

import torch

from torchddsp.features.confidence import EVALUATION_F0_CONFIDENCE
from torchddsp.functional.spectral.stft import padding_for, stft

__all__ = ["MSS_FFT_SIZES", "EVALUATION_F0_CONFIDENCE", "multiscale_spectral_distance", "loudness_l1", "loudness_bias",
           "f0_l1_cents", "f0_outlier_ratio"]

MSS_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)


def multiscale_spectral_distance(x: torch.Tensor, y: torch.Tensor, n_ffts=MSS_FFT_SIZES, eps: float = 1e-7) -> float:
    """Distance between mono signals ``x`` and ``y`` ``(time,)`` (trimmed to the shorter one)."""
    length = min(x.shape[-1], y.shape[-1])
    x, y = x[..., :length].double(), y[..., :length].double()
    total = 0.0
    for n_fft in n_ffts:
        pad_mode = padding_for(length, n_fft)
        spec = [stft(s, n_fft, n_fft // 4, window="hann", center=True, pad_mode=pad_mode).abs() for s in (x, y)]
        log_distance = (torch.log(spec[0] + eps) - torch.log(spec[1] + eps)).abs().mean()
        total += float((spec[0] - spec[1]).abs().mean() + log_distance)
    return total / len(n_ffts)


def loudness_l1(loudness_a: torch.Tensor, loudness_b: torch.Tensor) -> float:
    frames = min(loudness_a.shape[-1], loudness_b.shape[-1])
    return float((loudness_a[..., :frames] - loudness_b[..., :frames]).abs().mean())


def loudness_bias(loudness_reference: torch.Tensor, loudness_other: torch.Tensor,
                  sounding_range_db: float = 30.0) -> float:
    """Mean of ``other - reference`` in dB over the reference's frames within ``sounding_range_db`` of its
    loudest (silences, where any level is right, are left out); NaN without frames."""
    frames = min(loudness_reference.shape[-1], loudness_other.shape[-1])
    if frames == 0:
        return float("nan")
    reference, other = loudness_reference[..., :frames].double(), loudness_other[..., :frames].double()
    sounding = reference > reference.max() - sounding_range_db
    return float((other - reference)[sounding].mean())


def _cents(f_a: torch.Tensor, f_b: torch.Tensor) -> torch.Tensor:
    return 1200 * torch.log2(f_a.clamp_min(1e-3) / f_b.clamp_min(1e-3)).abs()


def f0_l1_cents(f0_reference: torch.Tensor, f0_other: torch.Tensor, voiced: torch.Tensor) -> float:
    """Mean |cents| over frames where ``voiced`` (bool, from the reference) is true."""
    frames = min(f0_reference.shape[-1], f0_other.shape[-1], voiced.shape[-1])
    mask = voiced[..., :frames]
    if not bool(mask.any()):
        return float("nan")
    return float(_cents(f0_reference[..., :frames], f0_other[..., :frames])[mask].mean())


def f0_outlier_ratio(f0_reference: torch.Tensor, f0_other: torch.Tensor, voiced: torch.Tensor,
                     threshold_cents: float = 50.0) -> float:
    frames = min(f0_reference.shape[-1], f0_other.shape[-1], voiced.shape[-1])
    mask = voiced[..., :frames]
    if not bool(mask.any()):
        return float("nan")
    bad = _cents(f0_reference[..., :frames], f0_other[..., :frames]) > threshold_cents
    return float(bad[mask].float().mean())
