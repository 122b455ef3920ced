r"""YIN fundamental-frequency estimator (de Cheveigné & Kawahara 2002), vectorised in PyTorch.

For an analysis frame :math:`x_0 \dots x_{L-1}` with integration window :math:`W` and lags
:math:`\tau = 0 \dots \tau_{max}` (:math:`L = W + \tau_{max} + 2`), the steps of the paper are:

1. *Difference function* (eq. 6), written with the autocorrelation so that it costs one FFT
   per frame:

   .. math:: d(\tau) = \sum_{j=0}^{W-1} (x_j - x_{j+\tau})^2 = e(0) + e(\tau) - 2\,r(\tau),
       \quad r(\tau) = \sum_{j=0}^{W-1} x_j x_{j+\tau},\quad e(\tau) = \sum_{j=\tau}^{\tau+W-1} x_j^2

2. *Cumulative-mean-normalised difference* (eq. 8):
   :math:`d'(0) = 1,\ d'(\tau) = d(\tau)\,\big/\,\big[\tfrac1\tau\sum_{j=1}^{\tau} d(j)\big]`.

3. *Absolute threshold*: the smallest lag in :math:`[\lceil sr/f_{max}\rceil, \lfloor sr/f_{min}\rfloor]`
   that is a local minimum of :math:`d'` below ``threshold``; when there is none, the global
   minimum of :math:`d'` in that range (the frame is then marked unvoiced).

4. *Parabolic interpolation* of :math:`d` through the chosen lag and its two neighbours gives
   a fractional lag :math:`\hat\tau` (step 5 of the paper), and :math:`f_0 = sr / \hat\tau`.

Confidence (a periodicity in :math:`[0, 1]`) is :math:`1 - d'(\hat\tau)` clipped to
:math:`[0, 1]`; a frame is *voiced* when its chosen minimum lies below ``threshold``. A frame
with no energy has no estimate: its confidence is 0, it is unvoiced and its f0 is ``fmin``.

Framing. There are ``ceil(time / hop_size)`` frames and frame ``m`` is centred at sample
``m * hop_size`` (zeros outside the signal), the convention of the synthesisers, where frame
``m`` sits at sample ``m * hop_size``. The two windows compared at lag :math:`\tau`,
:math:`x_{s \dots s+W-1}` and :math:`x_{s+\tau \dots s+\tau+W-1}`, together span samples centred
at :math:`s + (W + \tau)/2`; so a first pass, centred for a lag in the middle of the range,
finds each frame's lag :math:`\tau_1`, and a second pass starts frame ``m`` at
:math:`s = m H - \lfloor (W + \tau_1)/2 \rfloor` and gives the result. (A single pass would
place the analysis up to half a search range early or late, which on speech glides costs
several cents against a centred reference.)

Optional smoothing (no Viterbi decoding): a running median of ``median_filter`` frames over the
voiced frames only (:func:`torch.nanmedian` with unvoiced frames masked out), applied to the f0
of voiced frames; unvoiced frames keep their own estimate.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from torchddsp.checks import check_positive, check_positive_int, check_tensor

_CHUNK_ELEMENTS = 1 << 23          # analysis-frame samples held at once (frames are processed in chunks)


class PitchEstimate(NamedTuple):
    """Frame-wise pitch: ``f0_hz``, ``confidence`` (in [0, 1]) and ``voiced`` (bool), each ``(..., frames)``."""

    f0_hz: torch.Tensor
    confidence: torch.Tensor
    voiced: torch.Tensor


def num_frames(time: int, hop_size: int) -> int:
    """``ceil(time / hop_size)``: frames of a signal of ``time`` samples, frame ``m`` at sample ``m * hop_size``."""
    return -(-int(time) // int(hop_size))


def check_audio(audio) -> torch.Tensor:
    """``audio`` must be a real floating tensor ``(..., time)`` with finite samples."""
    check_tensor("audio", audio, min_dim=1)
    if audio.is_complex():
        raise ValueError(f"audio: expected a real floating-point tensor, received dtype {audio.dtype}")
    if not bool(torch.isfinite(audio).all()):
        raise ValueError("audio: expected finite samples, received NaN or inf")
    return audio


def check_f0_range(fmin, fmax, sample_rate) -> tuple[float, float]:
    check_positive("fmin", fmin)
    check_positive("fmax", fmax)
    if not fmin < fmax:
        raise ValueError(f"fmin and fmax: expected fmin < fmax, received fmin={fmin}, fmax={fmax}")
    if not fmax <= sample_rate / 4:
        raise ValueError(f"fmax: expected a frequency of at most sample_rate / 4 = {sample_rate / 4} (a period of "
                         f"at least 4 samples), received {fmax}")
    return float(fmin), float(fmax)


def difference_function(frames: torch.Tensor, win_length: int, max_lag: int) -> torch.Tensor:
    """YIN difference function ``d(tau) = sum_{j<W} (x_j - x_{j+tau})^2``, ``tau = 0 .. max_lag``.

    ``frames`` ``(..., L)`` with ``L >= win_length + max_lag``; returns ``(..., max_lag + 1)``,
    computed with one FFT per frame (eq. 6-7 of the paper via the autocorrelation) and clipped at 0.
    """
    if frames.shape[-1] < win_length + max_lag:
        raise ValueError(f"frames: expected at least win_length + max_lag = {win_length + max_lag} samples per "
                         f"frame, received {frames.shape[-1]}")
    length = frames.shape[-1]
    n_fft = 1 << (length + win_length - 1).bit_length()
    spec = torch.fft.rfft(frames, n_fft)
    head = torch.fft.rfft(frames[..., :win_length], n_fft)
    r = torch.fft.irfft(spec * head.conj(), n_fft)[..., :max_lag + 1]
    c = F.pad(torch.cumsum(frames * frames, dim=-1), (1, 0))
    e = c[..., win_length:win_length + max_lag + 1] - c[..., :max_lag + 1]
    return torch.clamp(e[..., :1] + e - 2.0 * r, min=0.0)


def cumulative_mean_normalized_difference(d: torch.Tensor) -> torch.Tensor:
    """:math:`d'(\\tau)` from ``d`` ``(..., lags)`` (eq. 8 of de Cheveigné & Kawahara 2002); 1 where undefined."""
    lags = torch.arange(1, d.shape[-1], device=d.device, dtype=d.dtype)
    mean = torch.cumsum(d[..., 1:], dim=-1) / lags
    tiny = torch.finfo(d.dtype).tiny
    ratio = torch.where(mean > tiny, d[..., 1:] / torch.clamp(mean, min=tiny), torch.ones_like(mean))
    return torch.cat([torch.ones_like(d[..., :1]), ratio], dim=-1)


def median_smooth(f0: torch.Tensor, voiced: torch.Tensor, width: int) -> torch.Tensor:
    """Running median of ``width`` frames over voiced frames only (unvoiced frames are unchanged)."""
    half = width // 2
    masked = torch.where(voiced, f0, torch.full_like(f0, float("nan")))
    windows = F.pad(masked, (half, half), value=float("nan")).unfold(-1, width, 1)
    med = torch.nanmedian(windows, dim=-1).values
    return torch.where(voiced & ~torch.isnan(med), med, f0)


def _gather_frames(padded: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """Frames ``(..., frames, length)`` of ``padded`` ``(..., time)`` starting at ``starts`` ``(..., frames)``."""
    index = starts.unsqueeze(-1) + torch.arange(length, device=starts.device)
    frames_n = starts.shape[-1]
    source = padded.unsqueeze(-2).expand(*padded.shape[:-1], frames_n, padded.shape[-1])
    return torch.gather(source, -1, index.expand(*padded.shape[:-1], frames_n, length))


def _search(frames: torch.Tensor, win_length: int, max_lag: int, min_lag: int, threshold: float):
    """Steps 1-5 of YIN on ``frames``: integer lag, parabolic shift, d' at the minimum, trough found."""
    d = difference_function(frames, win_length, max_lag + 1)                    # lags 0 .. max_lag + 1
    dn = cumulative_mean_normalized_difference(d)
    lags = torch.arange(dn.shape[-1], device=dn.device)
    in_range = (lags >= min_lag) & (lags <= max_lag)
    prev = F.pad(dn[..., :-1], (1, 0), value=float("inf"))
    nxt = F.pad(dn[..., 1:], (0, 1), value=float("inf"))
    trough = (dn < prev) & (dn <= nxt) & (dn < threshold) & in_range
    has_trough = trough.any(dim=-1)
    first_trough = torch.argmax(trough.to(torch.uint8), dim=-1)
    search = torch.where(in_range, dn, torch.full_like(dn, float("inf")))
    best = torch.where(has_trough, first_trough, torch.argmin(search, dim=-1))

    # Parabolic interpolation of d through (best - 1, best, best + 1) gives the fractional lag (the
    # paper's step 5; d is closer to a parabola near its minimum than d' is); d' is evaluated on
    # its own parabola at that lag for the confidence.
    def around(v):
        return [torch.gather(v, -1, (best + k).unsqueeze(-1)).squeeze(-1) for k in (-1, 0, 1)]

    y0, y1, y2 = around(d)
    curvature = y0 - 2.0 * y1 + y2
    safe = curvature > 0
    shift = torch.where(safe, 0.5 * (y0 - y2) / torch.where(safe, curvature, torch.ones_like(curvature)),
                        torch.zeros_like(curvature)).clamp(-1.0, 1.0)
    n0, n1, n2 = around(dn)
    value = n1 + 0.5 * shift * (n2 - n0) + 0.5 * shift * shift * (n0 - 2.0 * n1 + n2)
    return best, shift, value, has_trough, frames


def _analyse(padded, centres, win_length, min_lag, max_lag, threshold, sample_rate, fmin):
    """YIN for the frames centred at ``centres`` (indices into ``padded``): (f0, confidence, voiced)."""
    length = win_length + max_lag + 2
    # Pass 1: the pair of windows compared at lag tau is centred at start + (W + tau) / 2, so
    # centre it for a lag in the middle of the range; pass 2 re-centres every frame on its own
    # pass-1 lag, which removes a time offset of up to half the lag range.
    mid_lag = round(math.sqrt(min_lag * max_lag))
    starts = (centres - (win_length + mid_lag) // 2).expand(*padded.shape[:-1], centres.shape[0])
    best, _, _, _, _ = _search(_gather_frames(padded, starts, length), win_length, max_lag, min_lag, threshold)
    starts = centres - torch.div(win_length + best, 2, rounding_mode="floor")
    frames = _gather_frames(padded, starts, length)
    best, shift, value, has_trough, frames = _search(frames, win_length, max_lag, min_lag, threshold)
    tau = best.to(frames.dtype) + shift
    energy = (frames * frames).sum(dim=-1)
    silent = energy <= torch.finfo(frames.dtype).tiny * length
    f0 = torch.where(silent, torch.full_like(tau, fmin), sample_rate / tau)
    confidence = torch.where(silent, torch.zeros_like(value), (1.0 - value).clamp(0.0, 1.0))
    return f0, confidence, has_trough & ~silent


def yin(audio: torch.Tensor, sample_rate: float, hop_size: int, fmin: float = 50.0, fmax: float = 2000.0, *,
        threshold: float = 0.15, win_length: int | None = None, median_filter: int = 1) -> PitchEstimate:
    """YIN f0 estimate of ``audio`` ``(..., time)``; returns :class:`PitchEstimate` of ``(..., frames)``.

    Args:
        audio: real, finite samples ``(..., time)``; float32 or float64, any device.
        sample_rate: in Hz, > 0 (any rate).
        hop_size: samples between frames (>= 1); ``ceil(time / hop_size)`` frames, frame ``m``
            centred at sample ``m * hop_size``.
        fmin, fmax: search range in Hz, ``0 < fmin < fmax <= sample_rate / 4``.
        threshold: absolute threshold on :math:`d'` in (0, 1]; also the voicing decision. The paper
            uses 0.1; 0.15 (default) marks more of the voiced frames of speech as voiced (on our speech
            recordings about a quarter more) for a few more octave errors among them.
        win_length: integration window ``W`` in samples; default ``ceil(sample_rate / fmin)`` (one
            period of ``fmin``; at least 2 periods of every f0 above ``2 fmin``). Longer windows are
            steadier on stationary tones and blur fast glides.
        median_filter: odd width (frames) of the running median over voiced frames; 1 = off.

    Returns f0 in Hz (every frame holds an estimate, also unvoiced ones: the global minimum of
    :math:`d'`; silent frames hold ``fmin``), confidence ``1 - d'`` in [0, 1] and the voiced flag.
    Not differentiable (the lag search is discrete); computed without autograd.
    Reference: A. de Cheveigné and H. Kawahara, "YIN, a fundamental frequency estimator for
    speech and music", JASA 111(4), 2002.
    """
    check_audio(audio)
    check_positive("sample_rate", sample_rate)
    check_positive_int("hop_size", hop_size)
    fmin, fmax = check_f0_range(fmin, fmax, sample_rate)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ValueError(f"threshold: expected a number in (0, 1], received {threshold!r}")
    check_positive_int("median_filter", median_filter)
    if median_filter % 2 == 0:
        raise ValueError(f"median_filter: expected an odd number of frames, received {median_filter}")
    min_lag = max(2, math.ceil(sample_rate / fmax))
    max_lag = max(min_lag + 1, math.floor(sample_rate / fmin))
    if win_length is None:
        win_length = math.ceil(sample_rate / fmin)
    check_positive_int("win_length", win_length)

    time = audio.shape[-1]
    frames_n = num_frames(time, hop_size)
    if frames_n == 0 or audio.numel() == 0:
        empty = audio.new_zeros(*audio.shape[:-1], frames_n)
        return PitchEstimate(empty, empty.clone(), torch.zeros_like(empty, dtype=torch.bool))
    with torch.no_grad():
        length = win_length + max_lag + 2
        pad = length + max_lag
        padded = F.pad(audio, (pad, pad + max(0, (frames_n - 1) * hop_size + length - time)))
        centres = torch.arange(frames_n, device=audio.device) * hop_size + pad
        batch = max(1, math.prod(audio.shape[:-1]))
        chunk = max(1, _CHUNK_ELEMENTS // (batch * length))           # bounds memory on long signals
        parts = [_analyse(padded, centres[i:i + chunk], win_length, min_lag, max_lag, threshold, sample_rate, fmin)
                 for i in range(0, frames_n, chunk)]
        f0, confidence, voiced = (torch.cat(p, dim=-1) for p in zip(*parts))
        if median_filter > 1:
            f0 = median_smooth(f0, voiced, median_filter)
    return PitchEstimate(f0, confidence, voiced)
