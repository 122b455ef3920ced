"""``HarmonicPlusNoise``: the differentiable spectral-modelling synthesiser of Engel et al. 2020."""

from __future__ import annotations

import torch
from torch import nn

from .filtered_noise import FilteredNoise
from .harmonic import Harmonic
from .reverb import Reverb


class HarmonicPlusNoise(nn.Module):
    """Harmonic oscillator bank + filtered noise (+ optional reverb).

    ``get_controls(amplitude_logits, distribution_logits, f0_hz, noise_logits)`` maps network
    outputs ``(..., frames, 1)``, ``(..., frames, n_harmonics)``, f0 in Hz ``(..., frames, 1)``
    and ``(..., frames, n_noise_bands)`` to valid controls; ``render(**controls)`` returns audio
    ``(..., frames * hop_size)``; ``forward`` does both.

    Args:
        sample_rate, hop_size: audio rate and samples per frame.
        n_harmonics, n_noise_bands: sizes of the harmonic distribution and noise filter bands.
        reverb: a ``Reverb`` module applied to the mix, or ``None``.
        upsampling: amplitude upsampling of the harmonic part, ``"linear"`` or ``"hann"``.
        threshold: floor of the harmonic amplitude and the noise band magnitudes (``exp_sigmoid``'s
            ``threshold``; Engel et al.: ``1e-7``).
    """

    def __init__(self, sample_rate: float, hop_size: int, n_harmonics: int = 60, n_noise_bands: int = 65,
                 reverb: Reverb | None = None, upsampling: str = "linear", threshold: float = 1e-7):
        super().__init__()
        self.harmonic = Harmonic(sample_rate, hop_size, n_harmonics, upsampling, threshold)
        self.noise = FilteredNoise(hop_size, n_noise_bands, threshold=threshold)
        self.reverb = reverb
        self.sample_rate, self.hop_size = sample_rate, hop_size

    def get_controls(self, amplitude_logits: torch.Tensor, distribution_logits: torch.Tensor,
                     f0_hz: torch.Tensor, noise_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        controls = self.harmonic.get_controls(amplitude_logits, distribution_logits, f0_hz)
        controls.update(self.noise.get_controls(noise_logits))
        return controls

    def render(self, amplitude: torch.Tensor, harmonic_distribution: torch.Tensor, f0_hz: torch.Tensor,
               noise_magnitudes: torch.Tensor, noise_seed: int | None = None) -> torch.Tensor:
        audio = self.harmonic.render(amplitude, harmonic_distribution, f0_hz)
        audio = audio + self.noise.render(noise_magnitudes, noise_seed=noise_seed)
        if self.reverb is not None:
            audio = self.reverb(audio)
        return audio

    def forward(self, amplitude_logits: torch.Tensor, distribution_logits: torch.Tensor, f0_hz: torch.Tensor,
                noise_logits: torch.Tensor, noise_seed: int | None = None) -> torch.Tensor:
        return self.render(**self.get_controls(amplitude_logits, distribution_logits, f0_hz, noise_logits),
                           noise_seed=noise_seed)
