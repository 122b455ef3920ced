r"""The f0-confidence rule: which frames hold a pitch estimate confident enough to use.

A frame :math:`m` is *confident* at threshold :math:`c` when

.. math:: \mathrm{conf}_m \ge c \quad\text{and}\quad f_{0,m} > 0,

with the confidence of the tracker (YIN's periodicity, CREPE's peak salience, Harvest's 0/1) in
:math:`[0, 1]`. One rule, two named thresholds:

* :data:`F0_CONFIDENCE_THRESHOLD` (0.5): voicing in the features (CREPE's ``voiced``), the f0
  statistics of a prepared data set and the automatic pitch/loudness shifts of timbre transfer;
* :data:`EVALUATION_F0_CONFIDENCE` (0.85): the frames on which the resynthesis metrics
  compare f0, as Engel et al. 2020 (the input's CREPE confidence at least 0.85).
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_tensor

__all__ = ["F0_CONFIDENCE_THRESHOLD", "EVALUATION_F0_CONFIDENCE", "confident_frames", "check_confidence_threshold"]

#: Confidence at or above which a frame counts as pitched (features, data statistics, transfer).
F0_CONFIDENCE_THRESHOLD = 0.5
#: Confidence of the reference at or above which the resynthesis metrics compare f0 (Engel et al. 2020).
EVALUATION_F0_CONFIDENCE = 0.85


def check_confidence_threshold(threshold, name: str = "threshold") -> float:
    """A threshold named ``name`` must be a number in [0, 1] (a confidence)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"{name}: expected a number in [0, 1], received {threshold!r}")
    return float(threshold)


def confident_frames(f0_hz, f0_confidence, threshold: float = F0_CONFIDENCE_THRESHOLD):
    """Boolean mask ``(..., frames)`` of the confident frames (see the module docstring).

    ``f0_hz`` and ``f0_confidence`` are ``(..., frames)`` tensors (or NumPy arrays: the mask is
    then a NumPy array) of broadcastable shapes; ``threshold`` in [0, 1].
    """
    threshold = check_confidence_threshold(threshold)
    if isinstance(f0_confidence, torch.Tensor):
        check_tensor("f0_confidence", f0_confidence)
    return (f0_confidence >= threshold) & (f0_hz > 0)
