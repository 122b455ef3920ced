r"""Time-varying LPC synthesis (source-filter rendering) and inverse filtering.

Convention as in ``levinson.py``: :math:`A(z) = 1 + \sum_{i=1}^p a_i z^{-i}`; synthesis runs the
excitation :math:`e` through :math:`1 / A(z)` (review Eq. 4 with the predictor's sign flipped).
Coefficients come at frame rate, ``(..., frames, p)``, with ``time = frames * hop`` (``hop``
is inferred as ``time // frames``; ``frames == time`` means one set per sample), or fixed,
``(..., p)``. A coefficient tensor is frame-rate when it has one more dimension than the
signal (as in ``lfilter``); its other leading dimensions broadcast with the signal's.

Two filter structures, chosen by what the coefficients are:

- ``kind="lpc"``, direct form: :math:`y[n] = e[n] - \sum_i a_i[n]\, y[n-i]` (``allpole``:
  compiled kernel, analytic backward), inverse :math:`e[n] = x[n] + \sum_i a_i[n]\, x[n-i]`.
- ``kind="reflection"``, normalised lattice (Gray & Markel 1975), one rotation per stage: with
  :math:`c_i = \sqrt{1 - k_i^2}`, state :math:`S_0 .. S_{p-1}` (normalised backward errors) and
  input :math:`F_p = e[n] / \prod_i c_i[n]`, for :math:`i = p, \dots, 1`

  .. math:: F_{i-1} = c_i F_i - k_i S_{i-1}[n-1], \qquad S_i[n] = k_i F_i + c_i S_{i-1}[n-1],

  and :math:`y[n] = S_0[n] = F_0`. For fixed coefficients this is exactly :math:`1/A(z)` with
  :math:`a` = step-up of :math:`k` (review Eq. 5). The inverse (analysis) lattice undoes each
  rotation: :math:`F_0 = S_0 = x`, :math:`F_i = (F_{i-1} + k_i S_{i-1}[n-1]) / c_i`, residual
  :math:`F_p \prod_i c_i`. Every :math:`|k_i| < 1` is required (``ValueError`` otherwise).

  Why a lattice. Each sample's map :math:`(F_p, S[n-1]) \mapsto S[n]` is part of an orthogonal
  matrix, so :math:`\|S[n]\|^2 \le \|S[-1]\|^2 + \sum_{m \le n} F_p[m]^2` whatever the
  coefficients do over time and whatever the rounding: the output is finite for any
  reflection coefficients in :math:`(-1, 1)`, varying as fast as they like. The direct form
  has no such guarantee. Its coefficients are step-up images of :math:`k`; when several
  :math:`|k_i|` approach 1 the poles come within rounding distance of the unit circle (roughly
  :math:`((1-|k|)/(1+|k|))^{p/2}`), and the rounded direct-form filter is then often truly
  unstable: e.g. order 16 with :math:`|k| = 0.9` in float32, or :math:`|k| = 0.99` in float64
  (checked in 400-digit arithmetic; ``docs/functional-lpc.md``). Time-varying direct-form
  filters can also grow at coefficient switches even when every frame is stable. For time-varying
  coefficients the lattice and the direct form are different (equally valid) time-varying
  filters; each is exactly inverted by its own analysis filter. The lattice runs in a compiled
  CPU kernel with an analytic backward (the ``torchddsp::lattice`` custom op); elsewhere (or
  with ``backend="pure"``) as a parallel prefix scan over its per-sample state-transition
  matrices in plain PyTorch (``O(p^3 T log T)`` work, autograd backward; ``torchddsp.kernels``).

Sample-wise (:func:`lpc_synthesis`, :func:`lpc_inverse_filter`): frame-rate coefficients become
one set per sample, ``interpolation="hold"`` (frame :math:`m` for samples :math:`[mH, (m+1)H)`)
or ``"linear"`` (frame :math:`m` sits at sample :math:`mH`, coefficients move linearly towards
frame :math:`m+1`, the last frame held; ``torchddsp.functional.core.upsample``). Interpolating
direct-form coefficients can give unstable intermediate filters; interpolating reflection
coefficients cannot. The inverse filter with the same coefficients, interpolation and kind is
the exact inverse of the synthesis filter, so analysis then synthesis gives the signal back.

Frame-wise (:func:`framewise_lpc_synthesis`, locally stationary filters and overlap-add, as
Yu & Fazekas 2023): with a window :math:`w` of length :math:`L` that satisfies the
constant-overlap-add condition at hop :math:`H` (normalised so the shifted windows sum to one),
frame :math:`m` centred on sample :math:`mH`,

.. math:: y[n] = \sum_m \big(h_m * (w_m \cdot e)\big)[n], \qquad w_m[n] = w[n - mH + \lfloor L/2\rfloor],

where :math:`h_m` is the impulse response of :math:`1/A_m(z)`; frames beyond either end reuse
the first/last coefficients. Each filtered segment keeps ``tail_length`` samples of IIR tail
after the window: ``method="time"`` filters exactly (direct form or lattice, per ``kind``) and
truncates there; ``method="fft"`` divides spectra,
:math:`Y_m = \mathrm{DFT}_N(w_m e) / \mathrm{DFT}_N(A_m)`, :math:`N = L + \text{tail}`, which wraps
the rest of the tail circularly (frequency sampling). Both approach the exact sum as the tail
grows (error about :math:`\rho^{\text{tail}}` for the largest pole radius :math:`\rho`); with equal
coefficients in every frame and a long tail the result equals plain LTI filtering.
Frame-wise synthesis is one-shot (no streaming state).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from torchddsp.checks import check_choice, check_nonnegative_int, check_tensor, checking_values
from torchddsp.functional.core.framing import cola_constant, frame, overlap_add
from torchddsp.functional.core.upsample import upsample
from torchddsp.functional.filters.iir.allpole import allpole
from torchddsp.functional.filters.lpc.reflection import reflection_to_lpc
from torchddsp.kernels import call, lattice_ops, lattice_scan, use_compiled

KINDS = ("lpc", "reflection")
INTERPOLATIONS = ("hold", "linear")
FRAMEWISE_METHODS = ("time", "fft")


def _cosines(k: torch.Tensor) -> torch.Tensor:
    if not checking_values():
        return torch.sqrt((1.0 - k) * (1.0 + k))
    if bool((k.detach().abs() >= 1).any()) or not bool(torch.isfinite(k.detach()).all()):
        worst = float(k.detach().abs().nan_to_num(float("inf")).max())
        raise ValueError(f"coefficients: kind='reflection' needs every |k| < 1 (use reflection_from_logits), "
                         f"received max |k| = {worst:.6g}")
    return torch.sqrt((1.0 - k) * (1.0 + k))


def _lattice(e: torch.Tensor, k: torch.Tensor, s0: torch.Tensor | None, backend: str):
    """Normalised synthesis lattice for ``e`` ``(..., T)``, ``k`` ``(..., p)`` (fixed) or ``(..., T, p)``.

    Returns ``(y, final_state)`` with the leading shapes broadcast.
    """
    time_varying = k.dim() == e.dim() + 1
    time, order = e.shape[-1], k.shape[-1]
    shapes = [e.shape[:-1], k.shape[:-2] if time_varying else k.shape[:-1]]
    if s0 is not None:
        shapes.append(s0.shape[:-1])
    try:
        lead = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        raise ValueError(f"excitation, coefficients, state: leading dimensions "
                         f"{[tuple(s) for s in shapes]} do not broadcast") from None
    dtype = torch.promote_types(e.dtype, k.dtype)
    k = k.to(dtype)
    c = _cosines(k)
    gain = c.prod(-1)                                   # input scaling 1 / prod_i c_i, per sample or fixed
    x = e.to(dtype) / (gain if time_varying else gain.unsqueeze(-1))
    batch = math.prod(lead)
    xb = x.expand(*lead, time).reshape(batch, time)
    steps = time if time_varying else 1
    kb = (k if time_varying else k.unsqueeze(-2)).expand(*lead, steps, order).reshape(batch, steps, order)
    cb = (c if time_varying else c.unsqueeze(-2)).expand(*lead, steps, order).reshape(batch, steps, order)
    sb = s0.to(dtype).expand(*lead, order) if s0 is not None else e.new_zeros(*lead, order, dtype=dtype)
    sb = sb.reshape(batch, order)
    compiled = use_compiled(xb.device, dtype, backend)
    if order == 0 or time == 0:
        y = xb + 0 * kb.sum() + 0 * sb.sum()
        final = sb
    elif compiled:
        y, final, _ = call(lattice_ops.lattice, lattice_ops.lattice_kernel, xb.contiguous(), kb.contiguous(),
                           cb.contiguous(), sb.contiguous())
    else:
        y, final = lattice_scan(xb, kb, cb, sb)
    return y.reshape(*lead, time), final.reshape(*lead, order)


def _inverse_lattice(x: torch.Tensor, k: torch.Tensor, s0: torch.Tensor | None):
    """Normalised analysis lattice, vectorised over time (a loop over the order).

    ``F_0 = S_0 = x``; ``F_i = (F_{i-1} + k_i S_{i-1}[n-1]) / c_i``, ``S_i = k_i F_i + c_i S_{i-1}[n-1]``;
    the residual is ``F_p prod_i c_i``. ``k`` is ``(..., p)`` or ``(..., T, p)``.
    """
    order = k.shape[-1]
    time_varying = k.dim() == x.dim() + 1
    c = _cosines(k)
    f = s = x
    finals = []
    for i in range(1, order + 1):
        ki = k[..., i - 1] if time_varying else k[..., i - 1:i]
        ci = c[..., i - 1] if time_varying else c[..., i - 1:i]
        past = s0[..., i - 1:i] if s0 is not None else torch.zeros_like(s[..., :1])
        finals.append(s[..., -1:] if s.shape[-1] else past)
        delayed = torch.cat([past.expand(*s.shape[:-1], 1), s[..., :-1]], dim=-1) if s.shape[-1] else s
        f = (f + ki * delayed) / ci
        s = ki * f + ci * delayed
    gain = c.prod(-1) if time_varying else c.prod(-1, keepdim=True)
    final = torch.cat(finals, dim=-1) if finals else x.new_zeros(*x.shape[:-1], 0)
    return f * gain, final


# ------------------------------------------------------------------------------------- public API

def _check_inputs(signal_name: str, signal: torch.Tensor, coefficients: torch.Tensor, kind: str):
    check_tensor(signal_name, signal, min_dim=1)
    check_tensor("coefficients", coefficients, min_dim=1)
    check_choice("kind", kind, KINDS)
    for name, value in ((signal_name, signal), ("coefficients", coefficients)):
        if value.is_complex():
            raise ValueError(f"{name}: expected a real floating-point tensor, received dtype {value.dtype}")
    if coefficients.dim() > signal.dim() + 1:
        raise ValueError(f"coefficients: expected (..., p) fixed or (..., frames, p) frame-rate coefficients with at "
                         f"most {signal.dim() + 1} dimensions ({signal_name} has {signal.dim()}), received shape "
                         f"{tuple(coefficients.shape)}")


def _hop(signal_name: str, time: int, frames: int) -> int:
    if frames == 0 or time % frames != 0:
        raise ValueError(f"coefficients: expected a number of frames that divides the {time} samples of "
                         f"{signal_name} (time = frames * hop), received {frames} frames")
    return time // frames


def _per_sample(signal: torch.Tensor, coefficients: torch.Tensor, interpolation: str, signal_name: str):
    """Frame-rate coefficients expanded to one set per sample; fixed ones unchanged."""
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    time = signal.shape[-1]
    if coefficients.dim() == signal.dim() + 1:
        hop = _hop(signal_name, time, coefficients.shape[-2])
        if hop > 1:
            if interpolation == "hold":
                coefficients = coefficients.repeat_interleave(hop, dim=-2)
            else:
                coefficients = upsample(coefficients, hop, "linear")
    return coefficients


def _check_state(state, order: int):
    if state is not None:
        check_tensor("state", state, min_dim=1)
        if state.shape[-1] != order:
            raise ValueError(f"state: expected {order} values on the last axis (the filter order), "
                             f"received shape {tuple(state.shape)}")


def lpc_synthesis(excitation: torch.Tensor, coefficients: torch.Tensor, *, kind: str = "lpc",
                  interpolation: str = "hold", state: torch.Tensor | None = None,
                  backend: str = "auto"):
    """Sample-wise LPC synthesis: ``excitation`` ``(..., time)`` through ``1 / A(z)`` (module docstring).

    Args:
        excitation: source / residual signal ``(..., time)``.
        coefficients: ``(..., p)`` fixed, or ``(..., frames, p)`` frame-rate with ``time`` a
            multiple of ``frames``. Leading dimensions broadcast with ``excitation``'s.
        kind: ``"lpc"`` (direct form ``a_1 .. a_p``) or ``"reflection"`` (``k_1 .. k_p``, lattice).
        interpolation: ``"hold"`` or ``"linear"`` (frame-rate coefficients only).
        state: optional ``(..., p)`` filter state; zeros mean a filter at rest. Direct
            form: the past outputs, most recent first (``allpole``'s ``state``).
            Lattice: the normalised backward errors ``S_0[-1] .. S_{p-1}[-1]``. When given, the call also
            returns the final state (same layout) for the next block; with ``"hold"`` blocks
            chain exactly (``"linear"`` needs the next block's first frame).
        backend: ``"auto"`` (the library's choice, ``torchddsp.kernels``), ``"compiled"`` or ``"pure"``.

    Returns ``y`` ``(..., time)``, or ``(y, final_state)`` when ``state`` is given.
    Differentiable with respect to ``excitation``, ``coefficients`` and ``state``.
    Nothing is clamped: unstable direct-form coefficients give a growing output, as in
    ``scipy.signal.lfilter``. Reflection coefficients must satisfy ``|k| < 1`` (``ValueError``);
    the lattice output is then finite for any coefficients (module docstring).
    """
    _check_inputs("excitation", excitation, coefficients, kind)
    coefficients = _per_sample(excitation, coefficients, interpolation, "excitation")
    _check_state(state, coefficients.shape[-1])
    if kind == "lpc":
        return allpole(excitation, coefficients, state, backend=backend)
    y, final = _lattice(excitation, coefficients, state, backend)
    return y if state is None else (y, final)


def lpc_inverse_filter(signal: torch.Tensor, coefficients: torch.Tensor, *, kind: str = "lpc",
                       interpolation: str = "hold", state: torch.Tensor | None = None):
    """Prediction-error (analysis) filter ``A(z)``: the residual of ``signal`` ``(..., time)``.

    Direct form ``e[n] = x[n] + sum_i a_i[n] x[n - i]`` or, for ``kind="reflection"``, the
    analysis lattice (module docstring). Arguments as :func:`lpc_synthesis`; ``state``
    ``(..., p)`` holds the past inputs, most recent first (direct form), or the normalised
    backward errors ``S_0[-1] .. S_{p-1}[-1]`` (lattice), zero by default; when given, the call also returns the
    final state. The exact inverse of :func:`lpc_synthesis` with the same coefficients, kind and
    interpolation (the two share the state layout, so blocks chain through both). Vectorised
    over time (a loop over the order); differentiable with respect to every tensor input.
    """
    _check_inputs("signal", signal, coefficients, kind)
    coefficients = _per_sample(signal, coefficients, interpolation, "signal")
    order = coefficients.shape[-1]
    _check_state(state, order)
    time_varying = coefficients.dim() == signal.dim() + 1
    shapes = [signal.shape[:-1], coefficients.shape[:-2] if time_varying else coefficients.shape[:-1]]
    if state is not None:
        shapes.append(state.shape[:-1])
    try:
        lead = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        raise ValueError(f"signal, coefficients, state: leading dimensions {[tuple(s) for s in shapes]} "
                         "do not broadcast") from None
    dtype = torch.promote_types(signal.dtype, coefficients.dtype)
    x = signal.to(dtype).expand(*lead, signal.shape[-1])
    past_state = state.to(dtype).expand(*lead, order) if state is not None else None
    coefficients = coefficients.to(dtype)
    if kind == "reflection":
        residual, final = _inverse_lattice(x, coefficients, past_state)
    else:
        time = x.shape[-1]
        past = past_state if past_state is not None else x.new_zeros(*lead, order)
        extended = torch.cat([past.flip(-1), x], dim=-1)                       # x[-p] .. x[T-1]
        if order:
            delayed = torch.stack([extended[..., order - 1 - i:order - 1 - i + time] for i in range(order)], dim=-1)
            a_t = coefficients if time_varying else coefficients.unsqueeze(-2)
            residual = x + (delayed * a_t).sum(-1)
        else:
            residual = x + 0 * coefficients.sum()
        final = extended.flip(-1)[..., :order]
    return residual if state is None else (residual, final)


def _window(window, frame_length: int | None, hop: int, dtype, device) -> torch.Tensor:
    if isinstance(window, str):
        check_choice("window", window, ("hann",))
        length = 2 * hop if frame_length is None else frame_length
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ValueError(f"frame_length: expected an integer >= 1, received {length!r}")
        w = torch.hann_window(length, periodic=True, dtype=torch.float64)
    else:
        check_tensor("window", window, min_dim=1)
        if window.dim() != 1:
            raise ValueError(f"window: expected a 1-D window, received shape {tuple(window.shape)}")
        if frame_length is not None and frame_length != window.shape[0]:
            raise ValueError(f"frame_length: expected the window length {window.shape[0]} (or None), "
                             f"received {frame_length!r}")
        w = window.detach().to(torch.float64).cpu()
    if w.shape[0] < hop:
        raise ValueError(f"window: expected a length >= the hop {hop} (frames must cover every sample), "
                         f"received length {w.shape[0]}")
    w = w / cola_constant(w, hop)
    return w.to(dtype=dtype, device=device)


def framewise_lpc_synthesis(excitation: torch.Tensor, coefficients: torch.Tensor, *, kind: str = "lpc",
                            window="hann", frame_length: int | None = None, tail_length: int | None = None,
                            method: str = "time", backend: str = "auto") -> torch.Tensor:
    """Frame-wise LPC synthesis by overlap-add of locally stationary filters (module docstring).

    Args:
        excitation: ``(..., time)``.
        coefficients: frame-rate ``(..., frames, p)`` with ``time = frames * hop``; leading
            dimensions broadcast with ``excitation``'s. ``kind`` as in :func:`lpc_synthesis`
            (``"reflection"`` filters with the lattice for ``method="time"``).
        window: ``"hann"`` (periodic Hann of ``frame_length`` samples, default ``2 * hop``) or a
            1-D tensor; it must satisfy COLA at ``hop`` (checked; ``ValueError`` otherwise) and is
            normalised so the shifted windows sum to 1. It is treated as a constant (no gradient).
        frame_length: window length (default ``2 * hop`` for ``"hann"``, the tensor's length otherwise).
        tail_length: samples of IIR tail kept after each window (default ``frame_length``), >= 0.
        method: ``"time"`` (exact filtering of each segment, tail truncated) or ``"fft"``
            (spectral division with ``n = frame_length + tail_length``, tail wrapped).
        backend: for ``method="time"``, as in :func:`lpc_synthesis`.

    Returns ``(..., time)``. Differentiable with respect to ``excitation`` and ``coefficients``.
    """
    _check_inputs("excitation", excitation, coefficients, kind)
    check_choice("method", method, FRAMEWISE_METHODS)
    if coefficients.dim() != excitation.dim() + 1:
        raise ValueError(f"coefficients: expected frame-rate coefficients (..., frames, p) with "
                         f"{excitation.dim() + 1} dimensions, received shape {tuple(coefficients.shape)}")
    time = excitation.shape[-1]
    n_frames = coefficients.shape[-2]
    hop = _hop("excitation", time, n_frames)
    dtype = torch.promote_types(excitation.dtype, coefficients.dtype)
    w = _window(window, frame_length, hop, dtype, excitation.device)
    length = w.shape[0]
    tail = length if tail_length is None else check_nonnegative_int("tail_length", tail_length)
    coefficients = coefficients.to(dtype)
    if method == "fft" and coefficients.shape[-1] + 1 > length + tail:
        raise ValueError(f"tail_length: method='fft' needs frame_length + tail_length >= order + 1 = "
                         f"{coefficients.shape[-1] + 1}, received {length} + {tail}")

    offset = length // 2                                  # frame m covers [m*hop - offset, m*hop - offset + length)
    first = (offset - length) // hop + 1                  # first frame that overlaps sample 0
    last = -(-(time + offset) // hop) - 1                 # last frame that overlaps sample time - 1
    count = last - first + 1
    left = offset - first * hop
    right = (count - 1) * hop + length - left - time
    padded = F.pad(excitation.to(dtype), (left, right))
    segments = frame(padded, length, hop) * w             # (..., count, length)
    index = torch.arange(first, last + 1, device=coefficients.device).clamp(0, n_frames - 1)
    coeffs = coefficients.index_select(-2, index)         # (..., count, p), fixed within each segment
    span = length + tail
    if method == "time":
        if kind == "reflection":
            filtered, _ = _lattice(F.pad(segments, (0, tail)), coeffs, None, backend)
        else:
            filtered = allpole(F.pad(segments, (0, tail)), coeffs, backend=backend)
    else:
        a = reflection_to_lpc(coeffs) if kind == "reflection" else coeffs
        poly = torch.cat([torch.ones_like(a[..., :1]), a], dim=-1)
        spectrum = torch.fft.rfft(segments, n=span) / torch.fft.rfft(poly, n=span)
        filtered = torch.fft.irfft(spectrum, n=span)
    out = overlap_add(filtered, hop)
    return out[..., left:left + time]
