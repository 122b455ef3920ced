"""All-pole recursion with an analytic backward (review Eqs. 2-3; Yu & Fazekas 2023).

.. math:: y[n] = x[n] - \\sum_{i=1}^{p} a_i[n]\\, y[n - i]

with coefficients fixed (LTI, ``a`` of shape ``(..., p)``) or time-varying (LTV, ``a`` of shape
``(..., frames, p)``, i.e. ``a.dim() == x.dim() + 1``): one set per sample when
``frames == time``, otherwise one set per frame of ``hop = time / frames`` samples (held, no
interpolation). Outputs before the first sample come from ``state`` ``(..., p)``
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

Backends (``torchddsp.kernels``, one choice for the whole library): ``"compiled"`` runs the
numba kernels behind the ``torchddsp::lti_filter`` / ``torchddsp::ltv_allpole`` custom ops
(``kernels/allpole_ops.py``: GIL-free, rows of the batch on a small thread pool, compiled once
and cached on disk; ``torch.compile`` traces them without graph breaks); ``"pure"`` is plain
PyTorch on any device (``kernels/allpole_scan.py``: a parallel prefix scan over companion
matrices, ``O(p^3 T log T)`` work but only ``log2 T`` sequential steps, suited to GPUs and
small ``p``; memory grows as ``B T p^2``), the form ``torch.export`` captures. ``"auto"``
follows ``torchddsp.kernels.set_backend`` (by default: compiled for float32/float64 CPU tensors
when numba is installed, pure otherwise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from torchddsp.checks import broadcast_or_raise, check_tensor
from torchddsp.kernels import allpole_ops, allpole_scan, call, use_compiled


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

def lti_core(x, b, a, head, compiled: bool):
    """``lfilter(b, [1, a], x)`` from rest with ``head`` added to the FIR output's first samples.

    Flat inputs: ``x`` ``(B|1, T)``, ``b`` ``(B|1, M+1)``, ``a`` ``(B|1, p)``, ``head``
    ``(B|1, H)``, contiguous, one dtype; returns ``(B, T)``.
    """
    if compiled:
        return call(allpole_ops.lti_filter, allpole_ops.lti_filter_kernel, x, b, a, head)
    batch = max(x.shape[0], b.shape[0], a.shape[0], head.shape[0])
    v = _add_head(_fir(x, b), head).expand(batch, x.shape[-1])
    if a.shape[-1] == 0:
        return v.clone()
    return allpole_scan(v.contiguous(), a.expand(batch, a.shape[-1]).contiguous(), False)


def ltv_core(v, a, hop: int, head, compiled: bool):
    """All-pole recursion from rest with frame-rate coefficients ``a`` ``(B|1, F, p)``, ``F * hop = T``."""
    batch = max(v.shape[0], a.shape[0], head.shape[0])
    if a.shape[-1] == 0:
        return _add_head(v, head).expand(batch, v.shape[-1]).clone()
    if compiled:
        return call(allpole_ops.ltv_allpole, allpole_ops.ltv_allpole_kernel, v, a, head, hop)
    per_sample = a.repeat_interleave(hop, dim=1) if hop > 1 else a
    x = _add_head(v, head).expand(batch, v.shape[-1]).contiguous()
    return allpole_scan(x, per_sample.expand(batch, *per_sample.shape[1:]).contiguous(), True)


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


def allpole(x: torch.Tensor, a: torch.Tensor, state: torch.Tensor | None = None, *,
            backend: str = "auto"):
    """Filter ``x`` ``(..., time)`` by ``1 / (1 + sum_i a_i z^-i)`` (see the module docstring).

    Args:
        x: input ``(..., time)``, real floating point.
        a: ``(..., p)`` fixed coefficients ``a_1 .. a_p`` (``a_0 = 1`` is implied), or
            ``(..., frames, p)`` time-varying coefficients (``a.dim() == x.dim() + 1``): one set
            per sample when ``frames == time``, else one per frame of ``time / frames`` samples.
            Leading dimensions broadcast with ``x``'s. Any real values (no clamping).
        state: optional ``(..., p)`` outputs before the first sample, ``[..., 0] = y[-1]``.
        backend: ``"auto"`` (the library's choice, ``torchddsp.kernels``), ``"compiled"`` or ``"pure"``.

    Returns:
        ``y`` ``(..., time)``; with ``state`` also the final outputs ``(..., p)``
        (``[..., 0] = y[time - 1]``) to pass to the next block.

    Differentiable with respect to ``x``, ``a`` and ``state``.
    """
    check_real("x", x)
    check_real("a", a)
    time_varying = a.dim() == x.dim() + 1
    if a.dim() > x.dim() + 1:
        raise ValueError(f"a: expected (..., p) or (..., frames, p) with at most {x.dim() + 1} dimensions "
                         f"(x has {x.dim()}), received shape {tuple(a.shape)}")
    time, order = x.shape[-1], a.shape[-1]
    hop = frames_hop("a", a.shape[-2], time) if time_varying else 1
    coeff_dims = 2 if time_varying else 1
    shapes = [x.shape[:-1], a.shape[:-coeff_dims]]
    if state is not None:
        check_real("state", state)
        if state.shape[-1] != order:
            raise ValueError(f"state: expected {order} values on the last axis (the filter order), "
                             f"received shape {tuple(state.shape)}")
        shapes.append(state.shape[:-1])
    lead = broadcast_or_raise("x, a, state", *shapes)
    dtypes = [x.dtype, a.dtype] + ([state.dtype] if state is not None else [])
    dtype = dtypes[0]
    for d in dtypes[1:]:
        dtype = torch.promote_types(dtype, d)
    batch = 1
    for size in lead:
        batch *= size

    xb = flatten_batch(x, lead, batch, 1, dtype)
    ab = flatten_batch(a, lead, batch, coeff_dims, dtype)
    y0 = None if state is None else flatten_batch(state, lead, batch, 1, dtype)
    if y0 is not None and order > 0 and time > 0:
        head = ltv_head(ab, hop, y0, time) if time_varying else lti_head(ab, y0)
    else:
        head = xb.new_zeros(1, 0)
    compiled = use_compiled(xb.device, dtype, backend)
    if time == 0 or order == 0:
        y = _add_head(xb, head) + 0 * ab.sum()
        y = y.expand(batch, time)
    elif time_varying:
        y = ltv_core(xb, ab, hop, head.contiguous(), compiled)
    else:
        ones = xb.new_ones(1, 1)
        y = lti_core(xb, ones, ab, head.contiguous(), compiled)
    y = y.reshape(*lead, time)
    if state is None:
        return y
    y0 = y0.expand(batch, order).reshape(*lead, order)
    if time >= order:
        final = y[..., time - order:].flip(-1)
    else:
        final = torch.cat([y.flip(-1), y0[..., :order - time]], dim=-1)
    return y, final
