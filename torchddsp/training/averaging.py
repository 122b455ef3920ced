"""An exponential moving average of the weights, used for inference.

Adam with a learning rate large enough to train in minutes leaves the weights jittering around
a minimum; their running average sits closer to it (Polyak & Juditsky 1992; the "EMA weights" of
many audio and image generators). After every optimiser step ``t``:

.. math:: \\bar\\theta_t = d_t\\,\\bar\\theta_{t-1} + (1 - d_t)\\,\\theta_t,
          \\qquad d_t = \\min\\big(d,\\ (1 + t) / (10 + t)\\big),

where ``t`` counts the averaged steps. The warm-up term keeps the first, poor weights from
lingering: early on the average follows the weights closely, and its horizon grows to about a
ninth of the steps taken, up to ``1 / (1 - d)`` steps. Built on ``torch.optim.swa_utils.AveragedModel``.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel


def weight_average(model: torch.nn.Module, decay: float) -> AveragedModel:
    """A copy of ``model`` whose ``update_parameters(model)`` folds in the current weights (and buffers)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay: expected a number in (0, 1), received {decay!r}")

    def update(averaged: list, current: list, n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        for a, c in zip(averaged, current):
            a.lerp_(c, weight)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)
