"""Argument checks and reductions shared by every loss: a validated (prediction, target) pair of
signals and the reduction over items (``reduction="mean" | "sum" | "none"``)."""

from __future__ import annotations

import torch

from torchddsp.checks import check_tensor

__all__ = ["REDUCTIONS", "check_signal_pair", "reduce_items"]

#: Reductions over items accepted by every loss.
REDUCTIONS = ("none", "mean", "sum")


def check_signal_pair(input, target) -> tuple[torch.Tensor, torch.Tensor, torch.Size]:
    """Validate ``input``/``target`` ``(..., time)`` and broadcast their leading dimensions.

    Returns both flattened to ``(items, time)`` in a common floating dtype, and the leading shape.
    """
    check_tensor("input", input, min_dim=1)
    check_tensor("target", target, min_dim=1)
    for name, t in (("input", input), ("target", target)):
        if t.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"{name}: expected a real float32 or float64 tensor, received dtype {t.dtype}")
        if t.shape[-1] == 0 or t.numel() == 0:
            raise ValueError(f"{name}: expected at least one signal of at least one sample, received shape "
                             f"{tuple(t.shape)}")
    if input.shape[-1] != target.shape[-1]:
        raise ValueError(f"target: expected the same number of samples (last axis) as input, "
                         f"received {target.shape[-1]} and input has {input.shape[-1]}")
    if input.device != target.device:
        raise ValueError(f"target: expected a tensor on input's device {input.device}, received {target.device}")
    try:
        lead = torch.broadcast_shapes(input.shape[:-1], target.shape[:-1])
    except RuntimeError:
        raise ValueError(f"input and target: expected broadcastable leading (batch) shapes, received "
                         f"{tuple(input.shape[:-1])} and {tuple(target.shape[:-1])}") from None
    dtype = torch.promote_types(input.dtype, target.dtype)
    time = input.shape[-1]
    x = input.to(dtype).expand(*lead, time).reshape(-1, time)
    y = target.to(dtype).expand(*lead, time).reshape(-1, time)
    return x, y, lead


def reduce_items(per_item: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce per-item losses ``(items,)``: ``"mean"``, ``"sum"``, or ``"none"`` (returned as they are)."""
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    return per_item
