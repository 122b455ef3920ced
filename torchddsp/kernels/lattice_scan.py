"""The normalised LPC lattice in pure PyTorch: a prefix scan over its per-sample affine maps.

Each sample of the lattice (``lattice_numba.py``) is an affine map of the state,
:math:`S[n] = M[n] S[n-1] + v[n] x[n]`, with :math:`M[n]` ``(p, p)`` and :math:`v[n]` ``(p,)``
built by running one lattice step on the basis (a unit input and the state unit vectors; a
loop over the order). Composing the maps pairwise takes ``log2 T`` sequential steps and
``O(p^3 T log T)`` work; gradients come from autograd. Plain tensor code that
``torch.jit.script`` and ``torch.export`` capture; any device and dtype.

Shapes: ``x`` ``(B, T)``; ``k``, ``c`` ``(B, Tk, p)`` with ``Tk`` in ``{1, T}``; ``s0`` ``(B, p)``.
Returns ``(y (B, T), final state (B, p))``; ``p >= 1``, ``T >= 1``.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor


def lattice_transitions(k: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
    """Per-sample maps ``M`` ``(B, Tk, p, p)`` and ``v`` ``(B, Tk, p)`` of the normalised lattice."""
    batch, steps, order = k.shape[0], k.shape[1], k.shape[2]
    eye = torch.eye(order + 1, dtype=k.dtype, device=k.device)      # column 0: x, columns 1..p: S_0..S_{p-1}
    prev = eye[1:].expand(batch, steps, order, order + 1)
    f = eye[0].expand(batch, steps, order + 1)
    new: List[Tensor] = [f] * order
    for i in range(order, 0, -1):
        ki, ci = k[:, :, i - 1:i], c[:, :, i - 1:i]
        if i < order:
            new[i] = ki * f + ci * prev[:, :, i - 1, :]
        f = ci * f - ki * prev[:, :, i - 1, :]
    new[0] = f
    maps = torch.stack(new, dim=-2)                                 # (B, Tk, p, p + 1)
    return maps[..., 1:], maps[..., 0]


def lattice_scan(x: Tensor, k: Tensor, c: Tensor, s0: Tensor) -> Tuple[Tensor, Tensor]:
    """The lattice from state ``s0`` by the prefix scan (module docstring)."""
    batch, time = x.shape[0], x.shape[1]
    m, v = lattice_transitions(k, c)
    if m.shape[1] != time:
        m, v = m.expand(batch, time, m.shape[2], m.shape[3]), v.expand(batch, time, v.shape[2])
    v = v * x[..., None]
    step = 1
    while step < time:                                  # log2(time) steps, not a loop over samples
        v = torch.cat([v[:, :step], (m[:, step:] @ v[:, :-step, :, None])[..., 0] + v[:, step:]], dim=1)
        m = torch.cat([m[:, :step], m[:, step:] @ m[:, :-step]], dim=1)
        step *= 2
    states = (m @ s0[:, None, :, None])[..., 0] + v      # (B, T, p)
    return states[..., 0], states[:, -1, :]
