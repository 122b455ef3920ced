"""A silent prediction gets exactly zero gradient from every magnitude-based loss; a waveform L1 term
gives one (the remedy docs/losses.md offers)."""

from __future__ import annotations

import pytest
import torch

from torchddsp.losses import (
    LoudnessL1Loss,
    MelMultiResolutionSTFTLoss,
    MultiResolutionSTFTLoss,
    WaveformL1Loss,
    WaveformL2Loss,
)

SR = 16000
t = torch.arange(SR // 2, dtype=torch.float64) / SR
TARGET = (0.3 * torch.sin(2 * torch.pi * 220 * t))[None]
SHAPE = torch.sin(2 * torch.pi * 220 * t + 0.3)[None]

MAGNITUDE_LOSSES = {
    "mrstft": lambda: MultiResolutionSTFTLoss(),
    "mrstft_sc": lambda: MultiResolutionSTFTLoss(w_sc=1.0),
    "mel": lambda: MelMultiResolutionSTFTLoss(SR),
    "loudness": lambda: LoudnessL1Loss(SR, 64),
}


def amplitude_gradient(loss, scale: float) -> float:
    amplitude = torch.tensor(scale, dtype=torch.float64, requires_grad=True)
    value = loss(amplitude * SHAPE, TARGET)
    assert torch.isfinite(value)
    value.backward()
    return float(amplitude.grad)


@pytest.mark.parametrize("name", sorted(MAGNITUDE_LOSSES))
def test_silence_gets_exactly_zero_gradient_from_magnitude_losses(name):
    loss = MAGNITUDE_LOSSES[name]()
    assert amplitude_gradient(loss, 0.0) == 0.0
    assert amplitude_gradient(loss, 1e-3) != 0.0                      # a sound prediction does get one


def test_the_magnitude_floor_extends_it_to_near_silence_and_a_lower_eps_lifts_that():
    assert amplitude_gradient(MultiResolutionSTFTLoss(), 1e-7) == 0.0
    assert amplitude_gradient(MultiResolutionSTFTLoss(eps=1e-20), 1e-7) < 0.0
    assert amplitude_gradient(MultiResolutionSTFTLoss(eps=1e-20), 0.0) == 0.0


def test_a_waveform_l2_term_gives_a_gradient_too():
    assert amplitude_gradient(WaveformL2Loss(), 0.0) == pytest.approx(-2 * float((TARGET * SHAPE).mean()))


@pytest.mark.parametrize("scale", [0.0, 1e-7, 1e-3])
def test_a_waveform_l1_term_pulls_a_silent_prediction_towards_the_target(scale):
    gradient = amplitude_gradient(WaveformL1Loss(), scale)
    expected = -float((torch.sign(TARGET - scale * SHAPE) * SHAPE).mean())
    assert gradient == pytest.approx(expected) and gradient < -0.5       # growing the amplitude lowers the loss
