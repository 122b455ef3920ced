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
one matrix product and runs the recurrence in a numba kernel (a few microseconds per step), the
``torchddsp::gru_recurrence`` custom op of ``torchddsp.kernels`` (so ``torch.compile`` traces it).

When. Only where no gradient is needed (``torch.no_grad()`` or inputs and weights that do not
require grad), on the CPU, in float32/float64, for ``batch_first`` single-layer unidirectional
GRUs with biases, for batches of at most ``MAX_BATCH``, and when the kernel backend
(``torchddsp.kernels.set_backend``) is not ``"pure"``; everywhere else (training, other devices,
numba missing, ``torch.export``) ``nn.GRU.forward`` runs unchanged: it is the pure path.
Results equal ``nn.GRU``'s up to float32 rounding (the sums run in another order); parameters
and ``state_dict`` keys are ``nn.GRU``'s, so checkpoints load either way.

Shapes: input ``(batch, time, input_size)``, optional state ``(1, batch, hidden)``; returns
``(output (batch, time, hidden), state (1, batch, hidden))`` as ``nn.GRU`` does.
"""

from __future__ import annotations

import torch
from torch import nn

from torchddsp.kernels import call, gru_ops, use_compiled
from torchddsp.kernels.backend import COMPILED_DTYPES

MAX_BATCH = 4
"""Largest batch run by the kernel: it handles rows one after another, while ``nn.GRU`` shares each
step's dispatch cost over the batch (at batch 8 ``nn.GRU`` is faster; at batch 1 the kernel is ~2x)."""


class FastGRU(nn.RNNBase):
    """``nn.GRU`` with a compiled CPU inference path (see the module docstring).

    Accepts the ``nn.GRU`` constructor arguments; the fast path is taken only for the
    configuration ``num_layers=1, bias=True, batch_first=True, bidirectional=False``, under the
    conditions listed above. It is built on ``nn.RNNBase`` in GRU mode, as ``nn.GRU`` is
    (same parameters and ``state_dict`` keys), and runs ``nn.GRU.forward`` on its slow path, but
    is not an ``nn.GRU`` instance: Dynamo refuses to trace those (``allow_rnn``), which would stop
    ``torch.compile(fullgraph=True)`` of any model holding one.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size: expected no projection (a GRU has none), received "
                             f"proj_size={kwargs['proj_size']!r}")
        super().__init__("GRU", *args, **kwargs)

    def _fast_path(self, x: torch.Tensor, state: torch.Tensor | None) -> bool:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[0] > MAX_BATCH:
            return False
        if self.num_layers != 1 or not self.bias or not self.batch_first or self.bidirectional:
            return False
        tensors = [x, *self._flat_weights] + ([state] if state is not None else [])
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return False
        if x.device.type != "cpu" or x.dtype not in COMPILED_DTYPES:
            return False
        return all(t.device == x.device and t.dtype == x.dtype for t in tensors) and use_compiled(x.device, x.dtype)

    def forward(self, input, hx=None):  # noqa: A002 - nn.GRU's argument names
        if not self._fast_path(input, hx):
            return nn.GRU.forward(self, input, hx)
        batch, steps, _ = input.shape
        if hx is not None and hx.shape != (1, batch, self.hidden_size):
            return nn.GRU.forward(self, input, hx)      # let nn.GRU raise its own shape error
        w_ih, w_hh, b_ih, b_hh = self._flat_weights
        with torch.no_grad():
            gates_x = torch.nn.functional.linear(input, w_ih, b_ih).contiguous()
            h0 = input.new_zeros(batch, self.hidden_size) if hx is None else hx[0].contiguous()
            out = call(gru_ops.gru_recurrence, gru_ops.gru_recurrence_kernel, gates_x, w_hh, b_hh, h0)
            final = out[:, -1] if steps else h0
        return out, final.unsqueeze(0).clone()
