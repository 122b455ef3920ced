"""Tests for torchddsp.evaluation.metrics: the multi-scale spectral distance against a float64 NumPy
transcription of its definition, and the loudness / f0 resynthesis metrics on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torchddsp.evaluation.metrics import (
    MSS_FFT_SIZES,
    f0_l1_cents,
    f0_outlier_ratio,
    loudness_bias,
    loudness_l1,
    multiscale_spectral_distance,
)


def magnitude_spectrogram(x: np.ndarray, n_fft: int) -> np.ndarray:
    """|STFT| with a periodic Hann window, hop n/4, frames centred on multiples of the hop
    (the signal reflect-padded by n/2 at both ends, as torch.stft's default)."""
    hop = n_fft // 4
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = 1 + (len(padded) - n_fft) // hop
    stacked = np.stack([padded[i * hop:i * hop + n_fft] * window for i in range(frames)])
    return np.abs(np.fft.rfft(stacked, axis=-1))


def mss_reference(x: np.ndarray, y: np.ndarray, n_ffts=(2048, 1024, 512, 256, 128, 64), eps=1e-7) -> float:
    """Mean over FFT sizes of mean|X - Y| + mean|log(X + eps) - log(Y + eps)|, in float64."""
    length = min(len(x), len(y))
    x, y = np.asarray(x[:length], np.float64), np.asarray(y[:length], np.float64)
    total = 0.0
    for n in n_ffts:
        X, Y = magnitude_spectrogram(x, n), magnitude_spectrogram(y, n)
        total += np.mean(np.abs(X - Y)) + np.mean(np.abs(np.log(X + eps) - np.log(Y + eps)))
    return total / len(n_ffts)


def signals(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = np.sin(2 * np.pi * 440 * t) * np.exp(-t) + 0.01 * rng.standard_normal(n)
    y = 0.8 * np.sin(2 * np.pi * 445 * t + 0.3) + 0.05 * rng.standard_normal(n)
    return x, y


def test_fft_sizes_are_2048_down_to_64():
    assert tuple(MSS_FFT_SIZES) == (2048, 1024, 512, 256, 128, 64)


@pytest.mark.parametrize("n", [1025, 4000, 16000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mss_matches_the_float64_definition(n, dtype):
    x, y = signals(n, seed=n)
    expected = mss_reference(x.astype(np.float32 if dtype == torch.float32 else np.float64),
                             y.astype(np.float32 if dtype == torch.float32 else np.float64))
    actual = multiscale_spectral_distance(torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype))
    assert isinstance(actual, float)
    np.testing.assert_allclose(actual, expected, rtol=1e-10)


def test_mss_trims_to_the_shorter_signal_and_is_symmetric():
    x, y = signals(6000, seed=1)
    xt, yt = torch.tensor(x), torch.tensor(y)
    expected = mss_reference(x[:5000], y[:5000])
    np.testing.assert_allclose(multiscale_spectral_distance(xt[:5000], yt), expected, rtol=1e-10)
    np.testing.assert_allclose(multiscale_spectral_distance(yt, xt[:5000]), expected, rtol=1e-10)


def test_mss_is_zero_for_identical_signals_and_positive_otherwise():
    x, y = signals(8000, seed=2)
    xt = torch.tensor(x, dtype=torch.float32)
    assert multiscale_spectral_distance(xt, xt.clone()) == 0.0
    assert multiscale_spectral_distance(torch.zeros(4000), torch.zeros(4000)) == 0.0
    assert multiscale_spectral_distance(xt, 1.1 * xt) > 0
    # Louder differences and bigger spectral changes cost more.
    assert multiscale_spectral_distance(xt, 2 * xt) > multiscale_spectral_distance(xt, 1.1 * xt)
    # Silence against a signal: the log term is large but finite.
    value = multiscale_spectral_distance(torch.zeros(4000), xt[:4000])
    assert math.isfinite(value) and value > 5


def test_mss_of_a_clip_shorter_than_the_largest_fft():
    x, y = signals(800, seed=3)
    try:
        value = multiscale_spectral_distance(torch.tensor(x), torch.tensor(y))
    except ValueError as error:
        assert "x" in str(error) or "length" in str(error)
    else:
        assert math.isfinite(value) and value > 0


def test_loudness_l1_is_the_mean_absolute_difference():
    a = torch.tensor([-30.0, -20.0, -10.0, 0.0, 5.0])
    b = torch.tensor([-31.0, -18.0, -10.0, 3.0])
    assert loudness_l1(a, b) == pytest.approx((1 + 2 + 0 + 3) / 4)     # trimmed to the shorter
    assert loudness_l1(a, a) == 0.0


def test_loudness_bias_is_the_signed_mean_over_sounding_frames():
    reference = torch.tensor([-40.0, -50.0, -69.0, -71.0, -120.0])     # the last two are over 30 dB down
    other = torch.tensor([-42.0, -51.0, -66.0, -20.0, 0.0, -30.0])      # longer: trimmed
    assert loudness_bias(reference, other) == pytest.approx((-2.0 - 1.0 + 3.0) / 3)
    assert loudness_bias(reference, reference - 1.5) == pytest.approx(-1.5)
    assert loudness_bias(reference, reference + 0.5, sounding_range_db=200) == pytest.approx(0.5)
    assert math.isnan(loudness_bias(reference[:0], other))


def test_f0_l1_cents_over_voiced_frames():
    reference = torch.tensor([440.0, 440.0, 220.0, 100.0, 1000.0])
    other = torch.tensor([440.0 * 2 ** (10 / 1200), 440.0 * 2 ** (-30 / 1200), 440.0, 50.0, 1000.0])
    voiced = torch.tensor([True, True, True, False, True])
    assert f0_l1_cents(reference, other, voiced) == pytest.approx((10 + 30 + 1200 + 0) / 4, rel=1e-5)
    assert f0_l1_cents(reference, reference, voiced) == 0.0
    assert math.isnan(f0_l1_cents(reference, other, torch.zeros(5, dtype=torch.bool)))


def test_f0_outlier_ratio_counts_gross_errors():
    reference = torch.full((8,), 200.0)
    other = torch.tensor([200.0, 400.0, 200.0 * 2 ** (49 / 1200), 200.0 * 2 ** (51 / 1200), 100.0, 200.0, 200.0, 200.0])
    voiced = torch.tensor([True] * 6 + [False, False])
    # Octave up, 51 cents and octave down are outliers; 49 cents is not: 3 of 6 voiced frames.
    assert f0_outlier_ratio(reference, other, voiced) == pytest.approx(3 / 6)
    assert f0_outlier_ratio(reference, other, voiced, threshold_cents=1300) == 0.0
    assert math.isnan(f0_outlier_ratio(reference, other, torch.zeros(8, dtype=torch.bool)))


def test_small_44k_config_trains_on_the_reported_distance():
    # torchddsp/configs/small_44k.toml sets the loss floors so that the training loss *is* the MSS we report,
    # digital silence included (the default loss floors magnitudes at 1e-4 and would not see it).
    from torchddsp.losses import MultiResolutionSTFTLoss
    from torchddsp.training import load_config

    rng = np.random.default_rng(3)
    x = rng.standard_normal(6000) * np.repeat([1.0, 0.0, 1e-5], 2000)      # loud, digital silence, quiet
    y = 0.7 * rng.standard_normal(6000) * np.repeat([1.0, 1e-6, 1e-4], 2000)
    options = dict(load_config("small_44k").losses["multi_resolution_stft"])       # the [losses] term
    assert options.pop("weight") == 1.0
    loss = MultiResolutionSTFTLoss(**options)
    value = float(loss(torch.from_numpy(y)[None], torch.from_numpy(x)[None]))
    # The loss floors the power at eps = 1e-20 (magnitude 1e-10): on an exactly zero bin that
    # moves log(X + 1e-7) by log(1 + 1e-3) = 1e-3, hence the tolerance.
    assert value == pytest.approx(mss_reference(x, y), rel=1e-4)
    default = MultiResolutionSTFTLoss(n_ffts=options["n_ffts"])
    assert float(default(torch.from_numpy(y)[None], torch.from_numpy(x)[None])) < 0.8 * value
