"""Tests for torchddsp.features.extract: one frame grid for f0, confidence, voicing and loudness.

References: the individual trackers (``yin``, ``crepe``, ``loudness``), an exponential glide whose
f0 at every sample is known (alignment), and, for ``harvest``, pyworld called directly.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from helpers import DEVICES, assert_finite, check_batch_consistency, shared_audio
from torchddsp.data.audio import read_audio
from torchddsp.features import crepe_weights_path, extract_features, harvest, loudness, yin

# pyworld imports the deprecated pkg_resources
pytestmark = pytest.mark.filterwarnings("ignore:pkg_resources is deprecated:UserWarning")

KEYS = {"f0_hz", "f0_confidence", "voiced", "loudness_db"}


def crepe_available():
    try:
        crepe_weights_path("tiny")
        return True
    except FileNotFoundError:
        return False


def methods():
    yield pytest.param("yin", id="yin")
    yield pytest.param("crepe", id="crepe", marks=pytest.mark.skipif(not crepe_available(),
                                                                     reason="CREPE weights not installed"))
    yield pytest.param("harvest", id="harvest", marks=pytest.mark.skipif(
        importlib.util.find_spec("pyworld") is None, reason="pyworld not installed"))


def glide(sample_rate, seconds=1.5, start=110.0, octaves_per_second=1.0):
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    phase = 2 * math.pi * torch.cumsum(start * 2.0 ** (octaves_per_second * t), 0) / sample_rate
    return sum((0.5 / k) * torch.sin(k * phase) for k in range(1, 6)).float()


@pytest.mark.parametrize("method", list(methods()))
@pytest.mark.parametrize("time", [1, 159, 160, 161, 1600, 1601])
def test_frame_count_is_ceil_time_over_hop(method, time):
    x = 0.1 * torch.randn(2, time, generator=torch.Generator().manual_seed(time))
    out = extract_features(x, 16000, 160, method, crepe_capacity="tiny")
    assert set(out) == KEYS
    for key, value in out.items():
        assert value.shape == (2, math.ceil(time / 160)), key
        if value.dtype != torch.bool:
            assert_finite(value, key)
    assert bool(((out["f0_confidence"] >= 0) & (out["f0_confidence"] <= 1)).all())
    assert bool((out["f0_hz"] > 0).all())


@pytest.mark.parametrize("method, tolerance", [("yin", 2.0), ("crepe", 8.0), ("harvest", 2.0)])
@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_frame_m_is_centred_on_sample_m_times_hop(method, tolerance, sample_rate):
    """On a glide of one octave per second, frame m reads the f0 at sample m * hop.

    A shift of half a 40 ms analysis window would read 24 cents off.
    """
    if method == "crepe" and not crepe_available():
        pytest.skip("CREPE weights not installed")
    if method == "harvest":
        pytest.importorskip("pyworld")
    hop = sample_rate // 100
    x = glide(sample_rate)
    out = extract_features(x, sample_rate, hop, method, fmin=50.0, fmax=1000.0, crepe_capacity="tiny")
    expected = 110.0 * 2.0 ** (np.arange(out["f0_hz"].shape[-1]) * hop / sample_rate)
    err = 1200 * np.log2(out["f0_hz"].double().numpy() / expected)[10:-10]
    assert abs(np.median(err)) < tolerance, np.median(err)


def test_matches_the_individual_trackers():
    x = glide(16000, seconds=0.5)
    out = extract_features(x, 16000, 128, "yin", fmin=60.0, fmax=900.0, yin_threshold=0.2, median_filter=3)
    est = yin(x, 16000, 128, 60.0, 900.0, threshold=0.2, median_filter=3)
    torch.testing.assert_close(out["f0_hz"], est.f0_hz, rtol=0, atol=0)
    torch.testing.assert_close(out["f0_confidence"], est.confidence, rtol=0, atol=0)
    torch.testing.assert_close(out["loudness_db"], loudness(x, 16000, 128), rtol=0, atol=0)
    out = extract_features(x, 16000, 128, loudness_n_fft=512)
    torch.testing.assert_close(out["loudness_db"], loudness(x, 16000, 128, 512), rtol=0, atol=0)


def test_harvest_matches_pyworld_and_fills_unvoiced_frames():
    pyworld = pytest.importorskip("pyworld")
    sr, hop = 16000, 80
    x = torch.cat([torch.zeros(1600), glide(sr, seconds=0.5), torch.zeros(1600)])
    f0, confidence, voiced = harvest(x, sr, hop, 60.0, 900.0)
    raw, _ = pyworld.harvest(x.double().numpy(), sr, f0_floor=60.0, f0_ceil=900.0, frame_period=1000.0 * hop / sr)
    raw = raw[:f0.shape[-1]]
    on = raw > 0
    assert on.any() and (~on).any()
    np.testing.assert_allclose(f0.numpy()[on], raw[on], rtol=1e-6)
    assert np.array_equal(voiced.numpy(), on) and np.array_equal(confidence.numpy(), on.astype(np.float32))
    first, last = np.flatnonzero(on)[[0, -1]]
    assert np.allclose(f0.numpy()[:first], raw[first]) and np.allclose(f0.numpy()[last:], raw[last])
    with pytest.raises(ValueError, match="sample_rate"):
        harvest(x, 16000.5, hop)


@pytest.mark.parametrize("name", ["arctic_a0007.16k.flac", "fluid_violin.44k.flac"])
def test_real_recording(name):
    audio, sr = read_audio(shared_audio(name))
    x = audio[:, :2 * sr]
    hop = sr // 100
    out = extract_features(x, sr, hop)
    assert out["f0_hz"].shape == (1, math.ceil(x.shape[-1] / hop))
    voiced = out["voiced"]
    assert 0.3 < float(voiced.float().mean()) < 1.0
    # voiced frames are louder than unvoiced ones (pauses, consonants, note gaps)
    assert float(out["loudness_db"][voiced].mean()) > float(out["loudness_db"][~voiced].mean()) + 3.0


def test_silence():
    out = extract_features(torch.zeros(3200), 16000, 160)
    assert bool((out["f0_confidence"] == 0).all()) and not bool(out["voiced"].any())
    assert bool((out["loudness_db"] == -120.0).all())


@pytest.mark.parametrize("sample_rate", [8000, 48000])
def test_sample_rates_with_default_range(sample_rate):
    t = torch.arange(sample_rate // 2) / sample_rate
    x = 0.5 * torch.sin(2 * math.pi * 330.0 * t)
    out = extract_features(x, sample_rate, sample_rate // 100)
    err = 1200 * np.log2(out["f0_hz"][5:-5].numpy() / 330.0)
    assert np.abs(err).max() < 10.0 and bool(out["voiced"][5:-5].all())


def test_batch_consistency():
    x = torch.stack([glide(16000, seconds=0.3, start=f) for f in (100.0, 200.0)])
    check_batch_consistency(lambda a: tuple(extract_features(a, 16000, 160).values()), [x], rtol=1e-5, atol=1e-4)


def test_errors():
    with pytest.raises(ValueError, match="f0_method"):
        extract_features(torch.randn(1000), 16000, 160, "swipe")
    x = torch.randn(1000)
    x[1] = float("inf")
    with pytest.raises(ValueError, match="audio"):
        extract_features(x, 16000, 160)
    with pytest.raises(ValueError, match="fmax"):
        extract_features(torch.randn(1000), 16000, 160, fmax=6000.0)


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    x = glide(16000, seconds=0.3)
    ref = extract_features(x, 16000, 160)
    out = extract_features(x.to(device), 16000, 160)
    for key in KEYS:
        assert out[key].device.type == device
    torch.testing.assert_close(out["loudness_db"].cpu(), ref["loudness_db"], rtol=1e-4, atol=1e-3)
    assert np.abs(1200 * np.log2(out["f0_hz"].cpu().numpy() / ref["f0_hz"].numpy())).max() < 0.5


@pytest.mark.skipif(not crepe_available(), reason="CREPE weights not installed")
def test_crepe_tiny_method_is_crepe_with_the_tiny_network():
    x = glide(16000, seconds=0.5)
    named = extract_features(x, 16000, 160, "crepe-tiny")
    explicit = extract_features(x, 16000, 160, "crepe", crepe_capacity="tiny")
    full = extract_features(x, 16000, 160, "crepe", crepe_capacity="full")
    for key in KEYS:
        torch.testing.assert_close(named[key], explicit[key], rtol=0, atol=0)
    assert not torch.equal(named["f0_confidence"], full["f0_confidence"])
