"""Tests for torchddsp.functional.filters.iir.state_space.

References: ``scipy.signal.ss2tf`` (transfer function), ``scipy.signal.dlsim`` (filtering
with an initial state) and a float64 NumPy loop over the state equations (frame-wise
time-varying systems).
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
    assert_matches_reference,
    assert_streaming_equivalent,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from torchddsp.functional.filters.iir.state_space import stable_state_matrix, state_space_filter, state_space_to_tf

METHODS = ["lfilter", "block"]


def random_system(rng, n, radius=0.9):
    A = rng.normal(size=(n, n))
    A = radius * A / np.linalg.norm(A, 2)
    return A, rng.normal(size=n), rng.normal(size=n), float(rng.normal())


def dlsim(A, B, C, D, u, x0=None):
    """scipy.signal.dlsim output and the state after the last sample."""
    _, y, x = scipy.signal.dlsim((A, B[:, None], C[None, :], np.array([[D]]), 1), u, x0=x0)
    return y[:, 0], A @ x[-1] + B * u[-1]


def loop_reference(As, Bs, Cs, Ds, u, x0):
    """Frame-held state equations, sample by sample: As (F, N, N), ..., u (T,)."""
    hop = u.shape[0] // As.shape[0]
    x, y = x0.copy(), np.zeros_like(u)
    for n in range(u.shape[0]):
        m = n // hop
        y[n] = Cs[m] @ x + Ds[m] * u[n]
        x = As[m] @ x + Bs[m] * u[n]
    return y, x


def t64(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_transfer_function_matches_ss2tf(n):
    rng = np.random.default_rng(n)
    A, B, C, D = random_system(rng, n, radius=1.3)      # stability is irrelevant to the conversion
    b_ref, a_ref = scipy.signal.ss2tf(A, B[:, None], C[None, :], np.array([[D]]))
    b, a = state_space_to_tf(t64(A), t64(B), t64(C), t64(D))
    assert_matches_reference(b, b_ref[0], rtol=1e-9, atol=1e-11)
    assert_matches_reference(a, a_ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_dlsim_with_initial_state(method, dtype):
    rng = np.random.default_rng(10)
    A, B, C, D = random_system(rng, 4)
    u, x0 = rng.normal(size=700), rng.normal(size=4)
    y_ref, xf_ref = dlsim(A, B, C, D, u, x0)
    cast = [torch.tensor(v, dtype=dtype) for v in (A, B, C, D, u, x0)]
    y, xf = state_space_filter(*cast[:5], cast[5], method=method)
    assert y.dtype == dtype
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    assert_matches_reference(y, y_ref, dtype=dtype, **tol)
    assert_matches_reference(xf, xf_ref, dtype=dtype, **tol)
    y0 = state_space_filter(*cast[:5], method=method)
    assert_matches_reference(y0, dlsim(A, B, C, D, u)[0], dtype=dtype, **tol)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("frames", [1, 6, 120])
def test_framewise_time_varying_matches_state_loop(method, frames):
    rng = np.random.default_rng(frames)
    n, time = 3, 240
    As = np.stack([random_system(rng, n, 0.95)[0] for _ in range(frames)])
    Bs, Cs, Ds = rng.normal(size=(frames, n)), rng.normal(size=(frames, n)), rng.normal(size=frames)
    u, x0 = rng.normal(size=time), rng.normal(size=n)
    y_ref, x_ref = loop_reference(As, Bs, Cs, Ds, u, x0)
    y, xf = state_space_filter(t64(As), t64(Bs), t64(Cs), t64(Ds), t64(u), t64(x0), method=method)
    assert_matches_reference(y, y_ref, rtol=1e-9, atol=1e-11)
    assert_matches_reference(xf, x_ref, rtol=1e-9, atol=1e-11)
    # Mixed: only A varies, B, C, D fixed (broadcast over frames).
    y_ref, _ = loop_reference(As, np.repeat(Bs[:1], frames, 0), np.repeat(Cs[:1], frames, 0),
                              np.repeat(Ds[:1], frames, 0), u, np.zeros(n))
    y = state_space_filter(t64(As), t64(Bs[0]), t64(Cs[0]), float(Ds[0]), t64(u), method=method)
    assert_matches_reference(y, y_ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("method", METHODS)
def test_blocks_with_state_equal_one_call(method):
    rng = np.random.default_rng(5)
    A, B, C, D = (t64(v) for v in random_system(rng, 3))
    u = t64(rng.normal(size=(2, 400)))
    assert_streaming_equivalent(
        lambda lo, hi, state: state_space_filter(A, B, C, D, u[:, lo:hi], state, method=method),
        400, torch.zeros(2, 3, dtype=torch.float64), [1, 63, 336])


@pytest.mark.parametrize("method", METHODS)
def test_gradcheck(method):
    rng = np.random.default_rng(6)
    A, B, C, D = (t64(v).requires_grad_() for v in random_system(rng, 3, 0.8))
    u = torch.randn(16, dtype=torch.float64, requires_grad=True)
    x0 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda *args: state_space_filter(*args[:5], args[5], method=method)[0], [A, B, C, D, u, x0])
    As = t64(np.stack([random_system(rng, 2, 0.8)[0] for _ in range(4)])).requires_grad_()
    Bs = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda As, Bs, u: state_space_filter(As, Bs, C[:2].detach(), 0.5, u, method=method), [As, Bs, u])


def test_gradcheck_transfer_function_and_parameterisation():
    W = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    r = torch.randn((), dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda W, r: stable_state_matrix(W, r), [W, r])
    B, C = torch.randn(3, dtype=torch.float64, requires_grad=True), torch.randn(3, dtype=torch.float64)
    D = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda W, B, D: torch.cat(state_space_to_tf(W, B, C, D)), [W, B, D])


@pytest.mark.parametrize("method", METHODS)
def test_batch_consistency(method):
    rng = np.random.default_rng(7)
    A = t64(np.stack([random_system(rng, 2)[0] for _ in range(3)]))
    B, C = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    D = torch.randn(3, dtype=torch.float64)
    u = torch.randn(3, 50, dtype=torch.float64)
    check_batch_consistency(lambda *a: state_space_filter(*a, method=method), [A, B, C, D, u])


def test_stable_state_matrix_guarantee():
    torch.manual_seed(0)
    W = torch.randn(50, 4, 4, dtype=torch.float64) * torch.logspace(-3, 4, 50, dtype=torch.float64)[:, None, None]
    r = torch.randn(50, dtype=torch.float64) * 5
    A = stable_state_matrix(W, r, max_radius=0.9)
    rho = 0.9 * torch.sigmoid(r)
    norms = torch.linalg.matrix_norm(A, ord=2)
    assert bool((norms < rho).all()), "spectral norm below rho"
    assert float(torch.linalg.eigvals(A).abs().max()) < 0.9
    assert torch.equal(stable_state_matrix(torch.zeros(2, 2)), torch.zeros(2, 2))


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    rng = np.random.default_rng(8)
    A, B, C, D = (t64(v) for v in random_system(rng, 3))
    u = torch.randn(2, 100, dtype=torch.float64)
    for method in METHODS:
        expected = state_space_filter(A, B, C, D, u, method=method)
        actual = state_space_filter(A.to(device), B.to(device), C.to(device), D.to(device), u.to(device), method=method)
        assert actual.device.type == device
        assert_matches_reference(actual, to_numpy(expected))


def test_invalid_inputs_raise_naming_the_argument():
    A, v, u = torch.eye(2) * 0.5, torch.ones(2), torch.randn(10)
    with pytest.raises(ValueError, match="A:"):
        state_space_filter(torch.ones(2, 3), v, v, 0.0, u)
    with pytest.raises(ValueError, match="B:"):
        state_space_filter(A, torch.ones(3), v, 0.0, u)
    with pytest.raises(ValueError, match="A"):
        state_space_filter(A.expand(3, 2, 2), v, v, 0.0, u)       # 3 frames do not divide 10 samples
    with pytest.raises(ValueError, match="^state:"):
        state_space_filter(A, v, v, 0.0, u, torch.zeros(3))
    with pytest.raises(ValueError, match="method"):
        state_space_filter(A, v, v, 0.0, u, method="scan")
    with pytest.raises(ValueError, match="max_radius"):
        stable_state_matrix(torch.eye(2), max_radius=1.0)


def test_short_and_silent_inputs():
    A, v = torch.eye(2) * 0.5, torch.ones(2)
    for method in METHODS:
        assert state_space_filter(A, v, v, 1.0, torch.zeros(0), method=method).shape == (0,)
        y, xf = state_space_filter(A, v, v, 1.0, torch.ones(1), torch.ones(2), method=method)
        assert_matches_reference(y, np.array([3.0]))                    # C x0 + D u
        assert_matches_reference(xf, np.array([1.5, 1.5]))              # A x0 + B u
        assert torch.equal(state_space_filter(A, v, v, 1.0, torch.zeros(20), method=method), torch.zeros(20))


def test_block_method_handles_clustered_poles_of_high_order():
    """An 8-fold pole at 0.99 defeats the direct form even in float64; the block method stays exact."""
    x = torch.randn(20000, dtype=torch.float64)
    A = stable_state_matrix(1e4 * torch.eye(8, dtype=torch.float64))
    y = state_space_filter(A, torch.ones(8, dtype=torch.float64), torch.ones(8, dtype=torch.float64), 0.0, x,
                           method="block")
    single = 8 * scipy.signal.lfilter([0.0, 1.0], [1.0, -float(A[0, 0])], to_numpy(x))
    assert_matches_reference(y, single, rtol=1e-9, atol=1e-9)


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 4), scale=st.sampled_from([1.0, 1e2, 1e4]),
       pattern=st.sampled_from(["normal", "signs", "identity"]), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_property_stable_parameterisation_on_long_audio(seed, n, scale, pattern, dtype):
    """Unconstrained matrices (incl. +-1e4, clustered eigenvalues) -> poles inside, finite 10 s outputs/gradients."""
    rng = np.random.default_rng(seed)
    time, frames = 160000, 250

    def weight(*lead):
        if pattern == "identity":
            w = np.broadcast_to(np.eye(n), (*lead, n, n)) * rng.choice([-1.0, 1.0], size=(*lead, 1, 1))
        elif pattern == "signs":
            w = rng.choice([-1.0, 1.0], size=(*lead, n, n))
        else:
            w = rng.normal(size=(*lead, n, n))
        return torch.tensor(w * scale, dtype=dtype, requires_grad=True)

    W, Wt = weight(), weight(frames)
    radius = torch.tensor(rng.choice([-1.0, 1.0]) * scale, dtype=dtype, requires_grad=True)
    B, C = torch.tensor(rng.normal(size=n), dtype=dtype), torch.tensor(rng.normal(size=n), dtype=dtype)
    u = torch.tensor(rng.normal(size=time), dtype=dtype)
    A = stable_state_matrix(W, radius)
    _, a = state_space_to_tf(A.detach().double(), B.double(), C.double(), torch.tensor(0.0, dtype=torch.float64))
    assert np.abs(np.roots(to_numpy(a))).max() < 1
    assert float(torch.linalg.eigvals(stable_state_matrix(Wt).detach().double()).abs().max()) < 1
    check_finite_gradients(lambda W, r: state_space_filter(stable_state_matrix(W, r), B, C, 0.5, u), [W, radius])
    check_finite_gradients(lambda W: state_space_filter(stable_state_matrix(W), B, C, 0.5, u, method="block"), [Wt])
