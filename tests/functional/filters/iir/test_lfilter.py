"""Tests for torchddsp.functional.filters.iir.lfilter: lfilter (fixed and time-varying coefficients).

References: ``scipy.signal.lfilter`` / ``lfilter_zi`` / ``lfiltic`` (fixed coefficients) and a
float64 NumPy transcription of the direct form I difference equation, one sample at a time
(time-varying coefficients, per sample or per frame). Both backends ("compiled": numba kernels
behind custom ops, and the plain-PyTorch "pure" scan) are checked against the references, against each other and with
``gradcheck``; the analytic backward is also compared with autograd through a naive loop.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    assert_streaming_equivalent,
    check_batch_consistency,
    check_gradcheck,
    random_stable_filter,
    to_numpy,
)
from torchddsp.functional.filters.iir.lfilter import lfilter

BACKENDS = ["compiled", "pure"]


def device_backends():
    """(device, backend) pairs: both backends on CPU, the pure one on CUDA (the compiled kernels are CPU-only)."""
    params = []
    for device in DEVICES:
        for backend in BACKENDS:
            if device.values[0] == "cuda" and backend == "compiled":
                continue
            params.append(pytest.param(device.values[0], backend, id=f"{device.id}-{backend}", marks=device.marks))
    return params


DEVICE_BACKENDS = device_backends()


def reference_time_varying(b: np.ndarray, a: np.ndarray, x: np.ndarray, zi: np.ndarray | None = None):
    """Direct form I per sample in float64: ``b`` ``(T, M+1)``, ``a`` ``(T, N+1)``, ``x`` ``(T,)``.

    ``zi`` holds the last M inputs then the last N outputs, most recent first. Returns ``(y, zf)``.
    """
    time, taps = b.shape
    n_b, n_a = taps - 1, a.shape[1] - 1
    zi = np.zeros(n_b + n_a) if zi is None else np.asarray(zi, dtype=np.float64)
    xs = list(zi[:n_b][::-1])            # oldest first
    ys = list(zi[n_b:][::-1])
    y = np.empty(time)
    for n in range(time):
        acc = b[n, 0] * x[n]
        for j in range(1, taps):
            acc += b[n, j] * xs[len(xs) - j]
        for i in range(1, n_a + 1):
            acc -= a[n, i] * ys[len(ys) - i]
        y[n] = acc / a[n, 0]
        xs.append(x[n])
        ys.append(y[n])
    zf = np.concatenate([np.asarray(xs[len(xs) - n_b:][::-1]), np.asarray(ys[len(ys) - n_a:][::-1])])
    return y, zf


def tensor(value, dtype=torch.float64, device="cpu", grad=False):
    out = torch.as_tensor(np.asarray(value), dtype=dtype, device=device)
    return out.requires_grad_() if grad else out


# ------------------------------------------------------------------------ parity with scipy

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", list(range(1, 21)))
def test_fixed_coefficients_match_scipy(order, dtype):
    rng = np.random.default_rng(order)
    a = random_stable_filter(order, rng)[1] * rng.uniform(0.5, 2.0)          # a0 != 1 as well
    b = rng.standard_normal(1 + (order * 7) % 23)                       # M below, equal to and above N
    x = rng.standard_normal((3, 5000))                                  # crosses the kernels' chunks
    zi = scipy.signal.lfilter_zi(b, a) * x[:, :1]                       # steady state for x[0]
    bt, at, xt, zt = (tensor(v, dtype) for v in (b, a, x, zi))
    # the reference filters the same (rounded) values in float64
    b64, a64, x64, z64 = (to_numpy(v).astype(np.float64) for v in (bt, at, xt, zt))
    y = lfilter(bt, at, xt, backend="compiled")
    ref = scipy.signal.lfilter(b64, a64, x64)
    y_zi, zf = lfilter(bt, at, xt, zt, backend="compiled")
    ref_zi, ref_zf = scipy.signal.lfilter(b64, a64, x64, zi=z64)
    if dtype == torch.float64:
        assert_matches_reference(y, ref, rtol=0, atol=1e-10)
        assert_matches_reference(y_zi, ref_zi, rtol=0, atol=1e-10)
        assert_matches_reference(zf, ref_zf, rtol=0, atol=1e-10, what="zf")
    else:
        for out, expected in ((y, ref), (y_zi, ref_zi), (zf, ref_zf)):
            scale = np.abs(expected).max()
            assert_matches_reference(out, expected, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("device, backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("order", [1, 2, 5, 12, 20])
def test_backends_match_scipy_with_lfiltic_state(order, device, backend):
    rng = np.random.default_rng(100 + order)
    a = random_stable_filter(order, rng)[1]
    b = rng.standard_normal(4)
    x = rng.standard_normal((2, 300))
    past_y, past_x = rng.standard_normal(order), rng.standard_normal(3)
    zi = scipy.signal.lfiltic(b, a, past_y, past_x)
    y, zf = lfilter(tensor(b, device=device), tensor(a, device=device), tensor(x, device=device),
                    tensor(zi, device=device), backend=backend)
    ref, ref_zf = scipy.signal.lfilter(b, a, x, zi=np.broadcast_to(zi, (2, zi.size)))
    assert y.device.type == device
    assert_matches_reference(y, ref, rtol=0, atol=1e-10)
    assert_matches_reference(zf, ref_zf, rtol=0, atol=1e-10, what="zf")


@settings(max_examples=30, deadline=None)
@given(order=st.integers(0, 8), taps=st.integers(1, 9), time=st.integers(1, 40), seed=st.integers(0, 2 ** 16))
def test_random_sizes_match_scipy(order, taps, time, seed):
    rng = np.random.default_rng(seed)
    a = random_stable_filter(order, rng)[1] * rng.uniform(0.5, 2.0)
    b = rng.standard_normal(taps)
    x = rng.standard_normal(time)
    zi = rng.standard_normal(max(order, taps - 1))
    for backend in BACKENDS:
        y, zf = lfilter(tensor(b), tensor(a), tensor(x), tensor(zi), backend=backend)
        ref, ref_zf = scipy.signal.lfilter(b, a, x, zi=zi)
        assert_matches_reference(y, ref, rtol=0, atol=1e-10)
        assert_matches_reference(zf, ref_zf, rtol=0, atol=1e-10, what="zf")


# -------------------------------------------------------------------------- time-varying

@pytest.mark.parametrize("device, backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("frames", [120, 12, 1])             # per sample, per frame of 10, one frame
def test_time_varying_matches_numpy_loop(frames, dtype, device, backend):
    rng = np.random.default_rng(frames)
    time, batch = 120, 2
    a = random_stable_filter(6, rng, shape=(batch, frames))[1] * rng.uniform(0.8, 1.2, (batch, frames, 1))
    b = rng.standard_normal((batch, frames, 3))
    x = rng.standard_normal((batch, time))
    zi = rng.standard_normal((batch, 2 + 6))
    at, bt, xt, zt = (tensor(v, dtype, device) for v in (a, b, x, zi))
    y, zf = lfilter(bt, at, xt, zt, backend=backend)
    hop = time // frames
    for i in range(batch):
        ref, ref_zf = reference_time_varying(*(to_numpy(v).astype(np.float64).repeat(hop, axis=0)
                                               for v in (bt[i], at[i])), to_numpy(xt[i]).astype(np.float64),
                                             to_numpy(zt[i]).astype(np.float64))
        tol = dict(rtol=0, atol=1e-10) if dtype == torch.float64 else dict(rtol=0, atol=1e-5 * np.abs(ref).max())
        assert_matches_reference(y[i], ref, **tol)
        assert_matches_reference(zf[i], ref_zf, **tol, what="zf")


def test_time_varying_numerator_with_fixed_denominator_and_vice_versa():
    rng = np.random.default_rng(5)
    time = 60
    a_fixed, b_fixed = random_stable_filter(3, rng)[1], rng.standard_normal(2)
    a_var = random_stable_filter(3, rng, shape=(6,))[1]            # 6 frames of 10
    b_var = rng.standard_normal((time, 2))                                    # per sample
    x = rng.standard_normal(time)
    for b, a in ((b_var, a_fixed), (b_fixed, a_var), (b_var, a_var)):
        b_ps = b if b.ndim == 2 else np.tile(b, (time, 1))
        a_ps = np.repeat(a, time // a.shape[0], axis=0) if a.ndim == 2 else np.tile(a, (time, 1))
        ref, _ = reference_time_varying(b_ps, a_ps, x)
        bt = tensor(b)[None] if b.ndim == 2 else tensor(b)
        at = tensor(a)[None] if a.ndim == 2 else tensor(a)
        y = lfilter(bt, at, tensor(x)[None])
        assert_matches_reference(y[0], ref, rtol=0, atol=1e-10)


def test_constant_time_varying_equals_fixed():
    rng = np.random.default_rng(6)
    a, b = random_stable_filter(4, rng)[1], rng.standard_normal(3)
    x = rng.standard_normal((2, 90))
    fixed = lfilter(tensor(b), tensor(a), tensor(x))
    for frames in (90, 9):
        varying = lfilter(tensor(np.tile(b, (2, frames, 1))), tensor(np.tile(a, (2, frames, 1))), tensor(x))
        torch.testing.assert_close(varying, fixed, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_fixed(backend):
    rng = np.random.default_rng(7)
    x = tensor(rng.standard_normal((2, 15)), grad=True)
    b = tensor(rng.standard_normal((2, 3)), grad=True)
    a = tensor(random_stable_filter(2, rng, shape=(2,))[1] * 1.3, grad=True)   # a0 != 1 too
    zi = tensor(rng.standard_normal((2, 2)), grad=True)
    check_gradcheck(lambda *args: lfilter(*args[:3], backend=backend), (b, a, x))
    check_gradcheck(lambda *args: lfilter(*args, backend=backend), (b, a, x, zi))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("frames", [12, 4])
def test_gradcheck_time_varying(frames, backend):
    rng = np.random.default_rng(frames)
    x = tensor(rng.standard_normal((2, 12)), grad=True)
    b = tensor(rng.standard_normal((2, frames, 2)), grad=True)
    a = tensor(random_stable_filter(3, rng, shape=(2, frames))[1], grad=True)
    zi = tensor(rng.standard_normal((2, 1 + 3)), grad=True)
    check_gradcheck(lambda *args: lfilter(*args, backend=backend), (b, a, x, zi))


def naive_lfilter(b: torch.Tensor, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-sample PyTorch loop (autograd records every step): the reference for the backward."""
    taps, order = b.shape[-1], a.shape[-1] - 1
    outputs = []
    for n in range(x.shape[-1]):
        acc = b[..., 0] * x[..., n]
        for j in range(1, min(taps, n + 1)):
            acc = acc + b[..., j] * x[..., n - j]
        for i in range(1, min(order, n) + 1):
            acc = acc - a[..., i] * outputs[n - i]
        outputs.append(acc / a[..., 0])
    return torch.stack(outputs, dim=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_analytic_backward_equals_autograd_through_a_loop(backend):
    rng = np.random.default_rng(9)
    x = tensor(rng.standard_normal((3, 25)), grad=True)
    b = tensor(rng.standard_normal((3, 4)), grad=True)
    a = tensor(random_stable_filter(5, rng, shape=(3,))[1] * 0.7, grad=True)
    weight = tensor(rng.standard_normal((3, 25)))
    expected = torch.autograd.grad((naive_lfilter(b, a, x) * weight).sum(), (x, b, a))
    out = lfilter(b, a, x, backend=backend)
    assert out.requires_grad and out.grad_fn is not None          # differentiable, not run under no_grad
    actual = torch.autograd.grad((out * weight).sum(), (x, b, a))
    for name, got, want in zip("xba", actual, expected):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11, msg=lambda m: f"gradient of {name}: {m}")


def test_backends_agree_on_values_and_gradients():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 400))
    b = rng.standard_normal((3, 4))
    a = random_stable_filter(8, rng, shape=(3,))[1]
    zi = rng.standard_normal((2, 3, 8))
    results = {}
    for backend in BACKENDS:
        leaves = [tensor(v, grad=True) for v in (b, a, x, zi)]
        y, zf = lfilter(*leaves, backend=backend)
        (y.square().sum() + zf.sum()).backward()
        results[backend] = [y, zf] + [leaf.grad for leaf in leaves]
    for got, want in zip(results["compiled"], results["pure"]):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ batching and streaming

def test_batch_consistency():
    rng = np.random.default_rng(11)
    b = tensor(rng.standard_normal((4, 3)))
    a = tensor(random_stable_filter(4, rng, shape=(4,))[1])
    x = tensor(rng.standard_normal((4, 3000)))                # big enough to run on two threads
    zi = tensor(rng.standard_normal((4, 4)))
    check_batch_consistency(lambda *args: lfilter(*args), (b, a, x, zi), rtol=1e-12, atol=1e-12)
    a_tv = tensor(random_stable_filter(4, rng, shape=(4, 10))[1])
    check_batch_consistency(lambda *args: lfilter(*args), (b, a_tv, x), rtol=1e-12, atol=1e-12)


def test_broadcasting():
    rng = np.random.default_rng(12)
    b, a = rng.standard_normal(3), random_stable_filter(2, rng)[1]
    x = rng.standard_normal((4, 1, 50))
    # one filter for a batch of signals
    y = lfilter(tensor(b), tensor(a), tensor(x))
    assert y.shape == (4, 1, 50)
    assert_matches_reference(y, scipy.signal.lfilter(b, a, x), rtol=0, atol=1e-12)
    # a batch of filters for one signal (shape (1, time): with a 1-D x, 2-D coefficients would be
    # read as time-varying), and a batch of filters for a batch of signals (outer product)
    bs = rng.standard_normal((2, 3))
    as_ = random_stable_filter(2, rng, shape=(2,))[1]
    y = lfilter(tensor(bs), tensor(as_), tensor(x[0]))
    assert y.shape == (2, 50)
    assert_matches_reference(y, np.stack([scipy.signal.lfilter(bs[i], as_[i], x[0, 0]) for i in range(2)]),
                             rtol=0, atol=1e-12)
    y = lfilter(tensor(bs), tensor(as_), tensor(x))
    assert y.shape == (4, 2, 50)
    expected = np.stack([[scipy.signal.lfilter(bs[j], as_[j], x[i, 0]) for j in range(2)] for i in range(4)])
    assert_matches_reference(y, expected, rtol=0, atol=1e-12)
    # gradients reach a shared filter (summed over the batch)
    bt = tensor(b, grad=True)
    lfilter(bt, tensor(a), tensor(x)).sum().backward()
    assert bt.grad.shape == (3,)
    b_each = tensor(np.tile(b, (4, 1, 1)), grad=True)
    lfilter(b_each, tensor(a), tensor(x)).sum().backward()
    torch.testing.assert_close(bt.grad, b_each.grad.sum((0, 1)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("blocks", [[1, 1, 5, 23, 1, 0, 69], [50, 3, 1]])
def test_blocks_with_carried_state_equal_one_call_fixed(blocks, backend):
    rng = np.random.default_rng(13)
    b, a = tensor(rng.standard_normal(7)), tensor(random_stable_filter(5, rng)[1])   # order 6 state; blocks of 1, 3
    x = tensor(rng.standard_normal((2, 100)))
    zi = tensor(rng.standard_normal((2, 6)))
    assert_streaming_equivalent(lambda lo, hi, state: lfilter(b, a, x[:, lo:hi], state, backend=backend),
                                100, zi, blocks, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_blocks_with_carried_state_equal_one_call_time_varying(backend):
    rng = np.random.default_rng(14)
    time = 96
    a = tensor(random_stable_filter(5, rng, shape=(time,))[1])[None]
    b = tensor(rng.standard_normal((1, time, 4)))
    x = tensor(rng.standard_normal((1, time)))
    zi = tensor(rng.standard_normal((1, 3 + 5)))
    assert_streaming_equivalent(                                                      # per sample: any block sizes
        lambda lo, hi, state: lfilter(b[:, lo:hi], a[:, lo:hi], x[:, lo:hi], state, backend=backend),
        time, zi, [2, 1, 32, 1], rtol=0, atol=1e-12)
    a_frames, b_frames = a[:, ::8], b[:, ::8]                                         # per frame of 8 samples:
    assert_streaming_equivalent(                                                      # blocks on frame boundaries
        lambda lo, hi, state: lfilter(b_frames[:, lo // 8:hi // 8], a_frames[:, lo // 8:hi // 8], x[:, lo:hi],
                                      state, backend=backend),
        time, zi, [8, 8, 56, 24], rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------ edge cases

@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_and_single_sample(backend):
    b, a = tensor([0.5, 0.2, 0.1]), tensor([1.0, -0.3, 0.2])
    zi = tensor([[0.3, -0.1], [0.2, 0.4]])
    y, zf = lfilter(b, a, tensor(np.zeros((2, 0))), zi, backend=backend)
    assert y.shape == (2, 0)
    torch.testing.assert_close(zf, zi, rtol=0, atol=0)          # no samples: the state is unchanged
    x = tensor([[1.5], [-2.0]])
    y, zf = lfilter(b, a, x, zi, backend=backend)
    ref, ref_zf = scipy.signal.lfilter(to_numpy(b), to_numpy(a), to_numpy(x), zi=to_numpy(zi))
    assert_matches_reference(y, ref, rtol=0, atol=1e-14)
    assert_matches_reference(zf, ref_zf, rtol=0, atol=1e-14, what="zf")
    # time-varying with no samples keeps the state
    y, zf = lfilter(tensor(np.zeros((2, 0, 3))), tensor(np.ones((2, 0, 2))), tensor(np.zeros((2, 0))),
                    tensor(np.ones((2, 3))), backend=backend)
    assert y.shape == (2, 0) and zf.shape == (2, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pure_fir_and_leading_coefficient(backend):
    rng = np.random.default_rng(15)
    b, x = rng.standard_normal(6), rng.standard_normal((2, 80))
    y = lfilter(tensor(b), tensor([2.0]), tensor(x), backend=backend)        # order 0: FIR scaled by 1/a0
    assert_matches_reference(y, scipy.signal.lfilter(b, [2.0], x), rtol=0, atol=1e-12)
    y, zf = lfilter(tensor(b), tensor([2.0]), tensor(x), tensor(np.ones((2, 5))), backend=backend)
    ref, ref_zf = scipy.signal.lfilter(b, [2.0], x, zi=np.ones((2, 5)))
    assert_matches_reference(y, ref, rtol=0, atol=1e-12)
    assert_matches_reference(zf, ref_zf, rtol=0, atol=1e-12, what="zf")


def test_invalid_arguments_raise_value_errors_naming_them():
    x = torch.randn(2, 10)
    with pytest.raises(ValueError, match=r"^a: .*nonzero"):
        lfilter(torch.ones(3), torch.tensor([0.0, 0.5]), x)
    with pytest.raises(ValueError, match=r"^a: .*nonzero"):
        lfilter(torch.ones(3), torch.tensor([[1.0, 0.5], [0.0, 0.5]]), x)
    with pytest.raises(ValueError, match=r"^zi: .*expected 2 values"):
        lfilter(torch.ones(3), torch.tensor([1.0, 0.5]), x, torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"^zi: .*expected 3 values"):            # time-varying: M + N
        lfilter(torch.ones(2, 10, 3), torch.tensor([1.0, 0.5]), x, torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"^b: "):
        lfilter(torch.ones(0), torch.tensor([1.0, 0.5]), x)
    with pytest.raises(ValueError, match=r"^a: .*frames"):
        lfilter(torch.ones(3), torch.ones(2, 3, 2), x)                            # 3 frames do not divide 10
    with pytest.raises(ValueError, match=r"^x: "):
        lfilter(torch.ones(3), torch.tensor([1.0, 0.5]), torch.randn(2, 10, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"^backend: "):
        lfilter(torch.ones(3), torch.tensor([1.0, 0.5]), x, backend="fast")
    with pytest.raises(ValueError, match="do not broadcast"):
        lfilter(torch.ones(3, 3), torch.tensor([1.0, 0.5]), x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unstable_filter_grows_like_scipy_and_is_not_clamped(backend):
    x = np.zeros(200)
    x[0] = 1.0
    a = [1.0, -2.0 * 1.02 * np.cos(0.3), 1.02 ** 2]                # poles of radius 1.02
    y = lfilter(tensor([1.0]), tensor(a), tensor(x), backend=backend)
    ref = scipy.signal.lfilter([1.0], a, x)
    assert np.abs(ref[-20:]).max() > 20                            # really growing
    assert_matches_reference(y, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_silence_gives_silence_and_finite_gradients(dtype):
    x = torch.zeros(2, 500, dtype=dtype, requires_grad=True)
    b = torch.tensor([0.2, 0.3], dtype=dtype, requires_grad=True)
    a = torch.tensor([1.0, -1.8, 0.81], dtype=dtype, requires_grad=True)     # double pole at 0.9
    y = lfilter(b, a, x)
    assert torch.equal(y, torch.zeros_like(y))
    y.sum().backward()
    for leaf in (x, b, a):
        assert_finite(leaf.grad, "gradient")


def test_dtype_promotion_and_output_dtype():
    x = torch.randn(2, 30)
    y = lfilter(torch.tensor([0.5, 0.5], dtype=torch.float64), torch.tensor([1.0, -0.5]), x)
    assert y.dtype == torch.float64
    assert lfilter(torch.tensor([0.5, 0.5]), torch.tensor([1.0, -0.5]), x).dtype == torch.float32
