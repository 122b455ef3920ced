"""Linear state-space filters, evaluated exactly through their transfer function and ``lfilter``.

.. math::

    \\mathbf{x}[n+1] = A\\,\\mathbf{x}[n] + B\\,u[n], \\qquad y[n] = C\\,\\mathbf{x}[n] + D\\,u[n]

with :math:`A` ``(..., N, N)``, :math:`B` and :math:`C` ``(..., N)``, :math:`D` ``(...)``
(Kuznetsov et al. 2020, "Differentiable IIR filters for machine learning applications", the
linear Elman network of the review's Eq. 1). The transfer function is

.. math::

    H(z) = C (zI - A)^{-1} B + D = \\frac{C\\,\\mathrm{adj}(zI - A)\\,B + D \\det(zI - A)}{\\det(zI - A)}.

The Faddeev-LeVerrier recursion gives both polynomials with matrix products and traces only
(smooth in :math:`A`, so gradients exist even at repeated eigenvalues, unlike eigen-solvers):
with :math:`B_0 = I`, :math:`c_0 = 1`,

.. math::

    c_k = -\\tfrac{1}{k}\\,\\mathrm{tr}(A B_{k-1}), \\qquad B_k = A B_{k-1} + c_k I, \\qquad
    \\det(zI - A) = \\sum_{k=0}^{N} c_k z^{N-k}, \\quad
    \\mathrm{adj}(zI - A) = \\sum_{k=0}^{N-1} B_k z^{N-1-k},

so in powers of :math:`z^{-1}`: :math:`a = (1, c_1, \\dots, c_N)` and
:math:`b = (D,\\ C B_0 B + D c_1,\\ \\dots,\\ C B_{N-1} B + D c_N)`.

Time-varying systems: :math:`A, B, C, D` may carry a frame axis (``(..., frames, N, N)`` etc.,
with ``frames`` dividing ``time``); frame :math:`m` holds its matrices for samples
:math:`mH \\dots mH + H - 1`. The result is exact for that piecewise-constant system (not an
approximation with cross-faded frames): each frame is filtered by its own transfer function
with ``zi`` set from the exact state at the frame start, and the frame-start states follow
:math:`\\mathbf{x}_{m+1} = A_m^H \\mathbf{x}_m + \\sum_{k<H} A_m^{H-1-k} B_m u[mH+k]` by a
parallel prefix scan over frames (``log2(frames)`` steps, no loop over samples).

Stability: ``stable_state_matrix`` maps any real matrix to :math:`A = \\rho W / \\sqrt{1 +
\\sigma_{max}(W)^2}` with :math:`\\rho = \\rho_{max}\\sigma(r)`, so
:math:`\\|A\\|_2 < \\rho \\le \\rho_{max} < 1`: every eigenvalue (pole) lies inside the circle of
radius :math:`\\rho_{max}`, and the state norm never grows without input
(:math:`\\|\\mathbf{x}[n+1]\\| \\le \\rho\\|\\mathbf{x}[n]\\| + \\|B\\||u[n]|`), even when the
matrices change from frame to frame.

Numerics: the direct form of a degree-:math:`N` polynomial is ill-conditioned when poles
cluster (rounding moves an :math:`N`-fold pole by about :math:`2\\epsilon^{1/N}`). The transfer
function and the recursion therefore run in ``precision`` (float64 by default) and the output is
cast back. With the default ``max_radius=0.99`` this is safe up to about :math:`N = 6` (an
8-fold pole at 0.99 already lands outside the circle). ``method="block"`` avoids the polynomial
altogether: each frame is evaluated from powers of :math:`A` and an FFT convolution with its
impulse response, which is as well conditioned as the state recursion for any order.
"""

from __future__ import annotations

import torch

from torchddsp.checks import broadcast_or_raise, check_choice, check_tensor
from torchddsp.functional.core.convolution import next_fast_len
from torchddsp.functional.filters.iir.lfilter import lfilter


def _faddeev_leverrier(A: torch.Tensor, c: torch.Tensor | None = None):
    """Characteristic polynomial ``(..., N+1)`` and adjugate coefficients ``B_k`` ``(..., N, N, N)`` (k first)."""
    n = A.shape[-1]
    eye = torch.eye(n, dtype=A.dtype, device=A.device)
    coeffs = [torch.ones(A.shape[:-2], dtype=A.dtype, device=A.device)]
    mats = [eye.expand(A.shape)]
    current = mats[0]
    for k in range(1, n + 1):
        product = A @ current
        if c is None:
            coeffs.append(-torch.diagonal(product, dim1=-2, dim2=-1).sum(-1) / k)
        else:
            coeffs.append(c[..., k])
        if k < n:
            current = product + coeffs[-1][..., None, None] * eye
            mats.append(current)
    return torch.stack(coeffs, dim=-1), torch.stack(mats, dim=-3)


def _numerator(adj: torch.Tensor, a: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: torch.Tensor):
    """``b = (D, C B_k B + D c_{k+1})`` from the adjugate coefficients."""
    markov = (C[..., None, None, :] @ adj @ B[..., None, :, None])[..., 0, 0]          # (..., N): C B_k B
    return torch.cat([D[..., None], markov + D[..., None] * a[..., 1:]], dim=-1)


def state_space_to_tf(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: torch.Tensor):
    """Transfer function ``(b, a)`` (each ``(..., N + 1)``, :math:`a_0 = 1`) of a state-space system.

    Same result as ``scipy.signal.ss2tf`` for one input and one output, computed with the
    Faddeev-LeVerrier recursion (differentiable with respect to ``A``, ``B``, ``C``, ``D``).
    Shapes: ``A`` ``(..., N, N)``, ``B`` ``(..., N)``, ``C`` ``(..., N)``, ``D`` ``(...)``;
    leading dimensions broadcast.
    """
    A, B, C, D = _check_system(A, B, C, D)
    lead = torch.broadcast_shapes(A.shape[:-2], B.shape[:-1], C.shape[:-1], D.shape)
    n = A.shape[-1]
    A = A.expand(*lead, n, n)
    a, adj = _faddeev_leverrier(A)
    return _numerator(adj, a, B.expand(*lead, n), C.expand(*lead, n), D.expand(lead)), a


def _check_system(A, B, C, D):
    check_tensor("A", A, min_dim=2)
    n = A.shape[-1]
    if A.shape[-2] != n or n == 0:
        raise ValueError(f"A: expected square matrices (..., N, N) with N >= 1, received shape {tuple(A.shape)}")
    for name, value in (("B", B), ("C", C)):
        check_tensor(name, value, min_dim=1)
        if value.shape[-1] != n:
            raise ValueError(f"{name}: expected (..., {n}) to match A's order N = {n}, "
                             f"received shape {tuple(value.shape)}")
    if not isinstance(D, torch.Tensor):
        D = torch.as_tensor(float(D), dtype=A.dtype, device=A.device)
    check_tensor("D", D)
    dtype = torch.promote_types(torch.promote_types(A.dtype, B.dtype), torch.promote_types(C.dtype, D.dtype))
    return A.to(dtype), B.to(dtype), C.to(dtype), D.to(dtype)


def stable_state_matrix(weight: torch.Tensor, radius_raw: torch.Tensor | None = None, *,
                        max_radius: float = 0.99) -> torch.Tensor:
    """Map any real ``weight`` ``(..., N, N)`` to a contractive state matrix :math:`A`.

    .. math:: A = \\rho\\,\\frac{W}{\\sqrt{1 + \\sigma_{max}(W)^2}}, \\qquad
              \\rho = \\rho_{max}\\,\\sigma(r)\\ \\ (\\text{or } \\rho_{max} \\text{ without } r)

    Guarantee: :math:`\\|A\\|_2 = \\rho\\,\\sigma_{max}/\\sqrt{1+\\sigma_{max}^2} < \\rho \\le
    \\rho_{max} < 1`, so the spectral radius (largest pole magnitude) is below ``max_radius``
    and the state is a contraction, frame-wise switching included. The map is smooth (the
    largest singular value's gradient is defined even where singular values repeat) and
    finite for saturated inputs (``+-1e4``). ``radius_raw`` ``(...)`` is optional.
    """
    check_tensor("weight", weight, min_dim=2)
    if weight.shape[-1] != weight.shape[-2] or weight.shape[-1] == 0:
        raise ValueError(f"weight: expected square matrices (..., N, N), received shape {tuple(weight.shape)}")
    if not isinstance(max_radius, (int, float)) or not 0 < max_radius < 1:
        raise ValueError(f"max_radius: expected a number in (0, 1), received {max_radius!r}")
    sigma = torch.linalg.svdvals(weight)[..., 0]
    scale = max_radius / torch.sqrt(1 + sigma * sigma)
    if radius_raw is not None:
        check_tensor("radius_raw", radius_raw)
        scale = scale * torch.sigmoid(radius_raw)
    return weight * scale[..., None, None]


# ------------------------------------------------------------------------------- filtering


def _affine_scan(P: torch.Tensor, f: torch.Tensor):
    """Prefix composition of ``x -> P_m x + f_m`` over axis -3 / -2: returns the maps from ``x_0`` to ``x_{m+1}``."""
    frames = f.shape[-2]
    step = 1
    while step < frames:                                  # log2(frames) steps, not a loop over frames
        f = torch.cat([f[..., :step, :], (P[..., step:, :, :] @ f[..., :-step, :, None])[..., 0] + f[..., step:, :]],
                      dim=-2)
        P = torch.cat([P[..., :step, :, :], P[..., step:, :, :] @ P[..., :-step, :, :]], dim=-3)
        step *= 2
    return P, f


def _zi_from_state(A, C, a, state):
    """Transposed direct form II state giving the free response ``C A^n x`` (``zi_i = sum_{j<=i} a_j C A^{i-j} x``)."""
    n = A.shape[-1]
    free, v = [], state
    for _ in range(n):
        free.append((C * v).sum(-1))
        v = (A @ v[..., None])[..., 0]
    free = torch.stack(free, dim=-1)                                        # (..., N): C A^j x
    return torch.stack([(a[..., :i + 1].flip(-1) * free[..., :i + 1]).sum(-1) for i in range(n)], dim=-1)


def framewise_state_space(A, B, C, D, u, state=None, *, tf=None):
    """Core of ``state_space_filter`` after checks: every system tensor has a frame axis.

    ``A`` ``(*lead, F, N, N)``, ``B``/``C`` ``(*lead, F, N)``, ``D`` ``(*lead, F)``, ``u``
    ``(*lead, T)`` with ``F`` dividing ``T``; ``state`` ``(*lead, N)`` or ``None``.
    ``tf`` optionally gives the per-frame ``(b, a)`` (``(*lead, F, N+1)``) when a closed form is
    more accurate than the Faddeev-LeVerrier recursion. Returns ``y`` or ``(y, final_state)``.
    """
    *lead, frames, n, _ = A.shape
    time = u.shape[-1]
    hop = time // frames
    need_states = frames > 1 or state is not None
    if tf is None:
        a, adj = _faddeev_leverrier(A)
        b = _numerator(adj, a, B, C, D)
    else:
        b, a = tf
        adj = _faddeev_leverrier(A, a)[1] if need_states else None
    if not need_states:
        return lfilter(b[..., 0, :], a[..., 0, :], u)
    blocks = u.reshape(*lead, frames, hop)

    x0 = state if state is not None else u.new_zeros(*lead, n)
    # Forced state at each frame end: s[k] = sum_{j<=k} A^{k-j} B u[j], transfer functions adj_k B / det.
    state_b = (adj @ B[..., None, :, None])[..., 0].transpose(-1, -2)          # (*lead, F, N states, N taps)
    forced = lfilter(state_b, a[..., None, :], blocks[..., None, :])[..., -1]   # (*lead, F, N)
    power = torch.linalg.matrix_power(A, hop)
    cum_p, cum_f = _affine_scan(power, forced)
    after = (cum_p @ x0[..., None, :, None])[..., 0] + cum_f                    # x_{m+1}, m = 0..F-1
    starts = torch.cat([x0[..., None, :], after[..., :-1, :]], dim=-2)          # x_m
    zi = _zi_from_state(A, C, a, starts)
    y, _ = lfilter(b, a, blocks, zi)
    y = y.reshape(*lead, time)
    if state is None:
        return y
    return y, after[..., -1, :]


def _block_state_space(A, B, C, D, u, state=None):
    """Evaluate per frame from powers of ``A`` (doubling) and an FFT convolution; no direct-form recursion.

    Within frame :math:`m` (length :math:`H`):
    :math:`y[mH+k] = C A^k \\mathbf{x}_m + \\sum_{j\\le k} h_m[j]\\,u[mH+k-j]`
    with :math:`h_m[0] = D`, :math:`h_m[j] = C A^{j-1} B`; frame-start states as in the lfilter path.
    """
    *lead, frames, n, _ = A.shape
    time = u.shape[-1]
    hop = time // frames
    rows, cols, power, count = C[..., None, :], B[..., None, :], A, 1      # C A^k and (A^k B)^T for k < count
    while count < hop:                                                      # log2(hop) doublings
        rows = torch.cat([rows, rows @ power], dim=-2)
        cols = torch.cat([cols, cols @ power.transpose(-1, -2)], dim=-2)
        power = power @ power
        count *= 2
    rows, cols = rows[..., :hop, :], cols[..., :hop, :]
    impulse = torch.cat([D[..., None], (rows[..., :hop - 1, :] * B[..., None, :]).sum(-1)], dim=-1)   # (..., F, H)
    blocks = u.reshape(*lead, frames, hop)
    size = next_fast_len(2 * hop - 1)
    y = torch.fft.irfft(torch.fft.rfft(blocks, n=size) * torch.fft.rfft(impulse, n=size), n=size)[..., :hop]
    if frames == 1 and state is None:
        return y.reshape(*lead, time)
    x0 = state if state is not None else u.new_zeros(*lead, n)
    forced = (cols * blocks.flip(-1)[..., None]).sum(-2)                   # sum_k A^{H-1-k} B u[k]
    cum_p, cum_f = _affine_scan(torch.linalg.matrix_power(A, hop), forced)
    after = (cum_p @ x0[..., None, :, None])[..., 0] + cum_f
    starts = torch.cat([x0[..., None, :], after[..., :-1, :]], dim=-2)
    y = (y + (rows @ starts[..., :, None])[..., 0]).reshape(*lead, time)
    if state is None:
        return y
    return y, after[..., -1, :]


def _with_frames(name: str, value: torch.Tensor, varying: bool, core_dims: int):
    """Give a fixed system tensor a frame axis of size 1; return it and its frame count."""
    if varying:
        return value, value.shape[-core_dims - 1]
    return value.unsqueeze(-core_dims - 1), 1


def state_space_filter(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D, u: torch.Tensor,
                       state: torch.Tensor | None = None, *, method: str = "lfilter",
                       precision: torch.dtype | None = torch.float64):
    """Filter ``u`` ``(..., time)`` by the state-space system ``(A, B, C, D)`` (see the module docstring).

    Args:
        A: ``(..., N, N)``, or time-varying ``(..., frames, N, N)`` (``A.dim() == u.dim() + 2``).
        B, C: ``(..., N)``, or ``(..., frames, N)`` (``dim == u.dim() + 1``).
        D: a number, ``(...)``, or ``(..., frames)`` (``D.dim() == u.dim()``).
            Time-varying tensors share one ``frames`` (or 1), which must divide ``time``.
            Leading dimensions broadcast with ``u``'s.
        u: input ``(..., time)``.
        state: optional :math:`\\mathbf{x}[0]` ``(..., N)``; the call then returns
            ``(y, final_state)`` with ``final_state`` :math:`= \\mathbf{x}[time]`, so blocks
            passed one after another give exactly the one-call output.
        method: ``"lfilter"`` (default): each frame's transfer function (Faddeev-LeVerrier)
            through ``lfilter``, fast on CPU; ``"block"``: no transfer function, each frame is
            evaluated from powers of :math:`A` (by doubling) and an FFT convolution with its
            impulse response :math:`h[0] = D`, :math:`h[k] = C A^{k-1} B`. ``"block"`` is as well
            conditioned as the state recursion itself (no direct-form polynomial), so it suits
            high orders and clustered poles; it costs ``O(time * N^2)`` memory.
        precision: dtype of the internal computation (float64 by default, see Numerics above);
            ``None`` uses the inputs' dtype.

    Returns ``y`` ``(..., time)`` in the promoted dtype of the inputs. Matches
    ``scipy.signal.dlsim``. Differentiable with respect to ``A``, ``B``, ``C``, ``D``, ``u``
    and ``state``. Nothing is clamped: an unstable ``A`` gives a growing output.
    """
    check_tensor("u", u, min_dim=1)
    check_choice("method", method, ("lfilter", "block"))
    A, B, C, D = _check_system(A, B, C, D)
    n = A.shape[-1]
    dims = u.dim()
    for name, value, core in (("A", A, 2), ("B", B, 1), ("C", C, 1), ("D", D, 0)):
        if value.dim() > dims + core:
            raise ValueError(f"{name}: expected at most {dims + core} dimensions for u with {dims} "
                             f"(the extra one is the frame axis), received shape {tuple(value.shape)}")
    parts = {}
    frame_counts = {}
    for name, value, core in (("A", A, 2), ("B", B, 1), ("C", C, 1), ("D", D, 0)):
        varying = value.dim() == dims + core
        parts[name], count = _with_frames(name, value, varying, core)
        if varying:
            frame_counts[name] = count
    counts = set(frame_counts.values()) - {1}
    if len(counts) > 1:
        raise ValueError(f"{', '.join(frame_counts)}: time-varying system tensors need the same number of frames, "
                         f"received {frame_counts}")
    frames = counts.pop() if counts else 1
    time = u.shape[-1]
    if frames == 0 or time % frames != 0:
        raise ValueError(f"{', '.join(frame_counts)}: expected a number of frames dividing time = {time}, "
                         f"received {frames}")
    shapes = [parts["A"].shape[:-3], parts["B"].shape[:-2], parts["C"].shape[:-2], parts["D"].shape[:-1], u.shape[:-1]]
    if state is not None:
        check_tensor("state", state, min_dim=1)
        if state.shape[-1] != n:
            raise ValueError(f"state: expected (..., {n}) to match A's order, received shape "
                             f"{tuple(state.shape)}")
        shapes.append(state.shape[:-1])
    lead = broadcast_or_raise("A, B, C, D, u, state", *shapes)
    out_dtype = torch.promote_types(A.dtype, u.dtype)
    if state is not None:
        out_dtype = torch.promote_types(out_dtype, state.dtype)
    work = out_dtype if precision is None else torch.promote_types(out_dtype, precision)
    A = parts["A"].to(work).expand(*lead, frames, n, n)
    B = parts["B"].to(work).expand(*lead, frames, n)
    C = parts["C"].to(work).expand(*lead, frames, n)
    D = parts["D"].to(work).expand(*lead, frames)
    u = u.to(work).expand(*lead, time)
    x0 = state.to(work).expand(*lead, n) if state is not None else None
    if time == 0:
        y = u + 0 * (A.sum() + B.sum() + C.sum() + D.sum())
        return y.to(out_dtype) if x0 is None else (y.to(out_dtype), x0.to(out_dtype))
    engine = framewise_state_space if method == "lfilter" else _block_state_space
    out = engine(A, B, C, D, u, x0)
    if x0 is None:
        return out.to(out_dtype)
    return out[0].to(out_dtype), out[1].to(out_dtype)
