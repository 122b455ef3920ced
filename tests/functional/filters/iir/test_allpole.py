"""Tests for torchddsp.functional.filters.iir.allpole: the all-pole recursion (review Eqs. 2-3).

References: ``scipy.signal.lfilter([1], [1, *a])`` with ``lfiltic`` initial conditions (fixed
coefficients) and a float64 NumPy transcription of ``y[n] = x[n] - sum_i a_i[n] y[n-i]``, one
sample at a time (time-varying coefficients, per sample or per frame). Gradients: ``gradcheck``
for every input and both backends, and autograd through a naive per-sample PyTorch loop.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    assert_streaming_equivalent,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    random_stable_filter,
    to_numpy,
)
from torchddsp.functional.filters.iir.allpole import allpole

BACKENDS = ["compiled", "pure"]
DEVICE_BACKENDS = [pytest.param(device.values[0], backend, id=f"{device.id}-{backend}", marks=device.marks)
                   for device in DEVICES for backend in BACKENDS
                   if not (device.values[0] == "cuda" and backend == "compiled")]


def reference_allpole(x: np.ndarray, a: np.ndarray, y0: np.ndarray | None = None) -> np.ndarray:
    """``y[n] = x[n] - sum_i a[n, i] y[n-1-i]`` in float64; ``a`` ``(T, p)``, ``y0[j] = y[-1-j]``."""
    time, order = a.shape
    past = np.zeros(order) if y0 is None else np.asarray(y0, dtype=np.float64)
    history = list(past[::-1])                  # oldest first
    y = np.empty(time)
    for n in range(time):
        acc = x[n]
        for i in range(order):
            acc -= a[n, i] * history[len(history) - 1 - i]
        y[n] = acc
        history.append(acc)
    return y


def tensor(value, dtype=torch.float64, device="cpu", grad=False):
    out = torch.as_tensor(np.asarray(value), dtype=dtype, device=device)
    return out.requires_grad_() if grad else out


# ----------------------------------------------------------------------------- parity

@pytest.mark.parametrize("device, backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 9, 20])
def test_fixed_coefficients_match_scipy(order, dtype, device, backend):
    rng = np.random.default_rng(order)
    time = 3000 if backend == "compiled" else 400          # the numba run crosses the kernels' chunks
    a = random_stable_filter(order, rng, shape=(3,))[1][..., 1:]
    x = rng.standard_normal((3, time))
    y0 = rng.standard_normal((3, order))
    at, xt, yt = (tensor(v, dtype, device) for v in (a, x, y0))
    a64, x64, y64 = (to_numpy(v).astype(np.float64) for v in (at, xt, yt))
    y, final = allpole(xt, at, yt, backend=backend)
    assert y.dtype == dtype and y.device.type == device
    for i in range(3):
        den = np.r_[1.0, a64[i]]
        ref = scipy.signal.lfilter([1.0], den, x64[i], zi=scipy.signal.lfiltic([1.0], den, y64[i]))[0]
        tol = dict(rtol=0, atol=1e-10) if dtype == torch.float64 else dict(rtol=0, atol=1e-5 * np.abs(ref).max())
        assert_matches_reference(y[i], ref, **tol)
        assert_matches_reference(final[i], ref[::-1][:order], **tol, what="final outputs")
    assert_matches_reference(allpole(xt, at, backend=backend)[0],
                             scipy.signal.lfilter([1.0], np.r_[1.0, a64[0]], x64[0]),
                             **(dict(rtol=0, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)))


@pytest.mark.parametrize("device, backend", DEVICE_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order, frames", [(1, 200), (2, 200), (6, 200), (20, 200), (6, 25), (3, 1), (5, 100)])
def test_time_varying_matches_numpy_loop(order, frames, dtype, device, backend):
    rng = np.random.default_rng(order * 1000 + frames)
    time = 200
    a = random_stable_filter(order, rng, shape=(2, frames))[1][..., 1:]
    x = rng.standard_normal((2, time))
    y0 = rng.standard_normal((2, order))
    at, xt, yt = (tensor(v, dtype, device) for v in (a, x, y0))
    y, final = allpole(xt, at, yt, backend=backend)
    hop = time // frames
    for i in range(2):
        a_ps = np.repeat(to_numpy(at[i]).astype(np.float64), hop, axis=0)
        ref = reference_allpole(to_numpy(xt[i]).astype(np.float64), a_ps, to_numpy(yt[i]).astype(np.float64))
        tol = dict(rtol=0, atol=1e-10) if dtype == torch.float64 else dict(rtol=0, atol=1e-5 * np.abs(ref).max())
        assert_matches_reference(y[i], ref, **tol)
        assert_matches_reference(final[i], ref[::-1][:order], **tol, what="final outputs")


def test_long_time_varying_signal_on_threads():
    """Batch x time large enough for the thread pool (three rows: an uneven split)."""
    rng = np.random.default_rng(3)
    time, order = 12000, 8
    a = 0.05 * rng.standard_normal((3, time, order))
    x = rng.standard_normal((3, time))
    y = allpole(tensor(x), tensor(a), backend="compiled")
    for i in range(3):
        assert_matches_reference(y[i], reference_allpole(x[i], a[i]), rtol=0, atol=1e-10)


def test_backends_agree():
    rng = np.random.default_rng(4)
    x, y0 = rng.standard_normal((2, 3, 300)), rng.standard_normal(7)
    for a in (rng.standard_normal((3, 7)) * 0.1, rng.standard_normal((1, 3, 30, 7)) * 0.1,
              rng.standard_normal((2, 3, 300, 7)) * 0.1):
        results = {}
        for backend in BACKENDS:
            leaves = [tensor(x, grad=True), tensor(a, grad=True), tensor(y0, grad=True)]
            y, final = allpole(*leaves, backend=backend)
            (y.square().sum() + final.sum()).backward()
            results[backend] = [y, final] + [leaf.grad for leaf in leaves]
        for got, want in zip(results["compiled"], results["pure"]):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_fixed(backend):
    rng = np.random.default_rng(6)
    x = tensor(rng.standard_normal((2, 14)), grad=True)
    a = tensor(random_stable_filter(5, rng, shape=(2,))[1][..., 1:], grad=True)
    y0 = tensor(rng.standard_normal((2, 5)), grad=True)
    check_gradcheck(lambda *args: allpole(*args, backend=backend), (x, a, y0))
    check_gradcheck(lambda *args: allpole(*args, backend=backend), (x, a))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("frames", [14, 7, 2])             # per sample, hop 2, hop 7 (> order)
def test_gradcheck_time_varying(frames, backend):
    rng = np.random.default_rng(frames)
    x = tensor(rng.standard_normal((2, 14)), grad=True)
    a = tensor(random_stable_filter(5, rng, shape=(2, frames))[1][..., 1:], grad=True)
    y0 = tensor(rng.standard_normal((2, 5)), grad=True)
    check_gradcheck(lambda *args: allpole(*args, backend=backend), (x, a, y0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_short_signal_and_shared_coefficients(backend):
    rng = np.random.default_rng(8)
    x = tensor(rng.standard_normal((3, 3)), grad=True)                  # shorter than the order
    a = tensor(random_stable_filter(6, rng)[1][1:], grad=True)                  # one filter for the batch
    y0 = tensor(rng.standard_normal(6), grad=True)                      # one initial state for the batch
    check_gradcheck(lambda *args: allpole(*args, backend=backend), (x, a, y0))
    a_tv = tensor(0.2 * rng.standard_normal((3, 6)), grad=True)         # one time-varying filter
    check_gradcheck(lambda *args: allpole(*args, backend=backend), (x, a_tv, y0))


def naive_allpole(x: torch.Tensor, a: torch.Tensor, y0: torch.Tensor) -> torch.Tensor:
    """Per-sample PyTorch loop, per-sample coefficients ``a`` ``(..., T, p)``: autograd records each step."""
    order = a.shape[-1]
    history = [y0[..., j] for j in reversed(range(order))]              # oldest first
    for n in range(x.shape[-1]):
        acc = x[..., n]
        for i in range(order):
            acc = acc - a[..., n, i] * history[-1 - i]
        history.append(acc)
    return torch.stack(history[order:], dim=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_analytic_backward_equals_autograd_through_a_loop(backend):
    rng = np.random.default_rng(9)
    time, order = 30, 4
    x = tensor(rng.standard_normal((2, time)), grad=True)
    a_fixed = tensor(random_stable_filter(order, rng, shape=(2,))[1][..., 1:], grad=True)
    a_varying = tensor(0.2 * rng.standard_normal((2, time, order)), grad=True)
    y0 = tensor(rng.standard_normal((2, order)), grad=True)
    weight = tensor(rng.standard_normal((2, time)))
    for a, per_sample in ((a_fixed, a_fixed[:, None, :].expand(2, time, order)), (a_varying, a_varying)):
        expected = torch.autograd.grad((naive_allpole(x, per_sample, y0) * weight).sum(), (x, a, y0))
        y, _ = allpole(x, a, y0, backend=backend)
        assert y.requires_grad and y.grad_fn is not None
        actual = torch.autograd.grad((y * weight).sum(), (x, a, y0))
        for name, got, want in zip(("x", "a", "state"), actual, expected):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11, msg=lambda m: f"gradient of {name}: {m}")


# ------------------------------------------------------------------ batching and streaming

def test_batch_consistency():
    rng = np.random.default_rng(10)
    x = tensor(rng.standard_normal((4, 5000)))
    a = tensor(random_stable_filter(6, rng, shape=(4,))[1][..., 1:])
    y0 = tensor(rng.standard_normal((4, 6)))
    check_batch_consistency(lambda *args: allpole(*args), (x, a, y0), rtol=1e-12, atol=1e-12)
    a_tv = tensor(0.1 * rng.standard_normal((4, 50, 6)))
    check_batch_consistency(lambda *args: allpole(*args), (x, a_tv, y0), rtol=1e-12, atol=1e-12)


def test_broadcasting():
    rng = np.random.default_rng(11)
    a = random_stable_filter(3, rng)[1][1:]
    x = rng.standard_normal((2, 3, 40))
    y = allpole(tensor(x), tensor(a))                               # one filter for a batch
    assert y.shape == (2, 3, 40)
    assert_matches_reference(y, scipy.signal.lfilter([1.0], np.r_[1.0, a], x), rtol=0, atol=1e-12)
    filters = random_stable_filter(3, rng, shape=(5,))[1][..., 1:]
    y = allpole(tensor(x[:1, :1]), tensor(filters))                 # a batch of filters for one signal
    assert y.shape == (1, 5, 40)
    expected = np.stack([scipy.signal.lfilter([1.0], np.r_[1.0, f], x[0, 0]) for f in filters])
    assert_matches_reference(y[0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("time_varying", [False, True])
def test_blocks_with_carried_state_equal_one_call(time_varying, backend):
    rng = np.random.default_rng(12)
    time, order = 120, 7
    x = tensor(rng.standard_normal((2, time)))
    a = tensor(0.15 * rng.standard_normal((2, time, order)) if time_varying
               else random_stable_filter(order, rng, shape=(2,))[1][..., 1:])
    y0 = tensor(rng.standard_normal((2, order)))
    assert_streaming_equivalent(
        lambda lo, hi, state: allpole(x[:, lo:hi], a[:, lo:hi] if time_varying else a, state, backend=backend),
        time, y0, [1, 3, 1, 35, 7, 0], rtol=0, atol=1e-12)                # blocks of 1 and 3 < order, an empty one


# ------------------------------------------------------------------------------ edge cases

@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_single_sample_and_order_zero(backend):
    a = tensor([[0.5, -0.2, 0.1]])
    y0 = tensor([[1.0, 2.0, 3.0]])
    y, final = allpole(tensor(np.zeros((1, 0))), a, y0, backend=backend)
    assert y.shape == (1, 0)
    torch.testing.assert_close(final, y0)
    y, final = allpole(tensor([[4.0]]), a, y0, backend=backend)
    expected = 4.0 - (0.5 * 1.0 - 0.2 * 2.0 + 0.1 * 3.0)
    torch.testing.assert_close(y, tensor([[expected]]))
    torch.testing.assert_close(final, tensor([[expected, 1.0, 2.0]]))
    x = tensor(np.arange(6.0)[None], grad=True)
    y = allpole(x, tensor(np.zeros((1, 0))), backend=backend)               # order 0: identity
    torch.testing.assert_close(y, x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))


def test_invalid_arguments_raise_value_errors_naming_them():
    x = torch.randn(2, 10)
    with pytest.raises(ValueError, match=r"^state: .*expected 2 values"):
        allpole(x, torch.randn(2, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"^a: .*frames"):
        allpole(x, torch.randn(2, 3, 2))
    with pytest.raises(ValueError, match=r"^a: "):
        allpole(x, torch.randn(2, 10, 1, 2))
    with pytest.raises(ValueError, match=r"^backend: "):
        allpole(x, torch.randn(2, 2), backend="cuda")
    with pytest.raises(ValueError, match=r"^x: "):
        allpole(torch.ones(2, 10, dtype=torch.int64), torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"^a: .*real"):
        allpole(x, torch.randn(2, 2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="do not broadcast"):
        allpole(x, torch.randn(3, 2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_unstable_filter_grows_like_scipy(backend):
    x = np.zeros((1, 150))
    x[0, 0] = 1.0
    a = np.array([-1.05])                                  # pole at 1.05: y[n] = 1.05 ** n
    y = allpole(tensor(x), tensor(a), backend=backend)
    assert_matches_reference(y, scipy.signal.lfilter([1.0], [1.0, *a], x), rtol=1e-12, atol=0)
    assert float(y[0, -1]) > 1000


@pytest.mark.parametrize("dtype", DTYPES)
def test_silence_and_finite_gradients(dtype):
    x = torch.zeros(2, 300, dtype=dtype, requires_grad=True)
    a = torch.tensor([-1.6, 0.8], dtype=dtype, requires_grad=True)
    out = check_finite_gradients(lambda x, a: allpole(x, a), (x, a))
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("frames", [40, 8])
def test_input_gradient_alone_with_fixed_time_varying_coefficients(frames):
    """Coefficients without ``requires_grad``: their (batch, frames, p) gradient is skipped, x's is exact."""
    rng = np.random.default_rng(16)
    x = tensor(rng.standard_normal((2, 40)), grad=True)
    a = tensor(0.2 * rng.standard_normal((2, frames, 5)))
    weight = tensor(rng.standard_normal((2, 40)))
    (allpole(x, a, backend="compiled") * weight).sum().backward()
    compiled_grad = x.grad.clone()
    x.grad = None
    (allpole(x, a, backend="pure") * weight).sum().backward()
    torch.testing.assert_close(compiled_grad, x.grad, rtol=1e-10, atol=1e-12)
