"""The DDSP decoder of Engel et al. 2020: (f0, loudness[, z]) -> synthesiser logits.

Each input feature goes through its own MLP; the results are concatenated (with the inputs
themselves), passed through a GRU over time and a final MLP, then projected to the raw
controls of a harmonic-plus-noise synthesiser: 1 amplitude logit, ``n_harmonics``
distribution logits and ``n_noise_bands`` noise-magnitude logits per frame.
"""

from __future__ import annotations

import torch
from torch import nn

from torchddsp.checks import check_positive_int
from torchddsp.models.gru import FastGRU


def mlp(in_size: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` x (Linear -> LayerNorm -> LeakyReLU), as in Engel et al.'s decoder."""
    blocks, size = [], in_size
    for _ in range(layers):
        blocks += [nn.Linear(size, hidden), nn.LayerNorm(hidden), nn.LeakyReLU()]
        size = hidden
    return nn.Sequential(*blocks)


class Decoder(nn.Module):
    """Maps frame features ``(batch, frames, 1)`` each to ``(batch, frames, outputs)`` logits.

    Args:
        hidden: width of the MLPs and the GRU.
        mlp_layers: layers per MLP.
        n_harmonics, n_noise_bands: sizes of the synthesiser controls.
        z_size: size of the optional latent ``z`` (0: no z input).

    ``forward`` takes normalised features: ``f0`` as a unit MIDI scale (``midi / 127``) and
    ``loudness`` standardised by the dataset statistics; it returns a dict of logits.
    With ``state`` it also returns the GRU state, for block-by-block inference.
    """

    def __init__(self, hidden: int = 512, mlp_layers: int = 3, n_harmonics: int = 60, n_noise_bands: int = 65,
                 z_size: int = 0):
        super().__init__()
        self.n_harmonics = check_positive_int("n_harmonics", n_harmonics)
        self.n_noise_bands = check_positive_int("n_noise_bands", n_noise_bands)
        check_positive_int("hidden", hidden)
        self.z_size = z_size
        inputs = 2 + z_size
        self.f0_mlp = mlp(1, hidden, mlp_layers)
        self.loudness_mlp = mlp(1, hidden, mlp_layers)
        self.z_mlp = mlp(z_size, hidden, mlp_layers) if z_size else None
        branches = 3 if z_size else 2
        self.gru = FastGRU(branches * hidden, hidden, batch_first=True)   # nn.GRU, compiled for inference
        self.out_mlp = mlp(hidden + inputs, hidden, mlp_layers)
        self.projection = nn.Linear(hidden, 1 + n_harmonics + n_noise_bands)

    def forward(self, f0_unit: torch.Tensor, loudness_std: torch.Tensor, z: torch.Tensor | None = None,
                state: torch.Tensor | None = None):
        parts = [self.f0_mlp(f0_unit), self.loudness_mlp(loudness_std)]
        inputs = [f0_unit, loudness_std]
        if self.z_mlp is not None:
            if z is None:
                raise ValueError(f"z: this decoder was built with z_size={self.z_size}, received None")
            parts.append(self.z_mlp(z))
            inputs.append(z)
        hidden, new_state = self.gru(torch.cat(parts, dim=-1), state)
        out = self.projection(self.out_mlp(torch.cat([hidden, *inputs], dim=-1)))
        logits = {
            "amplitude_logits": out[..., :1],
            "distribution_logits": out[..., 1:1 + self.n_harmonics],
            "noise_logits": out[..., 1 + self.n_harmonics:],
        }
        return logits if state is None else (logits, new_state)
