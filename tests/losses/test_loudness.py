"""Tests for torchddsp.losses.loudness: the loudness L1 in dB between prediction and target.

Reference: the float64 NumPy transcription of the loudness equation (``tests/loudness_reference.py``),
differenced and averaged over frames.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from loudness_reference import ref_loudness
from torchddsp.evaluation.metrics import loudness_l1
from torchddsp.features import default_loudness_n_fft, loudness
from torchddsp.losses import LoudnessL1Loss, loudness_l1_loss


def _tones(sr, items, seconds=0.2, seed=0, dtype=torch.float64, device="cpu"):
    """Decaying tones plus noise at a different level per item, ``(items, time)``."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sr * seconds), dtype=torch.float64) / sr
    level = torch.rand(items, 1, generator=g, dtype=torch.float64) * 0.5 + 0.05
    x = level * torch.sin(2 * math.pi * 330 * t) * torch.exp(-4 * t) + 0.01 * torch.randn(items, t.numel(), generator=g,
                                                                                           dtype=torch.float64)
    return x.to(dtype=dtype, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_numpy_transcription(device, dtype):
    sr, hop = 8000, 64
    x, y = _tones(sr, 3, seed=1, dtype=dtype, device=device), _tones(sr, 3, seed=2, dtype=dtype, device=device)
    n_fft = default_loudness_n_fft(sr)
    per_item = np.abs(ref_loudness(to_numpy(x), sr, hop, n_fft) - ref_loudness(to_numpy(y), sr, hop, n_fft)).mean(-1)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == torch.float32 else {}      # dB; float32 log10 of tiny powers
    for reduction, expected in (("none", per_item), ("mean", per_item.mean()), ("sum", per_item.sum())):
        assert_matches_reference(loudness_l1_loss(x, y, sr, hop, reduction=reduction), expected, what=reduction, **tol)
        assert_matches_reference(LoudnessL1Loss(sr, hop, reduction=reduction)(x, y), expected, what=reduction, **tol)
    assert loudness_l1_loss(x, y, sr, hop, reduction="none").shape == (3,)


def test_equals_the_evaluation_metric_and_is_zero_for_identical_signals():
    sr, hop = 16000, 64
    x, y = _tones(sr, 1, seed=3)[0], _tones(sr, 1, seed=4)[0]
    expected = loudness_l1(loudness(x, sr, hop), loudness(y, sr, hop))
    assert float(loudness_l1_loss(x, y, sr, hop)) == pytest.approx(expected, rel=1e-12)
    assert expected > 0.5          # the two signals differ in level, so the check means something
    assert float(loudness_l1_loss(x, x, sr, hop)) == 0.0


def test_n_fft_is_passed_on():
    sr, hop = 8000, 32
    x, y = _tones(sr, 2, seed=5), _tones(sr, 2, seed=6)
    expected = np.abs(ref_loudness(to_numpy(x), sr, hop, 256) - ref_loudness(to_numpy(y), sr, hop, 256)).mean()
    assert_matches_reference(loudness_l1_loss(x, y, sr, hop, n_fft=256), expected)


def test_gradcheck():
    sr, hop = 4000, 50
    x, y = _tones(sr, 2, seconds=0.06, seed=7), _tones(sr, 2, seconds=0.06, seed=8)
    check_gradcheck(lambda a: loudness_l1_loss(a, y, sr, hop, n_fft=64), [x.requires_grad_()])


def test_gradient_moves_a_quiet_prediction_towards_the_target_level():
    sr, hop = 8000, 64
    y = _tones(sr, 1, seed=9)
    x = (0.5 * y).requires_grad_()
    loudness_l1_loss(x, y, sr, hop).backward()
    # the prediction is 6 dB quiet everywhere: the descent direction scales it up
    assert float((x.grad * y).sum()) < 0


def test_batch_consistency():
    sr, hop = 8000, 64
    x, y = _tones(sr, 4, seed=10), _tones(sr, 4, seed=11)
    check_batch_consistency(lambda a, b: loudness_l1_loss(a, b, sr, hop, reduction="none"), [x, y])


def test_silence_is_finite_with_finite_gradients():
    sr, hop = 8000, 64
    x = torch.zeros(2, 1600, dtype=torch.float64)
    y = _tones(sr, 2, seed=12)
    check_finite_gradients(lambda a: loudness_l1_loss(a, y, sr, hop), [x.requires_grad_()])
    assert float(loudness_l1_loss(x, x, sr, hop)) == 0.0


@pytest.mark.parametrize("kwargs,name", [
    (dict(reduction="median"), "reduction"), (dict(sample_rate=0), "sample_rate"), (dict(hop_size=0), "hop_size"),
])
def test_bad_arguments_raise_naming_them(kwargs, name):
    x = _tones(8000, 1)
    args = dict(sample_rate=8000, hop_size=64) | kwargs
    with pytest.raises(ValueError, match=name):
        loudness_l1_loss(x, x, **args)


@pytest.mark.parametrize("kwargs,name", [
    (dict(sample_rate=-1.0), "sample_rate"), (dict(hop_size=1.5), "hop_size"), (dict(n_fft=0), "n_fft"),
    (dict(reduction="max"), "reduction"),
])
def test_module_checks_its_arguments_at_construction(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LoudnessL1Loss(**(dict(sample_rate=8000, hop_size=64) | kwargs))


def test_mismatched_lengths_raise_naming_target():
    x = _tones(8000, 1)
    with pytest.raises(ValueError, match="target"):
        loudness_l1_loss(x, x[..., :-1], 8000, 64)
