"""``FilteredNoise`` processor: white noise through a time-varying window-design FIR (Engel et al. 2020)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_nonnegative, check_positive_int, check_tensor
from ..functional.fir import frequency_filter
from ..functional.noise import white_noise
from ..functional.scaling import exp_sigmoid


class FilteredNoise(nn.Module):
    """Uniform white noise in [-1, 1) filtered frame by frame by linear-phase FIR filters.

    ``get_controls``: ``noise_magnitudes = exp_sigmoid(noise_logits + initial_bias, threshold=threshold)``,
    ``(..., frames, n_bands)`` band magnitudes sampled uniformly from 0 Hz to Nyquist (the
    negative bias starts training quiet, as in Engel et al.). ``render`` designs each frame's
    filter by the window method (``torchddsp.functional.fir.frequency_filter``: IDFT of the
    magnitudes, Hann window, causal shift) and filters noise of ``frames * hop_size`` samples
    with the full impulse responses overlap-added.

    Args:
        hop_size: audio samples per control frame.
        n_bands: number of magnitude bands (the filters have ``2 * (n_bands - 1)`` taps).
        initial_bias: added to the logits before ``exp_sigmoid``.
        threshold: the smallest band magnitude, ``>= 0`` (Engel et al.: ``1e-7``).
    """

    def __init__(self, hop_size: int, n_bands: int = 65, initial_bias: float = -5.0, threshold: float = 1e-7):
        super().__init__()
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.n_bands = check_positive_int("n_bands", n_bands)
        self.initial_bias = float(initial_bias)
        self.threshold = check_nonnegative("threshold", threshold)

    def get_controls(self, noise_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("noise_logits", noise_logits, min_dim=2)
        if noise_logits.shape[-1] != self.n_bands:
            raise ValueError(f"noise_logits: expected {self.n_bands} bands on the last axis, "
                             f"received shape {tuple(noise_logits.shape)}")
        return {"noise_magnitudes": exp_sigmoid(noise_logits + self.initial_bias, threshold=self.threshold)}

    def render(self, noise_magnitudes: torch.Tensor, noise_seed: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Filtered noise ``(..., frames * hop_size)``; pass ``noise_seed`` for reproducible noise."""
        check_tensor("noise_magnitudes", noise_magnitudes, min_dim=2)
        *lead, frames, _ = noise_magnitudes.shape
        noise = white_noise((*lead, frames * self.hop_size), seed=noise_seed, generator=generator,
                            dtype=noise_magnitudes.dtype).to(noise_magnitudes.device)
        return frequency_filter(noise, noise_magnitudes, self.hop_size)

    def forward(self, noise_logits: torch.Tensor, noise_seed: int | None = None) -> torch.Tensor:
        return self.render(**self.get_controls(noise_logits), noise_seed=noise_seed)

    def extra_repr(self) -> str:
        return f"hop_size={self.hop_size}, n_bands={self.n_bands}"
