r"""A single-layer GRU whose inference on the CPU runs in one compiled loop.

The recurrence is PyTorch's ``nn.GRU`` (Cho et al. 2014, with the reset gate applied after the
hidden projection, as cuDNN and PyTorch do), for input gates
:math:`g^x_t = W_{ih} x_t + b_{ih}` and hidden gates :math:`g^h_t = W_{hh} h_{t-1} + b_{hh}`,
each split into ``(r, z, n)`` parts of ``hidden`` values:

.. math::

    r_t = \sigma(g^x_{r,t} + g^h_{r,t}), \quad z_t = \sigma(g^x_{z,t} + g^h_{z,t}), \quad
    n_t = \tanh(g^x_{n,t} + r_t \odot g^h_{n,t}), \quad h_t = (h_{t-1} - n_t) \odot z_t + n_t .

Why. At batch 1 the work per step is tiny (a ``hidden x 3 hidden`` matrix-vector product and a few
hundred activations), so ``nn.GRU`` on the CPU spends most of its time dispatching the dozen
tensor operations of every step (about 15-35 us per step for ``hidden = 128``, i.e. more than
the rest of a DDSP autoencoder's inference). ``FastGRU`` computes the input gates for all steps in
one matrix product and runs the recurrence in a numba kernel (a few microseconds per step).

When. Only where no gradient is needed (``torch.no_grad()`` or inputs and weights that do not
require grad), on the CPU, in float32/float64, for ``batch_first`` single-layer unidirectional
GRUs with biases, for batches of at most ``MAX_BATCH``; everywhere else (training, other devices, numba missing) ``nn.GRU.forward``
runs unchanged. Results equal ``nn.GRU``'s up to float32 rounding (the sums run in another
order); parameters and ``state_dict`` keys are ``nn.GRU``'s, so checkpoints load either way.

Shapes: input ``(batch, time, input_size)``, optional state ``(1, batch, hidden)``; returns
``(output (batch, time, hidden), state (1, batch, hidden))`` as ``nn.GRU`` does.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

try:  # numba is an optional accelerator; nn.GRU runs everywhere
    from numba import njit
except ImportError:  # pragma: no cover - exercised only where numba is missing
    njit = None

_NUMBA_DTYPES = (torch.float32, torch.float64)
MAX_BATCH = 4
"""Largest batch run by the kernel: it handles rows one after another, while ``nn.GRU`` shares each
step's dispatch cost over the batch (at batch 8 ``nn.GRU`` is faster; at batch 1 the kernel is ~2x)."""

if njit is not None:
    @njit(cache=True, nogil=True)
    def _gru_kernel(gates_x, w_hh_t, b_hh, h0, out):  # pragma: no cover - compiled, tested through FastGRU
        """Run the recurrence: ``gates_x`` ``(B, T, 3H)`` (``W_ih x + b_ih``), ``w_hh_t`` ``(H, 3H)``
        (``W_hh`` transposed), ``b_hh`` ``(3H,)``, ``h0`` ``(B, H)``; writes ``out`` ``(B, T, H)``."""
        batch, steps, width = gates_x.shape
        hidden = width // 3
        gates_h = np.empty(width, dtype=gates_x.dtype)
        h = np.empty(hidden, dtype=gates_x.dtype)
        one = gates_x.dtype.type(1)
        for b in range(batch):
            h[:] = h0[b]
            for t in range(steps):
                gates_h[:] = b_hh                        # gates_h = W_hh h + b_hh, as rows of axpy:
                for j in range(hidden):                  # the inner loop vectorises (no reduction)
                    hj, row = h[j], w_hh_t[j]
                    for g in range(np.uint64(width)):    # unsigned: no negative-index wrap-around code
                        gates_h[g] += hj * row[g]
                gx = gates_x[b, t]
                for i in range(hidden):
                    r = one / (one + math.exp(-(gx[i] + gates_h[i])))
                    z = one / (one + math.exp(-(gx[hidden + i] + gates_h[hidden + i])))
                    n = math.tanh(gx[2 * hidden + i] + r * gates_h[2 * hidden + i])
                    h[i] = (h[i] - n) * z + n
                    out[b, t, i] = h[i]
else:  # pragma: no cover
    _gru_kernel = None


class FastGRU(nn.GRU):
    """``nn.GRU`` with a compiled CPU inference path (see the module docstring).

    Accepts the ``nn.GRU`` constructor arguments; the fast path is taken only for the
    configuration ``num_layers=1, bias=True, batch_first=True, bidirectional=False`` with
    ``proj_size=0``, under the conditions listed above.
    """

    def _fast_path(self, x: torch.Tensor, state: torch.Tensor | None) -> bool:
        if _gru_kernel is None or not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[0] > MAX_BATCH:
            return False
        if (self.num_layers != 1 or not self.bias or not self.batch_first or self.bidirectional
                or self.proj_size != 0):
            return False
        tensors = [x, *self._flat_weights] + ([state] if state is not None else [])
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return False
        return all(t.device.type == "cpu" and t.dtype == x.dtype for t in tensors) and x.dtype in _NUMBA_DTYPES

    def forward(self, input, hx=None):  # noqa: A002 - nn.GRU's argument names
        if not self._fast_path(input, hx):
            return super().forward(input, hx)
        batch, steps, _ = input.shape
        if hx is not None and hx.shape != (1, batch, self.hidden_size):
            return super().forward(input, hx)           # let nn.GRU raise its own shape error
        w_ih, w_hh, b_ih, b_hh = self._flat_weights
        with torch.no_grad():
            gates_x = torch.nn.functional.linear(input, w_ih, b_ih).contiguous()
            h0 = input.new_zeros(batch, self.hidden_size) if hx is None else hx[0].contiguous()
            out = input.new_empty(batch, steps, self.hidden_size)
            if steps:
                _gru_kernel(gates_x.numpy(), w_hh.detach().t().contiguous().numpy(),
                            b_hh.detach().contiguous().numpy(), h0.numpy(), out.numpy())
            final = out[:, -1] if steps else h0
        return out, final.unsqueeze(0).clone()
