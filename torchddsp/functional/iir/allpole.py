"""All-pole recursion with an analytic backward (review Eqs. 2-3; Yu & Fazekas 2023).

.. math:: y[n] = x[n] - \\sum_{i=1}^{p} a_i[n]\\, y[n - i]

with coefficients fixed (LTI, ``a`` of shape ``(..., p)``) or one set per sample (LTV, ``a``
of shape ``(..., time, p)``, i.e. ``a.dim() == x.dim() + 1``). Outputs before the first
sample come from ``initial_outputs`` ``(..., p)`` (``[..., 0]`` is ``y[-1]``, the most recent),
zero by default; the call then also returns the last ``p`` outputs in the same layout, so
audio can be filtered block by block with results identical to one call.

Backward without an autograd graph over time steps: with ``u = dL/dx``,

.. math::

    u[n] = \\frac{\\partial L}{\\partial y[n]} - \\sum_{i=1}^{p} a_i[n+i]\\, u[n+i], \\qquad
    \\frac{\\partial L}{\\partial a_i[n]} = -u[n]\\, y[n-i],

i.e. the same recursion run backwards in time, then products with the delayed output (summed
over time for LTI coefficients). Nothing is clamped: an unstable filter gives a growing output,
as in ``scipy.signal.lfilter``; use the stable parameterisations to avoid it.

Backends: ``"numba"`` (compiled CPU kernels, parallel over the batch, cached on disk) and
``"scan"`` (pure PyTorch, any device: a parallel prefix scan over companion matrices,
``O(p^3 T log T)`` work but only ``log2 T`` sequential steps, suited to GPUs and small ``p``).
``"auto"`` uses numba for CPU tensors when it is installed, the scan otherwise.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import torch

from ..._checks import check_choice, check_tensor

try:  # numba is an optional accelerator; the scan backend works everywhere
    from . import _numba_kernels
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _numba_kernels = None

BACKENDS = ("auto", "numba", "scan")


# ------------------------------------------------------------------------------------- numba

_POOL: ThreadPoolExecutor | None = None


def _over_batch(kernel, *tensors):
    """Run ``kernel`` on slices of the batch (axis 0 of every tensor) on up to ``torch.get_num_threads()`` threads."""
    global _POOL
    arrays = [t.numpy() for t in tensors]
    batch = arrays[0].shape[0]
    workers = max(1, min(torch.get_num_threads(), batch))
    if workers == 1:
        kernel(*arrays)
        return
    if _POOL is None or _POOL._max_workers < workers:
        _POOL = ThreadPoolExecutor(max_workers=max(workers, os.cpu_count() or 1))
    bounds = [batch * w // workers for w in range(workers + 1)]
    jobs = [_POOL.submit(kernel, *[arr[lo:hi] for arr in arrays]) for lo, hi in zip(bounds, bounds[1:])]
    for job in jobs:
        job.result()


def _numba_forward(x, a, y0, time_varying):
    y = torch.empty_like(x)
    _over_batch(_numba_kernels.forward_ltv if time_varying else _numba_kernels.forward_lti, x, a, y0, y)
    return y


def _numba_backward(g, a, y, y0, time_varying):
    gx, ga, gy0 = torch.empty_like(g), torch.empty_like(a), torch.empty_like(y0)
    _over_batch(_numba_kernels.backward_ltv if time_varying else _numba_kernels.backward_lti,
                g, a, y, y0, gx, ga, gy0)
    return gx, ga, gy0


# ------------------------------------------------------------------------------------- scan

def _scan_forward(x, a, y0, time_varying):
    """Prefix scan of s[n] = M[n] s[n-1] + x[n] e_1 with companion matrices M[n]."""
    batch, time = x.shape
    order = a.shape[-1]
    coeffs = a if time_varying else a[:, None, :].expand(batch, time, order)
    m = x.new_zeros(batch, time, order, order)
    m[..., 0, :] = -coeffs
    if order > 1:
        m[..., 1:, :-1] = torch.eye(order - 1, dtype=x.dtype, device=x.device)
    c = x.new_zeros(batch, time, order)
    c[..., 0] = x
    step = 1
    while step < time:                                   # log2(time) steps, not a loop over samples
        c = torch.cat([c[:, :step], (m[:, step:] @ c[:, :-step, :, None])[..., 0] + c[:, step:]], dim=1)
        m = torch.cat([m[:, :step], m[:, step:] @ m[:, :-step]], dim=1)
        step *= 2
    state = (m @ y0[:, None, :, None])[..., 0] + c       # s[n] = (M[n] ... M[0]) s[-1] + c[n]
    return state[..., 0]


def _delayed_outputs(y, y0):
    """``(B, T, p)`` with ``[..., n, i] = y[n - 1 - i]``, reaching into ``y0`` before the start."""
    order = y0.shape[-1]
    extended = torch.cat([y0.flip(-1), y], dim=-1)       # y[-p] ... y[-1], y[0] ... y[T-1]
    time = y.shape[-1]
    return torch.stack([extended[:, order - 1 - i:order - 1 - i + time] for i in range(order)], dim=-1)


def _scan_backward(g, a, y, y0, time_varying):
    batch, time = g.shape
    order = a.shape[-1]
    if time_varying:   # reversed time r = T-1-n uses a'[r, i] = a[T - r + i, i] = flip(a)[r - 1 - i, i]
        flipped = a.flip(1)
        shifted = torch.stack([torch.nn.functional.pad(flipped[:, :time - 1 - i, i], (1 + i, 0))
                               for i in range(order)], dim=-1)
        gx = _scan_forward(g.flip(-1), shifted, torch.zeros_like(y0), True).flip(-1)
    else:
        gx = _scan_forward(g.flip(-1), a, torch.zeros_like(y0), False).flip(-1)
    delayed = _delayed_outputs(y, y0)                    # (B, T, p)
    ga = -gx[..., None] * delayed
    if not time_varying:
        ga = ga.sum(1)
    gy0 = torch.zeros_like(y0)
    for j in range(order):                               # loop over filter taps, not samples
        for i in range(j, order):
            n = i - j
            if n < time:
                coeff = a[:, n, i] if time_varying else a[:, i]
                gy0[:, j] -= coeff * gx[:, n]
    return gx, ga, gy0


# ------------------------------------------------------------------------------------- autograd

class _AllPole(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, y0, time_varying, use_numba):
        forward = _numba_forward if use_numba else _scan_forward
        y = forward(x, a, y0, time_varying)
        ctx.save_for_backward(a, y, y0)
        ctx.time_varying, ctx.use_numba = time_varying, use_numba
        return y

    @staticmethod
    def backward(ctx, grad_y):
        a, y, y0 = ctx.saved_tensors
        backward = _numba_backward if ctx.use_numba else _scan_backward
        gx, ga, gy0 = backward(grad_y.contiguous(), a, y, y0, ctx.time_varying)
        return (gx if ctx.needs_input_grad[0] else None, ga if ctx.needs_input_grad[1] else None,
                gy0 if ctx.needs_input_grad[2] else None, None, None)


def _use_numba(x: torch.Tensor, backend: str) -> bool:
    if backend == "scan":
        return False
    available = _numba_kernels is not None and x.device.type == "cpu"
    if backend == "numba" and not available:
        raise ValueError(f"backend: 'numba' needs numba installed and CPU tensors, received device {x.device}")
    return available


def allpole(x: torch.Tensor, a: torch.Tensor, initial_outputs: torch.Tensor | None = None, *,
            backend: str = "auto"):
    """Filter ``x`` ``(..., time)`` by ``1 / (1 + sum_i a_i z^-i)``.

    Args:
        x: input ``(..., time)``.
        a: ``(..., p)`` fixed coefficients ``a_1 .. a_p`` (``a_0 = 1`` is implied), or
            ``(..., time, p)`` per-sample coefficients (time-varying; ``a.dim() == x.dim() + 1``).
            Leading dimensions broadcast with ``x``'s.
        initial_outputs: optional ``(..., p)`` outputs before the first sample, ``[..., 0] = y[-1]``.
        backend: ``"auto"``, ``"numba"`` or ``"scan"`` (see the module docstring).

    Returns:
        ``y`` ``(..., time)``; with ``initial_outputs`` also the final outputs ``(..., p)``
        (``[..., 0] = y[time - 1]``) to pass to the next block.

    Differentiable with respect to ``x``, ``a`` and ``initial_outputs``.
    """
    check_tensor("x", x, min_dim=1)
    check_tensor("a", a, min_dim=1)
    check_choice("backend", backend, BACKENDS)
    time_varying = a.dim() == x.dim() + 1
    time, order = x.shape[-1], a.shape[-1]
    if time_varying and a.shape[-2] != time:
        raise ValueError(f"a: time-varying coefficients need {time} time steps on axis -2 (like x), "
                         f"received shape {tuple(a.shape)}")
    a_lead = a.shape[:-2] if time_varying else a.shape[:-1]
    shapes = [x.shape[:-1], a_lead]
    if initial_outputs is not None:
        check_tensor("initial_outputs", initial_outputs, min_dim=1)
        if initial_outputs.shape[-1] != order:
            raise ValueError(f"initial_outputs: expected {order} values on the last axis (the filter order), "
                             f"received shape {tuple(initial_outputs.shape)}")
        shapes.append(initial_outputs.shape[:-1])
    try:
        lead = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        raise ValueError(f"x, a, initial_outputs: leading dimensions {[tuple(s) for s in shapes]} do not broadcast") from None
    dtype = torch.promote_types(x.dtype, a.dtype)
    batch = 1
    for size in lead:
        batch *= size
    xb = x.to(dtype).expand(*lead, time).reshape(batch, time).contiguous()
    a_shape = (*lead, time, order) if time_varying else (*lead, order)
    ab = a.to(dtype).expand(a_shape).reshape(batch, *a_shape[len(lead):]).contiguous()
    y0 = (initial_outputs.to(dtype).expand(*lead, order) if initial_outputs is not None
          else x.new_zeros(*lead, order, dtype=dtype)).reshape(batch, order).contiguous()
    if order == 0 or time == 0:
        y = xb + 0 * ab.sum() + 0 * y0.sum()
    else:
        y = _AllPole.apply(xb, ab, y0, time_varying, _use_numba(xb, backend))
    y = y.reshape(*lead, time)
    if initial_outputs is None:
        return y
    tail = torch.cat([y.reshape(batch, time).flip(-1), y0], dim=-1)[:, :order]   # most recent first
    return y, tail.reshape(*lead, order)
