"""``Sinusoidal`` processor: unconstrained sinusoidal model (review Eq. 8; Engel et al. 2020b)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_positive, check_positive_int
from ..functional.scaling import exp_sigmoid, unit_to_hz
from ..functional.sinusoidal import oscillator_bank


class Sinusoidal(nn.Module):
    """Bank of ``K`` free sinusoids with frame-rate amplitude and frequency controls.

    ``get_controls`` maps unconstrained inputs to valid controls:
    ``amplitudes = exp_sigmoid(amplitude_logits)`` and
    ``frequencies = unit_to_hz(sigmoid(frequency_logits), hz_min, hz_max)`` (a logarithmic
    frequency scale), both ``(..., frames, K)``. ``render`` upsamples them linearly by
    ``hop_size`` and sums the sinusoids.
    """

    def __init__(self, sample_rate: float, hop_size: int, hz_min: float = 20.0, hz_max: float | None = None):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.hz_min = check_positive("hz_min", hz_min)
        self.hz_max = check_positive("hz_max", hz_max if hz_max is not None else sample_rate / 2)

    def get_controls(self, amplitude_logits: torch.Tensor, frequency_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"amplitudes": exp_sigmoid(amplitude_logits),
                "frequencies": unit_to_hz(torch.sigmoid(frequency_logits), self.hz_min, self.hz_max)}

    def render(self, amplitudes: torch.Tensor, frequencies: torch.Tensor, initial_phase: torch.Tensor | None = None):
        return oscillator_bank(amplitudes, frequencies, self.sample_rate, initial_phase, self.hop_size)

    def forward(self, amplitude_logits: torch.Tensor, frequency_logits: torch.Tensor) -> torch.Tensor:
        return self.render(**self.get_controls(amplitude_logits, frequency_logits))
