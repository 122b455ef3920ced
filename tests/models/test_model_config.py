"""Tests for torchddsp.models.autoencoder.ModelConfig: every setting is checked before anything is built."""

from __future__ import annotations

import pytest

from torchddsp.models import ModelConfig


@pytest.mark.parametrize("setting", [{"mlp_layers": 0}, {"z_size": -1}, {"n_harmonics": 5_000_000}, {"hidden": 2.5},
                                     {"hop_size": 20000, "sample_rate": 16000}, {"reverb_seconds": -1.0},
                                     {"n_mfcc": True}])
def test_model_config_refuses_invalid_sizes_before_allocating(setting):
    """Probe of issue 12: ``mlp_layers=0`` / ``z_size=-1`` failed deep in torch; an absurd size allocated
    gigabytes first. Each is now a ValueError naming the setting."""
    name = next(iter(setting)) if "sample_rate" not in setting else "hop_size"
    with pytest.raises(ValueError, match=f"^model.{name}: expected"):
        ModelConfig(**setting)
