"""The GRU recurrence (inference only) as a ``torch.library`` custom op (numba kernel inside).

``torchddsp::gru_recurrence(gates_x, w_hh, b_hh, h0) -> out`` with input gates ``gates_x``
``(B, T, 3H)`` (``W_ih x_t + b_ih``, computed by the caller in one matrix product), ``w_hh``
``(3H, H)``, ``b_hh`` ``(3H,)``, ``h0`` ``(B, H)``, ``out`` ``(B, T, H)``: PyTorch's ``nn.GRU``
equations (``models/gru.py``), one step at a time in ``gru_numba.py``. ``T = 0`` is valid.
Callers go through ``launch.call`` with the op and its body (``gru_recurrence_kernel``).

No autograd formula: ``FastGRU`` calls it only when no gradient is needed (training runs
``nn.GRU`` itself), so a fake (shape) function is all ``torch.compile`` needs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchddsp.kernels.launch import as_numpy

try:  # numba is an optional accelerator; without it this op is never selected
    from torchddsp.kernels import gru_numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    gru_numba = None


def gru_recurrence_kernel(gates_x: Tensor, w_hh: Tensor, b_hh: Tensor, h0: Tensor) -> Tensor:
    """The body of ``torchddsp::gru_recurrence`` (module docstring)."""
    out = gates_x.new_empty(gates_x.shape[0], gates_x.shape[1], h0.shape[1])
    if gates_x.shape[1]:
        gru_numba.gru_forward(as_numpy(gates_x), as_numpy(w_hh.t()), as_numpy(b_hh), as_numpy(h0), as_numpy(out))
    return out


gru_recurrence = torch.library.custom_op("torchddsp::gru_recurrence", gru_recurrence_kernel, mutates_args=(),
                                         device_types="cpu")


@gru_recurrence.register_fake
def _(gates_x, w_hh, b_hh, h0):
    return gates_x.new_empty(gates_x.shape[0], gates_x.shape[1], h0.shape[1])
