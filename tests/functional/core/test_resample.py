"""Tests for torchddsp.functional.core.resample: parity with scipy.signal.resample_poly and behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from helpers import assert_matches_reference
from torchddsp.functional.core import resample
from torchddsp.functional.core.resample import resampling_ratio


@pytest.mark.parametrize("orig,new,up,down", [(44100, 16000, 160, 441), (16000, 44100, 441, 160),
                                              (48000, 16000, 1, 3), (22050.0, 24000, 160, 147)])
def test_matches_resample_poly(orig, new, up, down):
    assert resampling_ratio(orig, new) == (up, down)
    x = np.random.default_rng(0).standard_normal((2, 3000))
    expected = scipy.signal.resample_poly(x, up, down, axis=-1)
    y = resample(torch.from_numpy(x), orig, new)
    assert y.shape == (2, math.ceil(3000 * up / down)) and y.dtype == torch.float64
    assert_matches_reference(y, expected, rtol=0, atol=1e-14)
    y32 = resample(torch.from_numpy(x).float(), orig, new)
    assert y32.dtype == torch.float32
    assert_matches_reference(y32, expected, rtol=0, atol=1e-5)
    arr = resample(x.astype(np.float32), orig, new)            # arrays in, arrays out (data preparation)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
    np.testing.assert_allclose(arr, expected, rtol=0, atol=1e-5)


def test_odd_ratios_use_the_nearest_ratio_with_a_small_denominator():
    up, down = resampling_ratio(44101, 16000)
    assert down <= 1000 and abs(up / down - 16000 / 44101) < 1e-5


def test_a_tone_keeps_its_frequency_and_an_alias_dies():
    t = np.arange(44100) / 44100
    tone = resample(torch.from_numpy(np.sin(2 * np.pi * 1000 * t)), 44100, 16000)
    spectrum = np.abs(np.fft.rfft(tone.numpy()[2000:-2000] * np.hanning(16000 - 4000)))
    assert abs(np.argmax(spectrum) * 16000 / (16000 - 4000) - 1000) < 2
    above = resample(torch.from_numpy(np.sin(2 * np.pi * 12000 * t)), 44100, 16000)   # above the new Nyquist
    assert float(above[2000:-2000].abs().max()) < 1e-2


def test_equal_rates_return_the_input_and_errors_name_arguments():
    x = torch.randn(100)
    assert resample(x, 16000, 16000) is x
    with pytest.raises(ValueError, match="orig_freq"):
        resample(x, 0, 16000)
    with pytest.raises(ValueError, match="x.*grad"):
        resample(x.requires_grad_(True), 16000, 8000)
    with pytest.raises(ValueError, match="x"):
        resample(np.arange(10), 16000, 8000)
