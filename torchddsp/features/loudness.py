r"""A-weighted loudness per frame, as used to condition DDSP models (Engel et al. 2020).

Per frame :math:`m` (Hann-windowed, ``n_fft`` samples, centred at sample ``m * hop_size``; the
STFT of :mod:`torchddsp.functional.spectral.stft`, computed in chunks of frames) with spectrum
:math:`X_{mk}` at bin frequencies :math:`f_k = k\,sr/n_{fft}`, :math:`k = 0 \dots n_{fft}/2`:

.. math::
    L_m = \frac{1}{K}\sum_{k} \max\!\Big(10\log_{10}\max(|X_{mk}|^2 / s^2, a_{min})
          + A(f_k) - \mathrm{ref_{dB}},\; -\mathrm{range_{dB}}\Big)

i.e. the power spectrum in dB, A-weighted, floored at ``-range_db`` per bin and averaged over
frequency. With ``normalized=True`` (default) :math:`s = \tfrac12\sum_n w[n]`, so a full-scale
sinusoid (amplitude 1) on a bin centre reads 0 dB in that bin, whatever ``n_fft``; with
``normalized=False``, :math:`s = 1` (the raw STFT, as DDSP's ``compute_loudness``, which uses
``ref_db=20.7`` at ``n_fft=2048``). Silence gives exactly ``-range_db``; the value is finite
everywhere and differentiable in the audio (the floors have zero gradient).

A-weighting (IEC 61672-1), with :math:`f_1 = 20.598997, f_2 = 107.65265, f_3 = 737.86223,
f_4 = 12194.217` Hz:

.. math::
    R_A(f) = \frac{f_4^2 f^4}{(f^2 + f_1^2)\sqrt{(f^2 + f_2^2)(f^2 + f_3^2)}\,(f^2 + f_4^2)},\qquad
    A(f) = 20\log_{10} R_A(f) + 2.00\ \mathrm{dB}

(:math:`A(1\,\mathrm{kHz}) = 0`), floored at ``min_db`` (-80 dB, as librosa; it is :math:`-\infty`
at DC).

Frames: ``ceil(time / hop_size)``, frame ``m`` centred at sample ``m * hop_size`` (zeros outside
the signal), the synthesisers' convention. The mean over *all* bins up to Nyquist makes the
absolute value depend on the sample rate (more near-empty high bins at 48 kHz than at 16 kHz);
compare loudness computed at one rate, or normalise it, as DDSP does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from torchddsp.checks import check_positive, check_positive_int
from torchddsp.features.yin import check_audio, num_frames
from torchddsp.functional.spectral.stft import STFTConfig, power_spectrum

_CHUNK_ELEMENTS = 1 << 23          # windowed-frame samples held at once (frames are processed in chunks)

__all__ = ["a_weighting", "loudness", "default_loudness_n_fft"]

_F1, _F2, _F3, _F4 = 20.598997, 107.65265, 737.86223, 12194.217
_A1000_DB = 2.0


def a_weighting(frequency: torch.Tensor, min_db: float | None = -80.0) -> torch.Tensor:
    """A-weighting in dB at ``frequency`` (Hz, >= 0), floored at ``min_db`` (``None``: no floor, -inf at 0 Hz)."""
    if not isinstance(frequency, torch.Tensor):
        frequency = torch.as_tensor(frequency, dtype=torch.float64)
    f2 = frequency * frequency
    num = (_F4 ** 2) * f2 * f2
    den = (f2 + _F1 ** 2) * torch.sqrt((f2 + _F2 ** 2) * (f2 + _F3 ** 2)) * (f2 + _F4 ** 2)
    db = 20.0 * torch.log10(num / den) + _A1000_DB
    if min_db is not None:
        db = torch.clamp(db, min=float(min_db))
    return db


def default_loudness_n_fft(sample_rate: float) -> int:
    """Even FFT size closest to 128 ms (2048 at 16 kHz, DDSP's choice): ``2 * round(0.064 * sample_rate)``."""
    return max(2, 2 * round(0.064 * float(sample_rate)))


def loudness(audio: torch.Tensor, sample_rate: float, hop_size: int, n_fft: int | None = None, *,
             ref_db: float = 0.0, range_db: float = 120.0, amin: float = 1e-20, normalized: bool = True,
             a_weighting_min_db: float = -80.0) -> torch.Tensor:
    """A-weighted loudness in dB of ``audio`` ``(..., time)`` -> ``(..., frames)`` (see module docstring).

    Args:
        audio: real, finite ``(..., time)``, float32 or float64, any device; differentiable.
        sample_rate: in Hz, > 0 (any rate). hop_size: samples between frames, >= 1.
        n_fft: analysis window and FFT size in samples (default :func:`default_loudness_n_fft`,
            128 ms); a periodic Hann window.
        ref_db: dB subtracted before flooring. range_db: floor ``-range_db`` (> 0) per bin.
        amin: power floor inside the log (> 0). normalized: divide the spectrum by half the window sum.
        a_weighting_min_db: floor of the A-weighting curve.

    Returns loudness in dB, ``(..., ceil(time / hop_size))``, in ``audio``'s dtype.
    """
    check_audio(audio)
    check_positive("sample_rate", sample_rate)
    check_positive_int("hop_size", hop_size)
    n_fft = default_loudness_n_fft(sample_rate) if n_fft is None else n_fft
    check_positive_int("n_fft", n_fft)
    check_positive("range_db", range_db)
    check_positive("amin", amin)
    if isinstance(ref_db, bool) or not isinstance(ref_db, (int, float)) or not math.isfinite(ref_db):
        raise ValueError(f"ref_db: expected a finite number, received {ref_db!r}")
    if audio.numel() == 0:
        return audio.new_zeros(*audio.shape[:-1], num_frames(audio.shape[-1], hop_size))
    stft = STFTConfig(n_fft, hop_size, window="hann", center=False)  # on the padded signal, chunk by chunk
    window = stft.window_tensor(audio.dtype, audio.device)
    scale = (0.5 * window.sum()) ** 2 if normalized else None
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64, device=audio.device) * (float(sample_rate) / n_fft)
    weighting = a_weighting(freqs, a_weighting_min_db).to(audio.dtype) - ref_db
    lead, time = audio.shape[:-1], audio.shape[-1]
    frames = num_frames(time, hop_size)
    left = n_fft // 2                                               # frame m centred at sample m * hop_size
    padded = F.pad(audio.reshape(-1, time), (left, max(0, (frames - 1) * hop_size + n_fft - left - time)))
    chunk = max(1, _CHUNK_ELEMENTS // (padded.shape[0] * n_fft))
    parts = []
    for start in range(0, frames, chunk):
        stop = min(frames, start + chunk)
        power = power_spectrum(stft.transform(padded[:, start * hop_size:(stop - 1) * hop_size + n_fft], window))
        if scale is not None:
            power = power / scale
        db = 10.0 * torch.log10(torch.clamp(power, min=amin)) + weighting
        parts.append(torch.clamp(db, min=-float(range_db)).mean(dim=-1))
    return torch.cat(parts, dim=-1).reshape(*lead, frames)
