"""Numba kernels of the all-pole / IIR recursion (GIL-free; compiled once, cached on disk).

Called only through the custom ops of ``allpole_ops.py``.

Every kernel works on rows of a batch. Arrays are C-contiguous; a coefficient or signal array
whose first axis has size 1 is shared by every row (broadcasting without a copy). The filter
state before the first sample is zero: initial conditions enter as an additive ``head``
(``v[n] += head[n]`` for the first samples), which ``functional/iir/allpole.py`` derives from ``zi`` or
``state`` (the previous outputs) with differentiable tensor ops. The kernels evaluate

    LTI:  y[n] = sum_j b[j] x[n - j] + head[n] - sum_{i=0}^{p-1} a[i]    y[n - 1 - i]
    LTV:  y[n] =           v[n]      + head[n] - sum_{i=0}^{p-1} a[f, i] y[n - 1 - i],
          f = n // hop (one coefficient set per sample when hop == 1, per frame otherwise)

and the analytic backward of Yu & Fazekas (2023): with ``u = dL/dv`` (the same recursion run
backwards in time) the coefficient gradients are products of ``u`` with the delayed output.

How the recursion is kept fast (a sequential loop is latency-bound, not arithmetic-bound):

- the four most recent outputs stay in registers (``y1 .. y4``) and the newest one enters
  last, so the critical path from ``y[n - 1]`` to ``y[n]`` is a single fused multiply-add;
  the older taps are a vectorised dot product over values stored at least four steps earlier
  (no store-to-load forwarding stall on the critical path);
- orders up to 4 (biquads, first-order sections) need no memory taps at all, and the LTI
  kernels then run four batch rows interleaved, so four independent chains share the FMA
  units (numba's SLP vectoriser is off, so the lanes are written out by hand);
- the time-varying backward runs in scatter form: each step reads one contiguous
  coefficient row and adds its contributions to the pending sums of earlier samples, instead
  of gathering a diagonal of the coefficient array (strided, several times slower);
- the recursion kernels allow only FMA contraction (``fastmath={"contract"}``): reassociating
  the final subtraction would lengthen the critical path. The dot-product helpers allow
  reassociation so LLVM can vectorise them; they are separate functions, so their flags stay
  on their own instructions after LLVM inlines them;
- helper loops index with unsigned integers, which removes numba's negative-index wrap-around
  code and lets LLVM vectorise them;
- the LTI FIR part and the LTI gradient correlations run over cache-sized chunks of time,
  interleaved with the recursion, so long signals are read from memory once or twice.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_KERNEL = dict(cache=True, nogil=True, fastmath={"contract"})
_HELPER = dict(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
_CHUNK = 2048     # samples per chunk of the LTI kernels (a few arrays of it fit in L1/L2)


# ----------------------------------------------------------------------------------- helpers

@njit(**_HELPER)
def _dot(c, co, v, vo, n):
    """``sum_k c[co + k] * v[vo + k]`` for ``k < n`` (all indices >= 0)."""
    s = c.dtype.type(0)
    for k in range(n):
        s += c[np.uint64(co + k)] * v[np.uint64(vo + k)]
    return s


@njit(**_HELPER)
def _dot_rev(c, co, v, vo, n):
    """``sum_k c[co + k] * v[vo - k]`` for ``k < n`` (all indices >= 0)."""
    s = c.dtype.type(0)
    for k in range(n):
        s += c[np.uint64(co + k)] * v[np.uint64(vo - k)]
    return s


@njit(**_HELPER)
def _axpy(alpha, v, vo, out, oo, n):
    """``out[oo + k] += alpha * v[vo + k]`` for ``k < n``."""
    for k in range(n):
        out[np.uint64(oo + k)] += alpha * v[np.uint64(vo + k)]


@njit(**_HELPER)
def _scale(alpha, v, vo, out, oo, n):
    """``out[oo + k] = alpha * v[vo + k]`` for ``k < n``."""
    for k in range(n):
        out[np.uint64(oo + k)] = alpha * v[np.uint64(vo + k)]


@njit(**_HELPER)
def _axpy_rev(alpha, v, vo, out, oo, n):
    """``out[oo + k] += alpha * v[vo - k]`` for ``k < n``."""
    for k in range(n):
        out[np.uint64(oo + k)] += alpha * v[np.uint64(vo - k)]


@njit(**_HELPER)
def _scale_rev(alpha, v, vo, out, oo, n):
    """``out[oo + k] = alpha * v[vo - k]`` for ``k < n``."""
    for k in range(n):
        out[np.uint64(oo + k)] = alpha * v[np.uint64(vo - k)]


@njit(cache=True, nogil=True)
def _pick(arr, row):
    """Row ``row`` of ``arr``, or row 0 when ``arr`` is shared by the whole batch."""
    return arr[row if arr.shape[0] > 1 else 0]


# ----------------------------------------------------------------------- time-invariant (LTI)

@njit(**_KERNEL)
def _taps4(a, row, valid):
    """The first four coefficients of row ``row`` of ``a`` (zero past the order, or all zero if not ``valid``)."""
    dt = a.dtype.type
    if not valid:
        return dt(0), dt(0), dt(0), dt(0)
    ar = _pick(a, row)
    order = ar.shape[0]
    return (ar[0] if order > 0 else dt(0), ar[1] if order > 1 else dt(0),
            ar[2] if order > 2 else dt(0), ar[3] if order > 3 else dt(0))


@njit(**_KERNEL)
def _recurse4(r0, r1, r2, r3, lo, hi, reverse, c0, c1, c2, c3, s0, s1, s2, s3):
    """In place on four rows at once, order <= 4: ``r[n] -= sum_i c[i] r[n -/+ 1 + i]`` over ``[lo, hi)``.

    Forward in time (``reverse=False``: the all-pole recursion) or backward (``reverse=True``:
    its adjoint). Four independent recursions interleaved keep the FMA units busy while each
    chain waits on its own latency. ``c*`` are per-row 4-tuples of taps, ``s*`` per-row
    4-tuples of the latest outputs (newest first); the updated ``s*`` are returned.
    """
    a0, a1, a2, a3 = c0
    b0, b1, b2, b3 = c1
    e0, e1, e2, e3 = c2
    f0, f1, f2, f3 = c3
    p1, p2, p3, p4 = s0
    q1, q2, q3, q4 = s1
    v1, v2, v3, v4 = s2
    w1, w2, w3, w4 = s3
    count = hi - lo
    for k in range(count):
        n = hi - 1 - k if reverse else lo + k
        p0 = r0[n] - a3 * p4 - a2 * p3 - a1 * p2 - a0 * p1
        q0 = r1[n] - b3 * q4 - b2 * q3 - b1 * q2 - b0 * q1
        v0 = r2[n] - e3 * v4 - e2 * v3 - e1 * v2 - e0 * v1
        w0 = r3[n] - f3 * w4 - f2 * w3 - f1 * w2 - f0 * w1
        p4 = p3
        p3 = p2
        p2 = p1
        p1 = p0
        q4 = q3
        q3 = q2
        q2 = q1
        q1 = q0
        v4 = v3
        v3 = v2
        v2 = v1
        v1 = v0
        w4 = w3
        w3 = w2
        w2 = w1
        w1 = w0
        r0[n] = p0
        r1[n] = q0
        r2[n] = v0
        r3[n] = w0
    return (p1, p2, p3, p4), (q1, q2, q3, q4), (v1, v2, v3, v4), (w1, w2, w3, w4)


@njit(**_KERNEL)
def _fir_chunk(xr, br, hr, yr, lo, hi):
    """``yr[n] = sum_j br[j] xr[n - j] + hr[n]`` for ``n`` in ``[lo, hi)`` (vectorised over time)."""
    _scale(br[0], xr, lo, yr, lo, hi - lo)
    for j in range(1, br.shape[0]):
        start = max(lo, j)
        if start < hi:
            _axpy(br[j], xr, start - j, yr, start, hi - start)
    for n in range(lo, min(hi, hr.shape[0])):
        yr[n] += hr[n]


@njit(**_KERNEL)
def _lti_grad_chunk(u, xr, yr, br, gxr, gbr, gar, lo, hi, time):
    """The gradients of one row that chunk ``[lo, hi)`` of ``u`` (final from ``lo`` to the end) gives."""
    taps = br.shape[0]
    # gx[n] = sum_j b[j] u[n + j]
    _scale(br[0], u, lo, gxr, lo, hi - lo)
    for j in range(1, taps):
        count = min(hi, time - j) - lo
        if count > 0:
            _axpy(br[j], u, lo + j, gxr, lo, count)
    # gb[j] += sum_{n in [lo, hi), n >= j} u[n] x[n - j]; ga[i] likewise with y[n - 1 - i]
    for j in range(taps):
        start = max(lo, j)
        if start < hi:
            gbr[j] += _dot(u, start, xr, start - j, hi - start)
    for i in range(gar.shape[0]):
        start = max(lo, i + 1)
        if start < hi:
            gar[i] -= _dot(u, start, yr, start - 1 - i, hi - start)


@njit(**_KERNEL)
def lti_forward(x, b, a, head, y):
    """``y[n] = sum_j b[j] x[n-j] + head[n] - sum_i a[i] y[n-1-i]``, zero state before ``n = 0``.

    ``x`` ``(B|1, T)``, ``b`` ``(B|1, M+1)``, ``a`` ``(B|1, p)`` (``a_1 .. a_p``),
    ``head`` ``(B|1, H)``, ``y`` ``(B, T)`` written. Orders up to 4 run four rows at once.
    """
    batch, time = y.shape
    order = a.shape[1]
    rest = max(order - 4, 0)
    dt = y.dtype.type
    if order <= 4:
        spare = np.zeros((3 if batch % 4 else 0, time), dtype=y.dtype)     # idle lanes of the last group
        for g0 in range(0, batch, 4):
            rows = min(4, batch - g0)
            r0 = y[g0]
            r1 = y[g0 + 1] if rows > 1 else spare[0]
            r2 = y[g0 + 2] if rows > 2 else spare[1]
            r3 = y[g0 + 3] if rows > 3 else spare[2]
            c0 = _taps4(a, g0, True)
            c1 = _taps4(a, g0 + 1, rows > 1)
            c2 = _taps4(a, g0 + 2, rows > 2)
            c3 = _taps4(a, g0 + 3, rows > 3)
            zero = (dt(0), dt(0), dt(0), dt(0))
            s0, s1, s2, s3 = zero, zero, zero, zero
            for lo in range(0, time, _CHUNK):
                hi = min(lo + _CHUNK, time)
                for k in range(rows):
                    _fir_chunk(_pick(x, g0 + k), _pick(b, g0 + k), _pick(head, g0 + k), y[g0 + k], lo, hi)
                s0, s1, s2, s3 = _recurse4(r0, r1, r2, r3, lo, hi, False, c0, c1, c2, c3, s0, s1, s2, s3)
        return
    coefr = np.zeros(rest, dtype=y.dtype)                  # a_5 .. a_p, reversed
    for row in range(batch):
        ar = _pick(a, row)
        yr = y[row]
        c0, c1, c2, c3 = _taps4(a, row, True)
        for k in range(rest):
            coefr[k] = ar[order - 1 - k]
        y1 = dt(0)
        y2 = dt(0)
        y3 = dt(0)
        y4 = dt(0)
        for lo in range(0, time, _CHUNK):
            hi = min(lo + _CHUNK, time)
            _fir_chunk(_pick(x, row), _pick(b, row), _pick(head, row), yr, lo, hi)
            for n in range(lo, hi):
                acc = yr[n]
                if n >= order:
                    acc -= _dot(coefr, 0, yr, n - order, rest)
                else:
                    for i in range(4, n):
                        acc -= ar[i] * yr[n - 1 - i]
                acc = acc - c3 * y4 - c2 * y3 - c1 * y2
                yn = acc - c0 * y1
                y4 = y3
                y3 = y2
                y2 = y1
                y1 = yn
                yr[n] = yn


@njit(**_KERNEL)
def lti_backward(g, x, y, b, a, gx, gb, ga, ghead):
    """Gradients of ``lti_forward`` for the output gradient ``g`` ``(B, T)``.

    ``u[n] = g[n] - sum_i a[i] u[n+1+i]`` (time-reversed recursion), then
    ``gx[n] = sum_j b[j] u[n+j]``, ``gb[j] = sum_n u[n] x[n-j]``,
    ``ga[i] = -sum_n u[n] y[n-1-i]``, ``ghead[k] = u[k]``. All gradients are per row ``(B, .)``.
    """
    batch, time = g.shape
    order = a.shape[1]
    rest = max(order - 4, 0)
    heads = ghead.shape[1]
    dt = g.dtype.type
    lanes = 4 if order <= 4 else 1
    u = np.zeros((lanes, time), dtype=g.dtype)
    for g0 in range(0, batch, lanes):
        rows = min(lanes, batch - g0)
        for k in range(rows):
            gb[g0 + k, :] = 0
            ga[g0 + k, :] = 0
        for k in range(rows, lanes):
            u[k, :] = 0
        c0 = _taps4(a, g0, True)
        c1 = _taps4(a, g0 + 1, rows > 1)
        c2 = _taps4(a, g0 + 2, rows > 2)
        c3 = _taps4(a, g0 + 3, rows > 3)
        zero = (dt(0), dt(0), dt(0), dt(0))
        s0, s1, s2, s3 = zero, zero, zero, zero
        ar = _pick(a, g0)
        d0, d1, d2, d3 = c0
        u1 = dt(0)
        u2 = dt(0)
        u3 = dt(0)
        u4 = dt(0)
        hi = time
        while hi > 0:
            lo = max(hi - _CHUNK, 0)
            if lanes == 4:
                for k in range(rows):
                    u[k, lo:hi] = g[g0 + k, lo:hi]
                s0, s1, s2, s3 = _recurse4(u[0], u[1], u[2], u[3], lo, hi, True, c0, c1, c2, c3, s0, s1, s2, s3)
            else:
                ur = u[0]
                gr = g[g0]
                for n in range(hi - 1, lo - 1, -1):
                    acc = gr[n]
                    if n + order < time:
                        acc -= _dot(ar, 4, ur, n + 5, rest)
                    else:
                        for i in range(4, time - 1 - n):
                            acc -= ar[i] * ur[n + 1 + i]
                    acc = acc - d3 * u4 - d2 * u3 - d1 * u2
                    un = acc - d0 * u1
                    u4 = u3
                    u3 = u2
                    u2 = u1
                    u1 = un
                    ur[n] = un
            for k in range(rows):
                row = g0 + k
                _lti_grad_chunk(u[k], _pick(x, row), y[row], _pick(b, row), gx[row], gb[row], ga[row], lo, hi, time)
            hi = lo
        for k in range(rows):
            for j in range(heads):
                ghead[g0 + k, j] = u[k, j] if j < time else dt(0)


# ------------------------------------------------------------------------ time-varying (LTV)

@njit(**_KERNEL)
def ltv_forward(v, a, order, hop, head, y):
    """``y[n] = v[n] + head[n] - sum_i a[n // hop, i] y[n-1-i]``, zero state before ``n = 0``.

    ``v`` ``(B|1, T)``, ``a`` ``(B|1, F * p)`` (frames flattened, ``p = order``) with
    ``F * hop == T``, ``head`` ``(B|1, H)``, ``y`` ``(B, T)`` written.
    """
    batch, time = y.shape
    rest = max(order - 4, 0)
    heads = head.shape[1]
    dt = y.dtype.type
    i1, i2, i3 = min(1, order - 1), min(2, order - 1), min(3, order - 1)      # order >= 1 here
    m1, m2, m3 = dt(order > 1), dt(order > 2), dt(order > 3)
    for row in range(batch):
        vr = _pick(v, row)
        ar = _pick(a, row)
        hr = _pick(head, row)
        yr = y[row]
        y1 = dt(0)
        y2 = dt(0)
        y3 = dt(0)
        y4 = dt(0)
        frame = 0
        count = 0
        for n in range(time):
            base = frame * order
            acc = vr[n]
            if n < heads:
                acc += hr[n]
            if rest > 0:
                if n >= order:
                    acc -= _dot_rev(ar, base + 4, yr, n - 5, rest)
                else:
                    for i in range(4, n):
                        acc -= ar[base + i] * yr[n - 1 - i]
            c0 = ar[base]
            c1 = ar[base + i1] * m1          # branch-free: masks are 0 past the order
            c2 = ar[base + i2] * m2
            c3 = ar[base + i3] * m3
            acc = acc - c3 * y4 - c2 * y3 - c1 * y2
            yn = acc - c0 * y1
            y4 = y3
            y3 = y2
            y2 = y1
            y1 = yn
            yr[n] = yn
            count += 1
            if count == hop:
                count = 0
                frame += 1


@njit(**_KERNEL)
def _ltv_adjoint(gr, ar, order, hop, u, pending):
    """``u[n] = g[n] - sum_i a[(n+1+i) // hop, i] u[n+1+i]`` for one row, in scatter form.

    Every step reads one contiguous coefficient row, ``a[m // hop]``: once ``u[m]`` is known,
    ``-a[m, i] u[m]`` is added to the pending sum of ``u[m - 1 - i]``. The sums of the four
    nearest samples stay in registers (``q1 .. q4``; the newest term enters last, so the
    critical path is one multiply-add per step); the farther ones accumulate in ``pending``
    (``pending[k + order]``, zero on entry), one vector update per step.
    """
    time = gr.shape[0]
    rest = max(order - 4, 0)
    dt = gr.dtype.type
    i1, i2, i3 = min(1, order - 1), min(2, order - 1), min(3, order - 1)      # order >= 1 here
    m1, m2, m3 = dt(order > 1), dt(order > 2), dt(order > 3)
    q1 = dt(0)
    q2 = dt(0)
    q3 = dt(0)
    q4 = dt(0)
    c0 = dt(0)
    un = dt(0)
    frame = (time - 1) // hop
    count = (time - 1) % hop                 # position of sample m in its frame
    for m in range(time - 1, -1, -1):
        un = (gr[m] + pending[m + order] + q1) - c0 * un
        u[m] = un
        base = frame * order
        c0 = ar[base]
        c1 = ar[base + i1] * m1              # branch-free: the masks are 0 past the order
        c2 = ar[base + i2] * m2
        c3 = ar[base + i3] * m3
        q1 = q2
        q2 = q3 - c1 * un
        q3 = q4 - c2 * un
        q4 = -c3 * un
        if rest > 0:                         # pending[m - 1 - i + order] -= a[m, i] u[m], i = 4 .. p-1
            _axpy_rev(-un, ar, base + order - 1, pending, m, rest)
        if count == 0:
            count = hop - 1
            frame -= 1
        else:
            count -= 1


@njit(**_KERNEL)
def ltv_backward(g, y, a, order, hop, gv, ga, ghead):
    """Gradients of ``ltv_forward`` for the output gradient ``g`` ``(B, T)``.

    ``u[n] = g[n] - sum_i a[(n+1+i) // hop, i] u[n+1+i]`` written to ``gv`` (``_ltv_adjoint``);
    ``ga[f, i] = -sum_{n in frame f} u[n] y[n-1-i]`` (``(B, F * p)``, flat like ``a``);
    ``ghead[k] = u[k]``. A ``ga`` of width 0 skips the coefficient gradient (and its memory
    traffic).
    """
    batch, time = g.shape
    heads = ghead.shape[1]
    dt = g.dtype.type
    want_ga = ga.shape[1] > 0
    pending = np.empty(time + order, dtype=g.dtype)
    for row in range(batch):
        u = gv[row]
        pending[:] = 0
        if time > 0:
            _ltv_adjoint(g[row], _pick(a, row), order, hop, u, pending)
        if want_ga:
            yr = y[row]
            gar = ga[row]
            if hop == 1:
                for m in range(time):
                    taps = min(order, m)     # taps reaching y[0 ..]; earlier outputs are zero
                    if taps > 0:
                        _scale_rev(-u[m], yr, m - 1, gar, m * order, taps)
                    for i in range(taps, order):
                        gar[m * order + i] = 0
            else:
                gar[:] = 0
                for m in range(1, time):
                    _axpy_rev(-u[m], yr, m - 1, gar, (m // hop) * order, min(order, m))
        for k in range(heads):
            ghead[row, k] = u[k] if k < time else dt(0)
