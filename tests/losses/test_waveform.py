"""Tests for torchddsp.losses.waveform: mean absolute and mean squared waveform errors.

References: the equations evaluated in float64 NumPy, and ``torch.nn.functional.l1_loss`` /
``mse_loss`` for ``reduction="mean"``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    seeded_randn,
    to_numpy,
)
from torchddsp.losses import WaveformL1Loss, WaveformL2Loss, waveform_l1_loss, waveform_l2_loss

LOSSES = [pytest.param(waveform_l1_loss, WaveformL1Loss, lambda d: np.abs(d), id="l1"),
          pytest.param(waveform_l2_loss, WaveformL2Loss, lambda d: d ** 2, id="l2")]


def _np64(t):
    return to_numpy(t).astype(np.float64)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn,module,elementwise", LOSSES)
def test_matches_equation(device, dtype, fn, module, elementwise):
    x, y = seeded_randn(2, 3, 257, dtype=dtype, device=device, seed=1), seeded_randn(2, 3, 257, dtype=dtype, device=device, seed=2)
    per_item = elementwise(_np64(x) - _np64(y)).mean(-1)
    for reduction, expected in (("none", per_item), ("mean", per_item.mean()), ("sum", per_item.sum())):
        assert_matches_reference(fn(x, y, reduction), expected, what=reduction)
        assert_matches_reference(module(reduction)(x, y), expected, what=reduction)
    assert fn(x, y, "none").shape == (2, 3) and fn(x, y).dtype == dtype


def test_mean_equals_torch_losses():
    x, y = seeded_randn(4, 100, seed=1), seeded_randn(4, 100, seed=2)
    torch.testing.assert_close(waveform_l1_loss(x, y), F.l1_loss(x, y))
    torch.testing.assert_close(waveform_l2_loss(x, y), F.mse_loss(x, y))


@pytest.mark.parametrize("fn,module,elementwise", LOSSES)
def test_gradcheck_and_batch(fn, module, elementwise):
    x = seeded_randn(3, 20, seed=1).requires_grad_(True)
    y = seeded_randn(3, 20, seed=2).requires_grad_(True)
    check_gradcheck(lambda a, b: fn(a, b, "none"), [x, y])
    check_batch_consistency(lambda a, b: fn(a, b, "none"), [x.detach(), y.detach()])


@pytest.mark.parametrize("fn,module,elementwise", LOSSES)
def test_broadcasts_target_over_leading_dims(fn, module, elementwise):
    x, y = seeded_randn(4, 2, 50, seed=1), seeded_randn(50, seed=2)
    expected = elementwise(_np64(x) - _np64(y)).mean(-1)
    assert_matches_reference(fn(x, y, "none"), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn,module,elementwise", LOSSES)
def test_safe_on_silence(dtype, fn, module, elementwise):
    for x, y in ((torch.zeros(2, 64, dtype=dtype), torch.zeros(2, 64, dtype=dtype)),
                 (torch.zeros(2, 64, dtype=dtype), seeded_randn(2, 64, dtype=dtype))):
        x.requires_grad_(True)
        out = check_finite_gradients(lambda a: fn(a, y), [x])
        assert_matches_reference(out, elementwise(_np64(x) - _np64(y)).mean())


@pytest.mark.parametrize("fn,module,elementwise", LOSSES)
def test_rejects_bad_inputs(fn, module, elementwise):
    with pytest.raises(ValueError, match="target.*same number of samples"):
        fn(torch.zeros(2, 10), torch.zeros(2, 11))
    with pytest.raises(ValueError, match="input and target.*broadcastable"):
        fn(torch.zeros(2, 10), torch.zeros(3, 10))
    with pytest.raises(ValueError, match="reduction"):
        fn(torch.zeros(2, 10), torch.zeros(2, 10), "max")
    with pytest.raises(ValueError, match="reduction"):
        module("max")
    with pytest.raises(ValueError, match="input"):
        fn(torch.zeros((), dtype=torch.float32), torch.zeros(2))
    with pytest.raises(ValueError, match="target"):
        fn(torch.zeros(2, 10), np.zeros((2, 10)))
