"""SecondOrderAllpassCascade: parity with scipy, unit magnitude, a swept direct-form loop, controls, errors."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.processors import SecondOrderAllpassCascade

SR = 8000


def _denominator(f, r):
    return -2 * r * math.cos(2 * math.pi * f / SR), r * r


def test_fixed_sections_match_scipy_and_pass_every_frequency_at_unit_gain():
    x = torch.randn(2, 256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sections = [(300.0, 0.9), (2000.0, 0.5)]
    frequency = torch.tensor([f for f, _ in sections], dtype=torch.float64)
    radius = torch.tensor([r for _, r in sections], dtype=torch.float64)
    y = SecondOrderAllpassCascade(SR, 32).render(x, frequency.expand(2, 8, 2), radius.expand(2, 8, 2))
    expected = x.numpy()
    for f, r in sections:
        a1, a2 = _denominator(f, r)
        expected = scipy.signal.lfilter([a2, a1, 1.0], [1.0, a1, a2], expected, axis=-1)
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-12)
    impulse = torch.zeros(4096, dtype=torch.float64)
    impulse[0] = 1
    h = SecondOrderAllpassCascade(SR, 4096).render(impulse, frequency[None], radius[None])
    torch.testing.assert_close(torch.fft.rfft(h).abs(), torch.ones(2049, dtype=torch.float64), atol=1e-9, rtol=0)


def test_swept_sections_follow_the_direct_form_one_recursion():
    processor = SecondOrderAllpassCascade(SR, 5, stages=2)
    g = torch.Generator().manual_seed(1)
    controls = processor.sample_controls(9, generator=g, dtype=torch.float64)
    x = torch.randn(45, generator=g, dtype=torch.float64)
    signal = x.numpy()
    for k in range(2):
        out = np.zeros_like(signal)
        for n in range(len(signal)):
            a1, a2 = _denominator(float(controls["frequency"][n // 5, k]), float(controls["radius"][n // 5, k]))
            x1, x2 = (signal[n - 1] if n >= 1 else 0.0), (signal[n - 2] if n >= 2 else 0.0)
            y1, y2 = (out[n - 1] if n >= 1 else 0.0), (out[n - 2] if n >= 2 else 0.0)
            out[n] = a2 * signal[n] + a1 * x1 + x2 - a1 * y1 - a2 * y2
        signal = out
    np.testing.assert_allclose(processor.render(x, **controls).numpy(), signal, atol=1e-12)


def test_get_controls_gives_stable_sections_for_any_logits():
    processor = SecondOrderAllpassCascade(SR, 4, stages=2, max_radius=0.95)
    logits = torch.tensor([[-1e4, 1e4], [0.0, 2.0]], dtype=torch.float64)
    controls = processor.get_controls(logits, logits)
    assert 0 < float(controls["frequency"].min()) and float(controls["frequency"].max()) < SR / 2
    assert 0 <= float(controls["radius"].min()) and float(controls["radius"].max()) <= 0.95
    assert float(controls["radius"][1, 0]) == pytest.approx(0.475)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="max_radius"):
        SecondOrderAllpassCascade(SR, 4, max_radius=1.0)
    processor = SecondOrderAllpassCascade(SR, 4, stages=2)
    with pytest.raises(ValueError, match="radius_logits"):
        processor.get_controls(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="denominators"):
        processor.render(torch.zeros(8), torch.full((2, 2), 500.0), torch.full((2, 2), 1.5))
    with pytest.raises(ValueError, match="frequency"):
        processor.render(torch.zeros(8), torch.full((2,), 500.0), torch.full((2,), 0.5))
