"""Numba kernels of the normalised lattice (Gray & Markel 1975), forward and reverse mode.

Called only through the custom ops of ``lattice_ops.py``. Per sample ``n``, with
``c_i = sqrt(1 - k_i^2)``, input ``F_p = x[n]`` (the excitation already divided by
``prod_i c_i[n]``) and state ``S_0 .. S_{p-1}``, for ``i = p .. 1``:

    F_{i-1} = c_i F_i - k_i S_{i-1}[n-1],   S_i[n] = k_i F_i + c_i S_{i-1}[n-1]  (i < p),

and ``y[n] = F_0 = S_0[n]``. The map ``(F_p, S[n-1]) -> (S[n], S_p[n])`` is orthogonal.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def lattice_forward(x, k, c, s0, y, states):
    """x, y: (B, T); k, c: (B, Tk, p) with Tk in {1, T}; s0: (B, p); states[b, n] = S_0..S_{p-1} at n."""
    batch, time = x.shape
    steps, order = k.shape[1], k.shape[2]
    s = np.empty(order, dtype=x.dtype)
    for b in range(batch):
        for j in range(order):
            s[j] = s0[b, j]
        for n in range(time):
            m = n if steps > 1 else 0
            f = x[b, n]
            for i in range(order, 0, -1):
                ki, ci = k[b, m, i - 1], c[b, m, i - 1]
                prev = s[i - 1]
                if i < order:
                    s[i] = ki * f + ci * prev
                f = ci * f - ki * prev
            s[0] = f
            y[b, n] = f
            for j in range(order):
                states[b, n, j] = s[j]

@njit(cache=True, nogil=True)
def lattice_backward(g, gfinal, x, k, c, s0, states, gx, gk, gc, gs0):
    """Reverse mode of ``lattice_forward``; ``gfinal`` is the adjoint of the final state.

    ``gk`` and ``gc`` must be zero on entry (fixed coefficients accumulate over time).
    """
    batch, time = x.shape
    steps, order = k.shape[1], k.shape[2]
    f = np.empty(order + 1, dtype=x.dtype)
    gs = np.empty(order, dtype=x.dtype)
    gprev = np.empty(order, dtype=x.dtype)
    for b in range(batch):
        for j in range(order):
            gs[j] = gfinal[b, j]
        for n in range(time - 1, -1, -1):
            m = n if steps > 1 else 0
            f[order] = x[b, n]                        # recompute F_p .. F_0 of this sample
            for i in range(order, 0, -1):
                prev = states[b, n - 1, i - 1] if n > 0 else s0[b, i - 1]
                f[i - 1] = c[b, m, i - 1] * f[i] - k[b, m, i - 1] * prev
            gf = g[b, n] + gs[0]                      # adjoint of F_0 (the output and S_0[n])
            for i in range(1, order + 1):
                prev = states[b, n - 1, i - 1] if n > 0 else s0[b, i - 1]
                ki, ci = k[b, m, i - 1], c[b, m, i - 1]
                gsi = gs[i] if i < order else 0.0
                gk[b, m, i - 1] += gsi * f[i] - gf * prev
                gc[b, m, i - 1] += gf * f[i] + gsi * prev
                gprev[i - 1] = ci * gsi - ki * gf
                gf = ci * gf + ki * gsi               # adjoint of F_i
            gx[b, n] = gf
            for j in range(order):
                gs[j] = gprev[j]
        for j in range(order):
            gs0[b, j] = gs[j]
