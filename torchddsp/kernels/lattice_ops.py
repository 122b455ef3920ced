"""The normalised LPC lattice as ``torch.library`` custom ops (numba kernels inside).

- ``torchddsp::lattice(x, k, c, s0) -> (y, final, states)``: ``x`` ``(B, T)`` (the excitation
  divided by ``prod_i c_i``), ``k``/``c`` ``(B, Tk, p)`` reflection coefficients and their
  cosines ``c_i = sqrt(1 - k_i^2)`` (``Tk`` is ``T``, or 1 for fixed coefficients), ``s0``
  ``(B, p)`` the state before the first sample. Returns the output ``y`` ``(B, T)``, the final
  state ``(B, p)`` and every state ``(B, T, p)`` (kept for the backward; not differentiable).
  The recursion is in ``lattice_numba.py`` and the ``functional/lpc/synthesis.py`` docstring.
- ``torchddsp::lattice_backward(grad_y, grad_final, x, k, c, s0, states) -> (gx, gk, gc, gs0)``:
  reverse mode, sample by sample backwards in time (each sample's ``F_p .. F_0`` recomputed
  from the stored states). It is the autograd formula of ``lattice``, so ``torch.compile``
  traces forward and backward without graph breaks.

Callers go through ``launch.call`` with the op and its body (``lattice_kernel``).
``T = 0`` is valid (``final`` is then ``s0``). Shapes are checked by the caller.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchddsp.kernels.launch import as_numpy

try:  # numba is an optional accelerator; without it these ops are never selected
    from torchddsp.kernels import lattice_numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    lattice_numba = None


def lattice_kernel(x: Tensor, k: Tensor, c: Tensor, s0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The body of ``torchddsp::lattice`` (module docstring)."""
    batch, time = x.shape
    y = x.new_empty(batch, time)
    states = x.new_empty(batch, time, k.shape[-1])
    lattice_numba.lattice_forward(*map(as_numpy, (x, k, c, s0, y, states)))
    final = states[:, -1, :].clone() if time else s0.clone()
    return y, final, states


lattice = torch.library.custom_op("torchddsp::lattice", lattice_kernel, mutates_args=(), device_types="cpu")


@lattice.register_fake
def _(x, k, c, s0):
    batch, time = x.shape
    return x.new_empty(batch, time), s0.new_empty(s0.shape), x.new_empty(batch, time, k.shape[-1])


@torch.library.custom_op("torchddsp::lattice_backward", mutates_args=(), device_types="cpu")
def lattice_backward(grad_y: Tensor, grad_final: Tensor, x: Tensor, k: Tensor, c: Tensor, s0: Tensor,
                     states: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    gx, gk, gc, gs0 = torch.empty_like(x), torch.zeros_like(k), torch.zeros_like(c), torch.empty_like(s0)
    lattice_numba.lattice_backward(*map(as_numpy, (grad_y, grad_final, x, k, c, s0, states, gx, gk, gc, gs0)))
    return gx, gk, gc, gs0


@lattice_backward.register_fake
def _(grad_y, grad_final, x, k, c, s0, states):
    return torch.empty_like(x), torch.empty_like(k), torch.empty_like(c), torch.empty_like(s0)


def _setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs, output[2])
    ctx.mark_non_differentiable(output[2])


def _backward(ctx, grad_y, grad_final, _grad_states):
    x, k, c, s0, states = ctx.saved_tensors
    return lattice_backward(grad_y.contiguous(), grad_final.contiguous(), x, k, c, s0, states)


lattice.register_autograd(_backward, setup_context=_setup)
