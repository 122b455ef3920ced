"""Compiled CPU kernels for the all-pole recursion and its analytic backward (numba, cached on disk).

Conventions (shared with ``allpole.py``): ``x, y`` are ``(B, T)``; coefficients are ``(B, p)``
(time-invariant) or ``(B, T, p)`` (one set per sample); ``y0[b, j] = y[b, -1 - j]`` holds the
``p`` outputs before the first sample, most recent first. The recursion is

    y[n] = x[n] - sum_{i=0}^{p-1} a[n, i] * y[n - 1 - i].

The time loop is sequential, as it must be. Kernels release the GIL; ``allpole.py`` runs
slices of the batch on a small thread pool (not numba's OpenMP layer, whose spinning threads
would compete with PyTorch's own). Each
kernel first copies the ``p`` previous values it needs into a small padded work buffer so the
hot loops have no branches, and ``fastmath`` lets the compiler split the sum over taps into
independent partial sums (the dependency chain is then one multiply-add per sample, not ``p``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = dict(cache=True, nogil=True, fastmath=True)


@njit(**_OPTIONS)
def forward_lti(x, a, y0, y):
    batch, time = x.shape
    order = a.shape[1]
    for b in range(batch):
        buf = np.empty(order + time, dtype=x.dtype)        # buf[order + n] = y[n]
        for j in range(order):
            buf[order - 1 - j] = y0[b, j]
        coef = a[b].copy()
        for n in range(time):
            acc = x[b, n]
            for i in range(order):
                acc -= coef[i] * buf[order + n - 1 - i]
            buf[order + n] = acc
        y[b, :] = buf[order:]


@njit(**_OPTIONS)
def forward_ltv(x, a, y0, y):
    batch, time = x.shape
    order = a.shape[2]
    for b in range(batch):
        buf = np.empty(order + time, dtype=x.dtype)
        for j in range(order):
            buf[order - 1 - j] = y0[b, j]
        for n in range(time):
            acc = x[b, n]
            for i in range(order):
                acc -= a[b, n, i] * buf[order + n - 1 - i]
            buf[order + n] = acc
        y[b, :] = buf[order:]


@njit(**_OPTIONS)
def backward_lti(g, a, y, y0, gx, ga, gy0):
    """gx[n] = g[n] - sum_i a[i] gx[n+1+i];  ga[b, i] = -sum_n gx[n] y[n-1-i];  gy0 likewise."""
    batch, time = g.shape
    order = a.shape[1]
    for b in range(batch):
        coef = a[b].copy()
        u = np.zeros(time + order, dtype=g.dtype)           # u[n] = gx[n], zero past the end
        for n in range(time - 1, -1, -1):
            acc = g[b, n]
            for i in range(order):
                acc -= coef[i] * u[n + 1 + i]
            u[n] = acc
        yb = np.empty(order + time, dtype=g.dtype)          # yb[order + n] = y[n]
        for j in range(order):
            yb[order - 1 - j] = y0[b, j]
        yb[order:] = y[b]
        for i in range(order):
            acc = 0.0
            for n in range(time):
                acc += u[n] * yb[order + n - 1 - i]
            ga[b, i] = -acc
        for j in range(order):
            acc = 0.0
            for i in range(j, order):
                acc += coef[i] * u[i - j]
            gy0[b, j] = -acc
        gx[b, :] = u[:time]


@njit(**_OPTIONS)
def backward_ltv(g, a, y, y0, gx, ga, gy0):
    """gx[n] = g[n] - sum_i a[n+1+i, i] gx[n+1+i];  ga[b, n, i] = -gx[n] y[n-1-i];  gy0 likewise."""
    batch, time = g.shape
    order = a.shape[2]
    for b in range(batch):
        u = np.zeros(time + order, dtype=g.dtype)
        for n in range(time - 1, time - 1 - min(order, time), -1):   # the last taps reach past the end
            acc = g[b, n]
            for i in range(order):
                m = n + 1 + i
                if m < time:
                    acc -= a[b, m, i] * u[m]
            u[n] = acc
        for n in range(time - 1 - min(order, time), -1, -1):
            acc = g[b, n]
            for i in range(order):
                acc -= a[b, n + 1 + i, i] * u[n + 1 + i]
            u[n] = acc
        yb = np.empty(order + time, dtype=g.dtype)
        for j in range(order):
            yb[order - 1 - j] = y0[b, j]
        yb[order:] = y[b]
        for n in range(time):
            for i in range(order):
                ga[b, n, i] = -u[n] * yb[order + n - 1 - i]
        for j in range(order):
            acc = 0.0
            for i in range(j, min(order, time + j)):
                acc += a[b, i - j, i] * u[i - j]
            gy0[b, j] = -acc
        gx[b, :] = u[:time]
