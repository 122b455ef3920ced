"""Issue 12 probes: silent wrong answers and raw library errors on bad input, each now a ValueError
naming the argument (or NaN where the input was NaN)."""

from __future__ import annotations

import pytest
import torch

import torchddsp.functional as F
import torchddsp.losses as L

X = torch.randn(2, 4000)


@pytest.mark.parametrize("loss", [L.multi_resolution_stft_loss, L.waveform_l1_loss])
@pytest.mark.parametrize("bad,match", [(X.half(), "input: expected a real float32 or float64"),
                                       (X.bfloat16(), "input: expected a real float32 or float64"),
                                       (X[:0], "input: expected at least one signal"),
                                       (X[:, :0], "input: expected at least one signal")])
def test_losses_name_an_unusable_input(loss, bad, match):
    with pytest.raises(ValueError, match=f"^{match}"):
        loss(bad, bad.float())


@pytest.mark.parametrize("bad,match", [(X.half(), "float32 or float64"), (X[:0], "at least one signal"),
                                       (X[:, :0], "at least one signal")])
def test_stft_names_an_unusable_input(bad, match):
    with pytest.raises(ValueError, match=f"^input: .*{match}"):
        F.stft(bad, 256, 64)


def test_spectral_convergence_of_a_nan_prediction_is_nan_not_a_perfect_score():
    target = torch.rand(2, 5, 7) + 0.1
    value = L.spectral_convergence(torch.full_like(target, float("nan")), target)
    assert torch.isnan(value)
    assert float(L.spectral_convergence(target, target)) == 0.0


def test_freqz_refuses_a_zero_leading_denominator():
    with pytest.raises(ValueError, match=r"^a: expected a\[\.\.\., 0\] != 0"):
        F.freqz(torch.tensor([1.0]), torch.tensor([0.0, 0.5]), 8)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_harmonic_bank_refuses_non_finite_f0(value):
    with pytest.raises(ValueError, match="^f0: expected finite"):
        F.harmonic_bank(torch.rand(1, 10, 5), torch.full((1, 10, 1), value), 16000, 64)
