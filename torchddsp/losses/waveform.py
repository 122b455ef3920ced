r"""Waveform (time-domain) losses: mean absolute and mean squared sample error.

.. math::
    \mathcal L_{1}(\hat y, y) = \frac1T\sum_{n} |\hat y[n] - y[n]|, \qquad
    \mathcal L_{2}(\hat y, y) = \frac1T\sum_{n} (\hat y[n] - y[n])^2

per item of the leading dimensions (Hayes et al. 2023, eq. 16, averaged over the :math:`T`
samples; :math:`\mathcal L_2` is the mean squared error, no square root). Engel et al. 2020 note
such losses penalise imperceptible phase shifts; prefer spectral losses unless phase matters.

Reductions follow the rest of :mod:`torchddsp.losses`: ``"none"`` returns the per-item losses
(shape of the broadcast leading dims), ``"mean"``/``"sum"`` reduce them over items. ``"mean"``
equals ``torch.nn.functional.l1_loss``/``mse_loss``; ``"sum"`` sums per-item *means* (torch's
``"sum"`` sums over samples, i.e. ``T`` times larger).
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_choice
from torchddsp.losses.reduction import REDUCTIONS, check_signal_pair, reduce_items

__all__ = ["waveform_l1_loss", "waveform_l2_loss", "WaveformL1Loss", "WaveformL2Loss"]


def _per_item(input, target, squared: bool, reduction: str) -> torch.Tensor:
    check_choice("reduction", reduction, REDUCTIONS)
    x, y, lead = check_signal_pair(input, target)
    d = x - y
    per_item = (d.square() if squared else d.abs()).mean(-1)
    if reduction == "none":
        return per_item.reshape(lead)
    return reduce_items(per_item, reduction)


def waveform_l1_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Mean absolute error :math:`\frac1T\sum_n|\hat y[n] - y[n]|` per item.

    Args:
        input: prediction ``(..., time)``; target: ``(..., time)``; leading dims broadcast,
            ``time`` must match (else ``ValueError`` naming ``target``). float32/float64, any device.
        reduction: ``"mean"`` | ``"sum"`` over items, or ``"none"`` for shape ``(...)``.

    The gradient at :math:`\hat y = y` is 0 (``torch.sign``), so it is finite on silence.
    """
    return _per_item(input, target, False, reduction)


def waveform_l2_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Mean squared error :math:`\frac1T\sum_n(\hat y[n] - y[n])^2` per item (L2 / MSE waveform loss).

    Args and shapes as :func:`waveform_l1_loss`.
    """
    return _per_item(input, target, True, reduction)


class WaveformL1Loss(torch.nn.Module):
    """Module form of :func:`waveform_l1_loss`."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_choice("reduction", reduction, REDUCTIONS)
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return waveform_l1_loss(input, target, self.reduction)


class WaveformL2Loss(torch.nn.Module):
    """Module form of :func:`waveform_l2_loss` (mean squared error)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_choice("reduction", reduction, REDUCTIONS)
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return waveform_l2_loss(input, target, self.reduction)
