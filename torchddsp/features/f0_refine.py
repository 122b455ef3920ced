r"""Refine an f0 track from the instantaneous frequency of its first harmonics.

A tracker such as CREPE is robust (no octave errors) but coarse in time and frequency: it sees
64 ms at once and smooths vibrato and glides. A harmonic synthesiser driven by that f0 puts
harmonic ``k`` at ``k`` times its error. Refinement keeps the tracker's decision and measures the
frequency precisely around each frame centre ``c = m * hop_size`` with a window a few periods
long (Hann, length :math:`L = P f_s / f_0`), using the window and its time derivative
:math:`w'` (the reassignment method of Auger & Flandrin, IEEE Trans. SP 1995; WORLD's StoneMask,
Morise et al. 2016, refines an f0 track from the instantaneous frequency of harmonics too):

.. math::

    X_k = \sum_n x[c+n]\, w[n]\, e^{-j\omega_k n}, \qquad
    D_k = \sum_n x[c+n]\, w'[n]\, e^{-j\omega_k n}, \qquad \omega_k = 2\pi k f_0 / f_s,

    \hat f_k = k f_0 - \frac{f_s}{2\pi}\,\frac{\operatorname{Im}(D_k \overline{X_k})}{|X_k|^2}, \qquad
    f_0' = \frac{\sum_k |X_k|\, \hat f_k}{\sum_k k\, |X_k|}.

(For a sinusoid at :math:`\omega_0`, :math:`D_k / X_k = j(\omega_k - \omega_0)` exactly in the
continuous limit, so :math:`\hat f_k` is its frequency.) :math:`f_0'` averages the estimates
:math:`\hat f_k / k` with weights :math:`k |X_k|`: a harmonic's error in Hz shrinks ``k`` times
when divided by ``k``, so strong upper harmonics count more (on the violin this weighting brought
WORLD resynthesis closer to the recording than weights :math:`|X_k|^2`, BENCHMARKS.md
2026-12-07, third session). The step is repeated ``iterations``
times, each around the previous estimate. A frame keeps its input f0 where the harmonics carry
no energy, where the input f0 is not positive, or where the refined value moves more than
``max_change_cents`` away from it (the tracker's decision stands; only its detail changes).
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
from torchddsp.features.yin import check_audio


def refine_f0(audio: torch.Tensor, sample_rate: float, hop_size: int, f0_hz: torch.Tensor, *,
              n_harmonics: int = 6, periods: float = 4.0, iterations: int = 3, fmin: float = 50.0,
              max_change_cents: float = 100.0, frames_per_chunk: int = 512) -> torch.Tensor:
    """``f0_hz`` ``(..., frames)`` refined against ``audio`` ``(..., time)``; frame ``m`` is centred at
    sample ``m * hop_size`` (the features' convention).

    Args:
        audio: real, finite ``(..., time)``; its leading shape broadcasts with ``f0_hz``'s.
        sample_rate: in Hz, > 0. hop_size: samples between frames, >= 1.
        f0_hz: the tracker's f0 in Hz, any number of frames; frames with f0 <= 0 are returned as they are.
        n_harmonics: harmonics measured, k = 1..n_harmonics (those below 0.45 sample_rate), >= 1.
        periods: window length in periods of f0 (> 0; 3 or more keeps the neighbouring harmonics out of a
            Hann window's main lobe; longer windows average more of a vibrato).
        iterations: refinement steps, >= 1.
        fmin: the window is at most ``periods`` periods of ``fmin`` Hz long (> 0).
        max_change_cents: largest accepted change in cents (> 0); beyond it a frame keeps its input.
        frames_per_chunk: frames analysed at once (memory ``~ frames_per_chunk * n_harmonics * window``).

    Returns the refined f0 ``(..., frames)`` in ``f0_hz``'s dtype. Not differentiable (an analysis step).
    """
    check_audio(audio)
    check_tensor("f0_hz", f0_hz, min_dim=1)
    check_positive("sample_rate", sample_rate)
    check_positive_int("hop_size", hop_size)
    check_positive_int("n_harmonics", n_harmonics)
    check_positive("periods", periods)
    check_positive_int("iterations", iterations)
    check_positive("fmin", fmin)
    check_positive("max_change_cents", max_change_cents)
    check_positive_int("frames_per_chunk", frames_per_chunk)
    lead = torch.broadcast_shapes(audio.shape[:-1], f0_hz.shape[:-1])
    frames, time = f0_hz.shape[-1], audio.shape[-1]
    x = audio.detach().to(torch.float64).expand(*lead, time).reshape(-1, time)
    f0 = f0_hz.detach().to(torch.float64).expand(*lead, frames).reshape(-1, frames)
    half = math.ceil(periods * sample_rate / fmin / 2)            # longest half-window, samples
    right = max(0, frames * hop_size - time) + half + 1
    # A view, not a copy: frame m of item b is segments[b, m], samples m*hop - half .. m*hop + half.
    segments = torch.nn.functional.pad(x, (half, right)).unfold(-1, 2 * half + 1, hop_size)
    refined = f0.clone()
    for b in range(f0.shape[0]):
        for start in range(0, frames, frames_per_chunk):
            stop = min(start + frames_per_chunk, frames)
            refined[b, start:stop] = _refine_rows(segments[b, start:stop], f0[b, start:stop], float(sample_rate),
                                                  n_harmonics, periods, iterations, fmin, max_change_cents, half)
    return refined.reshape(*lead, frames).to(f0_hz.dtype)


def _refine_rows(rows, f0, sample_rate, n_harmonics, periods, iterations, fmin, max_change_cents, half):
    """Refine ``f0`` ``(R,)`` from ``rows`` ``(R, 2 half + 1)`` of audio centred on each frame."""
    if not (f0 > 0).any():
        return f0
    # Estimates stay within max_change_cents of the input, so this is the longest window of the chunk.
    limit = 2.0 ** (max_change_cents / 1200)
    lowest = (f0[f0 > 0].min() / limit).clamp_min(fmin)
    reach = min(half, math.ceil(periods * sample_rate / float(lowest) / 2))
    rows = rows[:, half - reach:half + reach + 1]
    n = torch.arange(-reach, reach + 1, dtype=torch.float64, device=rows.device)
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float64, device=rows.device)
    estimate = f0.clone()
    accepted = f0 > 0
    for _ in range(iterations):
        current = torch.where(estimate > 0, estimate, torch.ones_like(estimate))
        length = periods * sample_rate / current.clamp_min(fmin)                 # window length, samples
        u = n / length[:, None]                                              # (R, N), window runs |u| < 1/2
        inside = (u.abs() < 0.5).to(rows.dtype)
        window = (0.5 + 0.5 * torch.cos(2 * math.pi * u)) * inside
        derivative = -(math.pi / length[:, None]) * torch.sin(2 * math.pi * u) * inside
        omega = 2 * math.pi * k * current[:, None] / sample_rate              # (R, K) rad/sample
        phase = omega[:, :, None] * n                                         # (R, K, N)
        cos, sin = torch.cos(phase), torch.sin(phase)
        xw, xd = (rows * window)[:, None, :], (rows * derivative)[:, None, :]
        x_re, x_im = (xw * cos).sum(-1), -(xw * sin).sum(-1)
        d_re, d_im = (xd * cos).sum(-1), -(xd * sin).sum(-1)
        power = x_re ** 2 + x_im ** 2
        below = (k * current[:, None] < 0.45 * sample_rate) & (power > 0)
        offset = (d_im * x_re - d_re * x_im) / torch.where(below, power, torch.ones_like(power))
        harmonic_hz = k * current[:, None] - sample_rate / (2 * math.pi) * offset
        amplitude = torch.where(below, power.sqrt(), torch.zeros_like(power))
        total = (amplitude * k).sum(-1)
        new = (amplitude * harmonic_hz).sum(-1) / torch.where(total > 0, total, torch.ones_like(total))
        within = (total > 0) & (new >= f0 / limit) & (new <= f0 * limit)
        accepted = accepted & within
        estimate = torch.where(accepted, new, estimate)
    return torch.where(accepted, estimate, f0)
