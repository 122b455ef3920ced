"""AllpassCascade: parity with scipy, a per-sample direct-form loop when swept, unit magnitude, controls, errors."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.processors import AllpassCascade

SR = 8000


def _coefficient(f):
    return math.tan(math.pi * f / SR - math.pi / 4)


def test_fixed_break_frequencies_match_scipy_sections_and_keep_the_magnitude():
    x = torch.randn(2, 256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    frequencies = [150.0, 900.0, 3100.0]
    y = AllpassCascade(SR, 32, stages=3).render(x, torch.tensor(frequencies, dtype=torch.float64).expand(2, 8, 3))
    expected = x.numpy()
    for f in frequencies:
        a = _coefficient(f)
        expected = scipy.signal.lfilter([a, 1.0], [1.0, a], expected, axis=-1)
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-12)
    impulse = torch.zeros(1, 4096, dtype=torch.float64)
    impulse[0, 0] = 1
    h = AllpassCascade(SR, 4096, stages=3).render(impulse, torch.tensor(frequencies, dtype=torch.float64)[None, None])
    torch.testing.assert_close(torch.fft.rfft(h).abs(), torch.ones(1, 2049, dtype=torch.float64), atol=1e-9, rtol=0)


def test_swept_sections_follow_the_direct_form_one_recursion():
    processor = AllpassCascade(SR, 5, stages=2)
    g = torch.Generator().manual_seed(1)
    frequency = processor.sample_controls(9, generator=g, dtype=torch.float64)["break_frequency"]
    x = torch.randn(45, generator=g, dtype=torch.float64)
    signal = x.numpy()
    for k in range(2):
        out, x1, y1 = np.zeros_like(signal), 0.0, 0.0
        for n, xn in enumerate(signal):
            a = _coefficient(float(frequency[n // 5, k]))
            out[n] = a * xn + x1 - a * y1
            x1, y1 = xn, out[n]
        signal = out
    np.testing.assert_allclose(processor.render(x, frequency).numpy(), signal, atol=1e-12)


def test_get_controls_keeps_every_coefficient_inside_the_unit_interval():
    processor = AllpassCascade(SR, 4, stages=2)
    logits = torch.tensor([[-1e4, 1e4], [0.0, 3.0]], dtype=torch.float64)
    frequency = processor.get_controls(logits)["break_frequency"]
    assert 0 < float(frequency.min()) and float(frequency.max()) < SR / 2
    assert float(frequency[0, 0]) == pytest.approx(20.0) and float(frequency[0, 1]) == pytest.approx(0.49 * SR)


def test_errors_name_the_argument():
    processor = AllpassCascade(SR, 4, stages=2)
    with pytest.raises(ValueError, match="break_frequency_logits"):
        processor.get_controls(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="break_frequency"):
        processor.render(torch.zeros(8), torch.full((2,), 100.0))
    with pytest.raises(ValueError, match="break_frequency"):
        processor.render(torch.zeros(8), torch.full((2, 2), SR / 2))
    with pytest.raises(ValueError, match="stages"):
        AllpassCascade(SR, 4, stages=0)
