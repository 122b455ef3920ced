"""Control scalings: map unconstrained network outputs to valid synthesis controls.

From Engel et al., "DDSP: Differentiable Digital Signal Processing", ICLR 2020: amplitudes and
filter magnitudes are produced by a scaled sigmoid whose exponent gives them a logarithmic feel,
and harmonic distributions are normalised to sum to one.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_positive, check_tensor, checking_values


def exp_sigmoid(x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0,
                threshold: float = 1e-7) -> torch.Tensor:
    r"""Scaled sigmoid with a logarithmic shape, for amplitudes and magnitudes.

    .. math:: y = y_{max}\,\sigma(x)^{\ln(e)} + \epsilon

    with ``exponent`` :math:`e`, ``max_value`` :math:`y_{max}` and ``threshold`` :math:`\epsilon`.
    ``exponent`` must exceed 1. Any real ``x`` maps into ``(threshold, max_value + threshold)``; gradients never vanish
    completely because of the threshold. Shapes: any; elementwise.
    """
    check_tensor("x", x)
    if not isinstance(exponent, (int, float)) or not math.isfinite(exponent) or exponent <= 1:
        raise ValueError(f"exponent: expected a finite number > 1, received {exponent!r}")
    check_positive("max_value", max_value)
    if threshold < 0:
        raise ValueError(f"threshold: expected a number >= 0, received {threshold!r}")
    # sigmoid(x)^ln(e) written through logsigmoid: finite gradients even where sigmoid underflows.
    return max_value * torch.exp(math.log(exponent) * torch.nn.functional.logsigmoid(x)) + threshold


def normalize_distribution(weights: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    r"""Divide non-negative ``weights`` by their sum along ``dim``: :math:`\hat\alpha_k = w_k / \sum_j w_j`.

    ``weights`` must be non-negative. An all-zero row stays all zero (no NaN). Use after removing
    harmonics above Nyquist, as in Engel et al. 2020, so the remaining harmonics carry the whole
    amplitude.
    """
    check_tensor("weights", weights, min_dim=1)
    if checking_values() and bool((weights.detach() < 0).any()):
        raise ValueError("weights: expected non-negative values, received a negative weight")
    return weights / weights.sum(dim=dim, keepdim=True).clamp_min(eps)


def hz_to_midi(frequency: torch.Tensor) -> torch.Tensor:
    r"""MIDI note number of a frequency in Hz: :math:`12\log_2(f/440) + 69`; 0 Hz maps to 0."""
    check_tensor("frequency", frequency)
    midi = 12.0 * torch.log2(frequency.clamp_min(1e-10) / 440.0) + 69.0
    return torch.where(frequency > 0, midi, torch.zeros_like(midi))


def midi_to_hz(notes: torch.Tensor) -> torch.Tensor:
    r"""Frequency in Hz of a (fractional) MIDI note: :math:`440 \cdot 2^{(n - 69)/12}`."""
    check_tensor("notes", notes)
    return 440.0 * 2.0 ** ((notes - 69.0) / 12.0)


def unit_to_hz(x: torch.Tensor, hz_min: float = 20.0, hz_max: float = 8000.0) -> torch.Tensor:
    r"""Map ``x`` in [0, 1] to a frequency on a MIDI (logarithmic) scale between ``hz_min`` and ``hz_max``."""
    check_tensor("x", x)
    check_positive("hz_min", hz_min)
    check_positive("hz_max", hz_max)
    if hz_max <= hz_min:
        raise ValueError(f"hz_max: expected a value > hz_min={hz_min}, received {hz_max}")
    lo, hi = 12 * math.log2(hz_min / 440) + 69, 12 * math.log2(hz_max / 440) + 69
    return midi_to_hz(lo + x * (hi - lo))


def amplitude_to_db(amplitude: torch.Tensor, min_db: float = -120.0) -> torch.Tensor:
    r"""Decibels of an amplitude, :math:`20\log_{10}|a|`, floored at ``min_db`` (finite on silence)."""
    check_tensor("amplitude", amplitude)
    floor = 10.0 ** (min_db / 20.0)
    return 20.0 * torch.log10(amplitude.abs().clamp_min(floor))


def db_to_amplitude(db: torch.Tensor) -> torch.Tensor:
    r"""Amplitude of a level in decibels, :math:`10^{d/20}`."""
    check_tensor("db", db)
    return 10.0 ** (db / 20.0)
