"""Tests for torchddsp.functional.filters.iir.sosfilt: sosfilt, sosfilt_zi.

References: ``scipy.signal.sosfilt`` / ``sosfilt_zi`` (fixed sections) and a float64 NumPy
transcription of the direct form I difference equation, one sample at a time (time-varying).
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
    assert_finite,
    assert_matches_reference,
    assert_streaming_equivalent,
    check_batch_consistency,
    check_gradcheck,
    random_stable_filter,
    to_numpy,
)
from torchddsp.functional.filters.iir.sosfilt import sosfilt, sosfilt_zi

RNG = np.random.default_rng(1234)


def reference_time_varying(sos: np.ndarray, x: np.ndarray, zi: np.ndarray | None = None):
    """Direct form I per sample: sos (time, n_sections, 6), x (time,), zi (n_sections, 4)."""
    time, n_sections, _ = sos.shape
    y = np.array(x, dtype=np.float64)
    state = np.zeros((n_sections, 4)) if zi is None else np.array(zi, dtype=np.float64)
    for s in range(n_sections):
        x1, x2, y1, y2 = state[s]
        out = np.empty(time)
        for n in range(time):
            b0, b1, b2, a0, a1, a2 = sos[n, s]
            v = (b0 * y[n] + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0
            x2, x1 = x1, y[n]
            y2, y1 = y1, v
            out[n] = v
        state[s] = [x1, x2, y1, y2]
        y = out
    return y, state


# ----------------------------------------------------------------------------- parity: fixed sections

@pytest.mark.parametrize("order", [1, 2, 5, 8])
def test_sections_equal_their_polynomial_and_are_stable(order):
    """``random_stable_filter`` (the tests' one generator): its sections and its ``(b, a)`` are one filter."""
    sos = random_stable_filter(order, 3, shape=(2,), radius=(0.5, 0.9), output="sos")
    b, a = random_stable_filter(order, 3, shape=(2,), radius=(0.5, 0.9))
    x = RNG.standard_normal((2, 300))
    y = sosfilt(torch.tensor(sos), torch.tensor(x))
    for i in range(2):
        assert np.abs(np.roots(a[i])).max() <= 0.9
        assert_matches_reference(y[i], scipy.signal.lfilter(b[i], a[i], x[i]), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("design", ["butter6", "ellip8", "random3"])
@pytest.mark.parametrize("backend", ["auto", "pure"])
def test_matches_scipy_sosfilt(device, dtype, design, backend):
    sos = {"butter6": lambda: scipy.signal.butter(6, 0.13, output="sos"),
           "ellip8": lambda: scipy.signal.ellip(8, 0.5, 60, [0.2, 0.4], btype="bandpass", output="sos"),
           "random3": lambda: random_stable_filter(6, RNG, output="sos")}[design]()
    x = RNG.standard_normal((2, 700))
    y = sosfilt(torch.tensor(sos, dtype=dtype, device=device), torch.tensor(x, dtype=dtype, device=device),
                backend=backend)
    assert y.shape == (2, 700) and y.dtype == dtype and y.device.type == device
    assert_matches_reference(y, scipy.signal.sosfilt(sos, x), atol=1e-4 if dtype == torch.float32 else 1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zi_and_zf_match_scipy(dtype):
    sos = random_stable_filter(8, RNG, output="sos")
    x = RNG.standard_normal(300)
    zi = RNG.standard_normal((4, 2))
    y, zf = sosfilt(torch.tensor(sos, dtype=dtype), torch.tensor(x, dtype=dtype), torch.tensor(zi, dtype=dtype))
    y_ref, zf_ref = scipy.signal.sosfilt(sos, x, zi=zi)
    tol = dict(atol=1e-4) if dtype == torch.float32 else {}
    assert_matches_reference(y, y_ref, **tol)
    assert_matches_reference(zf, zf_ref, what="zf", **tol)


def test_unnormalised_a0_is_divided_out():
    sos = random_stable_filter(6, RNG, output="sos")
    scaled = sos * np.array([2.0, 0.5, 3.0])[:, None]            # a0 = 2, 0.5, 3
    x = RNG.standard_normal(200)
    y = sosfilt(torch.tensor(scaled), torch.tensor(x))
    assert_matches_reference(y, scipy.signal.sosfilt(sos, x))


def test_broadcasting_batch_of_filters_and_signals():
    sos = random_stable_filter(4, RNG, shape=(3,), output="sos")       # (3, 2, 6)
    x = RNG.standard_normal((4, 1, 150))                           # (4, 1, T) -> (4, 3, T)
    y = sosfilt(torch.tensor(sos), torch.tensor(x))
    expected = np.stack([[scipy.signal.sosfilt(sos[j], x[i, 0]) for j in range(3)] for i in range(4)])
    assert_matches_reference(y, expected)


def test_batch_consistency():
    sos = torch.tensor(random_stable_filter(6, RNG, shape=(3,), output="sos"))
    x = torch.tensor(RNG.standard_normal((3, 256)))
    zi = torch.tensor(RNG.standard_normal((3, 3, 2)))
    check_batch_consistency(sosfilt, [sos, x])
    check_batch_consistency(sosfilt, [sos, x, zi])
    tv = sos[:, None].expand(3, 8, 3, 6).clone()                  # 8 frames of 32 samples
    tv = tv + 0.01 * torch.randn(tv.shape, dtype=tv.dtype).tanh()
    check_batch_consistency(sosfilt, [tv, x])


# ----------------------------------------------------------------------------- sosfilt_zi

@pytest.mark.parametrize("dtype", DTYPES)
def test_sosfilt_zi_matches_scipy(dtype):
    for sos in (scipy.signal.butter(4, 0.3, output="sos"), random_stable_filter(10, RNG, output="sos")):
        zi = sosfilt_zi(torch.tensor(sos, dtype=dtype))
        assert zi.shape == (sos.shape[0], 2)
        assert_matches_reference(zi, scipy.signal.sosfilt_zi(sos), atol=1e-5 if dtype == torch.float32 else 1e-12)


def test_sosfilt_zi_gives_steady_state_and_batches():
    sos = random_stable_filter(6, RNG, shape=(2,), output="sos")
    zi = sosfilt_zi(torch.tensor(sos))
    for i in range(2):
        assert_matches_reference(zi[i], scipy.signal.sosfilt_zi(sos[i]))
    # a constant input started from zi * level stays at the DC gain: the filter is at rest
    level = 0.7
    y = sosfilt(torch.tensor(sos), torch.full((2, 50), level, dtype=torch.float64), zi * level)[0]
    dc = np.prod(sos[..., :3].sum(-1) / sos[..., 3:].sum(-1), axis=-1)
    assert_matches_reference(y, np.broadcast_to((level * dc)[:, None], (2, 50)), atol=1e-12)


def test_sosfilt_zi_gradcheck_and_errors():
    sos = torch.tensor(random_stable_filter(4, RNG, output="sos"), requires_grad=True)
    check_gradcheck(sosfilt_zi, [sos])
    bad = random_stable_filter(4, RNG, output="sos")
    bad[1, 3:] = [1.0, -1.5, 0.5]                                  # 1 - 1.5 + 0.5 = 0: pole at z = 1
    with pytest.raises(ValueError, match="sos"):
        sosfilt_zi(torch.tensor(bad))


# ----------------------------------------------------------------------------- time-varying sections

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ["auto", "pure"])
def test_time_varying_per_sample_matches_direct_form_one(device, dtype, backend):
    time = 120
    sos = random_stable_filter(4, RNG, shape=(time,), radius=(0.3, 0.9), output="sos")     # (time, 2, 6)
    x = RNG.standard_normal(time)
    zi = RNG.standard_normal((2, 4))
    y, zf = sosfilt(*(torch.tensor(v, dtype=dtype, device=device) for v in (sos, x, zi)), backend=backend)
    y_ref, zf_ref = reference_time_varying(sos, x, zi)
    tol = dict(atol=1e-4) if dtype == torch.float32 else {}
    assert_matches_reference(y, y_ref, **tol)
    assert_matches_reference(zf, zf_ref, what="zf", **tol)


def test_time_varying_per_frame_holds_each_frame():
    frames, hop = 6, 25
    sos = random_stable_filter(6, RNG, shape=(frames,), output="sos")              # (frames, 3, 6)
    x = RNG.standard_normal((2, frames * hop))
    y = sosfilt(torch.tensor(sos)[None].expand(2, frames, 3, 6), torch.tensor(x))
    per_sample = np.repeat(sos, hop, axis=0)
    expected = np.stack([reference_time_varying(per_sample, x[i])[0] for i in range(2)])
    assert_matches_reference(y, expected)


def test_constant_time_varying_equals_fixed():
    sos = random_stable_filter(6, RNG, output="sos")
    x = RNG.standard_normal(400)
    y = sosfilt(torch.tensor(sos)[None].expand(8, 3, 6), torch.tensor(x))
    assert_matches_reference(y, scipy.signal.sosfilt(sos, x))


# ----------------------------------------------------------------------------- streaming

@settings(max_examples=12, deadline=None)
@given(cuts=st.lists(st.integers(1, 239), min_size=1, max_size=4), varying=st.booleans())
def test_block_by_block_equals_one_shot(cuts, varying):
    time = 240
    rng = np.random.default_rng(len(cuts))
    x = torch.tensor(rng.standard_normal((2, time)))
    if varying:
        sos = torch.tensor(random_stable_filter(4, rng, shape=(time,), output="sos"))[None].expand(2, time, 2, 6)
        zi = torch.zeros(2, 2, 4, dtype=torch.float64)
    else:
        sos = torch.tensor(random_stable_filter(6, rng, output="sos"))
        zi = torch.tensor(rng.standard_normal((2, 3, 2)))
    sizes = np.diff([0] + sorted(cuts) + [time]).tolist()
    if varying:
        sizes = [size for size in sizes if size]      # a time-varying block needs its coefficients
    assert_streaming_equivalent(lambda lo, hi, state: sosfilt(sos[:, lo:hi] if varying else sos, x[..., lo:hi], state),
                                time, zi, sizes, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- gradients

def test_gradcheck_fixed_sections():
    sos = torch.tensor(random_stable_filter(4, RNG, output="sos"), requires_grad=True)
    x = torch.randn(2, 40, dtype=torch.float64, requires_grad=True)
    zi = torch.randn(2, 2, 2, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda s, x_: sosfilt(s, x_), [sos, x])
    check_gradcheck(lambda s, x_, z: sosfilt(s, x_, z), [sos, x, zi])


def test_gradcheck_time_varying_sections():
    sos = torch.tensor(random_stable_filter(4, RNG, shape=(5,), output="sos"), requires_grad=True)   # 5 frames
    x = torch.randn(30, dtype=torch.float64, requires_grad=True)
    zi = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda s, x_, z: sosfilt(s, x_, z), [sos, x, zi])


# ----------------------------------------------------------------------------- edge cases

def test_edge_cases():
    sos = torch.tensor(random_stable_filter(4, RNG, output="sos"))
    empty = sosfilt(sos, torch.zeros(3, 0, dtype=torch.float64))
    assert empty.shape == (3, 0)
    zi = torch.randn(2, 2, dtype=torch.float64)
    y, zf = sosfilt(sos, torch.zeros(0, dtype=torch.float64), zi)
    assert y.shape == (0,)
    torch.testing.assert_close(zf, zi)                              # no samples: state unchanged
    one = sosfilt(sos, torch.ones(1, dtype=torch.float64))
    assert_matches_reference(one, scipy.signal.sosfilt(to_numpy(sos), np.ones(1)))
    silence = sosfilt(sos, torch.zeros(1000, dtype=torch.float64))
    assert bool((silence == 0).all())
    no_sections = torch.zeros(0, 6, dtype=torch.float64)
    x = torch.randn(10, dtype=torch.float64)
    torch.testing.assert_close(sosfilt(no_sections, x), x)
    # a near-marginal section over a long signal stays finite (no clamping, but no blow-up either)
    sharp = torch.tensor([[1.0, 0.0, 0.0, 1.0, -1.9998, 0.9999]], dtype=torch.float32)
    assert_finite(sosfilt(sharp, torch.randn(48000)))


@pytest.mark.parametrize("call, match", [
    (lambda: sosfilt(torch.zeros(2, 5), torch.zeros(10)), "sos"),
    (lambda: sosfilt(torch.zeros(6), torch.zeros(10)), "sos"),
    (lambda: sosfilt(torch.zeros(1, 1, 1, 2, 6), torch.zeros(10)), "sos"),
    (lambda: sosfilt(torch.zeros(2, 6), torch.zeros(10)), "a0"),
    (lambda: sosfilt(torch.tensor([[1.0, 0, 0, 1, 0, 0]]), torch.zeros(10), torch.zeros(2, 2)), "zi"),
    (lambda: sosfilt(torch.tensor([[[1.0, 0, 0, 1, 0, 0]]] * 3), torch.zeros(10)), "dividing"),
    (lambda: sosfilt(torch.tensor([[1.0, 0, 0, 1, 0, 0]]), torch.zeros(10, dtype=torch.int64)), "x"),
    (lambda: sosfilt(torch.tensor([[1.0, 0, 0, 1, 0, 0]] * 2).expand(3, 2, 6), torch.zeros(2, 10)), "broadcast"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
