"""Tests for torchddsp.functional.core.phase.accumulate_phase (long-render phase accumulation).

Definition under test (docstring): phi[n] = phi0 + 2 pi sum_{m<=n} f[m] / sr, wrapped to [0, 2 pi).

Exact references for long renders never use a floating-point running sum (even float64 drifts
by ~1e-3 rad over 10 minutes at 48 kHz): a constant integer frequency uses integer modular
arithmetic, any float32 frequency track is summed exactly as integers (float32 values >= 1 in
magnitude are integer multiples of 2**-23), and a vibrato uses the closed form of the sum of a
sampled sinusoid. Phases are compared as angles: the difference is wrapped to (-pi, pi].
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from torchddsp.functional.core.phase import accumulate_phase

TWO_PI = 2.0 * math.pi


def angle_error(actual, expected) -> np.ndarray:
    """|actual - expected| as angles, i.e. the difference wrapped to (-pi, pi], in float64."""
    d = np.asarray(to_numpy(actual), np.float64) - np.asarray(expected, np.float64)
    d = np.mod(d + np.pi, TWO_PI) - np.pi
    return np.abs(d)


def assert_angles_close(actual, expected, tol: float, what: str = "phase") -> None:
    """Angles within ``tol``, and every value wrapped to one turn, ``[0, 2 pi]`` (a float32 value just
    below 2 pi may round to it), so that each parity test also sees the output range."""
    a = to_numpy(actual)
    if a.size:
        low, high = float(a.min()), float(a.max())
        turn = float(np.asarray(TWO_PI, a.dtype))                 # 2 pi rounded to the output's dtype
        assert 0.0 <= low and high <= turn, f"{what}: values in [{low}, {high}], expected within [0, 2 pi]"
    assert a.shape == np.shape(expected), f"{what}: shape {a.shape} differs from {np.shape(expected)}"
    err = angle_error(a, expected)
    worst = float(err.max()) if err.size else 0.0
    where = np.unravel_index(int(err.argmax()), err.shape) if err.size else None
    assert worst <= tol, f"{what}: max angle error {worst:.3e} rad at index {where} exceeds {tol:.1e}"


def ref_phase(frequency, sample_rate, initial_phase=0.0) -> np.ndarray:
    """Float64 NumPy transcription of the docstring equation (fine for short signals)."""
    f = np.asarray(to_numpy(frequency), np.float64)
    cycles = np.cumsum(f / sample_rate, axis=-1) + np.asarray(initial_phase, np.float64)[..., None] / TWO_PI
    return TWO_PI * np.mod(cycles, 1.0)


def exact_phase_of_float32(frequency32: np.ndarray, sample_rate: int) -> np.ndarray:
    """Exact wrapped phase of a float32 frequency track (|f| >= 1 Hz or f == 0), by integer sums."""
    scale = 2 ** 23
    k = frequency32.astype(np.float64) * scale
    assert np.array_equal(k, np.round(k)), "reference needs |f| >= 1 Hz so f * 2**23 is an integer"
    total = np.cumsum(k.astype(np.int64), axis=-1)          # exact: stays far below 2**63
    base = np.int64(sample_rate) * scale
    return TWO_PI * (np.mod(total, base) / base)


# ----------------------------------------------------------------------------- THE ACCEPTANCE TEST

def test_acceptance_440hz_for_10_minutes_at_48khz_float32_stays_within_1e_3_rad():
    sr, f0 = 48000, 440
    n_samples = 10 * 60 * sr
    frequency = torch.full((n_samples,), float(f0), dtype=torch.float32)
    phase = accumulate_phase(frequency, sr)
    assert phase.dtype == torch.float32 and phase.shape == (n_samples,)
    n = np.arange(1, n_samples + 1, dtype=np.int64)         # sample n has advanced n + 1 steps
    exact = TWO_PI * ((f0 * n) % sr) / sr
    err = angle_error(phase, exact)
    worst = float(err.max())
    assert worst <= 1e-3, f"phase drifted {worst:.3e} rad after 10 minutes (limit 1e-3)"
    # The docstring promises precision near float32 rounding of [0, 2 pi): keep well inside it.
    assert worst <= 1e-5, f"phase error {worst:.3e} rad is far above float32 resolution"
    # The check can fail: a plain float32 running sum is off by far more than the limit.
    naive = torch.remainder(TWO_PI * torch.cumsum(frequency / sr, dim=0), TWO_PI)
    assert float(angle_error(naive, exact).max()) > 1e-3


def vibrato(n_samples: int, sr: int, f0: int, depth: float, rate: int) -> np.ndarray:
    """f[m] = f0 + depth * sin(2 pi rate m / sr), with the angle reduced exactly (integer rate)."""
    m = np.arange(n_samples, dtype=np.int64)
    return f0 + depth * np.sin(TWO_PI * ((rate * m) % sr) / sr)


def vibrato_phase_closed_form(n_samples: int, sr: int, f0: int, depth: float, rate: int) -> np.ndarray:
    """2 pi sum_{m=0}^{n} f[m] / sr for the vibrato above, in closed form.

    sum_{m=0}^{n} sin(a m) = sin(a n / 2) sin(a (n + 1) / 2) / sin(a / 2), a = 2 pi rate / sr.
    """
    n = np.arange(n_samples, dtype=np.int64)
    carrier = ((f0 * (n + 1)) % sr) / sr                     # exact fractional cycles of the constant part
    half = lambda k: np.pi * ((rate * k) % (2 * sr)) / sr    # a k / 2, reduced exactly
    s = np.sin(half(n)) * np.sin(half(n + 1)) / np.sin(np.pi * rate / sr)
    return TWO_PI * (carrier + depth / sr * s)


def test_vibrato_float64_long_render_matches_closed_form():
    sr, f0, depth, rate = 48000, 440, 12.0, 5
    n_samples = 5 * 60 * sr
    frequency = torch.from_numpy(vibrato(n_samples, sr, f0, depth, rate))
    phase = accumulate_phase(frequency, sr)
    assert phase.dtype == torch.float64
    expected = vibrato_phase_closed_form(n_samples, sr, f0, depth, rate)
    assert_angles_close(phase, expected, 1e-6, "5-minute vibrato (float64)")


def test_vibrato_float32_long_render_matches_exact_integer_sum():
    sr = 48000
    n_samples = 5 * 60 * sr
    frequency32 = vibrato(n_samples, sr, 440, 12.0, 5).astype(np.float32)
    phase = accumulate_phase(torch.from_numpy(frequency32), sr)
    assert phase.dtype == torch.float32
    expected = exact_phase_of_float32(frequency32, sr)
    assert_angles_close(phase, expected, 1e-3, "5-minute vibrato (float32), acceptance limit")
    assert_angles_close(phase, expected, 1e-5, "5-minute vibrato (float32), float32 resolution")


def test_closed_form_reference_agrees_with_direct_sum_on_a_short_render():
    # Guards the reference itself: on a short render a float64 cumsum is accurate.
    sr, n_samples = 48000, 20000
    direct = TWO_PI * np.cumsum(vibrato(n_samples, sr, 440, 12.0, 5) / sr)
    assert float(angle_error(direct, vibrato_phase_closed_form(n_samples, sr, 440, 12.0, 5)).max()) < 1e-10
    f32 = vibrato(n_samples, sr, 440, 12.0, 5).astype(np.float32)
    direct32 = TWO_PI * np.cumsum(f32.astype(np.float64) / sr)
    assert float(angle_error(direct32, exact_phase_of_float32(f32, sr)).max()) < 1e-10


# ----------------------------------------------------------------------------- parity (short signals)

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_reference_across_block_boundaries(device, dtype):
    # 9000 samples cross two internal block boundaries; frequencies include negative values
    # and values above Nyquist; each batch item has its own initial phase.
    g = torch.Generator().manual_seed(0)
    sr = 16000.0
    f = (torch.rand(3, 9000, generator=g, dtype=torch.float64) * 22000 - 2000).to(dtype)
    phi0 = torch.tensor([0.0, 1.0, -20.0], dtype=dtype)
    out = accumulate_phase(f.to(device), sr, phi0.to(device))[0]
    assert out.dtype == dtype and out.shape == f.shape and out.device.type == device
    tol = 2e-6 if dtype == torch.float32 else 1e-9
    assert_angles_close(out, ref_phase(f, sr, phi0), tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_output_is_wrapped_to_one_turn(dtype):
    g = torch.Generator().manual_seed(1)
    f = (torch.rand(2, 6000, generator=g, dtype=torch.float64) * 40000 - 20000).to(dtype)
    out = accumulate_phase(f, 8000.0, state=123.0)[0]
    assert_finite(out)
    assert bool((out >= 0).all())
    # [0, 2 pi) in float64; in float32 a value just below 2 pi may round to float32(2 pi).
    top = torch.tensor(TWO_PI, dtype=dtype)
    assert bool((out < top).all()) if dtype == torch.float64 else bool((out <= top).all())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), sr=st.sampled_from([8000.0, 22050.0, 44100.0, 48000.0]),
       phi0=st.floats(-100.0, 100.0), seed=st.integers(0, 2**16))
def test_property_matches_reference(n, sr, phi0, seed):
    g = torch.Generator().manual_seed(seed)
    f = torch.rand(n, generator=g, dtype=torch.float64) * 2 * sr - sr / 2
    # (the state as a float64 tensor: a Python float is covered by a regression test below)
    out = accumulate_phase(f, sr, torch.tensor(phi0, dtype=torch.float64))[0]
    assert_angles_close(out, ref_phase(f, sr, np.float64(phi0)), 1e-9)


def test_regression_python_float_initial_phase_is_rounded_to_float32():
    """Regression (a bug found by review, fixed in phase.py).

    ``torch.as_tensor(state, device=...)`` turns a Python float into a tensor of the
    *default* dtype (float32) before ``.to(torch.float64)``, so a float64 render started from a
    Python-float phase is off by up to ``|phi0| * 6e-8`` rad (3e-9 rad for phi0 = 0.085, 6e-6 rad
    for phi0 = 100). Fix: ``torch.as_tensor(state, dtype=torch.float64,
    device=frequency.device)``.
    """
    f = torch.full((1, 100), 1234.56789, dtype=torch.float64)
    for phi0 in (0.08470168397477575, 1.0 / 3.0, 100.1):
        as_float = accumulate_phase(f, 8000.0, phi0)[0]
        assert_angles_close(as_float, ref_phase(f, 8000.0, np.array([phi0])), 1e-12,
                            f"state={phi0!r} passed as a Python float")


# ----------------------------------------------------------------------------- streaming

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_block_by_block_with_state_equals_one_shot(dtype, tol):
    sr = 16000
    n = 3 * sr
    t = torch.arange(n, dtype=torch.float64) / sr
    # a chirp from 100 Hz to 3 kHz and a vibrato, as a batch of two
    f = torch.stack([100 + (2900 / 3) * t, 330 + 20 * torch.sin(TWO_PI * 6 * t)]).to(dtype)
    phi0 = torch.tensor([0.3, 5.0], dtype=dtype)
    whole = accumulate_phase(f, sr, phi0)[0]
    sizes = [1, 63, 4096, 5000, 512, 1, 4095, 4097, 128]
    sizes.append(n - sum(sizes))
    state, pieces, start = phi0, [], 0
    for size in sizes:
        block, state = accumulate_phase(f[:, start:start + size], sr, state)
        assert state.dtype == torch.float64
        assert_angles_close(state, to_numpy(block[:, -1]), tol, "final state vs the block's last sample")
        pieces.append(block)
        start += size
    assert start == n
    assert_angles_close(torch.cat(pieces, dim=-1), to_numpy(whole), tol, "block-by-block vs one-shot")
    assert_angles_close(whole, ref_phase(f, sr, phi0), 1e-9 if dtype == torch.float64 else 2e-6, "one-shot")


# ----------------------------------------------------------------------------- edge cases

def test_zero_length_and_one_sample():
    assert accumulate_phase(torch.zeros(3, 0), 100.0).shape == (3, 0)
    assert accumulate_phase(torch.zeros(0), 100.0, 1.0)[0].shape == (0,)
    one = accumulate_phase(torch.tensor([[25.0]], dtype=torch.float64), 100.0, state=1.0)[0]
    np.testing.assert_allclose(to_numpy(one), [[1.0 + TWO_PI * 0.25]], rtol=0, atol=1e-12)


def test_silence_keeps_the_initial_phase():
    phi0 = torch.tensor([7.0, -1.0], dtype=torch.float64)
    out = accumulate_phase(torch.zeros(2, 5000, dtype=torch.float64), 44100.0, phi0)[0]
    expected = np.array([[7.0 - TWO_PI], [TWO_PI - 1.0]]) * np.ones((1, 5000))
    np.testing.assert_allclose(to_numpy(out), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(to_numpy(accumulate_phase(torch.zeros(10), 8000.0)), np.zeros(10), atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nyquist_and_above(dtype):
    sr, n = 8000, 10000
    idx = np.arange(1, n + 1)
    # Exactly Nyquist: the phase alternates pi, 0, pi, 0, ...
    nyq = accumulate_phase(torch.full((n,), sr / 2, dtype=dtype), sr)
    assert_angles_close(nyq, np.pi * (idx % 2), 1e-6)
    # The sample rate itself: the phase never moves.
    assert_angles_close(accumulate_phase(torch.full((n,), float(sr), dtype=dtype), sr), np.zeros(n), 1e-6)
    # 3/4 of the sample rate aliases to -1/4: the phase steps backwards a quarter turn.
    above = accumulate_phase(torch.full((n,), 0.75 * sr, dtype=dtype), sr)
    below = accumulate_phase(torch.full((n,), -0.25 * sr, dtype=dtype), sr)
    assert_angles_close(above, TWO_PI * ((3 * idx) % 4) / 4, 1e-6)
    assert_angles_close(above, to_numpy(below), 1e-6)


def test_negative_frequency_runs_backwards():
    f = torch.full((1000,), 250.0, dtype=torch.float64)
    fwd = accumulate_phase(f, 16000.0)
    back = accumulate_phase(-f, 16000.0)
    assert_angles_close(back, -to_numpy(fwd), 1e-10)


@pytest.mark.parametrize("initial_phase", [None, 0.0, 2, torch.tensor(0.0), torch.zeros(3), torch.zeros(2, 3),
                                           torch.zeros(2, 1)])
def test_initial_phase_forms(initial_phase):
    f = torch.full((2, 3, 50), 100.0, dtype=torch.float64)
    out = accumulate_phase(f, 1000.0, initial_phase)
    out = out if initial_phase is None else out[0]
    assert out.shape == f.shape
    start = 0.0 if initial_phase is None else float(torch.as_tensor(initial_phase).flatten()[0])
    assert_angles_close(out, start + TWO_PI * 0.1 * np.arange(1, 51) * np.ones((2, 3, 1)), 1e-10)


@pytest.mark.parametrize("freq_shape,phase_shape", [((3, 5), (3, 1)), ((2, 3, 5), (2,))])
def test_regression_initial_phase_shape_is_not_validated(freq_shape, phase_shape):
    """Regression (a bug found by review, fixed in phase.py).

    The initial phase (now ``state``) is documented as broadcastable to ``frequency.shape[:-1]`` but never
    checked. Shape ``(batch, 1)`` -- the natural shape next to a ``(batch, time)`` frequency --
    is ``unsqueeze(-1)``-ed to ``(batch, 1, 1)`` and broadcast against ``(batch, time)``,
    returning ``(batch, batch, time)`` without any error; shape ``(2,)`` against lead ``(2, 3)``
    fails deep inside with a RuntimeError that does not name the argument. Fix: check
    ``torch.broadcast_shapes(start.shape, lead) == tuple(lead)`` and otherwise raise
    ``ValueError`` naming the argument with both shapes.
    """
    f = torch.full(freq_shape, 100.0)
    try:
        out = accumulate_phase(f, 1000.0, torch.zeros(phase_shape))[0]
    except ValueError as err:
        assert str(err).startswith("state:")
        return
    assert out.shape == f.shape, f"frequency {tuple(f.shape)} gave phase of shape {tuple(out.shape)}"


@pytest.mark.parametrize("sample_rate", [0, -48000.0, float("nan"), float("inf"), "48000", None])
def test_bad_sample_rate(sample_rate):
    with pytest.raises(ValueError, match="sample_rate"):
        accumulate_phase(torch.zeros(10), sample_rate)


@pytest.mark.parametrize("frequency", [[440.0] * 4, np.full(4, 440.0), torch.tensor(440.0),
                                       torch.full((4,), 440, dtype=torch.int64)])
def test_bad_frequency(frequency):
    with pytest.raises(ValueError, match="frequency"):
        accumulate_phase(frequency, 48000)


def test_extreme_frequencies_are_finite_with_finite_gradients():
    f = torch.tensor([[1e9, -1e9, 0.0, 1e-30, 4.8e4, 1e12]], dtype=torch.float64, requires_grad=True)
    p0 = torch.tensor([1e6], dtype=torch.float64, requires_grad=True)
    out = check_finite_gradients(lambda a, b: torch.sin(accumulate_phase(a, 48000.0, b)[0]), [f, p0])
    assert_finite(out)


# ----------------------------------------------------------------------------- autograd

def test_gradcheck_raw_phase_away_from_wraps():
    g = torch.Generator().manual_seed(3)
    f = (torch.rand(2, 40, generator=g, dtype=torch.float64) * 900 + 100).requires_grad_()
    p0 = torch.tensor([0.4, 2.0], dtype=torch.float64, requires_grad=True)
    fn = lambda a, b: accumulate_phase(a, 8000.0, b)[0]
    # keep the check honest: no output may sit within the finite-difference step of a wrap
    cycles = to_numpy(fn(f, p0)) / TWO_PI
    assert np.min(np.minimum(cycles, 1 - cycles)) > 1e-6
    check_gradcheck(fn, [f, p0])


def test_gradcheck_through_sin_and_cos_across_wraps_and_blocks():
    # sin/cos are continuous across the 2 pi wrap, so gradcheck needs no care there; 4200 samples
    # cross an internal block boundary (fast mode keeps the Jacobian cheap).
    g = torch.Generator().manual_seed(4)
    f = (torch.rand(1, 4200, generator=g, dtype=torch.float64) * 3000).requires_grad_()
    p0 = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    fn = lambda a, b: torch.stack([torch.sin(accumulate_phase(a, 16000.0, b)[0]),
                                   torch.cos(accumulate_phase(a, 16000.0, b)[0])])
    check_gradcheck(fn, [f, p0], fast_mode=True)
    short = (torch.rand(2, 30, generator=g, dtype=torch.float64) * 8000 - 2000).requires_grad_()
    p0_batch = torch.tensor([1.0, -3.0], dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda a, b: torch.sin(accumulate_phase(a, 8000.0, b)[0]), [short, p0_batch])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_matches_analytic_formula_over_many_blocks(dtype):
    # d phi[n] / d f[m] = 2 pi / sr for m <= n, and d phi[n] / d phi0 = 1, so for a loss
    # sum_n w[n] phi[n]: dL/df[m] = 2 pi / sr * sum_{n >= m} w[n] and dL/dphi0 = sum_n w[n].
    sr, n = 48000.0, 13000
    g = torch.Generator().manual_seed(5)
    f = (torch.rand(2, n, generator=g, dtype=torch.float64) * 5000).to(dtype).requires_grad_()
    p0 = torch.tensor([0.5, 3.0], dtype=dtype, requires_grad=True)
    w = torch.randn(2, n, generator=g, dtype=torch.float64)
    (accumulate_phase(f, sr, p0)[0] * w.to(dtype)).sum().backward()
    wn = to_numpy(w)
    expected_f = TWO_PI / sr * np.cumsum(wn[:, ::-1], axis=-1)[:, ::-1]
    rtol = 1e-4 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(to_numpy(f.grad), expected_f, rtol=rtol, atol=rtol * np.abs(expected_f).max())
    np.testing.assert_allclose(to_numpy(p0.grad), wn.sum(-1), rtol=rtol, atol=rtol * np.abs(wn).sum())


# ----------------------------------------------------------------------------- batching

def test_batch_consistency_with_per_item_initial_phase():
    g = torch.Generator().manual_seed(6)
    f = torch.rand(3, 5000, generator=g, dtype=torch.float64) * 2000
    p0 = torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64)
    check_batch_consistency(lambda a, b: accumulate_phase(a, 16000.0, b)[0], [f, p0], rtol=0, atol=1e-10)
    check_batch_consistency(lambda a: accumulate_phase(a, 16000.0), [f.reshape(3, 2, 2500)], rtol=0, atol=1e-10)
