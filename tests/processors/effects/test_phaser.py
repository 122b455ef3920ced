"""Phaser: the closed-form response H = g1 + gw P / (1 - g2 P), the dry/wet mix, controls, errors."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional.effects.phaser import phaser_response
from torchddsp.processors import Phaser

SR = 8000


def _gain(value):
    return torch.tensor([value], dtype=torch.float64)


def test_impulse_response_has_the_closed_form_frequency_response():
    n = 8192
    impulse = torch.zeros(n, dtype=torch.float64)
    impulse[0] = 1
    frequency = torch.tensor([300.0, 800.0, 2500.0], dtype=torch.float64)
    processor = Phaser(SR, 1024, stages=3)
    h = processor.render(impulse, frequency.expand(8, 3), _gain(0.7), _gain(0.9), _gain(-0.6))
    expected = phaser_response(frequency, SR, n, dry_gain=0.7, wet_gain=0.9, feedback=-0.6)
    torch.testing.assert_close(torch.fft.rfft(h), expected, atol=1e-9, rtol=0)


def test_without_feedback_it_is_dry_plus_wet_cascade():
    x = torch.randn(2, 96, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    frequencies = [400.0, 1200.0]
    y = Phaser(SR, 16, stages=2).render(x, torch.tensor(frequencies, dtype=torch.float64).expand(2, 6, 2),
                                        _gain(0.5), _gain(0.25), _gain(0.0))
    wet = x.numpy()
    for f in frequencies:
        a = math.tan(math.pi * f / SR - math.pi / 4)
        wet = scipy.signal.lfilter([a, 1.0], [1.0, a], wet, axis=-1)
    np.testing.assert_allclose(y.numpy(), 0.5 * x.numpy() + 0.25 * wet, atol=1e-12)


def test_get_controls_gives_stable_controls_for_any_logits():
    processor = Phaser(SR, 8, stages=2, max_feedback=0.8)
    big = torch.tensor([[-1e4], [1e4]], dtype=torch.float64)
    controls = processor.get_controls(big.expand(2, 2)[:, None, :].expand(2, 3, 2), big, big, big)
    assert float(controls["feedback"].abs().max()) <= 0.8
    for name in ("dry_gain", "wet_gain"):
        assert 0.0 <= float(controls[name].min()) and float(controls[name].max()) <= 1.0
    assert 0 < float(controls["break_frequency"].min()) and float(controls["break_frequency"].max()) < SR / 2
    x = torch.randn(2, 24, dtype=torch.float64)
    assert bool(torch.isfinite(processor.render(x, **controls)).all())


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="max_feedback"):
        Phaser(SR, 8, max_feedback=1.0)
    processor = Phaser(SR, 8, stages=2)
    frequency = torch.full((1, 2), 500.0)
    with pytest.raises(ValueError, match="feedback"):
        processor.render(torch.zeros(8), frequency, torch.ones(1), torch.ones(1), torch.full((1,), 1.0))
    with pytest.raises(ValueError, match="dry_gain"):
        processor.render(torch.zeros(8), frequency, torch.ones(2), torch.ones(1), torch.zeros(1))
    with pytest.raises(ValueError, match="break_frequency_logits"):
        processor.get_controls(torch.zeros(1, 3), torch.zeros(1), torch.zeros(1), torch.zeros(1))
