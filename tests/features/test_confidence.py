"""Tests for torchddsp.features.confidence: the one f0-confidence rule and where it is used."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from torchddsp.data.prepare import compute_statistics
from torchddsp.evaluation import metrics
from torchddsp.features import EVALUATION_F0_CONFIDENCE, F0_CONFIDENCE_THRESHOLD, confident_frames, crepe


def test_rule_is_confidence_at_least_the_threshold_on_a_positive_f0():
    f0 = torch.tensor([100.0, 100.0, 0.0, 200.0, 300.0])
    conf = torch.tensor([0.5, 0.49, 0.9, 0.85, 1.0])
    assert confident_frames(f0, conf).tolist() == [True, False, False, True, True]
    assert confident_frames(f0, conf, EVALUATION_F0_CONFIDENCE).tolist() == [False, False, False, True, True]
    mask = confident_frames(f0.numpy(), conf.numpy(), 0.9)
    assert isinstance(mask, np.ndarray) and mask.tolist() == [False, False, False, False, True]


def test_thresholds_are_the_documented_ones_and_used_by_their_callers():
    assert (F0_CONFIDENCE_THRESHOLD, EVALUATION_F0_CONFIDENCE) == (0.5, 0.85)
    assert metrics.EVALUATION_F0_CONFIDENCE is EVALUATION_F0_CONFIDENCE
    assert inspect.signature(crepe).parameters["voicing_threshold"].default == F0_CONFIDENCE_THRESHOLD
    assert inspect.signature(compute_statistics).parameters["confidence_threshold"].default \
        == F0_CONFIDENCE_THRESHOLD


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "0.5"])
def test_threshold_outside_zero_one_is_refused(bad):
    with pytest.raises(ValueError, match="threshold"):
        confident_frames(torch.ones(3), torch.ones(3), bad)
