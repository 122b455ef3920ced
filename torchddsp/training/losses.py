"""Training losses configured by name: a ``[losses]`` table of weighted terms, resolved through a registry.

A run's config lists the terms it trains on, each a table named after a registered loss::

    [losses.multi_resolution_stft]
    weight = 1.0
    n_ffts = [2048, 1024, 512, 256, 128, 64]

    [losses.loudness_l1]
    weight = 0.02
    n_fft = 2048
    hop_size = 704

``weight`` (a number >= 0; 0 leaves the term out) multiplies the term; every other key is a keyword
argument of the loss module (see ``torchddsp.losses``). ``sample_rate`` and ``hop_size``, where the
module takes them and the table does not set them, come from the training data. Each term compares
the model's output with its target, ``loss(output, target)``. ``register_loss`` adds a loss.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

import torch

from torchddsp.losses import (
    LoudnessL1Loss,
    MelMultiResolutionSTFTLoss,
    MultiResolutionSTFTLoss,
    WaveformL1Loss,
    WaveformL2Loss,
)

LOSSES: dict[str, Callable[..., torch.nn.Module]] = {
    "multi_resolution_stft": MultiResolutionSTFTLoss,
    "mel_multi_resolution_stft": MelMultiResolutionSTFTLoss,
    "loudness_l1": LoudnessL1Loss,
    "waveform_l1": WaveformL1Loss,
    "waveform_l2": WaveformL2Loss,
}

CONTEXT = ("sample_rate", "hop_size")


def register_loss(name: str, factory: Callable[..., torch.nn.Module]) -> None:
    """Make ``[losses.NAME]`` build ``factory(**options)``, an ``nn.Module`` called as ``loss(output, target)``."""
    if name in LOSSES:
        raise ValueError(f"name: expected a loss name not yet registered, received {name!r}")
    LOSSES[name] = factory


def check_loss_table(losses: dict) -> dict:
    """Validate the names and weights of a ``[losses]`` table (options are checked when the terms are built)."""
    if not isinstance(losses, dict):
        raise ValueError(f"losses: expected a table of named loss terms, received {losses!r}")
    for name, options in losses.items():
        if name not in LOSSES:
            raise ValueError(f"losses.{name}: expected one of {sorted(LOSSES)}, received {name!r}")
        if not isinstance(options, dict):
            raise ValueError(f"losses.{name}: expected a table with a weight and options, received {options!r}")
        weight = options.get("weight")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"losses.{name}.weight: expected a number >= 0, received {weight!r}")
    return losses


class WeightedLosses(torch.nn.Module):
    """The terms of a ``[losses]`` table with a non-zero weight, built for data at ``sample_rate`` and ``hop_size``.

    ``forward(output, target)`` returns ``{name: weight * loss(output, target)}`` in the table's
    order; their sum is the training loss (the loop sums them, and logs each term).
    """

    def __init__(self, losses: dict, sample_rate: float, hop_size: int):
        super().__init__()
        check_loss_table(losses)
        context = {"sample_rate": sample_rate, "hop_size": hop_size}
        self.weights: dict[str, float] = {}
        self.terms = torch.nn.ModuleDict()
        for name, table in losses.items():
            if table["weight"] == 0:
                continue
            options = {k: v for k, v in table.items() if k != "weight"}
            factory = LOSSES[name]
            accepted = inspect.signature(factory).parameters
            for key in CONTEXT:
                if key in accepted and key not in options:
                    options[key] = context[key]
            unknown = sorted(set(options) - set(accepted))
            if unknown:
                known = sorted(set(accepted) - {"self"})
                raise ValueError(f"losses.{name}: unknown options {unknown}; expected 'weight' and any of {known}")
            try:
                self.terms[name] = factory(**options)
            except ValueError as error:
                raise ValueError(f"losses.{name}: {error}") from None
            self.weights[name] = float(table["weight"])
        if not self.weights:
            raise ValueError(f"losses: expected at least one term with a weight > 0, received {losses!r}")

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: self.weights[name] * term(output, target) for name, term in self.terms.items()}
