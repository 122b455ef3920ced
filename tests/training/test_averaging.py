"""Tests for torchddsp.training.averaging: the weight average follows its recursion (float64 NumPy
reference), is saved beside the weights, and is what inference loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchddsp.apps.inference import load_trained
from torchddsp.models import DDSPAutoencoder, ModelConfig
from torchddsp.training import load_checkpoint, save_checkpoint
from torchddsp.training.averaging import weight_average


def test_average_follows_the_warmed_up_exponential_recursion():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2).double()
    decay = 0.9
    average = weight_average(model, decay)
    history = []
    for _ in range(40):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        history.append(model.weight.detach().numpy().copy())
        average.update_parameters(model)
    expected = history[0]                                   # the first update copies the weights
    for t, w in enumerate(history[1:], start=1):
        d = min(decay, (1 + t) / (10 + t))
        expected = d * expected + (1 - d) * w
    np.testing.assert_allclose(average.module.weight.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    assert int(average.n_averaged) == 40
    # The average is not simply the last weights.
    assert np.abs(expected - history[-1]).max() > 0.1


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5])
def test_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        weight_average(torch.nn.Linear(2, 2), decay)


def test_inference_loads_the_average_when_the_checkpoint_has_one(tmp_path):
    config = ModelConfig(hidden=8, mlp_layers=1, n_harmonics=4, n_noise_bands=5, reverb_seconds=0.05)
    torch.manual_seed(0)
    model = DDSPAutoencoder(config)
    average = weight_average(model, 0.99)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)                                      # the trained weights move on; the average did not
    optimizer = torch.optim.Adam(model.parameters())
    state = {"config": {"model": config.to_dict()}, "stats": {}, "f0_method": "yin"}
    without = save_checkpoint(tmp_path / "plain", 3, model, optimizer, state)
    assert not (without / "average.safetensors").exists()
    for name, value in load_trained(tmp_path / "plain").model.state_dict().items():
        torch.testing.assert_close(value, model.state_dict()[name], rtol=0, atol=0)

    average.update_parameters(DDSPAutoencoder(config))      # first update: copies fresh weights
    path = save_checkpoint(tmp_path / "averaged", 3, model, optimizer, state, average=average.module)
    loaded = load_trained(tmp_path / "averaged").model.state_dict()
    for name, value in average.module.state_dict().items():
        torch.testing.assert_close(loaded[name], value, rtol=0, atol=0, msg=lambda m, n=name: f"{n}: {m}")
    assert any(not torch.equal(loaded[n], v) for n, v in model.state_dict().items())
    # Training resumes from the trained weights, not from the average.
    resumed = DDSPAutoencoder(config)
    load_checkpoint(path, resumed)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0)
    with pytest.raises(ValueError, match="weights"):
        load_checkpoint(path, resumed, weights="ema")
    with pytest.raises(ValueError, match="average.safetensors"):
        load_checkpoint(without, resumed, weights="average")
