"""Numba kernel of the GRU recurrence (inference), called only through ``gru_ops.py``."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def gru_forward(gates_x, w_hh_t, b_hh, h0, out):
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
