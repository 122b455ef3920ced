"""Tests for torchddsp.models.autoencoder.ModelConfig: every setting is checked before anything is built."""

from __future__ import annotations

import pytest
import torch

from torchddsp.models import DDSPAutoencoder, ModelConfig


@pytest.mark.parametrize("setting", [{"mlp_layers": 0}, {"z_size": -1}, {"n_harmonics": 5_000_000}, {"hidden": 2.5},
                                     {"hop_size": 20000, "sample_rate": 16000}, {"reverb_seconds": -1.0},
                                     {"n_mfcc": True}])
def test_model_config_refuses_invalid_sizes_before_allocating(setting):
    """Probe of issue 12: ``mlp_layers=0`` / ``z_size=-1`` failed deep in torch; an absurd size allocated
    gigabytes first. Each is now a ValueError naming the setting."""
    name = next(iter(setting)) if "sample_rate" not in setting else "hop_size"
    with pytest.raises(ValueError, match=f"^model.{name}: expected"):
        ModelConfig(**setting)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, 8000.5])
def test_the_model_refuses_f0_outside_zero_to_nyquist(bad):
    """Probe of issue 12: NaN or negative f0 became NaN controls; above Nyquist every harmonic was silenced."""
    model = DDSPAutoencoder(ModelConfig(sample_rate=16000, hidden=8, mlp_layers=1, n_harmonics=4, n_noise_bands=5,
                                        reverb_seconds=0))
    f0 = torch.full((1, 3), 220.0)
    loudness = torch.full((1, 3), -40.0)
    assert torch.isfinite(model(f0, loudness)).all()
    f0[0, 1] = bad
    with pytest.raises(ValueError, match=r"^f0_hz: expected finite frequencies in \[0, 8000\] Hz"):
        model(f0, loudness)
    f0[0, 1] = 8000.0                                   # Nyquist itself and 0 Hz are allowed
    f0[0, 2] = 0.0
    assert torch.isfinite(model(f0, loudness)).all()
