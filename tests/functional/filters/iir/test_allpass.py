"""Tests for torchddsp.functional.filters.iir.allpass.

References: ``scipy.signal.bilinear`` of the analog all-pass (break-frequency mapping),
``scipy.signal.freqz`` (unit magnitude), ``scipy.signal.lfilter`` section by section (fixed
coefficients) and a float64 NumPy loop over samples (time-varying direct form I).
"""

from __future__ import annotations

import math

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
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from torchddsp.functional.filters.iir.allpass import (
    allpass_cascade,
    allpass_coefficient_from_break_frequency,
    break_frequency_from_unconstrained,
    first_order_allpass_coefficients,
    second_order_allpass_cascade,
    second_order_allpass_coefficients,
)
from torchddsp.functional.filters.iir.biquad import first_order_activation, triangle_activation


def allpass_denominator_from_unconstrained(u1, u2):
    """Stable (a1, a2) on the last axis from any real values (biquad.triangle_activation)."""
    return torch.stack(triangle_activation(u1, u2), dim=-1)

FS = 16000.0


def cascade_reference(x: np.ndarray, sections) -> np.ndarray:
    for b, a in sections:
        x = scipy.signal.lfilter(b, a, x)
    return x


def tv_first_order_reference(x: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """Per-sample direct form I: y[n] = a[n] v[n] + v[n-1] - a[n] y[n-1], stage after stage; coeffs (time, stages)."""
    for k in range(coeffs.shape[1]):
        y = np.zeros_like(x)
        xp = yp = 0.0
        for n in range(x.shape[0]):
            y[n] = coeffs[n, k] * x[n] + xp - coeffs[n, k] * yp
            xp, yp = x[n], y[n]
        x = y
    return x


# ----------------------------------------------------------------------------- coefficients


@pytest.mark.filterwarnings("ignore::scipy.signal.BadCoefficients")   # a = 0 at fs/4: scipy warns on b[0] = 0
def test_break_frequency_mapping_matches_scipy_bilinear():
    for f in [5.0, 100.0, 1000.0, 4000.0, 7000.0, 7999.0]:
        wp = 2 * FS * math.tan(math.pi * f / FS)                   # prewarped analog break frequency
        bz, az = scipy.signal.bilinear([-1.0, wp], [1.0, wp], fs=FS)  # (w - s) / (w + s)
        bz = np.concatenate([np.zeros(2 - len(bz)), bz])                # scipy drops a leading zero (a = 0)
        a = allpass_coefficient_from_break_frequency(torch.tensor(f, dtype=torch.float64), FS)
        b_ours, a_ours = first_order_allpass_coefficients(a)
        assert_matches_reference(b_ours, bz / az[0], what=f"b at {f} Hz")
        assert_matches_reference(a_ours, az / az[0], what=f"a at {f} Hz")
        _, h = scipy.signal.freqz(to_numpy(b_ours), to_numpy(a_ours), worN=[f], fs=FS)
        assert abs(np.angle(h[0]) + math.pi / 2) < 1e-9, "phase at the break frequency is -pi/2"


def test_magnitude_response_is_exactly_one():
    rng = np.random.default_rng(0)
    coeffs = torch.tensor(rng.uniform(-0.999, 0.999, size=6), dtype=torch.float64)
    denominators = allpass_denominator_from_unconstrained(torch.tensor(rng.normal(size=3) * 3),
                                                          torch.tensor(rng.normal(size=3) * 3))
    for b, a in [first_order_allpass_coefficients(c) for c in coeffs] + \
                [second_order_allpass_coefficients(d) for d in denominators]:
        _, h = scipy.signal.freqz(to_numpy(b), to_numpy(a), worN=2048)
        np.testing.assert_allclose(np.abs(h), 1.0, rtol=0, atol=1e-10)   # freqz rounding near poles
    # The whole cascade's impulse response has unit magnitude spectrum too (it decays well within 8192 samples).
    impulse = torch.zeros(8192, dtype=torch.float64)
    impulse[0] = 1
    h = allpass_cascade(impulse, coeffs.clamp(-0.9, 0.9))
    np.testing.assert_allclose(np.abs(np.fft.rfft(to_numpy(h))), 1.0, rtol=0, atol=1e-10)


def test_second_order_coefficients_reverse_the_denominator():
    d = torch.tensor([[-1.2, 0.5], [0.3, -0.4]], dtype=torch.float64)
    b, a = second_order_allpass_coefficients(d)
    assert_matches_reference(b, to_numpy(a)[:, ::-1].copy())


# ----------------------------------------------------------------------------- filtering


@pytest.mark.parametrize("dtype", DTYPES)
def test_first_order_cascade_matches_scipy(dtype):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 500))
    coeffs = rng.uniform(-0.95, 0.95, size=(3, 4))
    y = allpass_cascade(torch.tensor(x, dtype=dtype), torch.tensor(coeffs, dtype=dtype))
    expected = np.stack([cascade_reference(x[i], [([c, 1.0], [1.0, c]) for c in coeffs[i]]) for i in range(3)])
    assert_matches_reference(y, expected, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_second_order_cascade_matches_scipy(dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 400))
    den = to_numpy(allpass_denominator_from_unconstrained(torch.tensor(rng.normal(size=(2, 3))),
                                                          torch.tensor(rng.normal(size=(2, 3)))))
    y = second_order_allpass_cascade(torch.tensor(x, dtype=dtype), torch.tensor(den, dtype=dtype))
    expected = np.stack([cascade_reference(x[i], [([d[1], d[0], 1.0], [1.0, d[0], d[1]]) for d in den[i]])
                         for i in range(2)])
    assert_matches_reference(y, expected, dtype=dtype)


@pytest.mark.parametrize("steps", [240, 8, 1])
def test_time_varying_cascade_matches_sample_loop(steps):
    rng = np.random.default_rng(3)
    x = rng.normal(size=240)
    coeffs = rng.uniform(-0.99, 0.99, size=(steps, 3))
    y = allpass_cascade(torch.tensor(x), torch.tensor(coeffs))
    assert_matches_reference(y, tv_first_order_reference(x, np.repeat(coeffs, 240 // steps, axis=0)))


@pytest.mark.parametrize("varying", [False, True])
def test_blocks_with_state_equal_one_call(varying):
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(2, 300)))
    coeffs = torch.tensor(rng.uniform(-0.9, 0.9, size=(2, 300, 3) if varying else (2, 3)))
    state = torch.zeros(2, 3, 2 if varying else 1, dtype=torch.float64)
    assert_streaming_equivalent(
        lambda lo, hi, state: allpass_cascade(x[:, lo:hi], coeffs[:, lo:hi] if varying else coeffs, state),
        300, state, [7, 143, 150])
    d = allpass_denominator_from_unconstrained(torch.randn(2, 2, dtype=torch.float64),
                                               torch.randn(2, 2, dtype=torch.float64))
    whole = second_order_allpass_cascade(x, d)
    first, state = second_order_allpass_cascade(x[:, :100], d, torch.zeros(2, 2, 2, dtype=torch.float64))
    second, _ = second_order_allpass_cascade(x[:, 100:], d, state)
    assert_matches_reference(torch.cat([first, second], -1), to_numpy(whole))


def test_gradcheck_first_order():
    x = torch.randn(2, 24, dtype=torch.float64, requires_grad=True)
    c = torch.empty(2, 3, dtype=torch.float64).uniform_(-0.8, 0.8).requires_grad_()
    check_gradcheck(allpass_cascade, [x, c])
    ctv = torch.empty(2, 4, 2, dtype=torch.float64).uniform_(-0.8, 0.8).requires_grad_()
    zi = torch.randn(2, 2, 2, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda x, c, z: allpass_cascade(x, c, z)[0], [x, ctv, zi])


def test_gradcheck_second_order_and_parameterisations():
    x = torch.randn(20, dtype=torch.float64, requires_grad=True)
    r = torch.randn(2, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda x, r, t: second_order_allpass_cascade(x, allpass_denominator_from_unconstrained(r, t)),
                    [x, r, t])
    u = torch.randn(3, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda u: first_order_activation(u), [u])
    check_gradcheck(lambda u: allpass_coefficient_from_break_frequency(break_frequency_from_unconstrained(u, FS), FS),
                    [u])


def test_batch_consistency():
    x = torch.randn(3, 64, dtype=torch.float64)
    c = torch.empty(3, 8, 2, dtype=torch.float64).uniform_(-0.9, 0.9)
    check_batch_consistency(allpass_cascade, [x, c])
    d = allpass_denominator_from_unconstrained(torch.randn(3, 2, dtype=torch.float64),
                                               torch.randn(3, 2, dtype=torch.float64))
    check_batch_consistency(second_order_allpass_cascade, [x, d])


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    x = torch.randn(2, 128, dtype=torch.float64)
    c = torch.empty(2, 3, dtype=torch.float64).uniform_(-0.9, 0.9)
    expected = allpass_cascade(x, c)
    actual = allpass_cascade(x.to(device), c.to(device))
    assert actual.device.type == device
    assert_matches_reference(actual, to_numpy(expected))


# ----------------------------------------------------------------------------- edge cases


def test_invalid_inputs_raise_naming_the_argument():
    x = torch.randn(16)
    with pytest.raises(ValueError, match="coefficients"):
        allpass_cascade(x, torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="coefficients"):
        allpass_cascade(x, torch.tensor([0.5, float("nan")]))
    with pytest.raises(ValueError, match="denominators"):
        second_order_allpass_cascade(x, torch.tensor([[1.5, 0.4]]))   # |a1| >= 1 + a2
    for f in [FS / 2, FS, 0.0, -5.0]:
        with pytest.raises(ValueError, match="break_frequency"):
            allpass_coefficient_from_break_frequency(torch.tensor([100.0, f]), FS)
    with pytest.raises(ValueError, match="max_frequency"):
        break_frequency_from_unconstrained(torch.zeros(2), FS, max_frequency=FS / 2)
    with pytest.raises(ValueError, match="coefficients"):
        allpass_cascade(x, torch.zeros(5, 2))   # time-varying (2-D for 1-D x): 5 frames do not divide 16 samples
    with pytest.raises(ValueError, match="zi"):
        allpass_cascade(x, torch.zeros(2), torch.zeros(2, 2))


def test_short_and_silent_inputs():
    c = torch.tensor([0.3, -0.7])
    assert allpass_cascade(torch.zeros(0), c).shape == (0,)
    assert allpass_cascade(torch.ones(1), c).shape == (1,)
    assert torch.equal(allpass_cascade(torch.zeros(50), c), torch.zeros(50))
    extremes = allpass_coefficient_from_break_frequency(torch.tensor([1e-3, FS / 2 - 1e-3], dtype=torch.float64), FS)
    assert bool((extremes.abs() < 1).all())


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1.0, 100.0, 1e4]),
       saturate=st.booleans(), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_property_parameterisations_are_stable_on_long_audio(seed, scale, saturate, dtype):
    """Unconstrained values (including +-1e4) -> |a| < 1, poles inside, finite 10 s outputs and gradients."""
    rng = np.random.default_rng(seed)
    time, frames, stages = 160000, 2500, 4

    def raw(*shape):
        values = rng.choice([-1.0, 1.0], size=shape) if saturate else rng.normal(size=shape)
        return torch.tensor(values * scale, dtype=dtype, requires_grad=True)

    x = torch.tensor(rng.normal(size=time), dtype=dtype)
    u_coeff, u_freq, u_r, u_t = raw(frames, stages), raw(frames, stages), raw(stages), raw(stages)
    a1 = first_order_activation(u_coeff)
    a2 = allpass_coefficient_from_break_frequency(break_frequency_from_unconstrained(u_freq, FS), FS)
    den = allpass_denominator_from_unconstrained(u_r, u_t)
    assert float(a1.detach().abs().max()) < 1 and float(a2.detach().abs().max()) < 1
    for d in to_numpy(den).astype(np.float64):
        assert np.abs(np.roots([1.0, d[0], d[1]])).max() < 1
    check_finite_gradients(lambda c: allpass_cascade(x, c), [a1])
    check_finite_gradients(lambda u: allpass_cascade(x, allpass_coefficient_from_break_frequency(
        break_frequency_from_unconstrained(u, FS), FS)), [u_freq])
    out = check_finite_gradients(lambda r, t: second_order_allpass_cascade(
        x, allpass_denominator_from_unconstrained(r, t)), [u_r, u_t])
    assert_finite(out)
