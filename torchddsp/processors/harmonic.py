"""``Harmonic`` processor: network outputs -> harmonic synthesiser controls -> audio (Engel et al. 2020)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_nonnegative, check_positive, check_positive_int, check_tensor
from ..functional.harmonic import harmonic_oscillator
from ..functional.scaling import exp_sigmoid, normalize_distribution


class Harmonic(nn.Module):
    """Harmonic oscillator bank driven by frame-rate controls (review Eq. 9).

    ``get_controls`` maps unconstrained inputs to valid controls:

    - ``amplitude = exp_sigmoid(amplitude_logits, threshold=threshold)``, shape ``(..., frames, 1)``;
    - ``harmonic_distribution = exp_sigmoid(distribution_logits)`` with harmonics at or above
      Nyquist (for the frame's f0) set to zero, then normalised to sum to one, ``(..., frames, K)``.

    ``render`` turns valid controls into audio; ``forward`` does both. Both halves are public so
    a network or a person can drive the synth. Set ``initial_phase`` in ``render`` for
    block-by-block use.

    Args:
        sample_rate: audio sample rate in Hz.
        hop_size: audio samples per control frame.
        n_harmonics: ``K``.
        upsampling: ``"linear"`` or ``"hann"`` amplitude upsampling.
        threshold: the smallest amplitude, ``>= 0`` (Engel et al.: ``1e-7``, about -140 dB). A
            model that must render digital silence needs a lower floor.
    """

    def __init__(self, sample_rate: float, hop_size: int, n_harmonics: int = 60, upsampling: str = "linear",
                 threshold: float = 1e-7):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.n_harmonics = check_positive_int("n_harmonics", n_harmonics)
        self.upsampling = upsampling
        self.threshold = check_nonnegative("threshold", threshold)

    def get_controls(self, amplitude_logits: torch.Tensor, distribution_logits: torch.Tensor,
                     f0_hz: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("distribution_logits", distribution_logits, min_dim=2)
        if distribution_logits.shape[-1] != self.n_harmonics:
            raise ValueError(f"distribution_logits: expected {self.n_harmonics} harmonics on the last axis, "
                             f"received shape {tuple(distribution_logits.shape)}")
        amplitude = exp_sigmoid(amplitude_logits, threshold=self.threshold)
        distribution = exp_sigmoid(distribution_logits)
        k = torch.arange(1, self.n_harmonics + 1, dtype=distribution.dtype, device=distribution.device)
        below_nyquist = (k * f0_hz.detach() < self.sample_rate / 2).to(distribution.dtype)
        distribution = normalize_distribution(distribution * below_nyquist)
        return {"amplitude": amplitude, "harmonic_distribution": distribution, "f0_hz": f0_hz}

    def render(self, amplitude: torch.Tensor, harmonic_distribution: torch.Tensor, f0_hz: torch.Tensor,
               initial_phase: torch.Tensor | None = None):
        return harmonic_oscillator(amplitude, harmonic_distribution, f0_hz, self.sample_rate, self.hop_size,
                                   initial_phase, self.upsampling)

    def forward(self, amplitude_logits: torch.Tensor, distribution_logits: torch.Tensor,
                f0_hz: torch.Tensor) -> torch.Tensor:
        return self.render(**self.get_controls(amplitude_logits, distribution_logits, f0_hz))

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}, n_harmonics={self.n_harmonics}"
