r"""Mel scales and the triangular mel filterbank (shared by features, losses and LPC).

Mel scales (``mel_scale``):

* ``"slaney"`` (default; Slaney's Auditory Toolbox, librosa's default ``htk=False``): linear below
  1 kHz, logarithmic above,

  .. math:: m(f) = \begin{cases} 3f/200 & f < 1000\\ 15 + 27\,\ln(f/1000)/\ln 6.4 & f \ge 1000\end{cases}

* ``"htk"`` (O'Shaughnessy 1987, HTK): :math:`m(f) = 2595\log_{10}(1 + f/700)`.

Filterbank. ``n_mels + 2`` points equally spaced in mel between ``f_min`` and ``f_max`` are mapped
back to Hz, :math:`f_0 < \dots < f_{M+1}`; filter :math:`i` is the triangle through
:math:`(f_i, 0), (f_{i+1}, 1), (f_{i+2}, 0)`, linear in Hz, sampled at the rfft bin frequencies
:math:`k\,sr/n_{fft}`:

.. math::
    W_{ik} = \max\!\Big(0, \min\Big(\frac{f_k - f_i}{f_{i+1} - f_i},
    \frac{f_{i+2} - f_k}{f_{i+2} - f_{i+1}}\Big)\Big)

With ``norm="slaney"`` (default) row :math:`i` is scaled by :math:`2 / (f_{i+2} - f_i)` (equal area
in Hz); ``norm=None`` keeps peaks at 1. These are the definitions of librosa's
``filters.mel(sr, n_fft, n_mels, fmin, fmax, htk, norm)``, which auraloss's mel losses use.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_choice, check_positive, check_positive_int, check_tensor, checking_values
from torchddsp.functional.core.constant_cache import constant_cache

__all__ = ["hz_to_mel", "mel_to_hz", "mel_filterbank", "mel_filterbank_pinv"]

_MEL_SCALES = ("slaney", "htk")
_NORMS = ("slaney", None)

# Slaney scale constants: 200/3 Hz per mel below 1 kHz, log step ln(6.4)/27 per mel above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(frequency: torch.Tensor, mel_scale: str = "slaney") -> torch.Tensor:
    """Frequency in Hz (>= 0) to mel on the ``"slaney"`` or ``"htk"`` scale (see module docstring)."""
    check_tensor("frequency", frequency)
    check_choice("mel_scale", mel_scale, _MEL_SCALES)
    f = frequency
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    linear = f / _F_SP
    log = _MIN_LOG_MEL + torch.log(torch.clamp(f, min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return torch.where(f >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel: torch.Tensor, mel_scale: str = "slaney") -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    check_tensor("mel", mel)
    check_choice("mel_scale", mel_scale, _MEL_SCALES)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    linear = _F_SP * mel
    log = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (torch.clamp(mel, min=_MIN_LOG_MEL) - _MIN_LOG_MEL))
    return torch.where(mel >= _MIN_LOG_MEL, log, linear)


@constant_cache(64)
def _filterbank_f64(sample_rate: float, n_fft: int, n_mels: int, f_min: float, f_max: float,
                    mel_scale: str, norm) -> torch.Tensor:
    f64 = torch.float64
    bin_hz = torch.arange(n_fft // 2 + 1, dtype=f64) * (sample_rate / n_fft)
    mel_edges = torch.linspace(float(hz_to_mel(torch.tensor(f_min, dtype=f64), mel_scale)),
                               float(hz_to_mel(torch.tensor(f_max, dtype=f64), mel_scale)), n_mels + 2, dtype=f64)
    hz = mel_to_hz(mel_edges, mel_scale)
    left, centre, right = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (bin_hz - left) / (centre - left)
    falling = (right - bin_hz) / (right - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if norm == "slaney":
        weights = weights * (2.0 / (right - left))
    empty = [] if not checking_values() else (weights.max(dim=1).values <= 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"n_mels: expected every mel filter to cover at least one FFT bin, received n_mels={n_mels} "
                         f"with n_fft={n_fft}, sample_rate={sample_rate}, f_min={f_min}, f_max={f_max}: filters "
                         f"{empty[:8]}{'...' if len(empty) > 8 else ''} are empty; use fewer mels or a larger n_fft")
    return weights


@constant_cache(128)
def _filterbank_cached(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm, dtype, device):
    return _filterbank_f64(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm).to(dtype=dtype, device=device)


def _check_mel_args(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm):
    check_positive("sample_rate", sample_rate)
    check_positive_int("n_fft", n_fft)
    check_positive_int("n_mels", n_mels)
    check_choice("mel_scale", mel_scale, _MEL_SCALES)
    if norm not in _NORMS:
        raise ValueError(f"norm: expected 'slaney' or None, received {norm!r}")
    nyquist = sample_rate / 2.0
    f_max = nyquist if f_max is None else f_max
    if isinstance(f_min, bool) or not isinstance(f_min, (int, float)) or not 0 <= f_min < float("inf"):
        raise ValueError(f"f_min: expected a finite number >= 0, received {f_min!r}")
    if isinstance(f_max, bool) or not isinstance(f_max, (int, float)) or not f_min < f_max <= nyquist:
        raise ValueError(f"f_max: expected a number in (f_min={f_min}, sample_rate / 2 = {nyquist}], "
                         f"received {f_max!r}")
    return float(sample_rate), float(f_min), float(f_max)


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None,
                   mel_scale: str = "slaney", norm: str | None = "slaney", *, dtype: torch.dtype = torch.float32,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Triangular mel filterbank ``(n_mels, n_fft // 2 + 1)`` (see the module docstring for the formula).

    Args:
        sample_rate: in Hz, > 0. n_fft: FFT size >= 1. n_mels: number of filters >= 1; every filter
            must cover at least one FFT bin (else ``ValueError``).
        f_min, f_max: band edges in Hz, ``0 <= f_min < f_max <= sample_rate / 2`` (``f_max`` defaults
            to Nyquist).
        mel_scale: ``"slaney"`` (default, librosa's default) or ``"htk"``.
        norm: ``"slaney"`` (area normalisation, default) or ``None`` (peak 1).

    Built in float64 and cast to ``dtype``; cached per arguments, dtype and device. Returns a fresh
    copy, so callers may modify it.
    """
    sample_rate, f_min, f_max = _check_mel_args(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm)
    return _filterbank_f64(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm).to(
        dtype=dtype, device=device, copy=True)


@constant_cache(32)
def _pinv_f64(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm) -> torch.Tensor:
    return torch.linalg.pinv(_filterbank_f64(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm))


def mel_filterbank_pinv(sample_rate: float, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None,
                        mel_scale: str = "slaney", norm: str | None = "slaney", *,
                        dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Moore-Penrose pseudo-inverse ``(n_fft // 2 + 1, n_mels)`` of :func:`mel_filterbank` (cached)."""
    sample_rate, f_min, f_max = _check_mel_args(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm)
    return _pinv_f64(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm).to(dtype=dtype, device=device,
                                                                                   copy=True)
