"""Tests for torchddsp.functional.filters.iir.parametric_eq: cookbook biquads, parametric_eq, eq_controls_from_logits.

References: the Audio EQ Cookbook equations transcribed in float64 NumPy (below, written from the
equations with the textbook ``1 +- cos`` form), ``scipy.signal.butter`` (Q = 1/sqrt(2) low/high-pass),
``scipy.signal.iirnotch`` / ``iirpeak`` (equal designs once their bandwidth convention is mapped to
Q), and response checks with ``scipy.signal.freqz`` (gain at f0, DC, Nyquist; unit all-pass).
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
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
)
from torchddsp.functional.filters.iir.parametric_eq import (
    FILTER_TYPES,
    allpass_biquad,
    bandpass_biquad,
    biquad_design,
    eq_controls_from_logits,
    highpass_biquad,
    highshelf_biquad,
    lowpass_biquad,
    lowshelf_biquad,
    notch_biquad,
    parametric_eq,
    peak_biquad,
)
from torchddsp.functional.filters.iir.sosfilt import sosfilt

FS = 44100.0
RNG = np.random.default_rng(3)


def cookbook(kind: str, f0: float, gain_db: float, q: float, fs: float) -> np.ndarray:
    """Float64 transcription of the cookbook formulas -> [b0, b1, b2, 1, a1, a2]."""
    w0 = 2 * np.pi * f0 / fs
    c, s = np.cos(w0), np.sin(w0)
    alpha = s / (2 * q)
    big_a = 10 ** (gain_db / 40)
    sq = 2 * np.sqrt(big_a) * alpha
    den = [1 + alpha, -2 * c, 1 - alpha]
    if kind == "lowpass":
        num = [(1 - c) / 2, 1 - c, (1 - c) / 2]
    elif kind == "highpass":
        num = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
    elif kind == "bandpass":
        num = [alpha, 0.0, -alpha]
    elif kind == "notch":
        num = [1.0, -2 * c, 1.0]
    elif kind == "allpass":
        num = [1 - alpha, -2 * c, 1 + alpha]
    elif kind == "peak":
        num = [1 + alpha * big_a, -2 * c, 1 - alpha * big_a]
        den = [1 + alpha / big_a, -2 * c, 1 - alpha / big_a]
    elif kind == "lowshelf":
        num = [big_a * ((big_a + 1) - (big_a - 1) * c + sq), 2 * big_a * ((big_a - 1) - (big_a + 1) * c),
               big_a * ((big_a + 1) - (big_a - 1) * c - sq)]
        den = [(big_a + 1) + (big_a - 1) * c + sq, -2 * ((big_a - 1) + (big_a + 1) * c),
               (big_a + 1) + (big_a - 1) * c - sq]
    else:
        num = [big_a * ((big_a + 1) + (big_a - 1) * c + sq), -2 * big_a * ((big_a - 1) + (big_a + 1) * c),
               big_a * ((big_a + 1) + (big_a - 1) * c - sq)]
        den = [(big_a + 1) - (big_a - 1) * c + sq, 2 * ((big_a - 1) - (big_a + 1) * c),
               (big_a + 1) - (big_a - 1) * c - sq]
    return np.array(num + den) / den[0]


def response_db(sos: torch.Tensor, freqs) -> np.ndarray:
    row = sos.detach().double().numpy()
    _, h = scipy.signal.freqz(row[:3], row[3:], np.atleast_1d(freqs), fs=FS)
    return 20 * np.log10(np.abs(h))


# ----------------------------------------------------------------------------- parity

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", FILTER_TYPES)
def test_matches_cookbook_transcription(device, dtype, kind):
    f0 = np.array([30.0, 440.0, 5000.0, 20000.0])
    gain = np.array([-18.0, 3.0, 12.0, -1.0])
    q = np.array([0.3, 0.7071, 2.0, 8.0])
    sos = biquad_design(kind, torch.tensor(f0, dtype=dtype, device=device),
                        torch.tensor(gain, dtype=dtype, device=device), torch.tensor(q, dtype=dtype, device=device),
                        FS)
    assert sos.shape == (4, 6) and sos.dtype == dtype and sos.device.type == device
    expected = np.stack([cookbook(kind, *args, FS) for args in zip(f0, gain, q)])
    assert_matches_reference(sos, expected, atol=2e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("f0", [20.0, 1000.0, 15000.0])
def test_butterworth_notch_and_bandpass_match_scipy_designs(f0):
    f = torch.tensor(f0, dtype=torch.float64)
    butter_q = 1 / math.sqrt(2)
    assert_matches_reference(lowpass_biquad(f, butter_q, FS), scipy.signal.butter(2, f0, fs=FS, output="sos")[0])
    assert_matches_reference(highpass_biquad(f, butter_q, FS),
                             scipy.signal.butter(2, f0, "high", fs=FS, output="sos")[0])
    # iirnotch / iirpeak use beta = tan(bw / 2) with bw = w0 / Q': equal to alpha when Q' is mapped
    q = 4.0
    w0 = 2 * np.pi * f0 / FS
    q_scipy = w0 / (2 * np.arctan(np.sin(w0) / (2 * q)))
    assert_matches_reference(notch_biquad(f, q, FS), np.concatenate(scipy.signal.iirnotch(f0, q_scipy, fs=FS)))
    assert_matches_reference(bandpass_biquad(f, q, FS), np.concatenate(scipy.signal.iirpeak(f0, q_scipy, fs=FS)))


@pytest.mark.parametrize("gain_db", [-24.0, -3.0, 6.0, 18.0])
def test_responses_have_the_designed_gains(gain_db):
    f0, q = torch.tensor(1500.0, dtype=torch.float64), 1.3        # numbers alone would give the default dtype
    nyq = FS / 2
    assert_matches_reference(response_db(peak_biquad(f0, gain_db, q, FS), [0.0, f0.item(), nyq]),
                             np.array([0.0, gain_db, 0.0]), atol=1e-9)
    assert_matches_reference(response_db(lowshelf_biquad(f0, gain_db, q, FS), [0.0, f0.item(), nyq]),
                             np.array([gain_db, gain_db / 2, 0.0]), atol=1e-9)
    assert_matches_reference(response_db(highshelf_biquad(f0, gain_db, q, FS), [0.0, f0.item(), nyq]),
                             np.array([0.0, gain_db / 2, gain_db]), atol=1e-9)
    freqs = np.linspace(0, nyq, 257)
    assert_matches_reference(response_db(allpass_biquad(f0, q, FS), freqs), np.zeros(257), atol=1e-9)
    assert response_db(notch_biquad(f0, q, FS), f0.item())[0] < -200
    assert_matches_reference(response_db(bandpass_biquad(f0, q, FS), f0.item()), np.zeros(1), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(FILTER_TYPES), f_frac=st.floats(1e-6, 1 - 1e-6), q=st.floats(1e-3, 1e3),
       gain_db=st.floats(-200.0, 200.0))
def test_valid_parameters_always_give_stable_finite_sections(kind, f_frac, q, gain_db):
    sos = biquad_design(kind, torch.tensor(f_frac * FS / 2, dtype=torch.float64), gain_db, q, FS)
    assert_finite(sos)
    roots = np.roots(sos[3:].numpy())
    assert np.abs(roots).max() < 1.0, f"{kind}: poles {roots}"


# ----------------------------------------------------------------------------- cascades and time variation

def test_parametric_eq_cascade_matches_per_band_designs():
    kinds = ["lowshelf", "peak", "peak", "highshelf", "lowpass"]
    freq = torch.tensor([[100.0, 800.0, 3000.0, 9000.0, 18000.0]] * 2, dtype=torch.float64)
    gain = torch.tensor([[3.0, -6.0, 4.0, -2.0, 0.0], [0.0, 1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    q = torch.tensor(0.9, dtype=torch.float64)
    sos = parametric_eq(kinds, freq, gain, q, FS)
    assert sos.shape == (2, 5, 6)
    expected = np.stack([[cookbook(k, freq[i, j].item(), gain[i, j].item(), 0.9, FS) for j, k in enumerate(kinds)]
                         for i in range(2)])
    assert_matches_reference(sos, expected, atol=1e-12)
    x = RNG.standard_normal((2, 400))
    assert_matches_reference(sosfilt(sos, torch.tensor(x)),
                             np.stack([scipy.signal.sosfilt(expected[i], x[i]) for i in range(2)]))


def test_per_frame_parameters_give_time_varying_sections():
    frames, hop = 4, 50
    freq = torch.tensor(np.geomspace(200, 4000, frames)[:, None] * [1.0, 2.0])        # (frames, 2 bands)
    gain = torch.tensor(np.linspace(-6, 6, frames)[:, None] * [1.0, -1.0])
    sos = parametric_eq(["peak", "highshelf"], freq, gain, 1.0, FS)                  # (frames, 2, 6)
    assert sos.shape == (frames, 2, 6)
    for t in range(frames):
        assert_matches_reference(sos[t, 0], cookbook("peak", freq[t, 0].item(), gain[t, 0].item(), 1.0, FS))
    x = torch.tensor(RNG.standard_normal(frames * hop))
    y = sosfilt(sos, x)                                                             # time-varying: dim == x.dim() + 2
    assert_finite(y)
    # frame by frame with the direct form I state carried equals the one-shot output
    state = torch.zeros(2, 4, dtype=torch.float64)
    blocks = []
    for t in range(frames):
        out, state = sosfilt(sos[t:t + 1], x[t * hop:(t + 1) * hop], state)
        blocks.append(out)
    torch.testing.assert_close(torch.cat(blocks), y, rtol=1e-10, atol=1e-12)


def test_batch_consistency():
    freq = torch.tensor(RNG.uniform(50, 15000, (3, 2)))
    gain = torch.tensor(RNG.uniform(-12, 12, (3, 2)))
    q = torch.tensor(RNG.uniform(0.3, 5, (3, 2)))
    check_batch_consistency(lambda f, g, q_: parametric_eq(["lowshelf", "peak"], f, g, q_, FS), [freq, gain, q])


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("kind", FILTER_TYPES)
def test_gradcheck_every_design(kind):
    f = torch.tensor([300.0, 6000.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.5, 3.0], dtype=torch.float64, requires_grad=True)
    if kind in ("peak", "lowshelf", "highshelf"):
        g = torch.tensor([-5.0, 7.0], dtype=torch.float64, requires_grad=True)
        check_gradcheck(lambda f_, g_, q_: biquad_design(kind, f_, g_, q_, FS), [f, g, q])
    else:
        check_gradcheck(lambda f_, q_: biquad_design(kind, f_, None, q_, FS), [f, q])


def test_gradcheck_from_logits_through_filtering():
    logits = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    x = torch.randn(64, dtype=torch.float64)

    def render(u):
        f, g, q = eq_controls_from_logits(u[0], u[1], u[2], FS)
        return sosfilt(parametric_eq(["peak", "lowshelf"], f, g, q, FS), x)

    check_gradcheck(render, [logits])


# ----------------------------------------------------------------------------- controls from logits

@settings(max_examples=20, deadline=None)
@given(values=st.lists(st.one_of(st.floats(-1e4, 1e4), st.sampled_from([-1e4, 1e4])), min_size=3, max_size=3),
       double=st.booleans(), fs=st.sampled_from([8000.0, 16000.0, 44100.0]))
def test_controls_from_any_logits_are_valid(values, double, fs):
    dtype = torch.float64 if double else torch.float32
    u = torch.tensor(values, dtype=dtype)
    f, g, q = eq_controls_from_logits(u[0], u[1], u[2], fs)
    assert 20.0 * (1 - 1e-5) <= f.item() <= 0.49 * fs * (1 + 1e-5) and f.item() < fs / 2
    assert 0.1 * (1 - 1e-5) <= q.item() <= 10.0 * (1 + 1e-5)
    assert abs(g.item()) <= 24.0
    for kind in FILTER_TYPES:                          # accepted by every design (no ValueError), stable
        sos = biquad_design(kind, f, g, q, fs)
        assert_finite(sos)
        assert np.abs(np.roots(sos[3:].double().numpy())).max() < 1.0


def test_controls_gradients_are_finite_at_huge_logits():
    u = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [1e4, 1e4, -2.0]], requires_grad=True)
    x = torch.randn(3, 16000)

    def render(logits):
        f, g, q = eq_controls_from_logits(logits[0], logits[1], logits[2], 16000.0)
        return sosfilt(parametric_eq(["peak", "highshelf", "lowpass"], f[None], g[None], q[None], 16000.0), x)

    check_finite_gradients(render, [u])


def test_controls_bounds_and_gain_none():
    f, g, q = eq_controls_from_logits(torch.zeros(2), None, torch.zeros(2), 16000.0, min_frequency=100.0,
                                      max_frequency=400.0, min_q=1.0, max_q=4.0)
    assert g is None
    torch.testing.assert_close(f, torch.full((2,), 200.0))                  # geometric midpoint
    torch.testing.assert_close(q, torch.full((2,), 2.0))


# ----------------------------------------------------------------------------- errors: no silent clamping

@pytest.mark.parametrize("call, match", [
    (lambda: peak_biquad(0.0, 3.0, 1.0, FS), "frequency"),
    (lambda: peak_biquad(-10.0, 3.0, 1.0, FS), "frequency"),
    (lambda: peak_biquad(FS / 2, 3.0, 1.0, FS), "frequency"),
    (lambda: lowpass_biquad(torch.tensor([100.0, 30000.0]), 1.0, FS), "frequency"),
    (lambda: lowpass_biquad(float("nan"), 1.0, FS), "frequency"),
    (lambda: lowpass_biquad(1000.0, 0.0, FS), "q"),
    (lambda: lowpass_biquad(1000.0, torch.tensor([1.0, -1.0]), FS), "q"),
    (lambda: lowpass_biquad(1000.0, float("inf"), FS), "q"),
    (lambda: peak_biquad(1000.0, 250.0, 1.0, FS), "gain_db"),
    (lambda: peak_biquad(1000.0, None, 1.0, FS), "gain_db"),
    (lambda: lowpass_biquad(1000.0, 1.0, 0.0), "sample_rate"),
    (lambda: biquad_design("bell", 1000.0, 0.0, 1.0, FS), "filter_type"),
    (lambda: biquad_design("peak", torch.ones(3) * 100, torch.ones(2), 1.0, FS), "broadcast"),
    (lambda: lowpass_biquad(torch.tensor([100], dtype=torch.int64), 1.0, FS), "frequency"),
    (lambda: parametric_eq([], 100.0, 0.0, 1.0, FS), "filter_types"),
    (lambda: parametric_eq("peak", 100.0, 0.0, 1.0, FS), "filter_types"),
    (lambda: parametric_eq(["peak", "bell"], 100.0, 0.0, 1.0, FS), "filter_types"),
    (lambda: parametric_eq(["peak", "peak"], torch.ones(3) * 100, 0.0, 1.0, FS), "frequency"),
    (lambda: parametric_eq(["lowpass", "peak"], 100.0, torch.tensor([999.0, 3.0]), 1.0, FS), None),
    (lambda: parametric_eq(["lowpass", "peak"], 100.0, torch.tensor([0.0, 300.0]), 1.0, FS), "gain_db"),
    (lambda: eq_controls_from_logits(torch.zeros(1), None, torch.zeros(1), 16000.0, max_frequency=8000.0),
     "max_frequency"),
    (lambda: eq_controls_from_logits(torch.zeros(1), None, torch.zeros(1), 16000.0, min_frequency=7000.0,
                                     max_frequency=6000.0), "min_frequency"),
    (lambda: eq_controls_from_logits(torch.zeros(1), None, torch.zeros(1), 16000.0, min_q=5.0, max_q=2.0), "min_q"),
    (lambda: eq_controls_from_logits(torch.zeros(1), None, torch.zeros(1), 16000.0, max_gain_db=0.0),
     "max_gain_db"),
    (lambda: eq_controls_from_logits([0.0], None, torch.zeros(1), 16000.0), "frequency_logits"),
])
def test_out_of_domain_values_raise_naming_the_argument(call, match):
    if match is None:                  # a gain on a band without gain is ignored, not checked
        assert call().shape == (2, 6)
        return
    with pytest.raises(ValueError, match=match):
        call()
