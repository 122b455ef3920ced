r"""Mel spectrogram, log-mel spectrogram and MFCC.

Mel spectrogram (power ``p``, default 2): :math:`M_{mi} = \sum_k W_{ik}\,|X_{mk}|^p`, with the STFT
:math:`X` of :func:`torchddsp.functional.spectral.stft` (periodic Hann window of ``win_length`` centred in
``n_fft``; ``torch.stft``'s framing) and the triangular filterbank :math:`W` of
:func:`torchddsp.functional.spectral.mel_filterbank` (Slaney or HTK mel
scale; Slaney area normalisation or peak 1).

Log-mel: ``"db"``: :math:`\frac{20}{p}\log_{10}\max(M, a_{min})` (10 log10 of power for
``p = 2``, librosa's ``power_to_db`` with ``ref=1``); ``"ln"``: :math:`\ln\max(M, a_{min})`
(the HiFi-GAN-style vocoder feature with ``p = 1``, ``amin = 1e-5``). ``top_db`` optionally
floors each item at its own maximum minus ``top_db`` (this makes a frame depend on the whole
clip, so the default is off).

MFCC: the orthonormal DCT-II of the dB log-mel over the mel axis, first ``n_mfcc`` coefficients,

.. math:: c_{mq} = \alpha_q \sum_{i=0}^{N-1} S_{mi} \cos\frac{\pi q (2i + 1)}{2N},\qquad
    \alpha_0 = \sqrt{1/N},\ \alpha_{q>0} = \sqrt{2/N},

optionally liftered by :math:`1 + \frac{L}{2}\sin\frac{\pi (q + 1)}{L}` (Davis & Mermelstein 1980;
the definitions of ``librosa.feature.mfcc`` with ``dct_type=2, norm="ortho"``).

Shapes follow the library's convention for frame-rate features: ``(..., frames, channels)``
(channels = mels or coefficients). Framing follows :func:`torch.stft` (and librosa): with
``center=True`` there are ``1 + time // hop_length`` frames and frame ``m`` is centred at sample
``m * hop_length``; the default ``pad_mode="constant"`` (zeros) accepts signals of any length.
Everything is differentiable with respect to the audio.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_choice, check_positive, check_positive_int
from torchddsp.features.yin import check_audio
from torchddsp.functional.core.constant_cache import constant_cache
from torchddsp.functional.spectral.mel import mel_filterbank
from torchddsp.functional.spectral.stft import STFTConfig, power_spectrum

__all__ = ["mel_spectrogram", "log_mel_spectrogram", "mfcc", "dct_matrix"]

_LOGS = ("db", "ln")


@constant_cache(32)
def _dct_f64(n_in: int, n_out: int) -> torch.Tensor:
    i = torch.arange(n_in, dtype=torch.float64)
    q = torch.arange(n_out, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi * q * (2.0 * i + 1.0) / (2.0 * n_in)) * math.sqrt(2.0 / n_in)
    basis[0] *= 1.0 / math.sqrt(2.0)
    return basis


def dct_matrix(n_in: int, n_out: int | None = None, *, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``(n_out, n_in)`` (``n_out <= n_in``, default ``n_in``); ``C @ x`` transforms ``x``."""
    check_positive_int("n_in", n_in)
    n_out = n_in if n_out is None else n_out
    check_positive_int("n_out", n_out)
    if n_out > n_in:
        raise ValueError(f"n_out: expected at most n_in={n_in} coefficients, received {n_out}")
    return _dct_f64(n_in, n_out).to(dtype=dtype, device=device, copy=True)


def mel_spectrogram(audio: torch.Tensor, sample_rate: float, n_fft: int = 2048, hop_length: int | None = None,
                    win_length: int | None = None, n_mels: int = 128, f_min: float = 0.0,
                    f_max: float | None = None, mel_scale: str = "slaney", norm: str | None = "slaney", *,
                    power: float = 2.0, center: bool = True, pad_mode: str = "constant") -> torch.Tensor:
    """Mel spectrogram ``(..., frames, n_mels)`` of ``audio`` ``(..., time)``.

    Args:
        audio: real, finite ``(..., time)``; float32/float64, any device; differentiable.
        sample_rate: in Hz (> 0). n_fft, hop_length (default ``n_fft // 4``), win_length (default
            ``n_fft``), center, pad_mode: as :func:`torchddsp.functional.spectral.stft` (``pad_mode``:
            ``"constant"``, ``"reflect"``, ``"replicate"`` or ``"circular"``).
        n_mels, f_min, f_max, mel_scale, norm: as :func:`torchddsp.functional.spectral.mel_filterbank`.
        power: exponent of the magnitude (> 0; 2 = power, 1 = magnitude).

    Equals ``librosa.feature.melspectrogram(y, sr, n_fft, hop_length, win_length, center=center,
    pad_mode=pad_mode, power=power, n_mels, fmin, fmax, htk, norm).T``.
    """
    check_audio(audio)
    check_positive("sample_rate", sample_rate)
    cfg = STFTConfig(n_fft, hop_length, win_length, "hann", center, pad_mode)
    check_positive("power", power)
    time = audio.shape[-1]
    cfg.check_length("audio", time)
    fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm, dtype=audio.dtype,
                        device=audio.device)
    flat = audio.reshape(-1, time)
    mag2 = power_spectrum(cfg.transform(flat, cfg.window_tensor(audio.dtype, audio.device)))  # (batch, frames, freq)
    mag = mag2 if power == 2.0 else (mag2 ** (0.5 * power) if power >= 2.0 else _safe_pow(mag2, 0.5 * power))
    mel = torch.matmul(mag, fb.transpose(0, 1))                     # (batch, frames, n_mels)
    return mel.reshape(*audio.shape[:-1], mel.shape[-2], n_mels)


def _safe_pow(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """``x ** exponent`` for ``0 < exponent < 1`` with a finite (zero) gradient at ``x = 0``."""
    positive = x > 0
    safe = torch.where(positive, x, torch.ones_like(x))
    return torch.where(positive, safe ** exponent, torch.zeros_like(x))


def _to_log(mel: torch.Tensor, power: float, log: str, amin: float, top_db: float | None) -> torch.Tensor:
    check_choice("log", log, _LOGS)
    check_positive("amin", amin)
    floored = torch.clamp(mel, min=amin)
    out = (20.0 / power) * torch.log10(floored) if log == "db" else torch.log(floored)
    if top_db is not None:
        check_positive("top_db", top_db)
        if out.numel():
            peak = out.amax(dim=(-2, -1), keepdim=True)
            out = torch.maximum(out, peak - float(top_db))
    return out


def log_mel_spectrogram(audio: torch.Tensor, sample_rate: float, n_fft: int = 2048, hop_length: int | None = None,
                        win_length: int | None = None, n_mels: int = 128, f_min: float = 0.0,
                        f_max: float | None = None, mel_scale: str = "slaney", norm: str | None = "slaney", *,
                        power: float = 2.0, log: str = "db", amin: float = 1e-10, top_db: float | None = None,
                        center: bool = True, pad_mode: str = "constant") -> torch.Tensor:
    """Log-mel spectrogram ``(..., frames, n_mels)``: ``log="db"`` (``20/power * log10``) or ``"ln"``.

    ``amin`` (> 0) floors the mel energies before the log (so silence is finite); ``top_db``
    (> 0 or ``None``) floors each item at its maximum minus ``top_db``. Other arguments as
    :func:`mel_spectrogram`. With ``log="db", power=2``: ``librosa.power_to_db(melspectrogram(...),
    amin=amin, top_db=top_db).T``.
    """
    mel = mel_spectrogram(audio, sample_rate, n_fft, hop_length, win_length, n_mels, f_min, f_max, mel_scale, norm,
                          power=power, center=center, pad_mode=pad_mode)
    return _to_log(mel, power, log, amin, top_db)


def mfcc(audio: torch.Tensor, sample_rate: float, n_mfcc: int = 20, n_fft: int = 2048, hop_length: int | None = None,
         win_length: int | None = None, n_mels: int = 128, f_min: float = 0.0, f_max: float | None = None,
         mel_scale: str = "slaney", norm: str | None = "slaney", *, lifter: float = 0.0, amin: float = 1e-10,
         top_db: float | None = None, center: bool = True, pad_mode: str = "constant") -> torch.Tensor:
    """MFCC ``(..., frames, n_mfcc)``: orthonormal DCT-II of the dB log-mel power spectrogram.

    ``lifter`` (>= 0; 0 = off) applies sinusoidal liftering. ``librosa.feature.mfcc`` (which
    floors at ``top_db=80`` by default) is matched with ``top_db=80.0``. Other arguments as
    :func:`log_mel_spectrogram`.
    """
    check_positive_int("n_mfcc", n_mfcc)
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc: expected at most n_mels={n_mels} coefficients, received {n_mfcc}")
    if isinstance(lifter, bool) or not isinstance(lifter, (int, float)) or not 0 <= lifter < float("inf"):
        raise ValueError(f"lifter: expected a finite number >= 0, received {lifter!r}")
    log_mel = log_mel_spectrogram(audio, sample_rate, n_fft, hop_length, win_length, n_mels, f_min, f_max,
                                  mel_scale, norm, power=2.0, log="db", amin=amin, top_db=top_db, center=center,
                                  pad_mode=pad_mode)
    basis = dct_matrix(n_mels, n_mfcc, dtype=log_mel.dtype, device=log_mel.device)
    coeffs = torch.matmul(log_mel, basis.transpose(0, 1))
    if lifter > 0:
        q = torch.arange(n_mfcc, dtype=torch.float64, device=log_mel.device)
        coeffs = coeffs * (1.0 + 0.5 * lifter * torch.sin(math.pi * (q + 1.0) / lifter)).to(coeffs.dtype)
    return coeffs
