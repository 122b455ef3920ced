"""The all-pole recursion in pure PyTorch: a parallel prefix scan over companion matrices.

.. math:: y[n] = x[n] - \\sum_{i=1}^{p} a_i[n]\\, y[n-i], \\qquad y[n < 0] = 0

For the state :math:`s[n] = (y[n], \\dots, y[n-p+1])` this is :math:`s[n] = M[n] s[n-1] + x[n] e_1`
with the companion matrix :math:`M[n]`; composing the affine maps pairwise takes ``log2 T``
sequential steps, ``O(p^3 T log T)`` work and ``O(B T p^2)`` memory: suited to GPUs and low
orders, and any device and dtype. The backward is analytic (the same scan run on the
time-reversed adjoint, see ``allpole_ops.py``), so autograd stores only the output.

Shapes: ``x`` ``(B, T)``; ``a`` ``(B, p)`` fixed or ``(B, T, p)`` per sample, ``p >= 1``.
``scan_recursion`` is plain tensor code that ``torch.jit.script`` and ``torch.export`` capture
(the form used for export); ``allpole_scan`` adds the analytic backward for training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def scan_recursion(x: Tensor, a: Tensor, time_varying: bool) -> Tensor:
    """``y[n] = x[n] - sum_i a[(n,) i] y[n-1-i]`` from rest by the prefix scan (module docstring)."""
    batch, time = x.shape[0], x.shape[1]
    order = a.shape[-1]
    coeffs = a if time_varying else a[:, None, :].expand(batch, time, order)
    m = x.new_zeros(batch, time, order, order)
    m[:, :, 0, :] = -coeffs
    if order > 1:
        m[:, :, 1:, :-1] = torch.eye(order - 1, dtype=x.dtype, device=x.device)
    c = x.new_zeros(batch, time, order)
    c[:, :, 0] = x
    step = 1
    while step < time:                                   # log2(time) steps, not a loop over samples
        c = torch.cat([c[:, :step], (m[:, step:] @ c[:, :-step, :, None])[..., 0] + c[:, step:]], dim=1)
        m = torch.cat([m[:, :step], m[:, step:] @ m[:, :-step]], dim=1)
        step *= 2
    return c[:, :, 0]


def _delayed_outputs(y: Tensor, order: int) -> Tensor:
    """``(B, T, p)`` with ``[..., n, i] = y[n - 1 - i]`` (zero before the start)."""
    time = y.shape[-1]
    extended = F.pad(y, (order, 0))
    return torch.stack([extended[:, order - 1 - i:order - 1 - i + time] for i in range(order)], dim=-1)


class _ScanAllPole(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, time_varying):
        y = scan_recursion(x, a, time_varying)
        ctx.save_for_backward(a, y)
        ctx.time_varying = time_varying
        return y

    @staticmethod
    def backward(ctx, grad_y):
        a, y = ctx.saved_tensors
        g = grad_y.contiguous()
        time = g.shape[-1]
        order = a.shape[-1]
        if ctx.time_varying:   # reversed time r = T-1-n uses a'[r, i] = a[T - r + i, i] = flip(a)[r - 1 - i, i]
            flipped = a.flip(1)
            shifted = torch.stack([F.pad(flipped[:, :time - 1 - i, i], (1 + i, 0)) for i in range(order)], dim=-1)
            gx = scan_recursion(g.flip(-1), shifted, True).flip(-1)
        else:
            gx = scan_recursion(g.flip(-1), a, False).flip(-1)
        ga = -gx[..., None] * _delayed_outputs(y, order)
        if not ctx.time_varying:
            ga = ga.sum(1)
        return gx, ga, None


def allpole_scan(x: Tensor, a: Tensor, time_varying: bool) -> Tensor:
    """:func:`scan_recursion` with its analytic backward; ``x``, ``a`` contiguous, batch rows equal."""
    return _ScanAllPole.apply(x, a, time_varying)
