"""All-pole recursion with an analytic backward (review Eqs. 2-3; Yu & Fazekas 2023).

.. math:: y[n] = x[n] - \\sum_{i=1}^{p} a_i[n]\\, y[n - i]

with coefficients fixed (LTI, ``a`` of shape ``(..., p)``) or time-varying (LTV, ``a`` of shape
``(..., frames, p)``, i.e. ``a.dim() == x.dim() + 1``): one set per sample when
``frames == time``, otherwise one set per frame of ``hop = time / frames`` samples (held, no
interpolation). Outputs before the first sample come from ``initial_outputs`` ``(..., p)``
(``[..., 0]`` is ``y[-1]``, the most recent), zero by default; the call then also returns the
last ``p`` outputs in the same layout, so audio can be filtered block by block with results
identical to one call.

Backward without an autograd graph over time steps: with ``u = dL/dx``,

.. math::

    u[n] = \\frac{\\partial L}{\\partial y[n]} - \\sum_{i=1}^{p} a_i[n+i]\\, u[n+i], \\qquad
    \\frac{\\partial L}{\\partial a_i[n]} = -u[n]\\, y[n-i],

i.e. the same recursion run backwards in time, then products with the delayed output (summed
over time for fixed coefficients, over each frame for frame-rate ones). Nothing is clamped: an
unstable filter gives a growing output, as in ``scipy.signal.lfilter``; use the stable
parameterisations to avoid it.

Initial outputs enter the kernels as an additive "head" on the first ``p`` input samples
(``head[k] = -sum_{i > k} a_i[k] y[k - i]``), computed with ordinary differentiable tensor ops,
so the kernels themselves always start from rest.

Backends: ``"numba"`` (compiled CPU kernels, see ``_numba_kernels.py``: GIL-free, rows of the
batch on a small thread pool, compiled once and cached on disk) and ``"scan"`` (pure PyTorch,
any device: a parallel prefix scan over companion matrices, ``O(p^3 T log T)`` work but only
``log2 T`` sequential steps, suited to GPUs and small ``p``; memory grows as ``B T p^2``).
``"auto"`` uses numba for float32/float64 CPU tensors when it is installed, the scan otherwise.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..._checks import broadcast_or_raise, check_choice, check_tensor

try:  # numba is an optional accelerator; the scan backend works everywhere
    from . import _numba_kernels
except ImportError:  # pragma: no cover - exercised only where numba is missing
    _numba_kernels = None

BACKENDS = ("auto", "numba", "scan")
_NUMBA_DTYPES = (torch.float32, torch.float64)
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
_MIN_SAMPLES_PER_THREAD = 1 << 14     # below this, a thread costs more than it saves


# ------------------------------------------------------------------------------ numba launch

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(max_workers=max(workers, min(os.cpu_count() or 1, 32)),
                                       thread_name_prefix="torchddsp-iir")
        return _POOL


def _launch(kernel, batch: int, time: int, *args) -> None:
    """Run ``kernel(*args)`` on slices of the batch, on up to ``torch.get_num_threads()`` threads.

    Tensor arguments whose first axis is the batch are sliced; those with a first axis of 1
    are shared by every slice; integers pass through. The kernels release the GIL.
    """
    arrays = [a.detach().numpy() if isinstance(a, torch.Tensor) else a for a in args]
    workers = min(torch.get_num_threads(), batch, max(1, batch * time // _MIN_SAMPLES_PER_THREAD))
    if workers <= 1:
        kernel(*arrays)
        return
    bounds = [batch * w // workers for w in range(workers + 1)]

    def part(lo, hi):
        return [a[lo:hi] if isinstance(a, np.ndarray) and a.shape[0] == batch else a for a in arrays]

    jobs = [_pool(workers).submit(kernel, *part(lo, hi)) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    kernel(*part(bounds[0], bounds[1]))            # the calling thread takes the first slice
    for job in jobs:
        job.result()


def _empty(shape, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised CPU tensor; large ones come from NumPy, which asks the kernel for huge
    pages (``madvise``), so first-touch page faults cost several times less than with
    ``torch.empty`` (tens of milliseconds for the ``(B, T, p)`` gradient of a time-varying filter)."""
    count = 1
    for size in shape:
        count *= size
    if count * like.element_size() < (1 << 21):
        return like.new_empty(shape)
    return torch.from_numpy(np.empty(shape, dtype=_NUMPY_DTYPES[like.dtype]))


def _reduce_to(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sum a per-row gradient over the batch when the input was shared (first axis 1)."""
    if like.shape[0] == 1 and grad.shape[0] != 1:
        return grad.sum(0, keepdim=True)
    return grad


class _LTIFilter(torch.autograd.Function):
    """``y = lfilter(b, [1, a], x)`` from rest, plus ``head`` on the first samples (numba)."""

    @staticmethod
    def forward(ctx, x, b, a, head):
        batch = max(x.shape[0], b.shape[0], a.shape[0], head.shape[0])
        y = _empty((batch, x.shape[1]), x)
        _launch(_numba_kernels.lti_forward, batch, x.shape[1], x, b, a, head, y)
        ctx.save_for_backward(x, b, a, y)
        ctx.head_shape = head.shape
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, b, a, y = ctx.saved_tensors
        g = grad_y.contiguous()
        batch, time = g.shape
        gx = _empty((batch, time), g)
        gb = g.new_empty(batch, b.shape[1])
        ga = g.new_empty(batch, a.shape[1])
        gh = g.new_empty(batch, ctx.head_shape[1])
        _launch(_numba_kernels.lti_backward, batch, time, g, x, y, b, a, gx, gb, ga, gh)
        need = ctx.needs_input_grad
        head_like = g.new_empty(ctx.head_shape[0], 0)
        return (_reduce_to(gx, x) if need[0] else None, _reduce_to(gb, b) if need[1] else None,
                _reduce_to(ga, a) if need[2] else None, _reduce_to(gh, head_like) if need[3] else None)


class _LTVAllPole(torch.autograd.Function):
    """``y[n] = v[n] + head[n] - sum_i a[n // hop, i] y[n-1-i]`` from rest (numba)."""

    @staticmethod
    def forward(ctx, v, a, head, hop):
        batch = max(v.shape[0], a.shape[0], head.shape[0])
        order = a.shape[2]
        y = _empty((batch, v.shape[1]), v)
        _launch(_numba_kernels.ltv_forward, batch, v.shape[1], v, a.view(a.shape[0], -1), order, hop, head, y)
        ctx.save_for_backward(a, y)
        ctx.hop, ctx.v_rows, ctx.head_shape = hop, v.shape[0], head.shape
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        a, y = ctx.saved_tensors
        g = grad_y.contiguous()
        batch, time = g.shape
        order = a.shape[2]
        need = ctx.needs_input_grad
        gv = _empty((batch, time), g)
        ga = _empty((batch, a.shape[1], order), g) if need[1] else g.new_empty(batch, 0, order)
        gh = g.new_empty(batch, ctx.head_shape[1])
        _launch(_numba_kernels.ltv_backward, batch, time, g, y, a.view(a.shape[0], -1), order, ctx.hop,
                gv, ga.view(batch, -1), gh)
        if need[0] and ctx.v_rows == 1 and batch > 1:
            gv = gv.sum(0, keepdim=True)
        head_like = g.new_empty(ctx.head_shape[0], 0)
        return (gv if need[0] else None, _reduce_to(ga, a) if need[1] else None,
                _reduce_to(gh, head_like) if need[2] else None, None)


# -------------------------------------------------------------------------------------- scan

def _scan_forward(x, a, time_varying):
    """Prefix scan of ``s[n] = M[n] s[n-1] + x[n] e_1`` with companion matrices, from rest."""
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
    return c[..., 0]


def _delayed_outputs(y, order):
    """``(B, T, p)`` with ``[..., n, i] = y[n - 1 - i]`` (zero before the start)."""
    time = y.shape[-1]
    extended = F.pad(y, (order, 0))
    return torch.stack([extended[:, order - 1 - i:order - 1 - i + time] for i in range(order)], dim=-1)


class _ScanAllPole(torch.autograd.Function):
    """All-pole recursion from rest by the parallel scan; analytic backward (also a scan)."""

    @staticmethod
    def forward(ctx, x, a, time_varying):
        y = _scan_forward(x, a, time_varying)
        ctx.save_for_backward(a, y)
        ctx.time_varying = time_varying
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        a, y = ctx.saved_tensors
        g = grad_y.contiguous()
        time = g.shape[-1]
        order = a.shape[-1]
        if ctx.time_varying:   # reversed time r = T-1-n uses a'[r, i] = a[T - r + i, i] = flip(a)[r - 1 - i, i]
            flipped = a.flip(1)
            shifted = torch.stack([F.pad(flipped[:, :time - 1 - i, i], (1 + i, 0)) for i in range(order)], dim=-1)
            gx = _scan_forward(g.flip(-1), shifted, True).flip(-1)
        else:
            gx = _scan_forward(g.flip(-1), a, False).flip(-1)
        ga = -gx[..., None] * _delayed_outputs(y, order)
        if not ctx.time_varying:
            ga = ga.sum(1)
        return gx, ga, None


def _fir(x, b):
    """``v[n] = sum_j b[..., j] x[n - j]`` (zero before the start) by shifted multiply-adds."""
    time = x.shape[-1]
    v = b[..., :1] * x
    for j in range(1, min(b.shape[-1], time)):
        v = v + b[..., j:j + 1] * F.pad(x[..., :time - j], (j, 0))
    return v


def _add_head(v, head):
    """``v`` with ``head`` added to its first samples (``head`` cut or padded to the length of ``v``)."""
    time = v.shape[-1]
    h = head[..., :time]
    if h.shape[-1] == 0:
        return v
    return v + F.pad(h, (0, time - h.shape[-1]))


# ------------------------------------------------------------------------------------- cores

def lti_core(x, b, a, head, use_numba: bool):
    """``lfilter(b, [1, a], x)`` from rest with ``head`` added to the FIR output's first samples.

    Flat inputs: ``x`` ``(B|1, T)``, ``b`` ``(B|1, M+1)``, ``a`` ``(B|1, p)``, ``head``
    ``(B|1, H)``, contiguous, one dtype; returns ``(B, T)``.
    """
    if use_numba:
        return _LTIFilter.apply(x, b, a, head)
    batch = max(x.shape[0], b.shape[0], a.shape[0], head.shape[0])
    v = _add_head(_fir(x, b), head).expand(batch, x.shape[-1])
    if a.shape[-1] == 0:
        return v.clone() if v.data_ptr() == x.data_ptr() else v
    return _ScanAllPole.apply(v.contiguous(), a.expand(batch, a.shape[-1]).contiguous(), False)


def ltv_core(v, a, hop: int, head, use_numba: bool):
    """All-pole recursion from rest with frame-rate coefficients ``a`` ``(B|1, F, p)``, ``F * hop = T``."""
    batch = max(v.shape[0], a.shape[0], head.shape[0])
    if a.shape[-1] == 0:
        return _add_head(v, head).expand(batch, v.shape[-1]).clone()
    if use_numba:
        return _LTVAllPole.apply(v, a, head, hop)
    per_sample = a.repeat_interleave(hop, dim=1) if hop > 1 else a
    x = _add_head(v, head).expand(batch, v.shape[-1]).contiguous()
    return _ScanAllPole.apply(x, per_sample.expand(batch, *per_sample.shape[1:]).contiguous(), True)


def use_numba(x: torch.Tensor, dtype: torch.dtype, backend: str) -> bool:
    """Whether the call runs on the compiled kernels (see the module docstring for ``"auto"``)."""
    check_choice("backend", backend, BACKENDS)
    if backend == "scan":
        return False
    available = _numba_kernels is not None and x.device.type == "cpu" and dtype in _NUMBA_DTYPES
    if backend == "numba" and not available:
        raise ValueError(f"backend: 'numba' needs numba installed and float32/float64 CPU tensors, "
                         f"received dtype {dtype} on device {x.device}"
                         + ("" if _numba_kernels is not None else " (numba is not installed)"))
    return available


def check_real(name: str, value) -> torch.Tensor:
    check_tensor(name, value, min_dim=1)
    if value.is_complex():
        raise ValueError(f"{name}: expected a real floating-point tensor, received dtype {value.dtype}")
    return value


def flatten_batch(value: torch.Tensor, lead: torch.Size, batch: int, trailing: int, dtype) -> torch.Tensor:
    """``value`` ``(*lead', *rest)`` as a contiguous ``(batch, *rest)``, or ``(1, *rest)`` (no copy)
    when its leading dimensions hold a single item to share across the batch."""
    split = value.dim() - trailing
    rest = value.shape[split:]
    value = value.to(dtype)
    if value.shape[:split].numel() == 1:
        return value.reshape(1, *rest).contiguous()
    return value.expand(*lead, *rest).reshape(batch, *rest).contiguous()


def frames_hop(name: str, frames: int, time: int) -> int:
    """Samples per coefficient frame; ``frames`` must divide ``time`` (``frames == time``: per sample)."""
    if frames == time:
        return 1
    if frames == 0 or time % frames != 0:
        raise ValueError(f"{name}: time-varying coefficients need {time} time steps (one set per sample) or a "
                         f"number of frames dividing {time} (one set per frame), received {frames} on axis -2")
    return time // frames


# ------------------------------------------------------------------------------------ allpole

def lti_head(a, y0):
    """``head[k] = -sum_{i >= k} a[i] y0[i - k]`` (``a = a_1 .. a_p``, ``y0[j] = y[-1-j]``)."""
    order = a.shape[-1]
    hankel = F.pad(a, (0, order)).unfold(-1, order, 1)[..., :order, :]       # [k, j] = a[k + j]
    return -(hankel @ y0.unsqueeze(-1)).squeeze(-1)


def ltv_head(a, hop, y0, time):
    """``head[k] = -sum_{j} a[k // hop, k + j] y0[j]`` for ``k < min(p, T)`` (taps reaching before 0)."""
    order = a.shape[-1]
    count = min(order, time)
    frames = torch.arange(count, device=a.device) // hop
    rows = a[:, frames, :]                                                     # (B, count, p)
    idx = torch.arange(count, device=a.device)[:, None] + torch.arange(order, device=a.device)[None, :]
    valid = idx < order
    picked = rows.gather(-1, idx.clamp(max=order - 1).expand(rows.shape[0], count, order)) * valid
    return -(picked * y0.unsqueeze(-2)).sum(-1)


def allpole(x: torch.Tensor, a: torch.Tensor, initial_outputs: torch.Tensor | None = None, *,
            backend: str = "auto"):
    """Filter ``x`` ``(..., time)`` by ``1 / (1 + sum_i a_i z^-i)`` (see the module docstring).

    Args:
        x: input ``(..., time)``, real floating point.
        a: ``(..., p)`` fixed coefficients ``a_1 .. a_p`` (``a_0 = 1`` is implied), or
            ``(..., frames, p)`` time-varying coefficients (``a.dim() == x.dim() + 1``): one set
            per sample when ``frames == time``, else one per frame of ``time / frames`` samples.
            Leading dimensions broadcast with ``x``'s. Any real values (no clamping).
        initial_outputs: optional ``(..., p)`` outputs before the first sample, ``[..., 0] = y[-1]``.
        backend: ``"auto"``, ``"numba"`` or ``"scan"``.

    Returns:
        ``y`` ``(..., time)``; with ``initial_outputs`` also the final outputs ``(..., p)``
        (``[..., 0] = y[time - 1]``) to pass to the next block.

    Differentiable with respect to ``x``, ``a`` and ``initial_outputs``.
    """
    check_real("x", x)
    check_real("a", a)
    check_choice("backend", backend, BACKENDS)
    time_varying = a.dim() == x.dim() + 1
    if a.dim() > x.dim() + 1:
        raise ValueError(f"a: expected (..., p) or (..., frames, p) with at most {x.dim() + 1} dimensions "
                         f"(x has {x.dim()}), received shape {tuple(a.shape)}")
    time, order = x.shape[-1], a.shape[-1]
    hop = frames_hop("a", a.shape[-2], time) if time_varying else 1
    coeff_dims = 2 if time_varying else 1
    shapes = [x.shape[:-1], a.shape[:-coeff_dims]]
    if initial_outputs is not None:
        check_real("initial_outputs", initial_outputs)
        if initial_outputs.shape[-1] != order:
            raise ValueError(f"initial_outputs: expected {order} values on the last axis (the filter order), "
                             f"received shape {tuple(initial_outputs.shape)}")
        shapes.append(initial_outputs.shape[:-1])
    lead = broadcast_or_raise("x, a, initial_outputs", *shapes)
    dtypes = [x.dtype, a.dtype] + ([initial_outputs.dtype] if initial_outputs is not None else [])
    dtype = dtypes[0]
    for d in dtypes[1:]:
        dtype = torch.promote_types(dtype, d)
    batch = 1
    for size in lead:
        batch *= size

    xb = flatten_batch(x, lead, batch, 1, dtype)
    ab = flatten_batch(a, lead, batch, coeff_dims, dtype)
    y0 = None if initial_outputs is None else flatten_batch(initial_outputs, lead, batch, 1, dtype)
    if y0 is not None and order > 0 and time > 0:
        head = ltv_head(ab, hop, y0, time) if time_varying else lti_head(ab, y0)
    else:
        head = xb.new_zeros(1, 0)
    numba = use_numba(xb, dtype, backend)
    if time == 0 or order == 0:
        y = _add_head(xb, head) + 0 * ab.sum()
        y = y.expand(batch, time)
    elif time_varying:
        y = ltv_core(xb, ab, hop, head.contiguous(), numba)
    else:
        ones = xb.new_ones(1, 1)
        y = lti_core(xb, ones, ab, head.contiguous(), numba)
    y = y.reshape(*lead, time)
    if initial_outputs is None:
        return y
    y0 = y0.expand(batch, order).reshape(*lead, order)
    if time >= order:
        final = y[..., time - order:].flip(-1)
    else:
        final = torch.cat([y.flip(-1), y0[..., :order - time]], dim=-1)
    return y, final
