"""The autoencoder's options for unseen performances (issue 13): the loudness anchor and the latent z
read from MFCCs. Shapes, the anchor's equation, gradients, chunked analysis and the checkpoint round
trip through training and inference (streaming: ``test_autoencoder_streaming.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.apps.inference import load_trained, render, resynthesize
from torchddsp.data import prepare
from torchddsp.data.long_audio import features_in_chunks
from torchddsp.features import loudness as loudness_of
from torchddsp.features import mfcc
from torchddsp.models import DDSPAutoencoder, ModelConfig, anchor_gain, mfcc_frames
from torchddsp.training import load_config, train

SMALL = dict(sample_rate=8000, hop_size=32, n_harmonics=12, n_noise_bands=17, hidden=16, mlp_layers=1, n_mfcc=5)


def _features(batch, frames, n_mfcc, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    f0 = 110.0 * 2 ** (2 * torch.rand(batch, frames, generator=g, dtype=dtype))
    loudness = -60.0 + 40.0 * torch.rand(batch, frames, generator=g, dtype=dtype)
    return f0, loudness, torch.randn(batch, frames, n_mfcc, generator=g, dtype=dtype)


def test_anchor_gain_is_the_level_difference_in_amplitude():
    loudness = np.array([-120.0, -40.0, -23.5, 0.0, 6.0])
    expected = 10.0 ** ((loudness - -40.0) / 20.0)
    np.testing.assert_allclose(anchor_gain(torch.tensor(loudness), -40.0).numpy(), expected, rtol=1e-12)


def test_the_anchor_multiplies_amplitude_and_noise_by_the_gain_and_nothing_else():
    torch.manual_seed(0)
    free = DDSPAutoencoder(ModelConfig(**SMALL, reverb_seconds=0)).double()
    anchored = DDSPAutoencoder(ModelConfig(**SMALL, reverb_seconds=0, loudness_anchor=True)).double()
    anchored.load_state_dict(free.state_dict())                  # no new weights: the same network
    free.set_statistics(-35.0, 12.0)
    anchored.set_statistics(-35.0, 12.0)
    f0, loudness, _ = _features(2, 7, SMALL["n_mfcc"])
    a, b = free.controls(f0, loudness), anchored.controls(f0, loudness)
    gain = (10.0 ** ((loudness + 35.0) / 20.0)).unsqueeze(-1)
    torch.testing.assert_close(b["amplitude"], a["amplitude"] * gain, rtol=1e-12, atol=0)
    torch.testing.assert_close(b["noise_magnitudes"], a["noise_magnitudes"] * gain, rtol=1e-12, atol=0)
    torch.testing.assert_close(b["harmonic_distribution"], a["harmonic_distribution"], rtol=0, atol=0)


@pytest.mark.parametrize("shift_db", [-18.0, 0.0, 12.0])
def test_an_anchored_model_renders_the_loudness_difference_one_for_one(shift_db):
    """At a constant input level the anchored output is the free output times the gain, so its measured
    loudness differs by exactly ``L - loudness_mean`` dB (the feature is a mean of dB over frequency)."""
    torch.manual_seed(1)
    config = dict(SMALL, reverb_seconds=0.01)
    free = DDSPAutoencoder(ModelConfig(**config)).double()
    anchored = DDSPAutoencoder(ModelConfig(**config, loudness_anchor=True)).double()
    anchored.load_state_dict(free.state_dict())
    f0 = torch.full((1, 100), 220.0, dtype=torch.float64)
    level = torch.full((1, 100), float(free.loudness_mean) + shift_db, dtype=torch.float64)
    with torch.no_grad():
        outputs = [model(f0, level, noise_seed=3) for model in (free, anchored)]
    measured = [loudness_of(out, 8000, 32, range_db=300.0)[0, 20:-20] for out in outputs]
    torch.testing.assert_close(measured[1] - measured[0], torch.full_like(measured[0], shift_db), rtol=0, atol=1e-6)


def test_gradients_reach_loudness_mfcc_and_every_weight_of_an_anchored_z_model():
    torch.manual_seed(2)
    model = DDSPAutoencoder(ModelConfig(**dict(SMALL, n_harmonics=3, n_noise_bands=3, hidden=4), z_size=2,
                                        reverb_seconds=0, loudness_anchor=True)).double()
    f0, loudness, features = _features(1, 3, SMALL["n_mfcc"])
    loudness.requires_grad_(True)
    features.requires_grad_(True)

    def audio(loud, coefficients):
        return model(f0, loud, coefficients, noise_seed=0)
    assert torch.autograd.gradcheck(audio, (loudness, features), eps=1e-6, atol=1e-6)
    model.zero_grad()
    audio(loudness, features).square().sum().backward()
    silent = [name for name, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert silent == []


@pytest.mark.parametrize("time", [8000, 8001, 8031])
def test_mfcc_frames_are_the_models_frames(time):
    """``ceil(time / hop)`` frames, frame m centred at sample m * hop: a delay of k hops moves them by k frames."""
    config = ModelConfig(**SMALL)
    g = torch.Generator().manual_seed(4)
    audio = torch.randn(2, time, generator=g, dtype=torch.float64) * 0.1
    frames = mfcc_frames(audio, config)
    assert frames.shape == (2, -(-time // config.hop_size), config.n_mfcc)
    reference = mfcc(audio, 8000, n_mfcc=config.n_mfcc, n_fft=512, hop_length=32, n_mels=128)
    torch.testing.assert_close(frames, reference[:, :frames.shape[1]], rtol=0, atol=0)
    delayed = mfcc_frames(torch.nn.functional.pad(audio, (3 * 32, 0)), config)
    n = frames.shape[1]
    torch.testing.assert_close(delayed[:, 3 + 20:3 + n - 20], frames[:, 20:n - 20], rtol=1e-9, atol=1e-9)


def test_mfcc_analysed_in_chunks_equal_the_whole_recordings():
    config = ModelConfig(sample_rate=16000, hop_size=64, n_mfcc=30)
    rng = np.random.default_rng(5)
    t = np.arange(3 * 16000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 0.7 * t)) + 0.01 * rng.standard_normal(t.size))
    audio = audio.astype(np.float32)[:3 * 16000 - 17]
    whole = mfcc_frames(torch.from_numpy(audio), config).numpy()
    chunked = features_in_chunks(lambda segment: {"mfcc": mfcc_frames(segment, config)}, audio, 16000, 64,
                                 chunk_seconds=0.9, context_seconds=0.5)["mfcc"]
    assert chunked.shape == whole.shape == (-(-audio.size // 64), 30)
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=2e-3)


def test_a_trained_anchored_z_model_round_trips_through_its_checkpoint(tmp_path):
    """Train a few steps with z and the anchor, load the run back for inference: the same settings and
    weights, MFCCs analysed from the input, and a clear error when a caller forgets them."""
    (tmp_path / "audio").mkdir()
    t = np.arange(24000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * np.minimum(1, np.minimum(t, t[-1] - t) / 0.05)
    sf.write(str(tmp_path / "audio" / "tone.wav"), tone.astype(np.float32), 16000, subtype="FLOAT")
    prepare(tmp_path / "audio", tmp_path / "data", example_seconds=1.0, progress=False, log=lambda m: None)
    config = load_config("small", ["model.hidden=16", "model.mlp_layers=1", "model.n_harmonics=8", "model.z_size=4",
                                   "model.n_mfcc=10", "model.loudness_anchor=true", "train.crop_seconds=0.25",
                                   "train.batch_size=2", "train.threads=1", "train.steps=4",
                                   "train.checkpoint_every=4"])
    threads = torch.get_num_threads()
    train(tmp_path / "data", tmp_path / "run", config, progress=False, log=lambda m: None)
    torch.set_num_threads(threads)
    trained = load_trained(tmp_path / "run")
    assert trained.model.config.z_size == 4 and trained.model.config.loudness_anchor is True
    assert trained.model.encoder is not None
    result = resynthesize(trained, tmp_path / "audio" / "tone.wav")
    frames = result["f0_hz"].shape[-1]
    assert result["mfcc"].shape == (frames, 10)
    assert result["output"].shape == (frames * 64,) and torch.isfinite(result["output"]).all()
    with torch.no_grad():
        one_shot = trained.model(result["f0_hz"][None], result["loudness_db"][None], result["mfcc"][None],
                                 noise_seed=0)[0]
    latency = trained.model.latency
    torch.testing.assert_close(result["output"][:-latency], one_shot[:-latency], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"^mfcc: this model reads a latent z"):
        render(trained, result["f0_hz"], result["loudness_db"])


def test_loudness_anchor_must_be_true_or_false():
    with pytest.raises(ValueError, match=r"^model.loudness_anchor: expected true or false, received 'yes'"):
        ModelConfig(loudness_anchor="yes")
