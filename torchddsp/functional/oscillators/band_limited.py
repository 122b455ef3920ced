"""Band-limited sawtooth and square oscillators with a morph (review Eqs. 10–11; Masuda & Saito 2021).

.. math::

    y_{saw}[n] = \\sum_{k=1}^{K} \\frac{2}{\\pi k} \\sin(k\\phi[n]), \\qquad
    y_{sq}[n] = \\sum_{k\\ \\mathrm{odd} \\le K} \\frac{4}{\\pi k} \\sin(k\\phi[n]),

    y[n] = p[n]\\, y_{saw}[n] + (1 - p[n])\\, y_{sq}[n],

with :math:`\\phi` the accumulated phase of ``f0`` and the morph :math:`p \\in [0, 1]`. Every
harmonic at or above Nyquist is silenced sample by sample, so the waveforms are alias-free for
any (time-varying) f0. Rendered with the fast harmonic kernel of
``torchddsp.functional.oscillators.harmonic``.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_positive_int, check_tensor
from torchddsp.functional.oscillators.harmonic import harmonic_bank


def sawtooth_square(f0: torch.Tensor, morph: torch.Tensor, sample_rate: float, hop_size: int,
                    n_harmonics: int, state: torch.Tensor | None = None, upsampling: str = "linear"):
    """Morph between band-limited sawtooth (``morph = 1``) and square (``morph = 0``) waves.

    Args:
        f0: ``(..., frames, 1)`` fundamental in Hz (or ``(..., frames * hop_size, 1)`` at audio rate).
        morph: ``(..., frames, 1)`` morph ``p`` per frame; values outside [0, 1] extrapolate.
        sample_rate, hop_size, state, upsampling: as in ``harmonic_bank`` (``state``: the phase).
        n_harmonics: ``K``, number of harmonics summed (those above Nyquist are silent anyway).

    Returns ``(..., frames * hop_size)`` audio (and the final phase when ``state`` is given).
    Differentiable with respect to ``f0``, ``morph`` and ``state``.
    """
    check_tensor("f0", f0, min_dim=2)
    check_tensor("morph", morph, min_dim=2)
    check_positive_int("n_harmonics", n_harmonics)
    if morph.shape[-1] != 1:
        raise ValueError(f"morph: expected shape (..., frames, 1), received {tuple(morph.shape)}")
    k = torch.arange(1, n_harmonics + 1, dtype=morph.dtype, device=morph.device)
    saw = 2.0 / (math.pi * k)
    square = torch.where(k % 2 == 1, 4.0 / (math.pi * k), torch.zeros_like(k))
    amplitudes = square + morph * (saw - square)                 # (..., frames, K)
    return harmonic_bank(amplitudes, f0, sample_rate, hop_size, state, upsampling)
