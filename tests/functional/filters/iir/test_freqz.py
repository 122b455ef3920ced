"""Tests for torchddsp.functional.filters.iir.freqz: freqz, sosfreqz, frequency_sampled_filter.

References: ``scipy.signal.freqz`` / ``sosfreqz`` / ``lfilter`` / ``sosfilt``, and for the
frequency-sampled filter a NumPy circular convolution with the time-aliased impulse response
(computed by ``scipy.signal.lfilter`` on a long impulse) plus the error bound of the docs.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from helpers import DEVICES, DTYPES, assert_finite, assert_matches_reference, check_batch_consistency, check_gradcheck
from torchddsp.functional.filters.iir.freqz import frequency_sampled_filter, freqz, sosfreqz

RNG = np.random.default_rng(99)
FS = 16000.0


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-11)


# ----------------------------------------------------------------------------- freqz on a grid

GRIDS = [dict(worN=64), dict(worN=63, whole=True), dict(worN=33, include_nyquist=True),
         dict(worN=10, fs=FS), dict(worN=3), dict(worN=2), dict(worN=1, include_nyquist=True), dict(worN=0)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: "-".join(f"{k}{v}" for k, v in g.items()))
def test_freqz_grid_matches_scipy(device, dtype, grid):
    b, a = scipy.signal.cheby1(5, 1.0, 0.3)                 # 6 taps: also exercises folding when 2 K < 6
    w, h = freqz(torch.tensor(b, dtype=dtype, device=device), torch.tensor(a, dtype=dtype, device=device), **grid)
    w_ref, h_ref = scipy.signal.freqz(b, a, **grid)
    assert h.dtype == (torch.complex64 if dtype == torch.float32 else torch.complex128)
    assert_matches_reference(w, w_ref, what="w", **tol(dtype))
    assert_matches_reference(h, h_ref, **tol(dtype))


def test_freqz_fir_and_long_numerator_fold():
    b = RNG.standard_normal(40)                             # 40 taps, only 2 * 8 = 16-point FFT
    w, h = freqz(torch.tensor(b), None, 8)
    assert_matches_reference(h, scipy.signal.freqz(b, 1, 8)[1])
    w, h = freqz(torch.tensor(b), None, 7, whole=True)
    assert_matches_reference(h, scipy.signal.freqz(b, 1, 7, whole=True)[1])


def test_freqz_batched_coefficients():
    b = RNG.standard_normal((3, 2, 3))
    a = np.concatenate([np.ones((2, 1)), 0.4 * RNG.uniform(-1, 1, (2, 2))], axis=-1)   # broadcasts to (3, 2, 3)
    w, h = freqz(torch.tensor(b), torch.tensor(a), 16)
    expected = np.stack([[scipy.signal.freqz(b[i, j], a[j], 16)[1] for j in range(2)] for i in range(3)])
    assert h.shape == (3, 2, 16)
    assert_matches_reference(h, expected)


# ----------------------------------------------------------------------------- freqz at given frequencies

@pytest.mark.parametrize("dtype", DTYPES)
def test_freqz_at_frequencies_in_hz(dtype):
    b, a = scipy.signal.butter(3, 2000.0, fs=FS)
    f = np.array([0.0, 55.0, 1999.0, 2000.0, 7999.0, 8000.0, 12000.0])    # at and above Nyquist too
    w, h = freqz(torch.tensor(b, dtype=dtype), torch.tensor(a, dtype=dtype), torch.tensor(f, dtype=dtype), fs=FS)
    assert_matches_reference(h, scipy.signal.freqz(b, a, f, fs=FS)[1], **tol(dtype))
    assert_matches_reference(w, f)


def test_freqz_at_per_frame_harmonics():
    """Masuda & Saito (2021): per-frame filters sampled at the harmonics of a per-frame f0."""
    frames, harmonics = 5, 12
    f0 = RNG.uniform(80, 600, (2, frames, 1))
    freqs = f0 * np.arange(1, harmonics + 1)                        # (2, frames, K), some above Nyquist
    sos = np.stack([[scipy.signal.butter(2, fc, fs=FS, output="sos")[0] for fc in RNG.uniform(300, 3000, frames)]
                    for _ in range(2)])                             # (2, frames, 6)
    w, h = freqz(torch.tensor(sos[..., :3]), torch.tensor(sos[..., 3:]), torch.tensor(freqs), fs=FS)
    expected = np.stack([[scipy.signal.freqz(sos[i, t, :3], sos[i, t, 3:], freqs[i, t], fs=FS)[1]
                          for t in range(frames)] for i in range(2)])
    assert h.shape == (2, frames, harmonics)
    assert_matches_reference(h, expected)
    # the same through sosfreqz with one section per frame
    w, h2 = sosfreqz(torch.tensor(sos)[..., None, :], torch.tensor(freqs), fs=FS)
    assert_matches_reference(h2, expected)


# ----------------------------------------------------------------------------- sosfreqz

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grid", [dict(worN=128), dict(worN=50, whole=True), dict(worN=17, include_nyquist=True,
                                                                                    fs=FS)])
def test_sosfreqz_matches_scipy(dtype, grid):
    sos = scipy.signal.ellip(6, 0.5, 50, 0.25, output="sos")
    w, h = sosfreqz(torch.tensor(sos, dtype=dtype), **grid)
    if "include_nyquist" in grid:      # scipy's sosfreqz lacks it: the product of per-section freqz
        w_ref = scipy.signal.freqz(sos[0, :3], sos[0, 3:], **grid)[0]
        h_ref = np.prod([scipy.signal.freqz(row[:3], row[3:], **grid)[1] for row in sos], axis=0)
    else:
        w_ref, h_ref = scipy.signal.sosfreqz(sos, **grid)
    assert_matches_reference(w, w_ref, **tol(dtype))
    assert_matches_reference(h, h_ref, **tol(dtype))


def test_sosfreqz_tensor_frequencies_and_no_sections():
    sos = scipy.signal.butter(4, 0.2, output="sos")
    f = RNG.uniform(0, np.pi, 9)
    w, h = sosfreqz(torch.tensor(sos), torch.tensor(f))
    assert_matches_reference(h, scipy.signal.sosfreqz(sos, f)[1])
    w, h = sosfreqz(torch.zeros(0, 6, dtype=torch.float64), 8)
    torch.testing.assert_close(h, torch.ones(8, dtype=torch.complex128))


# ----------------------------------------------------------------------------- gradients

def test_freqz_gradcheck_coefficients_and_frequencies():
    b = torch.tensor(RNG.standard_normal(3), requires_grad=True)
    a = torch.tensor([1.0, -0.6, 0.3], dtype=torch.float64, requires_grad=True)
    f = torch.tensor(RNG.uniform(0, 8000, (2, 5)), requires_grad=True)
    check_gradcheck(lambda b_, a_: freqz(b_, a_, 12)[1], [b, a])
    check_gradcheck(lambda b_, a_: freqz(b_, a_, 12, whole=True)[1], [b, a])
    check_gradcheck(lambda b_, a_, f_: freqz(b_, a_, f_, fs=FS)[1], [b, a, f])
    sos = torch.tensor(scipy.signal.butter(4, 0.3, output="sos"), requires_grad=True)
    check_gradcheck(lambda s: sosfreqz(s, 10)[1], [sos])
    check_gradcheck(lambda s, f_: sosfreqz(s, f_, fs=FS)[1], [sos, f])


# ----------------------------------------------------------------------------- frequency-sampled filtering

def aliased_circular_reference(b, a, x, n_fft):
    """Circular convolution (length n_fft) with h~[n] = sum_m h[n + m n_fft], truncated to len(x)."""
    impulse = np.zeros(40 * n_fft)
    impulse[0] = 1.0
    h = scipy.signal.lfilter(b, a, impulse).reshape(40, n_fft).sum(0)
    y = np.fft.ifft(np.fft.fft(x, n_fft, axis=-1) * np.fft.fft(h)).real
    return y[..., :x.shape[-1]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_frequency_sampled_filter_is_circular_convolution_with_aliased_ir(dtype):
    b, a = np.array([0.3, -0.2, 0.1]), np.array([1.0, -1.2, 0.7])
    x = RNG.standard_normal((2, 100))
    for n_fft in (100, 128, 301):
        y = frequency_sampled_filter(torch.tensor(x, dtype=dtype), torch.tensor(b, dtype=dtype),
                                     torch.tensor(a, dtype=dtype), n_fft=n_fft)
        assert_matches_reference(y, aliased_circular_reference(b, a, x, n_fft), **tol(dtype))


def test_frequency_sampled_filter_fir_is_exact():
    b = RNG.standard_normal(17)
    x = RNG.standard_normal(200)
    y = frequency_sampled_filter(torch.tensor(x), torch.tensor(b), n_fft=216)      # >= T + M - 1
    assert_matches_reference(y, scipy.signal.lfilter(b, 1.0, x))


def test_time_aliasing_error_is_bounded_by_pole_radius_power():
    """Error vs exact filtering <= max|x| * sum_{j >= n_fft - T + 1} |h[j]| = max|x| r^(n_fft - T + 1) / (1 - r)."""
    r, time = 0.9, 64
    b, a = np.array([1.0]), np.array([1.0, -r])               # h[n] = r^n
    x = RNG.uniform(-1, 1, time)
    exact = scipy.signal.lfilter(b, a, x)
    errors = []
    for n_fft in (64, 80, 96, 128, 192, 256):
        y = frequency_sampled_filter(torch.tensor(x), torch.tensor(b), torch.tensor(a), n_fft=n_fft)
        err = float(np.abs(y.numpy() - exact).max())
        bound = np.abs(x).max() * r ** (n_fft - time + 1) / (1 - r)
        assert err <= bound * (1 + 1e-9) + 1e-14, f"n_fft={n_fft}: error {err:.3e} above the bound {bound:.3e}"
        errors.append(err)
    assert errors[0] > 1e-2, "a too-short DFT must show time aliasing"
    assert all(e1 > e2 for e1, e2 in zip(errors, errors[1:])), f"error does not shrink with n_fft: {errors}"
    assert errors[-1] < 1e-8


def test_time_aliasing_bound_for_resonant_biquad_and_sos():
    """Complex poles of radius 0.9: the tail sum of |h| bounds the error; sos and (b, a) agree."""
    sos = np.array([[1.0, 0.5, 0.0, 1.0, -2 * 0.9 * np.cos(0.7), 0.81],
                    [0.2, 0.0, -0.2, 1.0, -2 * 0.85 * np.cos(2.0), 0.85 ** 2]])
    b, a = scipy.signal.sos2tf(sos)
    time = 100
    x = RNG.uniform(-1, 1, time)
    impulse = np.zeros(4000)
    impulse[0] = 1.0
    h = scipy.signal.sosfilt(sos, impulse)
    exact = scipy.signal.sosfilt(sos, x)
    for n_fft in (100, 150, 256, 512):
        y = frequency_sampled_filter(torch.tensor(x), sos=torch.tensor(sos), n_fft=n_fft)
        y_ba = frequency_sampled_filter(torch.tensor(x), torch.tensor(b), torch.tensor(a), n_fft=n_fft)
        assert_matches_reference(y_ba, y.numpy(), atol=1e-10)
        bound = np.abs(x).max() * np.abs(h[n_fft - time + 1:]).sum()
        err = float(np.abs(y.numpy() - exact).max())
        assert err <= bound * (1 + 1e-9) + 1e-14
    assert err < 1e-8


def test_frequency_sampled_filter_gradcheck_and_batch():
    x = torch.randn(2, 20, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    a = torch.tensor([1.0, -0.5, 0.2], dtype=torch.float64, requires_grad=True)
    sos = torch.tensor(scipy.signal.butter(4, 0.3, output="sos"), requires_grad=True)
    check_gradcheck(lambda x_, b_, a_: frequency_sampled_filter(x_, b_, a_, n_fft=32), [x, b, a])
    check_gradcheck(lambda x_, s: frequency_sampled_filter(x_, sos=s, n_fft=25), [x, sos])
    bb = torch.randn(3, 3, dtype=torch.float64)
    aa = torch.tensor([[1.0, -0.5, 0.2]] * 3, dtype=torch.float64)
    check_batch_consistency(lambda x_, b_, a_: frequency_sampled_filter(x_, b_, a_, n_fft=64),
                            [torch.randn(3, 50, dtype=torch.float64), bb, aa])


def test_frequency_sampled_filter_edge_cases_and_errors():
    b, a = torch.tensor([1.0, 0.5]), torch.tensor([1.0, -0.9])
    assert frequency_sampled_filter(torch.zeros(3, 0), b, a, n_fft=1).shape == (3, 0)
    silence = frequency_sampled_filter(torch.zeros(100), b, a, n_fft=128)
    assert bool((silence == 0).all())
    assert_finite(frequency_sampled_filter(torch.randn(4, 16000), b, a, n_fft=16384))
    with pytest.raises(ValueError, match="n_fft"):
        frequency_sampled_filter(torch.zeros(100), b, a, n_fft=64)
    with pytest.raises(ValueError, match="n_fft"):
        frequency_sampled_filter(torch.zeros(100), b, a, n_fft=0)
    with pytest.raises(ValueError, match="sos"):
        frequency_sampled_filter(torch.zeros(10), b, a, sos=torch.zeros(1, 6), n_fft=16)
    with pytest.raises(ValueError, match="b"):
        frequency_sampled_filter(torch.zeros(10), n_fft=16)


@pytest.mark.parametrize("call, match", [
    (lambda: freqz(torch.ones(3), None, -1), "worN"),
    (lambda: freqz(torch.ones(3), None, 2.5), "worN"),
    (lambda: freqz(torch.ones(3), None, 8, fs=0.0), "fs"),
    (lambda: freqz(torch.ones(2, 3), torch.ones(3, 2), 8), "broadcast"),
    (lambda: freqz(torch.ones(0), None, 8), "b"),
    (lambda: sosfreqz(torch.ones(2, 5), 8), "sos"),
])
def test_freqz_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
