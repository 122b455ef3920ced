"""The all-pole / IIR recursion as ``torch.library`` custom ops (numba kernels inside).

Four ops, each with a fake (shape) function; the forward ops carry autograd formulas built from
the backward ops, so ``torch.compile`` traces forward and backward without graph breaks:

- ``torchddsp::lti_filter(x, b, a, head) -> y`` with ``x`` ``(B|1, T)``, ``b`` ``(B|1, M+1)``,
  ``a`` ``(B|1, p)`` (``a_1 .. a_p``), ``head`` ``(B|1, H)``, ``y`` ``(B, T)``:

  .. math:: y[n] = \\sum_j b_j x[n-j] + \\mathrm{head}[n] - \\sum_{i=1}^{p} a_i y[n-i]

- ``torchddsp::ltv_allpole(v, a, head, hop) -> y`` with ``a`` ``(B|1, F, p)``, ``F * hop = T``:

  .. math:: y[n] = v[n] + \\mathrm{head}[n] - \\sum_{i=1}^{p} a_{\\lfloor n / hop \\rfloor, i}\\, y[n-i]

- ``torchddsp::lti_filter_backward`` / ``torchddsp::ltv_allpole_backward``: the analytic
  backward (Yu & Fazekas 2023): ``u = dL/dv`` is the same recursion run backwards in time, the
  coefficient gradients are products of ``u`` with the delayed input/output
  (``allpole_numba.py``). They return one gradient row per batch row; the autograd formula
  sums rows of inputs shared by the batch (first axis 1).

Callers go through ``launch.call`` with the op and its body (``lti_filter_kernel``,
``ltv_allpole_kernel``). Every op starts from rest (initial conditions enter through ``head``); ``B`` is the largest
first axis of the inputs, ``T = 0`` is valid. Shapes are not checked here: the callers in
``functional/iir`` validate the public arguments.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchddsp.kernels.launch import empty, launch

try:  # numba is an optional accelerator; without it these ops are never selected
    from torchddsp.kernels import allpole_numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    allpole_numba = None


def _reduce_to(grad: Tensor, rows: int) -> Tensor:
    """Sum a per-row gradient over the batch when the input had one row shared by the batch."""
    return grad.sum(0, keepdim=True) if rows == 1 and grad.shape[0] != 1 else grad


# ------------------------------------------------------------------------- time-invariant

def lti_filter_kernel(x: Tensor, b: Tensor, a: Tensor, head: Tensor) -> Tensor:
    """The body of ``torchddsp::lti_filter`` (module docstring)."""
    batch = max(x.shape[0], b.shape[0], a.shape[0], head.shape[0])
    y = empty((batch, x.shape[1]), x)
    launch(allpole_numba.lti_forward, batch, x.shape[1], x, b, a, head, y)
    return y


lti_filter = torch.library.custom_op("torchddsp::lti_filter", lti_filter_kernel, mutates_args=(), device_types="cpu")


@lti_filter.register_fake
def _(x, b, a, head):
    return x.new_empty(max(x.shape[0], b.shape[0], a.shape[0], head.shape[0]), x.shape[1])


@torch.library.custom_op("torchddsp::lti_filter_backward", mutates_args=(), device_types="cpu")
def lti_filter_backward(grad: Tensor, x: Tensor, y: Tensor, b: Tensor, a: Tensor,
                        head_size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    batch, time = y.shape
    gx = empty((batch, time), y)
    gb = y.new_empty(batch, b.shape[1])
    ga = y.new_empty(batch, a.shape[1])
    gh = y.new_empty(batch, head_size)
    launch(allpole_numba.lti_backward, batch, time, grad, x, y, b, a, gx, gb, ga, gh)
    return gx, gb, ga, gh


@lti_filter_backward.register_fake
def _(grad, x, y, b, a, head_size):
    batch, time = y.shape
    return (y.new_empty(batch, time), y.new_empty(batch, b.shape[1]), y.new_empty(batch, a.shape[1]),
            y.new_empty(batch, head_size))


def _lti_setup(ctx, inputs, output):
    x, b, a, head = inputs
    ctx.save_for_backward(x, b, a, output)
    ctx.rows = (x.shape[0], b.shape[0], a.shape[0], head.shape[0])
    ctx.head_size = head.shape[1]


def _lti_backward(ctx, grad):
    x, b, a, y = ctx.saved_tensors
    grads = lti_filter_backward(grad.contiguous(), x, y, b, a, ctx.head_size)
    return tuple(_reduce_to(g, rows) if need else None
                 for g, rows, need in zip(grads, ctx.rows, ctx.needs_input_grad))


lti_filter.register_autograd(_lti_backward, setup_context=_lti_setup)


# --------------------------------------------------------------------------- time-varying

def ltv_allpole_kernel(v: Tensor, a: Tensor, head: Tensor, hop: int) -> Tensor:
    """The body of ``torchddsp::ltv_allpole`` (module docstring)."""
    batch = max(v.shape[0], a.shape[0], head.shape[0])
    y = empty((batch, v.shape[1]), v)
    flat = a.contiguous().view(a.shape[0], -1)
    launch(allpole_numba.ltv_forward, batch, v.shape[1], v, flat, a.shape[2], hop, head, y)
    return y


ltv_allpole = torch.library.custom_op("torchddsp::ltv_allpole", ltv_allpole_kernel, mutates_args=(),
                                      device_types="cpu")


@ltv_allpole.register_fake
def _(v, a, head, hop):
    return v.new_empty(max(v.shape[0], a.shape[0], head.shape[0]), v.shape[1])


@torch.library.custom_op("torchddsp::ltv_allpole_backward", mutates_args=(), device_types="cpu")
def ltv_allpole_backward(grad: Tensor, y: Tensor, a: Tensor, head_size: int, hop: int,
                         coefficient_grad: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(gv, ga, gh)``; ``ga`` is ``(B, F, p)``, or ``(B, 0, p)`` without ``coefficient_grad``."""
    batch, time = y.shape
    frames, order = a.shape[1], a.shape[2]
    gv = empty((batch, time), y)
    ga = empty((batch, frames, order), y) if coefficient_grad else y.new_empty(batch, 0, order)
    gh = y.new_empty(batch, head_size)
    flat = a.contiguous().view(a.shape[0], -1)
    launch(allpole_numba.ltv_backward, batch, time, grad, y, flat, order, hop, gv, ga.view(batch, -1), gh)
    return gv, ga, gh


@ltv_allpole_backward.register_fake
def _(grad, y, a, head_size, hop, coefficient_grad):
    batch, time = y.shape
    return (y.new_empty(batch, time), y.new_empty(batch, a.shape[1] if coefficient_grad else 0, a.shape[2]),
            y.new_empty(batch, head_size))


def _ltv_setup(ctx, inputs, output):
    v, a, head, hop = inputs
    ctx.save_for_backward(a, output)
    ctx.rows = (v.shape[0], a.shape[0], head.shape[0])
    ctx.head_size, ctx.hop = head.shape[1], hop


def _ltv_backward(ctx, grad):
    a, y = ctx.saved_tensors
    need = ctx.needs_input_grad
    grads = ltv_allpole_backward(grad.contiguous(), y, a, ctx.head_size, ctx.hop, need[1])
    return (*(_reduce_to(g, rows) if wanted else None for g, rows, wanted in zip(grads, ctx.rows, need)), None)


ltv_allpole.register_autograd(_ltv_backward, setup_context=_ltv_setup)
