"""``lfilter``: IIR filtering with ``scipy.signal.lfilter`` semantics, exact and differentiable.

.. math:: a_0[n]\\, y[n] = \\sum_{j=0}^{M} b_j[n]\\, x[n-j] - \\sum_{i=1}^{N} a_i[n]\\, y[n-i]

evaluated as an FIR part (a handful of shifted multiply-adds) followed by the all-pole
recursion of ``allpole.py`` (compiled kernel, analytic backward: Yu & Fazekas 2023).

Coefficients are either fixed (``b`` ``(..., M+1)``, ``a`` ``(..., N+1)``; leading dimensions
broadcast with ``x``'s) or time-varying, one set per sample (``(..., time, M+1)``) or per frame
(``(..., frames, M+1)`` with ``time`` a multiple of ``frames``; each set is held for
``time / frames`` samples). A coefficient tensor is time-varying when it has one more
dimension than ``x``. Time-varying filters use the direct form I convention with the
coefficients of the output sample, as in LPC synthesis.

Initial conditions:

- time-invariant: ``zi`` ``(..., K)`` with ``K = max(M, N)`` is the state of the transposed
  direct form II, exactly as in SciPy (``lfilter_zi``, ``lfiltic``);
- time-varying: ``zi`` ``(..., M + N)`` holds the last ``M`` inputs then the last ``N``
  outputs, each most recent first (zeros mean a filter at rest).

With ``zi`` the call returns ``(y, zf)``; passing ``zf`` as the next block's ``zi`` gives
exactly the one-call result. No output is clamped.
"""

from __future__ import annotations

import torch

from ..._checks import check_tensor
from .allpole import allpole


def _as_per_sample(name: str, coeffs: torch.Tensor, time: int) -> torch.Tensor:
    steps = coeffs.shape[-2]
    if steps == time:
        return coeffs
    if steps == 0 or time % steps != 0:
        raise ValueError(f"{name}: time-varying coefficients need {time} time steps or a number of frames "
                         f"dividing {time}, received shape {tuple(coeffs.shape)}")
    return coeffs.repeat_interleave(time // steps, dim=-2)


def _delayed(signal: torch.Tensor, past: torch.Tensor | None, taps: int) -> torch.Tensor:
    """``(..., time, taps)`` with ``[..., n, j] = signal[n - j]``; before the start from ``past`` (most recent first) or 0."""
    time = signal.shape[-1]
    if past is None:
        past = signal.new_zeros(*signal.shape[:-1], taps - 1)
    extended = torch.cat([past.flip(-1), signal], dim=-1)        # oldest first
    return torch.stack([extended[..., taps - 1 - j:taps - 1 - j + time] for j in range(taps)], dim=-1)


def _hankel(coeffs: torch.Tensor, size: int) -> torch.Tensor:
    """``(..., size, size)`` with ``[i, k] = coeffs[i + k + 1]``, zero past the end of ``coeffs``."""
    padded = torch.nn.functional.pad(coeffs[..., 1:], (0, 2 * size - coeffs.shape[-1] + 1))
    return padded.unfold(-1, size, 1)[..., :size, :]


def _last(signal: torch.Tensor, count: int) -> torch.Tensor:
    """The last ``count`` samples, most recent first, zero-padded when the signal is shorter."""
    padded = torch.nn.functional.pad(signal, (max(count - signal.shape[-1], 0), 0))
    return padded[..., padded.shape[-1] - count:].flip(-1)


def lfilter(b: torch.Tensor, a: torch.Tensor, x: torch.Tensor, zi: torch.Tensor | None = None, *,
            backend: str = "auto"):
    """Filter ``x`` ``(..., time)`` with numerator ``b`` and denominator ``a`` (see the module docstring).

    Returns ``y`` ``(..., time)``, or ``(y, zf)`` when ``zi`` is given. Differentiable with
    respect to ``b``, ``a``, ``x`` and ``zi``. ``backend`` is passed to ``allpole``.
    """
    check_tensor("x", x, min_dim=1)
    check_tensor("b", b, min_dim=1)
    check_tensor("a", a, min_dim=1)
    time = x.shape[-1]
    for name, coeffs in (("b", b), ("a", a)):
        if coeffs.shape[-1] == 0:
            raise ValueError(f"{name}: expected at least one coefficient, received shape {tuple(coeffs.shape)}")
        if coeffs.dim() > x.dim() + 1:
            raise ValueError(f"{name}: expected at most {x.dim() + 1} dimensions (x has {x.dim()}), "
                             f"received shape {tuple(coeffs.shape)}")
    b_varying, a_varying = b.dim() == x.dim() + 1, a.dim() == x.dim() + 1
    varying = a_varying or b_varying
    if b_varying:
        b = _as_per_sample("b", b, time)
    if a_varying:
        a = _as_per_sample("a", a, time)
    if bool((a[..., 0].detach() == 0).any()):
        raise ValueError("a: expected a nonzero leading coefficient a[..., 0], received 0")
    b, a = b / a[..., :1], a / a[..., :1]
    if varying:                                   # give fixed coefficients a time axis too
        b = b if b_varying else b.unsqueeze(-2)
        a = a if a_varying else a.unsqueeze(-2)
    n_b, n_a = b.shape[-1] - 1, a.shape[-1] - 1
    state = n_b + n_a if varying else max(n_b, n_a)
    shapes = [x.shape[:-1], b.shape[:-2] if varying else b.shape[:-1], a.shape[:-2] if varying else a.shape[:-1]]
    if zi is not None:
        check_tensor("zi", zi, min_dim=1)
        if zi.shape[-1] != state:
            what = "M + N: past inputs, then past outputs" if varying else "max(M, N): transposed direct form II state"
            raise ValueError(f"zi: expected {state} values on the last axis ({what}), received shape {tuple(zi.shape)}")
        shapes.append(zi.shape[:-1])
    try:
        lead = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        raise ValueError(f"b, a, x, zi: leading dimensions {[tuple(s) for s in shapes]} do not broadcast") from None
    dtype = torch.promote_types(torch.promote_types(b.dtype, a.dtype), x.dtype)
    x = x.to(dtype).expand(*lead, time)
    if zi is not None:
        zi = zi.to(dtype).expand(*lead, state)
    past_x = zi[..., :n_b] if zi is not None and varying else None
    past_y = zi[..., n_b:] if zi is not None and varying else None

    # FIR part, v[n] = sum_j b_j[n] x[n - j]: n_b + 1 shifted multiply-adds.
    delayed_x = _delayed(x, past_x, n_b + 1)                                   # (..., time, n_b + 1)
    v = (delayed_x * (b if varying else b.unsqueeze(-2))).sum(-1)
    if zi is not None and not varying and state:                               # DF2-T state enters additively
        head = min(state, time)
        v = torch.cat([v[..., :head] + zi[..., :head], v[..., head:]], dim=-1)
    if n_a == 0:
        y = v
    elif past_y is not None:
        y, _ = allpole(v, a[..., 1:], past_y, backend=backend)
    else:
        y = allpole(v, a[..., 1:], backend=backend)
    if zi is None:
        return y

    if varying:                                    # direct form I state: the latest inputs and outputs
        x_hist = torch.cat([x.flip(-1), past_x], dim=-1)[..., :n_b]
        y_hist = torch.cat([y.flip(-1), past_y], dim=-1)[..., :n_a]
        return y, torch.cat([x_hist, y_hist], dim=-1)
    # zf[i] = sum_k (b[i+k+1] x[T-1-k] - a[i+k+1] y[T-1-k]) + zi[T + i] (the last term only while T + i < K).
    b_full = torch.nn.functional.pad(b, (0, state + 1 - b.shape[-1]))
    a_full = torch.nn.functional.pad(a, (0, state + 1 - a.shape[-1]))
    zf = ((_hankel(b_full, state) @ _last(x, state).unsqueeze(-1))
          - (_hankel(a_full, state) @ _last(y, state).unsqueeze(-1))).squeeze(-1)
    if time < state:
        zf = zf + torch.nn.functional.pad(zi[..., time:], (0, time))
    return y, zf
