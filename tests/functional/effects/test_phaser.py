"""Tests for torchddsp.functional.effects.phaser.

References: ``scipy.signal.lfilter`` / ``freqz`` of the closed-loop transfer function built with
``numpy.polymul`` (fixed break frequency), a float64 NumPy transcription of the frame-based
algorithm of Carson et al. (2023) (loop over frames, ``numpy.fft``), and float64 NumPy loops over
samples for the time-varying cascade without and with the delay-free feedback loop.
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
    assert_matches_reference,
    assert_streaming_equivalent,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from torchddsp.functional.effects.phaser import (
    feedback_from_unconstrained,
    lfo_break_frequency,
    phaser,
    phaser_exact,
    phaser_num_frames,
    phaser_response,
)
from torchddsp.functional.filters.iir.allpass import break_frequency_from_unconstrained

FS = 16000.0


def coefficient(f):
    t = np.tan(np.pi * np.asarray(f) / FS)
    return (t - 1) / (t + 1)


def closed_loop(freqs, dry, wet, feedback):
    """(b, a) of dry + wet P / (1 - g P), P = prod_k (a_k + z^-1) / (1 + a_k z^-1), by polynomial products."""
    num, den = np.array([1.0]), np.array([1.0])
    for a in coefficient(freqs):
        num, den = np.polymul(num, [a, 1.0]), np.polymul(den, [1.0, a])
    loop = den - feedback * num
    return dry * loop + wet * num, loop


def framewise_reference(x, freqs, dry, wet, feedback, frame_length, hop, n_fft):
    """Carson et al.: Hann-windowed segments, each multiplied by its sampled H^(m), overlap-added; freqs (F, K)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)
    frames = freqs.shape[0]
    lead = frame_length - hop
    padded = np.zeros((frames - 1) * hop + frame_length)
    padded[lead:lead + x.shape[0]] = x
    out = np.zeros((frames - 1) * hop + n_fft)
    for m in range(frames):
        b, a = closed_loop(freqs[m], dry, wet, feedback)
        _, h = scipy.signal.freqz(b, a, worN=n_fft // 2 + 1, whole=False, include_nyquist=True)
        segment = padded[m * hop:m * hop + frame_length] * window
        out[m * hop:m * hop + n_fft] += np.fft.irfft(np.fft.rfft(segment, n_fft) * h, n_fft)
    constant = window.reshape(-1, hop).sum(0).mean()
    return out[lead:lead + x.shape[0]] / constant


def cascade_loop(x, coeffs, dry, wet):
    """Per-sample direct form I all-pass cascade, coeffs (time, stages), then the dry/wet mix."""
    v = x
    for k in range(coeffs.shape[1]):
        y, xp, yp = np.zeros_like(v), 0.0, 0.0
        for n in range(v.shape[0]):
            y[n] = coeffs[n, k] * v[n] + xp - coeffs[n, k] * yp
            xp, yp = v[n], y[n]
        v = y
    return dry * x + wet * v


def lattice_feedback_loop(x, coeffs, dry, wet, feedback, state=None):
    """Normalised sections s' = -a s + k v, y = k s + a v; the delay-free loop u = x + g y_K solved per sample."""
    stages = coeffs.shape[1]
    s = np.zeros(stages) if state is None else state.copy()
    out = np.zeros_like(x)
    for n in range(x.shape[0]):
        a = coeffs[n]
        k = np.sqrt(1 - a * a)
        free = 0.0                                  # cascade output for u = 0 ...
        for j in range(stages):
            free = k[j] * s[j] + a[j] * free
        u = (x[n] + feedback * free) / (1 - feedback * np.prod(a))   # ... plus prod(a) * u
        v = u
        for j in range(stages):
            y = k[j] * s[j] + a[j] * v
            s[j] = -a[j] * s[j] + k[j] * v
            v = y
        out[n] = dry * x[n] + wet * v
    return out, s


def t64(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


# ----------------------------------------------------------------------------- framewise


@pytest.mark.parametrize("feedback", [0.0, 0.7])
@pytest.mark.parametrize("frame_length, hop, n_fft", [(64, 32, 128), (64, 16, 256), (48, 24, 64)])
def test_framewise_matches_numpy_transcription(feedback, frame_length, hop, n_fft):
    rng = np.random.default_rng(frame_length + hop)
    time, stages = 500, 3
    frames = phaser_num_frames(time, frame_length, hop)
    x = rng.normal(size=time)
    freqs = np.exp(rng.uniform(np.log(50), np.log(7000), size=(frames, stages)))
    y = phaser(t64(x), t64(freqs), FS, frame_length=frame_length, hop_length=hop, n_fft=n_fft,
               dry_gain=0.8, wet_gain=-0.6, feedback=feedback)
    expected = framewise_reference(x, freqs, 0.8, -0.6, feedback, frame_length, hop, n_fft)
    assert_matches_reference(y, expected, rtol=1e-9, atol=1e-11)


def test_dry_only_reconstructs_the_input():
    """With the wet path off, the COLA overlap-add must return the signal exactly (incl. both ends)."""
    x = torch.randn(2, 1000, dtype=torch.float64)
    frames = phaser_num_frames(1000, 128, 32)
    y = phaser(x, torch.full((2, frames, 4), 500.0, dtype=torch.float64), FS, frame_length=128, hop_length=32,
               dry_gain=1.0, wet_gain=0.0)
    assert_matches_reference(y, to_numpy(x))


@pytest.mark.parametrize("stages", [1, 4, 8])
@pytest.mark.parametrize("feedback", [0.0, 0.5, -0.7])
def test_framewise_and_exact_agree_for_constant_break_frequency(stages, feedback):
    rng = np.random.default_rng(stages)
    time, frame_length, hop = 4000, 256, 128
    x = t64(rng.normal(size=(2, time)))
    f = t64([[600.0], [2500.0]]).expand(2, stages)
    frames = phaser_num_frames(time, frame_length, hop)
    framewise = phaser(x, f[:, None, :].expand(2, frames, stages), FS, frame_length=frame_length, hop_length=hop,
                       n_fft=4096, dry_gain=0.5, wet_gain=0.5, feedback=feedback)
    exact = phaser_exact(x, f, FS, dry_gain=0.5, wet_gain=0.5, feedback=feedback)
    exact_framed = phaser_exact(x, f[:, None, :].expand(2, 40, stages), FS, dry_gain=0.5, wet_gain=0.5,
                                feedback=torch.tensor(feedback, dtype=torch.float64))
    b, a = closed_loop(to_numpy(f[0]), 0.5, 0.5, feedback)
    # scipy runs the expanded order-K polynomial in direct form: with 8 clustered poles it is the
    # less accurate side (about 1e-9), hence the looser tolerance for this reference only.
    assert_matches_reference(exact[0], scipy.signal.lfilter(b, a, to_numpy(x[0])), rtol=1e-7, atol=1e-8)
    assert_matches_reference(framewise, to_numpy(exact), rtol=1e-8, atol=1e-9)
    assert_matches_reference(exact_framed, to_numpy(exact), rtol=1e-8, atol=1e-9)


def test_response_matches_freqz_of_the_closed_loop():
    freqs = np.array([[150.0, 900.0, 3000.0], [40.0, 40.0, 40.0]])
    h = phaser_response(t64(freqs), FS, 512, dry_gain=1.0, wet_gain=0.7, feedback=t64([0.3, -0.6]))
    for i, g in enumerate([0.3, -0.6]):
        b, a = closed_loop(freqs[i], 1.0, 0.7, g)
        _, expected = scipy.signal.freqz(b, a, worN=257, include_nyquist=True)
        assert_matches_reference(h[i], expected, rtol=1e-9, atol=1e-11)


# ----------------------------------------------------------------------------- exact, time-varying


@pytest.mark.parametrize("steps", [300, 10])
def test_exact_time_varying_without_feedback_matches_sample_loop(steps):
    rng = np.random.default_rng(steps)
    x = rng.normal(size=300)
    freqs = np.exp(rng.uniform(np.log(30), np.log(7500), size=(steps, 4)))
    y = phaser_exact(t64(x), t64(freqs), FS, dry_gain=0.4, wet_gain=1.1)
    expected = cascade_loop(x, coefficient(np.repeat(freqs, 300 // steps, axis=0)), 0.4, 1.1)
    assert_matches_reference(y, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("steps", [300, 12])
def test_exact_time_varying_with_feedback_matches_sample_loop(steps):
    rng = np.random.default_rng(steps + 1)
    x = rng.normal(size=300)
    freqs = np.exp(rng.uniform(np.log(30), np.log(7500), size=(steps, 3)))
    state = rng.normal(size=3)
    y, final = phaser_exact(t64(x), t64(freqs), FS, dry_gain=0.4, wet_gain=1.1, feedback=0.8, zi=t64(state))
    expected, final_ref = lattice_feedback_loop(x, coefficient(np.repeat(freqs, 300 // steps, axis=0)), 0.4, 1.1,
                                                0.8, state)
    assert_matches_reference(y, expected, rtol=1e-9, atol=1e-10)
    assert_matches_reference(final, final_ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("feedback", [0.0, 0.6])
def test_exact_blocks_with_state_equal_one_call(feedback):
    rng = np.random.default_rng(5)
    x = t64(rng.normal(size=(2, 480)))
    freqs = t64(np.exp(rng.uniform(np.log(50), np.log(5000), size=(2, 480, 4))))
    state = torch.zeros((2, 4, 2) if feedback == 0 else (2, 4), dtype=torch.float64)
    assert_streaming_equivalent(
        lambda lo, hi, state: phaser_exact(x[:, lo:hi], freqs[:, lo:hi], FS, feedback=feedback, zi=state),
        480, state, [5, 235, 240])


# ----------------------------------------------------------------------------- autograd, batch, device


def test_gradcheck_framewise():
    time, frame_length, hop = 24, 8, 4
    frames = phaser_num_frames(time, frame_length, hop)
    x = torch.randn(time, dtype=torch.float64, requires_grad=True)
    f = (torch.rand(frames, 2, dtype=torch.float64) * 3000 + 200).requires_grad_()
    gains = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.7, 0.5, 0.4)]
    check_gradcheck(lambda x, f, d, w, g: phaser(x, f, FS, frame_length=frame_length, hop_length=hop, n_fft=16,
                                                 dry_gain=d, wet_gain=w, feedback=g), [x, f, *gains])


def test_gradcheck_exact():
    x = torch.randn(12, dtype=torch.float64, requires_grad=True)
    f = (torch.rand(3, 2, dtype=torch.float64) * 3000 + 200).requires_grad_()
    gains = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.7, 0.5, 0.4)]
    check_gradcheck(lambda x, f, d, w: phaser_exact(x, f, FS, dry_gain=d, wet_gain=w), [x, f, *gains[:2]])
    state = torch.randn(2, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda x, f, d, w, g, s: phaser_exact(x, f, FS, dry_gain=d, wet_gain=w, feedback=g, zi=s)[0],
                    [x, f, *gains, state])
    raw = torch.randn(3, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda r: lfo_break_frequency(16, 100.0, r, 100.0, 2000.0, phase=0.3), [raw])


def test_batch_consistency():
    time, frame_length, hop = 300, 64, 32
    frames = phaser_num_frames(time, frame_length, hop)
    x = torch.randn(3, time, dtype=torch.float64)
    f = torch.rand(3, frames, 2, dtype=torch.float64) * 3000 + 100
    feedback = torch.tensor([0.1, -0.5, 0.8], dtype=torch.float64)
    check_batch_consistency(lambda x, f, g: phaser(x, f, FS, frame_length=frame_length, hop_length=hop, feedback=g),
                            [x, f, feedback])
    ft = torch.rand(3, 30, 2, dtype=torch.float64) * 3000 + 100
    check_batch_consistency(lambda x, f, g: phaser_exact(x, f, FS, feedback=g), [x, ft, feedback])
    check_batch_consistency(lambda x, f: phaser_exact(x, f, FS), [x, ft])


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    x = torch.randn(2, 512, dtype=torch.float64)
    frames = phaser_num_frames(512, 64, 32)
    f = torch.rand(2, frames, 3, dtype=torch.float64) * 3000 + 100
    expected = phaser(x, f, FS, frame_length=64, hop_length=32, feedback=0.3)
    actual = phaser(x.to(device), f.to(device), FS, frame_length=64, hop_length=32, feedback=0.3)
    assert actual.device.type == device
    assert_matches_reference(actual, to_numpy(expected))
    expected = phaser_exact(x, f[:, :16], FS, feedback=0.3)
    actual = phaser_exact(x.to(device), f[:, :16].to(device), FS, feedback=0.3)
    assert_matches_reference(actual, to_numpy(expected))


# ----------------------------------------------------------------------------- edge cases


def test_invalid_inputs_raise_naming_the_argument():
    x = torch.randn(256)
    frames = phaser_num_frames(256, 64, 32)
    good = torch.full((frames, 2), 500.0)
    for bad in [FS / 2, 9000.0, 0.0]:
        f = good.clone()
        f[3, 1] = bad
        with pytest.raises(ValueError, match="break_frequency"):
            phaser(x, f, FS, frame_length=64, hop_length=32)
        with pytest.raises(ValueError, match="break_frequency"):
            phaser_exact(x, f[:8], FS)
    with pytest.raises(ValueError, match="break_frequency"):
        phaser(x, good[:-1], FS, frame_length=64, hop_length=32)       # wrong number of frames
    with pytest.raises(ValueError, match="window"):
        phaser(x, torch.full((phaser_num_frames(256, 64, 48), 2), 500.0), FS, frame_length=64, hop_length=48)
    with pytest.raises(ValueError, match="feedback"):
        phaser(x, good, FS, frame_length=64, hop_length=32, feedback=1.0)
    with pytest.raises(ValueError, match="feedback"):
        phaser_exact(x, good[0], FS, feedback=-1.5)
    with pytest.raises(ValueError, match="n_fft"):
        phaser(x, good, FS, frame_length=64, hop_length=32, n_fft=32)
    with pytest.raises(ValueError, match="dry_gain"):
        phaser_exact(x, good[0], FS, dry_gain=torch.ones(256))
    with pytest.raises(ValueError, match="max_feedback"):
        feedback_from_unconstrained(torch.zeros(1), max_feedback=1.0)


def test_short_and_silent_inputs():
    f1 = torch.full((phaser_num_frames(0, 64, 32), 2), 500.0)
    assert phaser(torch.zeros(0), f1, FS, frame_length=64, hop_length=32).shape == (0,)
    assert phaser_exact(torch.zeros(0), torch.full((2,), 500.0), FS, feedback=0.5).shape == (0,)
    f3 = torch.full((phaser_num_frames(3, 64, 32), 2), 500.0)
    assert phaser(torch.ones(3), f3, FS, frame_length=64, hop_length=32).shape == (3,)
    silent = phaser(torch.zeros(300), torch.full((phaser_num_frames(300, 64, 32), 2), 500.0), FS,
                    frame_length=64, hop_length=32, feedback=0.9)
    assert float(silent.abs().max()) == 0.0


def test_lfo_sweeps_between_its_limits():
    f = lfo_break_frequency(400, 100.0, torch.tensor([0.5, 2.0]), 200.0, 3000.0)
    assert f.shape == (2, 400)
    assert float(f.min()) >= 200.0 - 1e-3 and float(f.max()) <= 3000.0 + 1e-3
    assert float(f.max()) > 2900.0 and float(f.min()) < 210.0
    assert torch.allclose(f[1, :50], f[1, 50:100], rtol=1e-4)                  # 2 Hz at 100 frames/s: period 50


@settings(max_examples=2, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1.0, 100.0, 1e4]), saturate=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_property_unconstrained_controls_are_stable_on_long_audio(seed, scale, saturate, dtype):
    """Any real network outputs (incl. +-1e4) -> closed-loop poles inside, finite 10 s outputs and gradients."""
    rng = np.random.default_rng(seed)
    time, stages = 160000, 4

    def raw(*shape):
        values = rng.choice([-1.0, 1.0], size=shape) if saturate else rng.normal(size=shape)
        return torch.tensor(values * scale, dtype=dtype, requires_grad=True)

    x = torch.tensor(rng.normal(size=time), dtype=dtype)
    frames = phaser_num_frames(time, 1024, 512)
    u_frame, u_exact, u_feedback = raw(frames, stages), raw(500, stages), raw()
    f = break_frequency_from_unconstrained(u_exact.detach()[:20], FS).double()
    g = float(feedback_from_unconstrained(u_feedback.detach()))
    for row in to_numpy(f):
        _, a = closed_loop(row, 1.0, 1.0, g)
        assert np.abs(np.roots(a)).max() < 1
    check_finite_gradients(lambda u, v: phaser(x, break_frequency_from_unconstrained(u, FS), FS, frame_length=1024,
                                               hop_length=512, feedback=feedback_from_unconstrained(v)),
                           [u_frame, u_feedback])
    check_finite_gradients(lambda u: phaser_exact(x, break_frequency_from_unconstrained(u, FS), FS), [u_exact])
    check_finite_gradients(lambda u, v: phaser_exact(x, break_frequency_from_unconstrained(u, FS), FS,
                                                     feedback=feedback_from_unconstrained(v)), [u_exact, u_feedback])
