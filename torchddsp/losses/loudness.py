r"""Loudness loss: the mean absolute difference of A-weighted loudness in dB, frame by frame.

.. math::
    \mathcal L_{loud}(\hat y, y) = \frac1M\sum_{m=1}^{M} \big|L_m(\hat y) - L_m(y)\big|

with :math:`L_m` the A-weighted loudness of frame :math:`m` of :func:`torchddsp.features.loudness`
(Engel et al. 2020's conditioning feature; the loudness L1 of their resynthesis metrics is this
quantity on whole recordings). The log-magnitude term of a spectral loss is an L1 distance per
bin, so it matches the median of the per-bin level error; loudness is a mean of levels in dB over
bins, so a model can sit at the spectral loss's optimum and still read a dB or so quiet. Adding
this term (weighted, to a spectral loss) trains that mean directly.

Differentiable in ``input`` wherever a bin's level is above loudness's floors (bins at the
``-range_db`` floor or the ``amin`` power floor have zero gradient, so silence is finite).
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_choice, check_positive, check_positive_int
from torchddsp.features.loudness import loudness
from torchddsp.losses.reduction import REDUCTIONS, check_signal_pair, reduce_items

__all__ = ["loudness_l1_loss", "LoudnessL1Loss"]


def loudness_l1_loss(input: torch.Tensor, target: torch.Tensor, sample_rate: float, hop_size: int,
                     n_fft: int | None = None, reduction: str = "mean") -> torch.Tensor:
    r"""Mean over frames of :math:`|L_m(\hat y) - L_m(y)|` in dB, per item (see the module docstring).

    Args:
        input: prediction ``(..., time)``; target: ``(..., time)`` (leading dims broadcast, ``time``
            must match). float32/float64, any device.
        sample_rate: Hz, > 0. hop_size: samples between loudness frames, >= 1.
        n_fft: loudness window (default :func:`~torchddsp.features.default_loudness_n_fft`, 128 ms).
        reduction: ``"mean"`` | ``"sum"`` over items, or ``"none"`` for per-item losses ``(...)``.
    """
    check_choice("reduction", reduction, REDUCTIONS)
    x, y, lead = check_signal_pair(input, target)
    per_item = (loudness(x, sample_rate, hop_size, n_fft) - loudness(y, sample_rate, hop_size, n_fft)).abs().mean(-1)
    if reduction == "none":
        return per_item.reshape(lead)
    return reduce_items(per_item, reduction)


class LoudnessL1Loss(torch.nn.Module):
    """Module form of :func:`loudness_l1_loss`, for one sample rate and hop size (checked at construction).

    Example::

        loss_fn = LoudnessL1Loss(sample_rate=44100, hop_size=176)
        loss = loss_fn(prediction, target)                  # (..., time) -> scalar, in dB
    """

    def __init__(self, sample_rate: float, hop_size: int, n_fft: int | None = None, reduction: str = "mean"):
        super().__init__()
        check_positive("sample_rate", sample_rate)
        check_positive_int("hop_size", hop_size)
        if n_fft is not None:
            check_positive_int("n_fft", n_fft)
        check_choice("reduction", reduction, REDUCTIONS)
        self.sample_rate, self.hop_size, self.n_fft, self.reduction = sample_rate, hop_size, n_fft, reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loudness_l1_loss(input, target, self.sample_rate, self.hop_size, self.n_fft, self.reduction)
