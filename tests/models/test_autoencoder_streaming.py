"""The DDSP autoencoder renders block by block: GRU states, phase, noise, filter and reverb tails
carried in one state, the joined blocks equal to one call delayed by the synthesiser's latency."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_delayed_copy, assert_streaming_equivalent
from torchddsp.models import DDSPAutoencoder, ModelConfig


def _features(batch, frames, n_mfcc, seed=0):
    g = torch.Generator().manual_seed(seed)
    f0 = 110.0 * 2 ** (2 * torch.rand(batch, frames, generator=g, dtype=torch.float64))
    loudness = -60.0 + 40.0 * torch.rand(batch, frames, generator=g, dtype=torch.float64)
    mfcc = torch.randn(batch, frames, n_mfcc, generator=g, dtype=torch.float64)
    return f0, loudness, mfcc


@pytest.mark.parametrize("z_size, hop, anchor", [(0, 32, False), (4, 50, False), (0, 32, True), (3, 32, True)])
def test_autoencoder_streams_with_its_one_shot_output(z_size, hop, anchor):
    torch.manual_seed(0)
    config = ModelConfig(sample_rate=8000, hop_size=hop, n_harmonics=12, n_noise_bands=17, hidden=16, mlp_layers=1,
                         z_size=z_size, n_mfcc=5, reverb_seconds=0.01, loudness_anchor=anchor)
    model = DDSPAutoencoder(config).double().eval()
    frames = 9
    f0, loudness, mfcc = _features(2, frames, config.n_mfcc)
    mfcc = mfcc if z_size else None
    with torch.no_grad():
        one_shot = model(f0, loudness, mfcc, noise_seed=11)

        def render(start, stop, state):
            part = mfcc[:, start:stop] if mfcc is not None else None
            return model(f0[:, start:stop], loudness[:, start:stop], part, state=state)

        initial = model.initial_state(2, dtype=torch.float64, noise_seed=11)
        assert_streaming_equivalent(render, frames, initial, [1, 4, 0, 2], rtol=1e-9, atol=1e-11)
        streamed, _ = render(0, frames, initial)
    assert model.latency == max(hop, config.n_noise_bands - 1)
    assert_delayed_copy(streamed, one_shot, model.latency)


def test_autoencoder_without_mfcc_when_it_needs_them_names_the_argument():
    model = DDSPAutoencoder(ModelConfig(hidden=8, mlp_layers=1, z_size=2, n_mfcc=3, reverb_seconds=0))
    f0, loudness, _ = _features(1, 3, 3)
    with pytest.raises(ValueError, match="mfcc"):
        model(f0.float(), loudness.float())

