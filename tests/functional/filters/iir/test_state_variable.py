"""Tests for torchddsp.functional.filters.iir.state_variable.

References: a float64 NumPy transcription of the TPT SVF state equations, sample by sample
(Zavalishin; Kuznetsov et al. 2020), the analytic magnitude responses of the bilinear-transformed
prototypes, and ``scipy.signal.ss2tf`` for the state-space form.
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
from torchddsp.functional.filters.iir.state_variable import (
    state_variable_filter,
    svf_coefficients,
    svf_controls_from_unconstrained,
    svf_state_space,
)

FS = 16000.0


def tpt_reference(x, cutoff, damping, lp, bp, hp, fs=FS, state=(0.0, 0.0)):
    """The TPT SVF, one sample at a time; controls are per-frame arrays held for len(x) / frames samples."""
    cutoff, damping, lp, bp, hp = (np.broadcast_to(np.atleast_1d(v), np.atleast_1d(cutoff).shape)
                                   for v in (cutoff, damping, lp, bp, hp))
    hop = x.shape[0] // cutoff.shape[0]
    s1, s2 = state
    y = np.zeros_like(x)
    for n in range(x.shape[0]):
        m = n // hop
        g, r = math.tan(math.pi * cutoff[m] / fs), damping[m]
        y_hp = (x[n] - (2 * r + g) * s1 - s2) / (1 + 2 * r * g + g * g)
        y_bp = g * y_hp + s1
        y_lp = g * y_bp + s2
        s1, s2 = 2 * y_bp - s1, 2 * y_lp - s2
        y[n] = lp[m] * y_lp + bp[m] * y_bp + hp[m] * y_hp
    return y, np.array([s1, s2])


def t64(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cutoff, damping", [(1000.0, 0.7071), (50.0, 0.05), (7500.0, 3.0), (300.0, 20.0)])
def test_biquad_matches_tpt_state_equations(dtype, cutoff, damping):
    rng = np.random.default_rng(int(cutoff))
    x = rng.normal(size=600)
    gains = rng.normal(size=3)
    y = state_variable_filter(torch.tensor(x, dtype=dtype), cutoff, damping, FS, *gains)
    expected, _ = tpt_reference(x, cutoff, damping, *gains)
    assert y.dtype == dtype
    tol = dict(rtol=1e-4, atol=2e-4) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-10)
    assert_matches_reference(y, expected, **tol)


@pytest.mark.parametrize("frames", [6, 600])
def test_time_varying_matches_tpt_state_equations(frames):
    rng = np.random.default_rng(frames)
    x = rng.normal(size=600)
    cutoff = rng.uniform(20, 7900, frames)
    damping = np.exp(rng.uniform(np.log(0.02), np.log(25), frames))
    lp, bp, hp = rng.normal(size=(3, frames))
    state = rng.normal(size=2)
    y, final = state_variable_filter(t64(x), t64(cutoff), t64(damping), FS, t64(lp), t64(bp), t64(hp),
                                     state=t64(state))
    y_ref, final_ref = tpt_reference(x, cutoff, damping, lp, bp, hp, state=state)
    assert_matches_reference(y, y_ref, rtol=1e-8, atol=1e-9)
    assert_matches_reference(final, final_ref, rtol=1e-8, atol=1e-9)
    # Only the cutoff varies; the rest fixed (numbers).
    y = state_variable_filter(t64(x), t64(cutoff), 0.3, FS, 0.0, 1.0, 0.0)
    assert_matches_reference(y, tpt_reference(x, cutoff, 0.3, 0.0, 1.0, 0.0)[0], rtol=1e-8, atol=1e-9)


def test_analytic_magnitude_responses():
    """|H(e^jw)| = |H_a(j W)| with W = tan(w/2) / tan(pi fc / fs) (bilinear transform, prewarped at fc)."""
    w = np.linspace(1e-3, math.pi - 1e-3, 512)
    for fc, r in [(500.0, 0.7071), (2000.0, 0.1), (6000.0, 2.0)]:
        big_w = np.tan(w / 2) / math.tan(math.pi * fc / FS)
        den = np.abs(-big_w ** 2 + 2j * r * big_w + 1)
        expected = {(1, 0, 0): 1 / den, (0, 1, 0): big_w / den, (0, 0, 1): big_w ** 2 / den,
                    (1, 0, 1): np.abs(1 - big_w ** 2) / den}
        for gains, magnitude in expected.items():
            b, a = svf_coefficients(torch.tensor(fc, dtype=torch.float64), r, FS, *gains)
            _, h = scipy.signal.freqz(to_numpy(b), to_numpy(a), worN=w)
            np.testing.assert_allclose(np.abs(h), magnitude, rtol=1e-9, atol=1e-12, err_msg=f"{gains} at {fc} Hz")
        b, a = svf_coefficients(torch.tensor(fc, dtype=torch.float64), r, FS, 0.0, 2 * r, 0.0)
        _, h = scipy.signal.freqz(to_numpy(b), to_numpy(a), worN=[fc], fs=FS)
        assert abs(abs(h[0]) - 1) < 1e-12, "unit-peak band-pass (c_BP = 2R) has gain 1 at the cutoff"


def test_state_space_form_has_the_biquad_transfer_function():
    rng = np.random.default_rng(1)
    cutoff, damping, gains = 1234.0, 0.4, rng.normal(size=3)
    A, B, C, D = (to_numpy(v) for v in svf_state_space(torch.tensor(cutoff, dtype=torch.float64), damping, FS, *gains))
    b_ref, a_ref = scipy.signal.ss2tf(A, B[:, None], C[None, :], np.array([[float(D)]]))
    b, a = svf_coefficients(torch.tensor(cutoff, dtype=torch.float64), damping, FS, *gains)
    assert_matches_reference(b, b_ref[0], rtol=1e-9, atol=1e-12)
    assert_matches_reference(a, a_ref, rtol=1e-9, atol=1e-12)
    # The TPT state matrix never expands the state (stability under modulation).
    g = np.logspace(-4, 3, 60)[:, None]
    r = np.logspace(-3, 3, 60)[None, :]
    cutoff_grid = np.broadcast_to(FS / math.pi * np.arctan(g), (60, 60))     # tan(pi fc / fs) = g
    A = svf_state_space(t64(cutoff_grid), t64(np.broadcast_to(r, (60, 60))), FS)[0]
    assert float(torch.linalg.matrix_norm(A, ord=2).max()) <= 1 + 1e-12


def test_streaming_blocks_equal_one_call():
    rng = np.random.default_rng(2)
    x = t64(rng.normal(size=(2, 480)))
    cutoff = t64(rng.uniform(100, 5000, size=(2, 12)))
    rest = torch.zeros(2, 2, dtype=torch.float64)
    assert_streaming_equivalent(                                     # block edges on frame edges (hop 40)
        lambda lo, hi, state: state_variable_filter(x[:, lo:hi], cutoff[:, lo // 40:hi // 40], 0.5, FS, 1.0, 0.5,
                                                    0.2, state=state),
        480, rest, [40, 160, 280])
    assert_streaming_equivalent(
        lambda lo, hi, state: state_variable_filter(x[:, lo:hi], 900.0, 0.5, FS, state=state),
        480, rest, [77, 403])


def test_gradcheck_fixed_and_time_varying():
    x = torch.randn(2, 24, dtype=torch.float64, requires_grad=True)
    cutoff = torch.tensor([800.0, 3000.0], dtype=torch.float64, requires_grad=True)
    damping = torch.tensor([0.3, 1.5], dtype=torch.float64, requires_grad=True)
    gains = [torch.randn(2, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    check_gradcheck(lambda x, c, d, l, b, h: state_variable_filter(x, c, d, FS, l, b, h), [x, cutoff, damping, *gains])
    cutoff_tv = torch.tensor([[800.0, 2000.0, 500.0, 4000.0]] * 2, dtype=torch.float64, requires_grad=True)
    damping_tv = torch.tensor([[0.3, 1.5, 0.1, 4.0]] * 2, dtype=torch.float64, requires_grad=True)
    state = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda x, c, d, l, s: state_variable_filter(x, c, d, FS, l, 0.3, 0.1, state=s)[0],
                    [x, cutoff_tv, damping_tv, gains[0], state])
    raw = torch.randn(3, dtype=torch.float64, requires_grad=True)
    raw2 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda u, v: torch.cat(svf_controls_from_unconstrained(u, v, FS)), [raw, raw2])


def test_batch_consistency():
    x = torch.randn(3, 120, dtype=torch.float64)
    cutoff = torch.rand(3, 6, dtype=torch.float64) * 5000 + 100
    damping = torch.rand(3, dtype=torch.float64) + 0.1
    check_batch_consistency(lambda x, c, d: state_variable_filter(x, c, d, FS, 1.0, 0.3, 0.0), [x, cutoff, damping])
    check_batch_consistency(lambda x, d: state_variable_filter(x, 700.0, d, FS), [x, damping])


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    x = torch.randn(2, 96, dtype=torch.float64)
    cutoff = torch.rand(2, 4, dtype=torch.float64) * 5000 + 100
    expected = state_variable_filter(x, cutoff, 0.4, FS)
    actual = state_variable_filter(x.to(device), cutoff.to(device), 0.4, FS)
    assert actual.device.type == device
    assert_matches_reference(actual, to_numpy(expected))


def test_invalid_controls_raise_naming_the_argument():
    x = torch.randn(32)
    for cutoff in [FS / 2, FS, 0.0, -1.0, float("nan")]:
        with pytest.raises(ValueError, match="cutoff"):
            state_variable_filter(x, torch.tensor([1000.0, cutoff]), 0.5, FS)
    with pytest.raises(ValueError, match="cutoff"):
        svf_coefficients(FS / 2 + 1, 0.5, FS)
    for damping in [0.0, -0.1, float("inf")]:
        with pytest.raises(ValueError, match="damping"):
            state_variable_filter(x, 1000.0, damping, FS)
    with pytest.raises(ValueError, match="cutoff"):
        state_variable_filter(x, torch.full((5,), 1000.0), 0.5, FS)       # 5 frames do not divide 32 samples
    with pytest.raises(ValueError, match="^state:"):
        state_variable_filter(x, 1000.0, 0.5, FS, state=torch.zeros(3))
    with pytest.raises(ValueError, match="max_cutoff"):
        svf_controls_from_unconstrained(torch.zeros(1), torch.zeros(1), FS, max_cutoff=FS / 2)


def test_short_silent_and_extreme_inputs():
    assert state_variable_filter(torch.zeros(0), 1000.0, 0.5, FS).shape == (0,)
    assert torch.equal(state_variable_filter(torch.zeros(100), 1000.0, 0.5, FS), torch.zeros(100))
    x = torch.randn(4000, dtype=torch.float64)
    for cutoff, damping in [(1e-3, 1e-3), (FS / 2 - 1e-3, 1e3), (1e-3, 1e3), (FS / 2 - 1e-3, 1e-3)]:
        y = state_variable_filter(x, cutoff, damping, FS, 1.0, 1.0, 1.0)
        assert_finite(y)
        b, a = svf_coefficients(torch.tensor(cutoff, dtype=torch.float64), damping, FS)
        assert np.abs(np.roots(to_numpy(a))).max() < 1       # valid in exact arithmetic, and in float64


def test_modulation_stays_bounded_where_a_switched_biquad_diverges():
    """Cutoff and damping jumping between extremes every 64 samples: the TPT form stays bounded."""
    rng = np.random.default_rng(3)
    frames = 500
    cutoff = t64(np.where(rng.random(frames) < 0.5, 20.0, 0.49 * FS))
    damping = t64(np.where(rng.random(frames) < 0.5, 0.02, 25.0))
    x = t64(rng.normal(size=frames * 64))
    y = state_variable_filter(x, cutoff, damping, FS)
    assert float(y.abs().max()) < 1e3


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1.0, 100.0, 1e4]), saturate=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_property_unconstrained_controls_are_stable_on_long_audio(seed, scale, saturate, dtype):
    """Any real network outputs (incl. +-1e4) -> poles inside the unit circle, finite 10 s outputs and gradients."""
    rng = np.random.default_rng(seed)
    time, frames = 160000, 2500

    def raw(*shape):
        values = rng.choice([-1.0, 1.0], size=shape) if saturate else rng.normal(size=shape)
        return torch.tensor(values * scale, dtype=dtype, requires_grad=True)

    u_cut, u_damp, gains = raw(frames), raw(frames), raw(3, frames)
    cutoff, damping = svf_controls_from_unconstrained(u_cut, u_damp, FS)
    assert float(cutoff.detach().min()) > 0 and float(cutoff.detach().max()) < FS / 2
    assert float(damping.detach().min()) > 0
    _, a = svf_coefficients(cutoff.detach(), damping.detach(), FS)
    a = to_numpy(a).astype(np.float64)
    disc = a[:, 1] ** 2 - 4 * a[:, 2]
    roots = np.stack([(-a[:, 1] + np.sqrt(disc + 0j)) / 2, (-a[:, 1] - np.sqrt(disc + 0j)) / 2])
    assert np.abs(roots).max() < 1
    x = torch.tensor(rng.normal(size=time), dtype=dtype)
    check_finite_gradients(lambda u, v, g: state_variable_filter(x, *svf_controls_from_unconstrained(u, v, FS), FS,
                                                                 g[0], g[1], g[2]), [u_cut, u_damp, gains])
