"""``lfilter``: IIR filtering with ``scipy.signal.lfilter`` semantics, exact and differentiable.

.. math:: a_0[n]\\, y[n] = \\sum_{j=0}^{M} b_j[n]\\, x[n-j] - \\sum_{i=1}^{N} a_i[n]\\, y[n-i]

Coefficients are either fixed (``b`` ``(..., M+1)``, ``a`` ``(..., N+1)``; leading dimensions
broadcast with ``x``'s) or time-varying, one set per sample (``(..., time, M+1)``) or per frame
(``(..., frames, M+1)`` with ``time`` a multiple of ``frames``; each set is held for
``time / frames`` samples). A coefficient tensor is time-varying when it has one more
dimension than ``x``. Time-varying filters use the direct form I convention with the
coefficients of the output sample, as in LPC synthesis.

Evaluation: fixed coefficients run in one compiled pass (FIR part and recursion fused, the
``torchddsp::lti_filter`` custom op of ``torchddsp.kernels``); time-varying ones compute the
FIR part with a few shifted multiply-adds and then the all-pole recursion of ``allpole.py``,
whose frame-rate coefficients are never expanded to one set per sample. Both have the analytic
backward of Yu & Fazekas (2023). The ``"pure"`` backend is the plain-PyTorch path (any device,
what ``torch.export`` captures); ``"auto"`` follows ``torchddsp.kernels.set_backend``.

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
import torch.nn.functional as F

from torchddsp.checks import broadcast_or_raise, checking_values
from torchddsp.functional.filters.iir.allpole import check_real, flatten_batch, frames_hop, lti_core, ltv_core, ltv_head
from torchddsp.kernels import use_compiled


def _hankel(coeffs: torch.Tensor, size: int) -> torch.Tensor:
    """``(..., size, size)`` with ``[i, k] = coeffs[i + k + 1]``, zero past the end of ``coeffs``."""
    padded = F.pad(coeffs[..., 1:], (0, 2 * size - coeffs.shape[-1] + 1))
    return padded.unfold(-1, size, 1)[..., :size, :]


def _last(signal: torch.Tensor, count: int) -> torch.Tensor:
    """The last ``count`` samples, most recent first, zero-padded when the signal is shorter."""
    time = signal.shape[-1]
    if time >= count:
        return signal[..., time - count:].flip(-1)
    return F.pad(signal.flip(-1), (0, count - time))


def _latest(signal: torch.Tensor, past: torch.Tensor, count: int) -> torch.Tensor:
    """The last ``count`` values of ``past`` (most recent first) followed by ``signal``, most recent first."""
    time = signal.shape[-1]
    if time >= count:
        return signal[..., time - count:].flip(-1)
    return torch.cat([signal.flip(-1), past[..., :count - time]], dim=-1)


def _fir_varying(x: torch.Tensor, b: torch.Tensor, past: torch.Tensor | None, hop: int) -> torch.Tensor:
    """``v[n] = sum_j b[n // hop, j] x[n - j]``; ``x`` before the start from ``past`` (most recent first) or 0.

    ``b`` is ``(..., frames, M+1)``; each term is a shifted ``x`` times its coefficient, held
    over the frame by a reshape (no per-sample copy of ``b``), accumulated in place.
    """
    time = x.shape[-1]
    taps = b.shape[-1]
    frames = b.shape[-2]
    if past is None:
        extended = F.pad(x, (taps - 1, 0))
    else:
        extended = torch.cat([past.flip(-1), x], dim=-1)          # oldest first
    v = None
    for j in range(taps):
        shifted = extended[..., taps - 1 - j:taps - 1 - j + time]
        if hop == 1:                                  # per sample: no trailing frame axis (faster kernels)
            coeff = b[..., j]
        else:
            shifted = shifted.reshape(*shifted.shape[:-1], frames, hop)
            coeff = b[..., j:j + 1]
        v = shifted * coeff if v is None else v.addcmul_(shifted, coeff)      # in place: no new buffer
    return v if hop == 1 else v.reshape(*v.shape[:-2], time)


def _hold_scale(v: torch.Tensor, scale: torch.Tensor, hop: int) -> torch.Tensor:
    """``v[..., n] * scale[..., n // hop, 0]`` (``scale`` ``(..., frames, 1)`` held over each frame)."""
    time = v.shape[-1]
    if hop == 1:
        return v * scale[..., 0]
    out = v.reshape(*v.shape[:-1], scale.shape[-2], hop) * scale
    return out.reshape(*out.shape[:-2], time)


def lfilter(b: torch.Tensor, a: torch.Tensor, x: torch.Tensor, zi: torch.Tensor | None = None, *,
            backend: str = "auto"):
    """Filter ``x`` ``(..., time)`` with numerator ``b`` and denominator ``a`` (see the module docstring).

    Args:
        b: ``(..., M+1)`` fixed or ``(..., frames, M+1)`` time-varying numerator.
        a: ``(..., N+1)`` fixed or ``(..., frames, N+1)`` time-varying denominator; ``a[..., 0]``
            must be nonzero (the coefficients are divided by it, as in SciPy).
        x: input ``(..., time)``.
        zi: optional initial state: ``(..., max(M, N))`` (transposed direct form II, SciPy's
            ``lfilter_zi`` / ``lfiltic`` layout) for fixed coefficients, ``(..., M + N)``
            (past inputs then past outputs, most recent first) for time-varying ones.
        backend: ``"auto"`` (the library's choice, ``torchddsp.kernels``), ``"compiled"`` or ``"pure"``.

    Returns ``y`` ``(..., time)``, or ``(y, zf)`` when ``zi`` is given. Differentiable with
    respect to ``b``, ``a``, ``x`` and ``zi``.
    """
    check_real("x", x)
    check_real("b", b)
    check_real("a", a)
    time = x.shape[-1]
    for name, coeffs in (("b", b), ("a", a)):
        if coeffs.shape[-1] == 0:
            raise ValueError(f"{name}: expected at least one coefficient, received shape {tuple(coeffs.shape)}")
        if coeffs.dim() > x.dim() + 1:
            raise ValueError(f"{name}: expected at most {x.dim() + 1} dimensions (x has {x.dim()}), "
                             f"received shape {tuple(coeffs.shape)}")
    b_varying, a_varying = b.dim() == x.dim() + 1, a.dim() == x.dim() + 1
    varying = a_varying or b_varying
    if checking_values() and bool((a[..., 0].detach() == 0).any()):
        raise ValueError("a: expected a nonzero leading coefficient a[..., 0], received 0")
    inv_a0 = a[..., :1].reciprocal()
    if varying:
        # Each keeps its own frame grid (fixed coefficients become one frame of `time` samples).
        for name, coeffs, flag in (("b", b, b_varying), ("a", a, a_varying)):
            if flag:
                frames_hop(name, coeffs.shape[-2], time)
        b = b if b_varying else b.unsqueeze(-2)
        a = a if a_varying else a.unsqueeze(-2)
        inv_a0 = inv_a0 if a_varying else inv_a0.unsqueeze(-2)
    coeff_dims = 2 if varying else 1
    broadcast_or_raise("b, a, x", b.shape[:-coeff_dims], a.shape[:-coeff_dims], x.shape[:-1])
    if varying:
        # Normalise by a0 on a's own grid: the denominator here, the FIR output below (one pass each).
        a = a[..., 1:] * inv_a0
        hop_b = time // b.shape[-2] if time else 1
        hop = time // a.shape[-2] if time else 1
    else:
        b, a = b / a[..., :1], a[..., 1:] / a[..., :1]
    n_b, n_a = b.shape[-1] - 1, a.shape[-1]
    state = n_b + n_a if varying else max(n_b, n_a)
    shapes = [x.shape[:-1], b.shape[:-coeff_dims], a.shape[:-coeff_dims]]
    if zi is not None:
        check_real("zi", zi)
        if zi.shape[-1] != state:
            what = "M + N: past inputs, then past outputs" if varying else "max(M, N): transposed direct form II state"
            raise ValueError(f"zi: expected {state} values on the last axis ({what}), received shape {tuple(zi.shape)}")
        shapes.append(zi.shape[:-1])
    lead = broadcast_or_raise("b, a, x, zi", *shapes)
    dtype = torch.promote_types(torch.promote_types(b.dtype, a.dtype), x.dtype)
    if zi is not None:
        dtype = torch.promote_types(dtype, zi.dtype)
    batch = 1
    for size in lead:
        batch *= size
    compiled = use_compiled(x.device, dtype, backend)

    if not varying:
        xb = flatten_batch(x, lead, batch, 1, dtype)
        bb = flatten_batch(b, lead, batch, 1, dtype)
        ab = flatten_batch(a, lead, batch, 1, dtype)
        head = xb.new_zeros(1, 0) if zi is None else flatten_batch(zi, lead, batch, 1, dtype)
        if time == 0:
            y = (xb + 0 * (bb.sum() + ab.sum() + head.sum())).expand(batch, 0)
        else:
            y = lti_core(xb, bb, ab, head, compiled)
        y = y.reshape(*lead, time)
        if zi is None:
            return y
        # zf[i] = sum_k (b[i+k+1] x[T-1-k] - a[i+k+1] y[T-1-k]) + zi[T + i] (the last term while T + i < K).
        b_full = F.pad(b.to(dtype), (0, state + 1 - b.shape[-1]))
        a_full = F.pad(F.pad(a.to(dtype), (1, 0)), (0, state - a.shape[-1]))
        x_last = _last(x.to(dtype), state).unsqueeze(-1)
        y_last = _last(y, state).unsqueeze(-1)
        zf = ((_hankel(b_full, state) @ x_last) - (_hankel(a_full, state) @ y_last)).squeeze(-1)
        if time < state:
            zf = zf + F.pad(zi.to(dtype)[..., time:], (0, time))
        return y, zf

    past_x = zi[..., :n_b].to(dtype) if zi is not None else None
    past_y = zi[..., n_b:].to(dtype) if zi is not None else None
    if time == 0:
        v = x.to(dtype) + 0 * b.sum()
    else:
        v = _fir_varying(x.to(dtype), b.to(dtype), past_x, hop_b)                # (*lead', time)
        v = _hold_scale(v, inv_a0.to(dtype), hop)
    vb = flatten_batch(v, lead, batch, 1, dtype)
    ab = flatten_batch(a, lead, batch, 2, dtype)
    if zi is not None and n_a > 0 and time > 0:
        head = ltv_head(ab, hop, flatten_batch(past_y, lead, batch, 1, dtype), time).contiguous()
    else:
        head = vb.new_zeros(1, 0)
    if time == 0:
        y = (vb + 0 * ab.sum()).expand(batch, 0)
    else:
        y = ltv_core(vb, ab, hop, head, compiled)
    y = y.reshape(*lead, time)
    if zi is None:
        return y
    x_hist = _latest(x.to(dtype).expand(*lead, time), past_x.expand(*lead, n_b), n_b)
    y_hist = _latest(y, past_y.expand(*lead, n_a), n_a)
    return y, torch.cat([x_hist, y_hist], dim=-1)
