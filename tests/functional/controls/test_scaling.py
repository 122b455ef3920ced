"""Tests for torchddsp.functional.controls.scaling (control scalings, Engel et al. 2020).

References are float64 NumPy/SciPy transcriptions of the docstring equations, plus a few values
known independently of any formula in this project (A4 = 440 Hz = MIDI 69, middle C, -6 dB).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from torchddsp.functional.controls.scaling import (
    amplitude_to_db,
    db_to_amplitude,
    exp_sigmoid,
    hz_to_midi,
    midi_to_hz,
    normalize_distribution,
    unit_to_hz,
)


def _rand(*shape, dtype=torch.float64, device="cpu", seed=0, low=-1.0, high=1.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g, dtype=torch.float64) * (high - low) + low
    return x.to(dtype=dtype, device=device)


# ----------------------------------------------------------------------------- references

def ref_exp_sigmoid(x, exponent=10.0, max_value=2.0, threshold=1e-7):
    return max_value * expit(np.asarray(x, np.float64)) ** np.log(exponent) + threshold


def ref_normalize(w, axis=-1, eps=1e-12):
    w = np.asarray(w, np.float64)
    return w / np.maximum(w.sum(axis=axis, keepdims=True), eps)


def ref_hz_to_midi(f):
    f = np.asarray(f, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = 12.0 * np.log2(f / 440.0) + 69.0
    return np.where(f > 0, m, 0.0)


def ref_midi_to_hz(n):
    return 440.0 * 2.0 ** ((np.asarray(n, np.float64) - 69.0) / 12.0)


def ref_unit_to_hz(x, hz_min=20.0, hz_max=8000.0):
    # A logarithmic (MIDI) scale between hz_min and hz_max is geometric interpolation.
    return hz_min * (hz_max / hz_min) ** np.asarray(x, np.float64)


def ref_amplitude_to_db(a, min_db=-120.0):
    return np.maximum(20.0 * np.log10(np.maximum(np.abs(np.asarray(a, np.float64)), 1e-300)), min_db)


# ----------------------------------------------------------------------------- exp_sigmoid

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("exponent,max_value,threshold", [(10.0, 2.0, 1e-7), (4.0, 1.0, 0.0), (100.0, 5.0, 1e-3)])
def test_exp_sigmoid_matches_reference(device, dtype, exponent, max_value, threshold):
    x = _rand(3, 50, 4, low=-12, high=12, dtype=dtype, device=device)
    y = exp_sigmoid(x, exponent=exponent, max_value=max_value, threshold=threshold)
    assert y.dtype == dtype and y.device.type == device
    assert_matches_reference(y, ref_exp_sigmoid(to_numpy(x).astype(np.float64), exponent, max_value, threshold))


def test_exp_sigmoid_known_values():
    # sigmoid(0) = 1/2, so y(0) = max * 2**-ln(e) + threshold; x -> +inf gives max + threshold.
    y = exp_sigmoid(torch.tensor([0.0, 60.0], dtype=torch.float64), exponent=10.0, max_value=2.0, threshold=1e-7)
    assert_matches_reference(y, np.array([2.0 * 0.5 ** math.log(10.0) + 1e-7, 2.0 + 1e-7]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=20),
       st.floats(1.5, 1e3), st.floats(1e-3, 1e3))
def test_exp_sigmoid_stays_in_documented_range(values, exponent, max_value):
    # The docstring promises (threshold, max_value + threshold) for every real x (we allow the
    # closed ends because sigmoid saturates in floating point).
    threshold = 1e-7
    y = exp_sigmoid(torch.tensor(values, dtype=torch.float64), exponent=exponent, max_value=max_value,
                    threshold=threshold)
    assert_finite(y)
    assert bool((y >= threshold).all()) and bool((y <= max_value + threshold).all()), y


def test_exp_sigmoid_gradcheck():
    x = _rand(2, 7, low=-6, high=6).requires_grad_()
    check_gradcheck(lambda t: exp_sigmoid(t), [x])
    check_gradcheck(lambda t: exp_sigmoid(t, exponent=3.0, max_value=1.5, threshold=0.0), [x])


def test_exp_sigmoid_batch_consistency():
    check_batch_consistency(exp_sigmoid, [_rand(4, 10, 3, low=-5, high=5)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_sigmoid_extreme_inputs_default_exponent(dtype):
    x = torch.tensor([-1e4, -200.0, -50.0, 0.0, 50.0, 1e4], dtype=dtype, requires_grad=True)
    y = check_finite_gradients(exp_sigmoid, [x])
    assert float(y.detach().min()) >= 1e-7 * (1 - 1e-6)
    assert float(y.detach().max()) <= 2.0 + 1e-6


@pytest.mark.parametrize("exponent", [2.0, 1.5])
def test_regression_exp_sigmoid_gradient_is_nan_for_small_exponent_at_very_negative_x(exponent):
    """Regression (a bug found by review, fixed in scaling.py).

    ``sigmoid(x) ** ln(e)`` with ``1 < e < e_Euler`` (so ``0 < ln(e) < 1``) has the backward
    ``ln(e) * sigmoid(x) ** (ln(e) - 1) * sigmoid'(x)`` = inf * 0 = NaN once ``sigmoid(x)``
    underflows to 0 (x below about -104 in float32, -745 in float64). Valid exponent, valid x,
    NaN gradient. Fix: compute ``max_value * exp(ln(e) * logsigmoid(x)) + threshold``.
    """
    x = torch.tensor([-1000.0, -150.0, 0.0], dtype=torch.float32, requires_grad=True)
    check_finite_gradients(lambda t: exp_sigmoid(t, exponent=exponent), [x])


@pytest.mark.parametrize("exponent", [0.5, 1.0])
def test_regression_exp_sigmoid_exponent_at_most_one_is_accepted_but_breaks_the_range(exponent):
    """Regression (a bug found by review, fixed in scaling.py).

    ``exponent`` is only checked to be > 0. With ``exponent < 1``, ``ln(e) < 0`` and
    ``sigmoid(x) ** ln(e)`` exceeds 1 (inf as x -> -inf), breaking the documented range
    ``(threshold, max_value + threshold)``; with ``exponent == 1`` the output is a constant with
    zero gradient. Fix: require ``exponent > 1`` and raise ``ValueError`` naming ``exponent``.
    """
    x = torch.tensor([-200.0, -5.0, 0.0, 5.0], dtype=torch.float64)
    try:
        y = exp_sigmoid(x, exponent=exponent)
    except ValueError as err:
        assert "exponent" in str(err)
        return
    assert bool(torch.isfinite(y).all()) and float(y.max()) <= 2.0 + 1e-7, \
        f"exponent={exponent} accepted but output {y.tolist()} leaves the documented range"
    assert float(y.max() - y.min()) > 0, f"exponent={exponent} accepted but output is constant"


@pytest.mark.parametrize("kwargs,name", [
    (dict(exponent=0.0), "exponent"), (dict(exponent=-2.0), "exponent"), (dict(exponent=float("nan")), "exponent"),
    (dict(max_value=0.0), "max_value"), (dict(max_value=-1.0), "max_value"),
    (dict(max_value=float("inf")), "max_value"), (dict(threshold=-1e-3), "threshold"),
])
def test_exp_sigmoid_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        exp_sigmoid(torch.zeros(3), **kwargs)


def test_exp_sigmoid_rejects_non_tensor_and_integer_tensor():
    with pytest.raises(ValueError, match="x"):
        exp_sigmoid([0.0, 1.0])
    with pytest.raises(ValueError, match="x"):
        exp_sigmoid(torch.arange(3))


# ----------------------------------------------------------------------------- normalize_distribution

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_normalize_distribution_matches_reference(device, dtype):
    w = _rand(2, 5, 16, low=0.0, high=3.0, dtype=dtype, device=device)
    for dim in (-1, 0, 1):
        y = normalize_distribution(w, dim=dim)
        assert_matches_reference(y, ref_normalize(to_numpy(w), axis=dim), what=f"dim={dim}")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0.0, 1e6, allow_nan=False), min_size=3, max_size=3), min_size=1, max_size=6))
def test_normalize_distribution_rows_sum_to_one_or_stay_zero(rows):
    w = torch.tensor(rows, dtype=torch.float64)
    y = normalize_distribution(w)
    assert_finite(y)
    sums = w.sum(-1)
    # Rows whose sum is below the eps=1e-12 floor are divided by the floor instead.
    expected = np.where(to_numpy(sums) > 1e-12, 1.0, to_numpy(sums) / 1e-12)
    np.testing.assert_allclose(to_numpy(y.sum(-1)), expected, rtol=1e-12, atol=1e-12)
    assert bool((y >= 0).all())


def test_normalize_distribution_silence_gives_zeros_not_nan():
    w = torch.zeros(2, 3, 8, dtype=torch.float64, requires_grad=True)
    y = check_finite_gradients(normalize_distribution, [w])
    assert bool((y == 0).all())


def test_normalize_distribution_gradcheck():
    w = _rand(2, 3, 6, low=0.1, high=2.0).requires_grad_()
    check_gradcheck(lambda t: normalize_distribution(t), [w])
    check_gradcheck(lambda t: normalize_distribution(t, dim=1), [w])


def test_normalize_distribution_batch_consistency():
    check_batch_consistency(normalize_distribution, [_rand(3, 10, 8, low=0.0, high=1.0)])


def test_normalize_distribution_bad_arguments():
    with pytest.raises(ValueError, match="weights"):
        normalize_distribution(torch.tensor(1.0))
    with pytest.raises(ValueError, match="weights"):
        normalize_distribution(np.ones(4))


# ----------------------------------------------------------------------------- pitch conversions

def test_pitch_known_values():
    # A4 = 440 Hz = MIDI 69; middle C (MIDI 60) = 440 * 2**(-9/12) = 261.6255653005986 Hz;
    # an octave is 12 semitones.
    f = torch.tensor([440.0, 261.6255653005986, 880.0, 55.0], dtype=torch.float64)
    assert_matches_reference(hz_to_midi(f), np.array([69.0, 60.0, 81.0, 33.0]), atol=1e-11)
    assert_matches_reference(midi_to_hz(torch.tensor([69.0, 60.0, 81.0, 33.0], dtype=torch.float64)), to_numpy(f))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_hz_to_midi_and_back_match_reference(device, dtype):
    f = _rand(3, 40, low=20.0, high=12000.0, dtype=dtype, device=device)
    f[0, :3] = 0.0  # 0 Hz (unvoiced) maps to 0
    m = hz_to_midi(f)
    assert_matches_reference(m, ref_hz_to_midi(to_numpy(f)))
    notes = _rand(3, 40, low=0.0, high=127.0, dtype=dtype, device=device)
    assert_matches_reference(midi_to_hz(notes), ref_midi_to_hz(to_numpy(notes)))


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-3, 1e5))
def test_midi_round_trip(frequency):
    f = torch.tensor([frequency], dtype=torch.float64)
    np.testing.assert_allclose(to_numpy(midi_to_hz(hz_to_midi(f))), [frequency], rtol=1e-12)


def test_hz_to_midi_zero_is_finite_with_finite_gradient():
    f = torch.tensor([0.0, 100.0, 440.0], dtype=torch.float64, requires_grad=True)
    m = check_finite_gradients(hz_to_midi, [f])
    assert float(m.detach()[0]) == 0.0


def test_pitch_gradcheck():
    f = _rand(2, 5, low=30.0, high=4000.0).requires_grad_()
    check_gradcheck(hz_to_midi, [f])
    n = _rand(2, 5, low=20.0, high=100.0).requires_grad_()
    check_gradcheck(midi_to_hz, [n])


def test_pitch_batch_consistency():
    check_batch_consistency(hz_to_midi, [_rand(3, 8, low=30.0, high=3000.0)])
    check_batch_consistency(midi_to_hz, [_rand(3, 8, low=20.0, high=100.0)])


def test_pitch_bad_arguments():
    with pytest.raises(ValueError, match="frequency"):
        hz_to_midi(440.0)
    with pytest.raises(ValueError, match="notes"):
        midi_to_hz(69)


# ----------------------------------------------------------------------------- unit_to_hz

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hz_min,hz_max", [(20.0, 8000.0), (50.0, 2000.0)])
def test_unit_to_hz_matches_reference(device, dtype, hz_min, hz_max):
    x = _rand(2, 30, low=0.0, high=1.0, dtype=dtype, device=device)
    assert_matches_reference(unit_to_hz(x, hz_min, hz_max), ref_unit_to_hz(to_numpy(x), hz_min, hz_max))


def test_unit_to_hz_end_points_and_geometric_midpoint():
    y = unit_to_hz(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), 20.0, 8000.0)
    assert_matches_reference(y, np.array([20.0, math.sqrt(20.0 * 8000.0), 8000.0]))


def test_unit_to_hz_gradcheck_and_batch():
    x = _rand(2, 6, low=0.0, high=1.0).requires_grad_()
    check_gradcheck(lambda t: unit_to_hz(t, 30.0, 3000.0), [x])
    check_batch_consistency(unit_to_hz, [_rand(3, 6, low=0.0, high=1.0)])


@pytest.mark.parametrize("kwargs,name", [(dict(hz_min=0.0), "hz_min"), (dict(hz_min=-5.0), "hz_min"),
                                         (dict(hz_max=0.0), "hz_max"), (dict(hz_min=500.0, hz_max=100.0), "hz_max"),
                                         (dict(hz_min=100.0, hz_max=100.0), "hz_max")])
def test_unit_to_hz_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        unit_to_hz(torch.rand(3), **kwargs)


# ----------------------------------------------------------------------------- decibels

def test_db_known_values():
    a = torch.tensor([1.0, 0.5, 10.0, -0.1, 0.0], dtype=torch.float64)
    expected = np.array([0.0, -6.020599913279624, 20.0, -20.0, -120.0])
    assert_matches_reference(amplitude_to_db(a), expected, atol=1e-12)
    assert_matches_reference(db_to_amplitude(torch.tensor([0.0, -20.0, 6.020599913279624], dtype=torch.float64)),
                             np.array([1.0, 0.1, 2.0]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("min_db", [-120.0, -80.0])
def test_amplitude_db_match_reference(device, dtype, min_db):
    a = _rand(2, 50, low=-2.0, high=2.0, dtype=dtype, device=device)
    a[0, :5] = 0.0
    a[1, :5] = 1e-9  # below the -80 dB floor and, for -120 dB, just above it
    assert_matches_reference(amplitude_to_db(a, min_db=min_db), ref_amplitude_to_db(to_numpy(a), min_db),
                             atol=1e-4 if dtype == torch.float32 else None)
    d = _rand(2, 50, low=-100.0, high=20.0, dtype=dtype, device=device)
    assert_matches_reference(db_to_amplitude(d), 10.0 ** (to_numpy(d).astype(np.float64) / 20.0))


@settings(max_examples=50, deadline=None)
@given(st.floats(-100.0, 60.0))
def test_db_round_trip(level):
    d = torch.tensor([level], dtype=torch.float64)
    np.testing.assert_allclose(to_numpy(amplitude_to_db(db_to_amplitude(d))), [level], atol=1e-10)


def test_amplitude_to_db_silence_is_finite_with_finite_gradient():
    a = torch.tensor([0.0, 0.0, 0.3], dtype=torch.float64, requires_grad=True)
    y = check_finite_gradients(amplitude_to_db, [a])
    assert float(y.detach()[0]) == -120.0


def test_db_gradcheck_and_batch():
    a = _rand(2, 6, low=0.05, high=2.0).requires_grad_()
    check_gradcheck(amplitude_to_db, [a])
    check_gradcheck(db_to_amplitude, [_rand(2, 6, low=-60.0, high=10.0).requires_grad_()])
    check_batch_consistency(amplitude_to_db, [_rand(3, 7, low=-1.0, high=1.0)])
    check_batch_consistency(db_to_amplitude, [_rand(3, 7, low=-40.0, high=0.0)])


def test_db_bad_arguments():
    with pytest.raises(ValueError, match="amplitude"):
        amplitude_to_db(0.5)
    with pytest.raises(ValueError, match="db"):
        db_to_amplitude([0.0])
