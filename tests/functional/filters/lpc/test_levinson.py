"""Tests for torchddsp.functional.filters.lpc.levinson: autocorrelation, levinson_durbin, lpc.

References (float64, outside the project): ``numpy.correlate`` for the biased autocorrelation,
``scipy.linalg.solve_toeplitz`` for the normal equations (the reflection coefficient ``k_i`` is
the last coefficient of the order-``i`` solution, the error is ``r_0 + sum a_i r_i``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    seeded_randn,
    to_numpy,
)
from torchddsp.functional.filters.lpc import autocorrelation, levinson_durbin, lpc


def _ar_signal(shape, time, seed=0):
    """A coloured (AR(2)) signal, so the predictors are not trivially zero."""
    x = seeded_randn(*shape, time, seed=seed).numpy()
    import scipy.signal
    return torch.from_numpy(scipy.signal.lfilter([1.0], [1.0, -1.3, 0.8], x, axis=-1))


# ----------------------------------------------------------------------------- references

def ref_autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    x = np.asarray(x, np.float64)
    n = x.shape[-1]
    out = np.zeros(x.shape[:-1] + (max_lag + 1,))
    for idx in np.ndindex(*x.shape[:-1]):
        full = np.correlate(x[idx], x[idx], mode="full")[n - 1:] / n
        m = min(max_lag + 1, n)
        out[idx][:m] = full[:m]
    return out


def ref_levinson(r: np.ndarray, order: int):
    r = np.asarray(r, np.float64)
    a = np.zeros(r.shape[:-1] + (order,))
    k = np.zeros(r.shape[:-1] + (order,))
    err = np.zeros(r.shape[:-1])
    for idx in np.ndindex(*r.shape[:-1]):
        ri = r[idx]
        for i in range(1, order + 1):
            k[idx][i - 1] = scipy.linalg.solve_toeplitz(ri[:i], -ri[1:i + 1])[-1]
        if order:
            a[idx] = scipy.linalg.solve_toeplitz(ri[:order], -ri[1:order + 1])
        err[idx] = ri[0] + np.dot(a[idx], ri[1:order + 1])
    return a, k, err


def ref_autocorrelation_from_reflection(k: np.ndarray, r0: float = 1.0) -> np.ndarray:
    """Exact autocorrelation of the AR model with reflection coefficients ``k`` (inverse Levinson)."""
    r = [r0]
    a = np.zeros(0)
    for ki in k:                                   # order-i model satisfies r_i = -sum_j a^(i)_j r_{i-j}
        a = np.concatenate([a + ki * a[::-1], [ki]])
        i = len(a)
        r.append(-np.dot(a, np.asarray(r[::-1][:i])))
    return np.asarray(r)


# ----------------------------------------------------------------------------- autocorrelation

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["fft", "direct"])
@pytest.mark.parametrize("time,max_lag", [(400, 16), (37, 5), (5, 8), (1, 3), (64, 63)])
def test_autocorrelation_matches_numpy(device, dtype, method, time, max_lag):
    x = seeded_randn(2, 3, time, dtype=dtype, device=device)
    r = autocorrelation(x, max_lag, method=method)
    assert r.shape == (2, 3, max_lag + 1) and r.dtype == dtype and r.device.type == device
    assert_matches_reference(r, ref_autocorrelation(to_numpy(x), max_lag),
                             atol=1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_autocorrelation_gradcheck(method):
    x = seeded_randn(2, 9).requires_grad_()
    check_gradcheck(lambda x: autocorrelation(x, 4, method=method), [x])


def test_autocorrelation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_lag"):
        autocorrelation(torch.randn(10), -1)
    with pytest.raises(ValueError, match="method"):
        autocorrelation(torch.randn(10), 2, method="slow")
    with pytest.raises(ValueError, match="at least one sample"):
        autocorrelation(torch.randn(3, 0), 2)


# ----------------------------------------------------------------------------- levinson_durbin

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [1, 2, 8, 16])
def test_levinson_matches_solve_toeplitz(device, dtype, order):
    x = _ar_signal((3, 2), 400)
    r = torch.from_numpy(ref_autocorrelation(x.numpy(), order)).to(dtype=dtype, device=device)
    a, k, err = levinson_durbin(r)
    ra, rk, rerr = ref_levinson(r.double().cpu().numpy(), order)
    tol = dict(rtol=2e-3, atol=2e-4) if dtype == torch.float32 else dict(rtol=1e-8, atol=1e-10)
    assert a.shape == k.shape == (3, 2, order) and err.shape == (3, 2) and a.dtype == dtype
    assert_matches_reference(a, ra, what="a", **tol)
    assert_matches_reference(k, rk, what="k", **tol)
    assert_matches_reference(err, rerr, what="error", **tol)
    assert bool((k.abs() < 1).all())


def test_levinson_order_argument_and_white_noise():
    r = torch.from_numpy(ref_autocorrelation(_ar_signal((2,), 300).numpy(), 10))
    a, k, err = levinson_durbin(r, 4)
    ra, rk, rerr = ref_levinson(r.numpy(), 4)
    assert_matches_reference(a, ra, rtol=1e-9, atol=1e-12)
    # White-noise correction: identical to scaling r[0] by (1 + lambda).
    a, k, err = levinson_durbin(r, 6, white_noise=1e-3)
    r_scaled = r.numpy().copy()
    r_scaled[..., 0] *= 1.001
    ra, rk, rerr = ref_levinson(r_scaled, 6)
    assert_matches_reference(a, ra, rtol=1e-9, atol=1e-12)
    assert_matches_reference(err, rerr, rtol=1e-9, atol=1e-12)


def test_levinson_order_zero_and_one():
    r = torch.tensor([[2.0, 1.5, 0.3], [4.0, -1.0, 0.2]], dtype=torch.float64)
    a, k, err = levinson_durbin(r, 0)
    assert a.shape == k.shape == (2, 0)
    assert_matches_reference(err, r[:, 0].numpy())
    a, k, err = levinson_durbin(r, 1)
    assert_matches_reference(k[:, 0], (-r[:, 1] / r[:, 0]).numpy())
    assert_matches_reference(a, k.numpy())
    assert_matches_reference(err, (r[:, 0] - r[:, 1] ** 2 / r[:, 0]).numpy())


def test_levinson_gradcheck():
    r = torch.from_numpy(ref_autocorrelation(_ar_signal((2,), 64).numpy(), 5)).requires_grad_()
    check_gradcheck(lambda r: levinson_durbin(r), [r])
    check_gradcheck(lambda r: levinson_durbin(r, 3, white_noise=0.01), [r])


def test_lpc_gradcheck_wrt_signal():
    x = _ar_signal((2,), 40).requires_grad_()
    check_gradcheck(lambda x: lpc(x, 4), [x])


def test_levinson_batch_consistency():
    r = torch.from_numpy(ref_autocorrelation(_ar_signal((4, 3), 200).numpy(), 12))
    check_batch_consistency(lambda r: levinson_durbin(r), [r], rtol=1e-10, atol=1e-12)
    x = _ar_signal((3, 5), 160)
    check_batch_consistency(lambda x: lpc(x, 8), [x], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_levinson_silence_is_finite(dtype):
    """An all-zero frame has zero energy: k = a = E = 0 and finite gradients (documented rule)."""
    x = torch.zeros(3, 400, dtype=dtype)
    x[1] = seeded_randn(400, dtype=dtype)                  # a silent frame next to a normal one
    x.requires_grad_()
    a, k, err = check_finite_gradients(lambda x: lpc(x, 16), [x])
    assert bool((a[0] == 0).all() and (k[0] == 0).all() and (err[0] == 0))
    assert bool((a[1] != 0).any())
    r = torch.zeros(2, 17, dtype=dtype, requires_grad=True)
    out = check_finite_gradients(lambda r: levinson_durbin(r), [r])
    assert all(bool((o == 0).all()) for o in out)


def test_levinson_reflection_close_to_one():
    """Frames whose reflection coefficients approach +-1 are recovered (float64) and stay finite."""
    k_true = np.array([0.999, -0.999, 0.995, -0.9, 0.5, 0.9999])
    r = torch.from_numpy(ref_autocorrelation_from_reflection(k_true))
    a, k, err = levinson_durbin(r)
    assert_matches_reference(k, k_true, rtol=1e-6, atol=1e-8)
    # E_p / r_0 is about 1e-12 here: relative rounding of r is amplified by ~1/E_p, hence rtol 1e-2.
    assert_matches_reference(err, np.prod(1 - k_true ** 2), rtol=1e-2, atol=0)
    rf = r.float().requires_grad_()
    out = check_finite_gradients(lambda r: levinson_durbin(r), [rf])
    assert bool((out[1][:3].abs() < 1).all())


def test_lpc_very_short_frames():
    """Frames shorter than the order: the missing lags are zero and the result still solves the normal equations."""
    x = seeded_randn(4, 3)
    a, k, err = lpc(x, 8)
    ra, rk, rerr = ref_levinson(ref_autocorrelation(x.numpy(), 8), 8)
    assert_matches_reference(a, ra, rtol=1e-7, atol=1e-9)
    assert bool((k.abs() < 1).all())
    a1, _, _ = lpc(seeded_randn(2, 1), 4)                  # one sample: nothing to predict from
    assert bool((a1 == 0).all())


def test_levinson_rejects_bad_arguments():
    r = torch.rand(3, 5)
    with pytest.raises(ValueError, match="order: expected at most 4"):
        levinson_durbin(r, 5)
    with pytest.raises(ValueError, match="white_noise"):
        levinson_durbin(r, 2, white_noise=-1.0)
    with pytest.raises(ValueError, match="r: expected at least r\\[0\\]"):
        levinson_durbin(torch.rand(3, 0))
    with pytest.raises(ValueError, match="order"):
        lpc(torch.rand(10), -2)
