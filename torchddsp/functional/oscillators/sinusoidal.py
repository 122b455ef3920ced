"""Unconstrained sinusoidal oscillator bank (review Eq. 8; Engel et al. 2020b, Serra & Smith 1990).

.. math:: y[n] = \\sum_{k=1}^{K} \\alpha_k[n] \\sin\\Big(\\phi_k + 2\\pi \\sum_{m=0}^{n} f_k[m] / f_s\\Big)

Each component has its own amplitude and frequency envelope and initial phase; a component is
silent wherever ``|f_k[n]| >= f_s / 2``. Phases are accumulated exactly over any length
(``torchddsp.functional.core.phase``). For harmonic frequencies prefer
``torchddsp.functional.oscillators.harmonic``, which is much faster and lighter on memory.
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
from torchddsp.functional.core.phase import accumulate_phase
from torchddsp.functional.core.upsample import upsample


def oscillator_bank(amplitudes: torch.Tensor, frequencies: torch.Tensor, sample_rate: float,
                    state: torch.Tensor | None = None, hop_size: int = 1):
    """Sum of ``K`` sinusoids with their own amplitude and frequency envelopes.

    Args:
        amplitudes: ``(..., frames, K)`` component amplitudes.
        frequencies: ``(..., frames, K)`` component frequencies in Hz (any real value; a
            component at or above Nyquist is silent).
        sample_rate: in Hz, > 0.
        state: optional streaming state, the ``(..., K)`` phases in radians before the first
            sample (:math:`\\phi_k`). When given, the final phases are returned too (float64,
            exact), for block-by-block rendering.
        hop_size: audio samples per frame; controls are upsampled linearly when > 1.

    Returns:
        ``(..., frames * hop_size)`` audio, or ``(audio, final_phase)`` when ``state`` is given.
    """
    check_tensor("amplitudes", amplitudes, min_dim=2)
    check_tensor("frequencies", frequencies, min_dim=2)
    check_positive("sample_rate", sample_rate)
    check_positive_int("hop_size", hop_size)
    if amplitudes.shape[-2:] != frequencies.shape[-2:]:
        raise ValueError(f"amplitudes and frequencies: expected the same (frames, K), received "
                         f"{tuple(amplitudes.shape[-2:])} and {tuple(frequencies.shape[-2:])}")
    if hop_size > 1:
        amplitudes, frequencies = upsample(amplitudes, hop_size), upsample(frequencies, hop_size)
    phase = accumulate_phase(frequencies.transpose(-1, -2), sample_rate, state)   # (..., K, time)
    if state is not None:
        phase, final = phase
    audible = (frequencies.detach().abs() < sample_rate / 2).transpose(-1, -2)
    audio = (amplitudes.transpose(-1, -2) * torch.sin(phase) * audible).sum(-2)
    if state is None:
        return audio
    return audio, final.expand(phase.shape[:-1])
