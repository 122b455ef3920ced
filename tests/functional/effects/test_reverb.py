"""Tests for torchddsp.functional.effects.reverb: convolution_reverb, exponential_decay_ir, band_decay_ir.

References: ``scipy.signal.fftconvolve`` for the convolution, the decay equations evaluated in
float64 NumPy on the same noise, and for the band-wise decay the window design computed from its
equation with a NumPy loop over frames.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    reference_time_varying_fir,
    to_numpy,
)
from torchddsp.functional.core.noise import white_noise
from torchddsp.functional.effects.reverb import band_decay_ir, convolution_reverb, exponential_decay_ir

FS = 16000.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("time, length", [(1000, 300), (100, 1000), (1, 1), (64, 1)])
def test_convolution_reverb_matches_scipy(dtype, time, length):
    rng = np.random.default_rng(time + length)
    x, h = rng.standard_normal((2, time)), rng.standard_normal((2, length)) * 0.1
    out = convolution_reverb(torch.tensor(x, dtype=dtype), torch.tensor(h, dtype=dtype), wet=0.7, dry=0.3)
    expected = 0.7 * scipy.signal.fftconvolve(x, h, axes=-1)[:, :time] + 0.3 * x
    assert out.shape == (2, time) and out.dtype == dtype
    assert_matches_reference(out, expected, atol=1e-5 if dtype == torch.float32 else 1e-12)


def test_one_learned_response_and_tensor_gains_broadcast():
    rng = np.random.default_rng(0)
    x, h = rng.standard_normal((3, 200)), rng.standard_normal(50)
    wet, dry = rng.uniform(0, 1, (3, 1)), rng.uniform(0, 1, (3, 1))
    out = convolution_reverb(torch.tensor(x), torch.tensor(h), wet=torch.tensor(wet), dry=torch.tensor(dry))
    expected = wet * np.stack([np.convolve(x[i], h)[:200] for i in range(3)]) + dry * x
    assert_matches_reference(out, expected, atol=1e-12)


def test_streaming_blocks_equal_one_shot():
    x, h = torch.randn(2, 1000, dtype=torch.float64), torch.randn(2, 300, dtype=torch.float64)
    whole, whole_tail = convolution_reverb(x, h, dry=0.5, state=x.new_zeros(2, 0))
    out, tail = [], x.new_zeros(2, 0)
    for start in range(0, 1000, 128):                  # blocks shorter than the response
        y, tail = convolution_reverb(x[:, start:start + 128], h, dry=0.5, state=tail)
        out.append(y)
    torch.testing.assert_close(torch.cat(out, -1), whole, rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(tail, whole_tail, rtol=1e-11, atol=1e-11)
    assert_matches_reference(whole_tail, scipy.signal.fftconvolve(to_numpy(x), to_numpy(h), axes=-1)[:, 1000:],
                             atol=1e-11)


def test_exponential_decay_ir_matches_equation():
    t60 = np.array([0.2, 1.5])
    gain = np.array([1.0, 0.3])
    out = exponential_decay_ir(4000, FS, torch.tensor(t60), torch.tensor(gain), seed=3)
    noise = to_numpy(white_noise((2, 4000), distribution="gaussian", seed=3, dtype=torch.float64))
    n = np.arange(4000)
    expected = gain[:, None] * noise * 10.0 ** (-3.0 * n / (FS * t60[:, None]))
    assert_matches_reference(out, expected, atol=1e-13)
    # The level falls by 60 dB over T60 (noise power averaged over a window around t = T60).
    long = to_numpy(exponential_decay_ir(int(FS), FS, torch.full((64,), 0.25, dtype=torch.float64), seed=1))
    start, end = int(0.25 * FS) - 200, int(0.25 * FS) + 200
    level = np.sqrt((long[:, start:end] ** 2 / np.exp(-2 * 3 * np.log(10) * np.arange(start, end) / (0.25 * FS)))
                    .mean())
    assert abs(level - 1.0) < 0.05
    ratio_db = 10 * np.log10((long[:, :200] ** 2).mean() / (long[:, int(0.25 * FS):int(0.25 * FS) + 200] ** 2).mean())
    assert 55.0 < ratio_db < 65.0


def reference_band_decay(noise, t60, gains, hop, fs):
    n_bands = t60.shape[-1]
    n = 2 * (n_bands - 1)
    frames = -(-noise.shape[-1] // hop)
    t = np.arange(frames) * hop / fs
    mags = gains * 10.0 ** (-3.0 * t[:, None] / t60)                   # (frames, n_bands)
    k = np.arange(n_bands)
    weight = np.where((k == 0) | (k == n_bands - 1), 1.0, 2.0) / n
    lags = (np.arange(n) - n // 2) % n
    window = np.hanning(n + 1)[:n]
    h = (mags[:, None, :] * weight * np.cos(2 * np.pi * lags[:, None] * k / n)).sum(-1) * window
    return reference_time_varying_fir(noise, h, hop, n // 2)


def test_band_decay_ir_matches_numpy_loop():
    t60 = np.array([0.8, 0.5, 0.2, 0.05, 0.02])
    gains = np.array([1.0, 0.8, 0.5, 0.3, 0.1])
    out = band_decay_ir(3000, FS, torch.tensor(t60), torch.tensor(gains), hop_size=32, seed=9)
    noise = to_numpy(white_noise(3000, distribution="gaussian", seed=9, dtype=torch.float64))
    assert_matches_reference(out, reference_band_decay(noise, t60, gains, 32, FS), atol=1e-12)


def test_gradcheck():
    x = torch.randn(2, 40, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 13, dtype=torch.float64, requires_grad=True)
    wet = torch.rand(2, 1, dtype=torch.float64, requires_grad=True)
    dry = torch.rand(2, 1, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda a, b, w, d: convolution_reverb(a, b, wet=w, dry=d), [x, h, wet, dry])
    t60 = torch.tensor([0.01, 0.003], dtype=torch.float64, requires_grad=True)
    g = torch.tensor([1.0, 0.5], dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda t, a: exponential_decay_ir(64, FS, t, a, seed=0), [t60, g])
    bands = torch.tensor([0.01, 0.004, 0.002], dtype=torch.float64, requires_grad=True)
    gains = torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda t, a: band_decay_ir(50, FS, t, a, hop_size=8, seed=0), [bands, gains])


def test_batch_consistency():
    x, h = torch.randn(3, 100), torch.randn(3, 30)
    check_batch_consistency(lambda a, b: convolution_reverb(a, b, dry=0.5), [x, h])


@pytest.mark.parametrize("device", DEVICES)
def test_device_matches_scipy(device):
    rng = np.random.default_rng(2)
    x, h = rng.standard_normal((2, 500)), rng.standard_normal(120)
    out = convolution_reverb(torch.tensor(x, device=device), torch.tensor(h, device=device), dry=1.0)
    assert out.device.type == torch.device(device).type
    assert_matches_reference(out, scipy.signal.fftconvolve(x, h[None], axes=-1)[:, :500] + x, atol=1e-12)
    ir = exponential_decay_ir(100, FS, torch.tensor(0.1, dtype=torch.float64, device=device), seed=4)
    assert ir.device.type == torch.device(device).type
    assert_matches_reference(ir, to_numpy(exponential_decay_ir(100, FS, torch.tensor(0.1, dtype=torch.float64),
                                                               seed=4)), atol=1e-15)


def test_edge_cases():
    assert float(convolution_reverb(torch.zeros(2, 100), torch.randn(2, 30)).abs().max()) == 0.0
    assert convolution_reverb(torch.zeros(2, 0), torch.randn(2, 5), state=torch.zeros(2, 0))[1].shape == (2, 4)
    x, h = torch.randn(2, 300), torch.randn(2, 1)
    torch.testing.assert_close(convolution_reverb(x, h), x * h)                # a one-sample response is a gain
    # Extreme but valid decay times: finite response and gradients.
    t60 = torch.tensor([1e-5, 1e3], requires_grad=True)
    check_finite_gradients(lambda t: exponential_decay_ir(1000, FS, t, seed=0), [t60])
    check_finite_gradients(lambda t: band_decay_ir(500, FS, t.repeat(3, 1).T, hop_size=16, seed=0), [t60])
    one = exponential_decay_ir(1, FS, 0.5, seed=2)
    assert one.shape == (1,) and float(one[0]) == float(white_noise(1, distribution="gaussian", seed=2)[0])
    assert_finite(band_decay_ir(10, FS, torch.full((5,), 0.3), hop_size=64, seed=1))


@pytest.mark.parametrize("call, match", [
    (lambda: convolution_reverb(torch.randn(10), torch.zeros(0)), "impulse_response"),
    (lambda: convolution_reverb(torch.randn(10), torch.randn(3), wet="loud"), "wet"),
    (lambda: convolution_reverb(torch.randn(10), torch.randn(3), state=torch.zeros(20)), "state"),
    (lambda: exponential_decay_ir(100, FS, 0.0), "decay_time"),
    (lambda: exponential_decay_ir(0, FS, 0.5), "length"),
    (lambda: exponential_decay_ir(100, -1.0, 0.5), "sample_rate"),
    (lambda: band_decay_ir(100, FS, torch.tensor([0.5, -0.1, 0.2])), "decay_times"),
    (lambda: band_decay_ir(100, FS, torch.tensor([0.5, 0.2]), torch.ones(3)), "gains"),
    (lambda: band_decay_ir(100, FS, torch.tensor([0.5])), "magnitudes"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
