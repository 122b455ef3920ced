"""Tests for torchddsp.functional.filters.lpc.reflection.

References (float64 NumPy): a direct transcription of review Eq. 5 (step-up) and ``numpy.roots``
for stability. The step-down is checked as the inverse of the NumPy step-up.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

try:  # high-precision root location (Schur-Cohn); mpmath ships with torch's sympy dependency
    import mpmath
except ImportError:  # pragma: no cover
    mpmath = None
needs_mpmath = pytest.mark.skipif(mpmath is None, reason="mpmath is not installed")

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
from torchddsp.functional.filters.lpc import is_stable, lpc_to_reflection, reflection_from_logits, reflection_to_lpc


def ref_step_up(k: np.ndarray) -> np.ndarray:
    """Review Eq. 5: a^(i)_i = k_i, a^(i)_m = a^(i-1)_m + k_i a^(i-1)_{i-m}, evaluated per item."""
    k = np.asarray(k, np.float64)
    out = np.zeros_like(k)
    p = k.shape[-1]
    for idx in np.ndindex(*k.shape[:-1]):
        prev = np.zeros(0)
        for i in range(1, p + 1):
            cur = np.zeros(i)
            for m in range(1, i + 1):
                cur[m - 1] = k[idx][i - 1] if m == i else prev[m - 1] + k[idx][i - 1] * prev[i - m - 1]
            prev = cur
        out[idx] = prev
    return out


def max_root_radius(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    out = np.zeros(a.shape[:-1])
    for idx in np.ndindex(*a.shape[:-1]):
        out[idx] = np.abs(np.roots(np.concatenate([[1.0], a[idx]]))).max() if a.shape[-1] else 0.0
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [1, 2, 5, 16])
def test_step_up_matches_eq5(device, dtype, order):
    k = (0.95 * torch.tanh(seeded_randn(3, 4, order))).to(dtype=dtype, device=device)
    a = reflection_to_lpc(k)
    assert a.shape == k.shape and a.dtype == dtype and a.device.type == device
    assert_matches_reference(a, ref_step_up(to_numpy(k)), atol=1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [1, 3, 16])
def test_step_down_inverts_reference_step_up(device, dtype, order):
    # The step-down divides by 1 - k_i^2 at every stage, so float32 errors grow with |k|; 0.7 keeps them small.
    k_true = 0.7 * np.tanh(seeded_randn(5, order).numpy())
    a = torch.from_numpy(ref_step_up(k_true)).to(dtype=dtype, device=device)
    k = lpc_to_reflection(a)
    assert_matches_reference(k, k_true, rtol=1e-3 if dtype == torch.float32 else 1e-9,
                             atol=1e-4 if dtype == torch.float32 else 1e-11)


def test_step_down_of_unstable_polynomial():
    """Unstable (but not marginal) polynomials round-trip too, with some |k| > 1."""
    k_true = np.array([[0.5, 1.5, -0.3], [-2.0, 0.1, 0.7]])
    a = torch.from_numpy(ref_step_up(k_true))
    assert_matches_reference(lpc_to_reflection(a), k_true, rtol=1e-10, atol=1e-12)
    assert not bool(is_stable(a).any())


def test_gradcheck():
    k = (0.8 * torch.tanh(seeded_randn(2, 5))).requires_grad_()
    check_gradcheck(reflection_to_lpc, [k])
    a = torch.from_numpy(ref_step_up(0.8 * np.tanh(seeded_randn(2, 5, seed=1).numpy()))).requires_grad_()
    check_gradcheck(lpc_to_reflection, [a])
    logits = (3 * seeded_randn(3, 4)).requires_grad_()
    check_gradcheck(lambda x: reflection_from_logits(x, 0.99), [logits])
    check_gradcheck(lambda x: reflection_to_lpc(reflection_from_logits(x)), [logits])


def test_batch_consistency():
    k = 0.9 * torch.tanh(seeded_randn(4, 3, 8))
    check_batch_consistency(reflection_to_lpc, [k], rtol=1e-12, atol=1e-14)
    check_batch_consistency(lpc_to_reflection, [reflection_to_lpc(k)], rtol=1e-10, atol=1e-12)
    check_batch_consistency(lambda a: is_stable(a).double(), [reflection_to_lpc(1.2 * torch.tanh(seeded_randn(4, 6)))])


def test_order_zero_and_one():
    empty = torch.zeros(3, 0, dtype=torch.float64)
    assert reflection_to_lpc(empty).shape == (3, 0)
    assert lpc_to_reflection(empty).shape == (3, 0)
    assert bool(is_stable(empty).all())
    k = torch.tensor([[0.3], [-0.99], [1.2]], dtype=torch.float64)
    assert_matches_reference(reflection_to_lpc(k), k.numpy())
    assert_matches_reference(lpc_to_reflection(k), k.numpy())
    assert is_stable(k).tolist() == [True, True, False]


def test_is_stable_matches_numpy_roots():
    g = np.random.default_rng(3)
    a = torch.from_numpy(g.normal(scale=0.6, size=(200, 6)))
    radius = max_root_radius(a.numpy())
    keep = np.abs(radius - 1) > 1e-6                  # ignore ties too close to call
    assert keep.sum() > 150 and 0 < (radius < 1).sum() < 200
    assert is_stable(a).numpy()[keep].tolist() == (radius < 1)[keep].tolist()


def test_marginal_polynomial_is_unstable_without_nan():
    a = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.2, -1.0]], dtype=torch.float64)   # k_3 = +-1: roots on the circle
    assert is_stable(a).tolist() == [False, False]
    assert bool(is_stable(torch.tensor([[float("nan"), 0.1]])) == torch.tensor([False]))


def test_reflection_from_logits_range():
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([-1e30, -1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4, 1e30], dtype=dtype)
        k = reflection_from_logits(x)
        assert bool((k.abs() < 1).all()), k
        assert_matches_reference(k, 0.999 * np.tanh(x.double().numpy()), dtype=dtype)
        assert bool((reflection_from_logits(x, 0.5).abs() <= 0.5).all())
    with pytest.raises(ValueError, match="max_magnitude"):
        reflection_from_logits(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="max_magnitude"):
        reflection_from_logits(torch.zeros(3), 0.0)


def test_reflection_close_to_one_is_finite():
    k = torch.tensor([[0.9999, -0.9999, 0.9999, 0.999]], dtype=torch.float32, requires_grad=True)
    a = check_finite_gradients(reflection_to_lpc, [k])
    back = lpc_to_reflection(reflection_to_lpc(k.double()))
    # Each step-down stage amplifies rounding by about 1 / (1 - k^2) = 5e3 here.
    assert_matches_reference(back, k.detach().double().numpy(), rtol=1e-4, atol=1e-6)
    assert bool(is_stable(reflection_to_lpc(k.detach().double())).all())
    # In float32 the rounded direct form of these k is already unstable (poles within ~1e-8 of the circle):
    # the reason lpc_synthesis(kind="reflection") uses a lattice.
    assert not bool(is_stable(a.detach().double()).all())


def exact_reflection(a) -> list:
    """Step-down (Schur-Cohn) in 200-digit arithmetic on the exact values of ``a``."""
    with mpmath.workdps(200):
        cur = [mpmath.mpf(float(v)) for v in a]
        ks = []
        while cur:
            ks.append(cur[-1])
            head = cur[:-1]
            cur = [(head[j] - ks[-1] * head[-1 - j]) / (1 - ks[-1] ** 2) for j in range(len(head))]
        return ks[::-1]


def exact_step_up(k) -> list:
    with mpmath.workdps(200):
        a = []
        for ki in k:
            ki = mpmath.mpf(float(ki))
            a = [a[m] + ki * a[len(a) - 1 - m] for m in range(len(a))] + [ki]
        return a


LOGITS = st.lists(st.floats(-1e30, 1e30, allow_nan=False, allow_infinity=False), min_size=20, max_size=20)


@needs_mpmath
@settings(max_examples=12, deadline=None, derandomize=True)
@given(order=st.integers(1, 20), logits=LOGITS)
def test_property_any_logits_give_reflection_coefficients_of_a_stable_filter(order, logits):
    """Any real logits -> |k| < 1 (float32 and float64) -> the polynomial of review Eq. 5 has every root
    strictly inside |z| = 1 (Schur-Cohn, exact arithmetic); our float64 step-up is that polynomial up to rounding."""
    for dtype in (torch.float32, torch.float64):
        k = reflection_from_logits(torch.tensor(logits[:order], dtype=dtype))
        assert bool((k.abs() < 1).all())
    exact = exact_step_up(k)
    with mpmath.workdps(200):
        assert all(abs(v) < 1 for v in k.tolist())              # Schur-Cohn: the exact polynomial is stable
        scale = float(max(abs(v) for v in exact)) + 1.0
        worst = float(max(abs(mpmath.mpf(float(x)) - v) for x, v in zip(reflection_to_lpc(k), exact)))
    assert worst <= 1e-13 * order * scale, f"step-up rounding {worst:.3e} for order {order}"


@needs_mpmath
@settings(max_examples=12, deadline=None, derandomize=True)
@given(order=st.integers(1, 12), logits=LOGITS)
def test_property_direct_form_roots_inside_unit_circle(order, logits):
    """Logits -> reflection coefficients (max_magnitude 0.9) -> float64 direct form: every root of the
    rounded polynomial strictly inside the unit circle (exact Schur-Cohn; numpy.roots where it resolves it).

    The domain is where this holds in float64: with more |k| close to 1 or higher orders the exact poles
    come within rounding distance of the circle and the rounded direct form can be unstable (see
    ``test_saturated_reflection_direct_form_unstable_lattice_finite`` and the docs), which is why
    ``lpc_synthesis(kind="reflection")`` renders with a lattice.
    """
    k = reflection_from_logits(torch.tensor(logits[:order], dtype=torch.float64), 0.9)
    a = reflection_to_lpc(k)
    assert all(abs(v) < 1 for v in exact_reflection(a.tolist()))
    assert bool(is_stable(a))
    if order <= 8:                                            # margin > 1e-10: numpy.roots resolves it
        assert max_root_radius(a.numpy()) < 1.0
