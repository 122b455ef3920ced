"""Cascades of second-order sections with ``scipy.signal.sosfilt`` semantics, exact and differentiable.

A cascade of ``S`` biquads has the transfer function

.. math:: H(z) = \\prod_{s=0}^{S-1} \\frac{b_{s,0} + b_{s,1} z^{-1} + b_{s,2} z^{-2}}
                                       {a_{s,0} + a_{s,1} z^{-1} + a_{s,2} z^{-2}}

and each row of ``sos`` is ``[b_0, b_1, b_2, a_0, a_1, a_2]``. Factoring a high-order filter
into second-order sections keeps the recursion numerically well conditioned (review §3.1.1.2).
Sections are applied one after the other with :func:`~torchddsp.functional.filters.iir.lfilter.lfilter`
(compiled all-pole kernel, analytic backward), so the result is exact -- no truncation of the
impulse response -- and differentiable with respect to ``sos``, ``x`` and ``zi``. Unlike SciPy,
``a_0`` need not be 1: each row is divided by its ``a_0`` (which must be nonzero).

Shapes (leading dimensions broadcast, as for ``lfilter``):

- time-invariant: ``sos`` ``(..., n_sections, 6)``; ``zi`` ``(..., n_sections, 2)``, the
  transposed direct form II state of each section exactly as in SciPy (``sosfilt_zi``);
- time-varying: ``sos`` ``(..., steps, n_sections, 6)`` with ``steps`` equal to ``time`` (one
  set per sample) or a number of frames dividing ``time`` (each held for ``time / frames``
  samples). ``sos`` is time-varying when ``sos.dim() == x.dim() + 2``. ``zi``
  ``(..., n_sections, 4)`` is the direct form I state of each section: its last two inputs
  then its last two outputs, most recent first (zeros: at rest). A batch of fixed cascades
  applied to a 1-D ``x`` therefore needs ``x`` given a batch axis (``x[None]``).

With ``zi`` the call returns ``(y, zf)``; passing ``zf`` as the next block's ``zi`` gives
exactly the one-call output. Nothing is clamped: an unstable section gives a growing output, as
in SciPy; the activations of ``biquad.py`` and the designs of ``parametric_eq.py`` give stable
sections.
"""

from __future__ import annotations

import torch

from torchddsp.checks import broadcast_or_raise, check_tensor, checking_values
from torchddsp.functional.filters.iir.lfilter import lfilter


def check_sos(sos: torch.Tensor) -> torch.Tensor:
    check_tensor("sos", sos, min_dim=2)
    if sos.shape[-1] != 6:
        raise ValueError(f"sos: expected 6 coefficients [b0, b1, b2, a0, a1, a2] on the last axis, "
                         f"received shape {tuple(sos.shape)}")
    if sos.is_complex():
        raise ValueError(f"sos: expected real coefficients, received dtype {sos.dtype}")
    return sos


def sosfilt(sos: torch.Tensor, x: torch.Tensor, zi: torch.Tensor | None = None, *, backend: str = "auto"):
    """Filter ``x`` ``(..., time)`` through the cascade of biquads ``sos`` (see the module docstring).

    Args:
        sos: ``(..., n_sections, 6)`` fixed sections, or ``(..., steps, n_sections, 6)``
            time-varying sections (``sos.dim() == x.dim() + 2``; ``steps`` is ``time`` or a
            number of frames dividing it). Each row is ``[b0, b1, b2, a0, a1, a2]``, ``a0 != 0``.
        x: input signal ``(..., time)``.
        zi: optional initial state, ``(..., n_sections, 2)`` (fixed: transposed direct form II,
            as ``scipy.signal.sosfilt``) or ``(..., n_sections, 4)`` (time-varying: last two
            inputs, then last two outputs of each section, most recent first).
        backend: the kernel backend passed to ``lfilter`` (``"auto"``, ``"compiled"``, ``"pure"``).

    Returns:
        ``y`` ``(..., time)``, or ``(y, zf)`` when ``zi`` is given, ``zf`` shaped like ``zi``
        (with the broadcast leading dimensions).

    Differentiable with respect to ``sos``, ``x`` and ``zi``.
    """
    check_sos(sos)
    check_tensor("x", x, min_dim=1)
    if x.is_complex():
        raise ValueError(f"x: expected a real signal, received dtype {x.dtype}")
    time = x.shape[-1]
    if sos.dim() > x.dim() + 2:
        raise ValueError(f"sos: expected at most {x.dim() + 2} dimensions (x has {x.dim()}: "
                         f"(..., n_sections, 6) fixed or (..., steps, n_sections, 6) time-varying), "
                         f"received shape {tuple(sos.shape)}")
    varying = sos.dim() == x.dim() + 2
    n_sections = sos.shape[-2]
    state = 4 if varying else 2
    if varying:
        steps = sos.shape[-3]
        if steps == 0 or (steps != time and time % steps != 0):
            raise ValueError(f"sos: time-varying sections need {time} time steps or a number of frames "
                             f"dividing {time} on axis -3, received shape {tuple(sos.shape)}")
    sos_lead = sos.shape[:-3] if varying else sos.shape[:-2]
    shapes = [x.shape[:-1], sos_lead]
    if zi is not None:
        check_tensor("zi", zi, min_dim=2)
        if zi.shape[-2:] != (n_sections, state):
            what = ("time-varying: last 2 inputs then last 2 outputs per section" if varying
                    else "transposed direct form II state per section, as scipy.signal.sosfilt_zi")
            raise ValueError(f"zi: expected shape (..., {n_sections}, {state}) ({what}), "
                             f"received shape {tuple(zi.shape)}")
        shapes.append(zi.shape[:-2])
    lead = broadcast_or_raise("sos, x, zi", *shapes)
    dtype = torch.promote_types(sos.dtype, x.dtype)
    if zi is not None:
        dtype = torch.promote_types(dtype, zi.dtype)
    y = x.to(dtype).expand(*lead, time)
    sos = sos.to(dtype)
    if zi is not None:
        zi = zi.to(dtype).expand(*lead, n_sections, state)

    finals = []
    for s in range(n_sections):                   # a loop over sections, never over samples
        row = sos[..., s, :]                       # (..., 6) or (..., steps, 6)
        if checking_values() and bool((row[..., 3].detach() == 0).any()):
            raise ValueError(f"sos: expected a nonzero a0 (column 3) in every section, received 0 in section {s}")
        if zi is None:
            y = lfilter(row[..., :3], row[..., 3:], y, backend=backend)
        else:
            y, zf = lfilter(row[..., :3], row[..., 3:], y, zi[..., s, :], backend=backend)
            finals.append(zf.expand(*lead, state))
    if zi is None:
        return y
    if not finals:
        return y, zi.clone()
    return y, torch.stack(finals, dim=-2)


def sosfilt_zi(sos: torch.Tensor) -> torch.Tensor:
    """Initial state for a step-response steady state, as ``scipy.signal.sosfilt_zi``.

    For section ``s`` (normalised so ``a0 = 1``) with DC gain ``G_s = sum(b_s) / sum(a_s)`` fed by
    a constant ``c_s = prod_{r<s} G_r``, the transposed direct form II state at rest is

    .. math:: z_s = c_s\\,[\\,b_1 + b_2 - (a_1 + a_2) G_s,\\; b_2 - a_2 G_s\\,].

    ``sosfilt(sos, x, zi=sosfilt_zi(sos) * x[..., :1, None])`` starts a filter at the steady state
    of a signal that began long ago at ``x[0]``.

    Args:
        sos: fixed sections ``(..., n_sections, 6)`` with ``a0 != 0`` and no pole at ``z = 1``
            (``sum(a) != 0``).

    Returns:
        ``(..., n_sections, 2)``. Differentiable with respect to ``sos``.
    """
    check_sos(sos)
    eager = checking_values()
    if eager and bool((sos[..., 3].detach() == 0).any()):
        raise ValueError("sos: expected a nonzero a0 (column 3) in every section, received 0")
    b = sos[..., :3] / sos[..., 3:4]
    a = sos[..., 3:] / sos[..., 3:4]
    a_sum = a.sum(-1)
    if eager and bool((a_sum.detach() == 0).any()):
        raise ValueError("sos: a section has a pole at z = 1 (sum of a0, a1, a2 is 0), so it has no "
                         "step-response steady state")
    gain = b.sum(-1) / a_sum                                          # (..., n_sections)
    level = torch.cat([torch.ones_like(gain[..., :1]), torch.cumprod(gain, dim=-1)[..., :-1]], dim=-1)
    z1 = b[..., 1] + b[..., 2] - (a[..., 1] + a[..., 2]) * gain
    z2 = b[..., 2] - a[..., 2] * gain
    return torch.stack([z1, z2], dim=-1) * level.unsqueeze(-1)
