"""Tests for torchddsp.features.yin.

References: the YIN equations (difference function, cumulative-mean-normalised difference)
transcribed as direct float64 NumPy sums; synthetic tones of known f0; and, on real recordings,
WORLD's Harvest (pyworld), an independent f0 estimator.

Tolerance on real recordings, on frames both trackers call voiced: median |error| < 10 cents and
< 5 % gross errors (> 50 cents, a quarter tone). Two good trackers differ by a few cents on real
audio (window length, interpolation, time resolution on vibrato and glides: Harvest and
librosa's pYIN differ by a median 5-7 cents on the violin recording), so 10 cents is a bound on
systematic error (a tenth of a semitone, half CREPE's bin width); the gross-error budget covers
note onsets and transitions, where analysis windows straddle two notes. Measured on the first
4 s (16 kHz / 44.1 kHz): violin median 1.6 / 1.5 cents, 1.6 / 0.0 % gross; arctic_a0007 median
5.8 / 6.2 cents, 1.5 / 2.2 % gross (YIN calls about half of Harvest's voiced speech frames voiced).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from helpers import DEVICES, DTYPES, assert_finite, assert_matches_reference, check_batch_consistency, shared_audio
from torchddsp.data.audio import read_audio
from torchddsp.features import (
    PitchEstimate,
    cumulative_mean_normalized_difference,
    difference_function,
    num_frames,
    yin,
)
from torchddsp.features.yin import median_smooth

RATES = [8000, 16000, 22050, 44100, 48000]
TONE_F0 = [60.0, 100.0, 220.0, 441.3, 700.0, 1000.0]


# pyworld imports the deprecated pkg_resources
pytestmark = pytest.mark.filterwarnings("ignore:pkg_resources is deprecated:UserWarning")


def tone(f0, sample_rate, seconds=0.4, kind="sine", dtype=torch.float64, phase=0.3):
    t = torch.arange(int(sample_rate * seconds), dtype=torch.float64) / sample_rate
    if kind == "sine":
        x = 0.5 * torch.sin(2 * math.pi * f0 * t + phase)
    else:   # harmonic tone, 1/k amplitudes, every harmonic below Nyquist
        x = sum((0.5 / k) * torch.sin(2 * math.pi * f0 * k * t + phase * k)
                for k in range(1, 30) if f0 * k < sample_rate / 2)
    return x.to(dtype)


def cents(a, b):
    return 1200.0 * np.log2(np.asarray(a, np.float64) / np.asarray(b, np.float64))


# ----------------------------------------------------------------------------- equations vs NumPy

def ref_difference(frame, W, max_lag):
    frame = np.asarray(frame, np.float64)
    return np.array([np.sum((frame[:W] - frame[tau:tau + W]) ** 2) for tau in range(max_lag + 1)])


def ref_cmnd(d):
    out = np.ones_like(d)
    for tau in range(1, len(d)):
        out[tau] = d[tau] / (np.sum(d[1:tau + 1]) / tau)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_difference_and_cmnd_match_numpy_transcription(dtype):
    g = torch.Generator().manual_seed(1)
    frames = torch.randn(3, 200, generator=g, dtype=torch.float64)
    d = difference_function(frames.to(dtype), 90, 100)
    dn = cumulative_mean_normalized_difference(d)
    ref_d = np.stack([ref_difference(f, 90, 100) for f in frames.numpy()])
    ref_dn = np.stack([ref_cmnd(r) for r in ref_d])
    # float32: the FFT-based autocorrelation loses ~1e-6 of the frame energy (about 180 here)
    tol = dict(rtol=1e-4, atol=2e-3) if dtype == torch.float32 else {}
    assert_matches_reference(d, ref_d, what="d(tau)", **tol)
    assert_matches_reference(dn, ref_dn, what="d'(tau)", **(dict(rtol=1e-3, atol=1e-4) if tol else {}))


def test_difference_rejects_short_frames():
    with pytest.raises(ValueError, match="frames"):
        difference_function(torch.zeros(2, 50), 40, 20)


def test_num_frames_is_ceil():
    assert [num_frames(t, 160) for t in (0, 1, 159, 160, 161, 320, 321)] == [0, 1, 1, 1, 2, 2, 3]


# ----------------------------------------------------------------------------- synthetic tones

@pytest.mark.parametrize("kind", ["sine", "harmonic"])
@pytest.mark.parametrize("sample_rate", RATES)
def test_steady_tones_within_10_cents(sample_rate, kind):
    x = torch.stack([tone(f, sample_rate, kind=kind) for f in TONE_F0]).float()
    est = yin(x, sample_rate, sample_rate // 100, fmin=50.0, fmax=min(1100.0, sample_rate / 4))
    assert isinstance(est, PitchEstimate)
    inner = slice(5, -5)    # frames whose analysis window lies inside the tone
    err = np.abs(cents(est.f0_hz[:, inner], torch.tensor(TONE_F0)[:, None]))
    worst = err.max(axis=1)
    assert (worst < 10.0).all(), f"max error per tone (cents): {dict(zip(TONE_F0, worst.round(2)))}"
    assert bool(est.voiced[:, inner].all())
    assert float(est.confidence[:, inner].min()) > 0.9


def test_white_noise_has_low_confidence_and_is_unvoiced():
    g = torch.Generator().manual_seed(0)
    for sample_rate in (8000, 16000, 48000):
        x = 0.3 * torch.randn(sample_rate, generator=g)
        est = yin(x, sample_rate, sample_rate // 100)
        assert float(est.confidence.mean()) < 0.3, sample_rate
        assert float(est.confidence.max()) < 0.5, sample_rate
        assert float(est.voiced.float().mean()) < 0.02, sample_rate


def test_frames_are_centred_on_hop_multiples():
    """On an exponential glide (one octave per second) frame m reads the f0 at sample m * hop."""
    for sample_rate in (16000, 44100):
        t = torch.arange(2 * sample_rate, dtype=torch.float64) / sample_rate
        phase = 2 * math.pi * torch.cumsum(110.0 * 2.0 ** t, 0) / sample_rate
        x = sum((0.5 / k) * torch.sin(k * phase) for k in range(1, 6))
        hop = sample_rate // 100
        est = yin(x, sample_rate, hop, 50.0, 1000.0)
        expected = 110.0 * 2.0 ** (np.arange(est.f0_hz.shape[-1]) * hop / sample_rate)
        err = cents(est.f0_hz, expected)[10:-10]
        # a half-window misalignment (about 20 ms) would read 24 cents off
        assert abs(np.median(err)) < 1.0 and np.abs(err).max() < 5.0, (np.median(err), np.abs(err).max())


def test_float32_and_float64_agree():
    x = tone(220.0, 16000, kind="harmonic")
    a, b = yin(x.float(), 16000, 160), yin(x, 16000, 160)
    assert a.f0_hz.dtype == torch.float32 and b.f0_hz.dtype == torch.float64
    assert np.abs(cents(a.f0_hz, b.f0_hz)).max() < 0.5


# ----------------------------------------------------------------------------- real recordings

def harvest_reference(x, sample_rate, hop, fmin, fmax):
    pyworld = pytest.importorskip("pyworld")
    f0, _ = pyworld.harvest(x.double().numpy(), sample_rate, f0_floor=fmin, f0_ceil=fmax,
                            frame_period=1000.0 * hop / sample_rate)
    return f0


@pytest.mark.parametrize("name, fmin, fmax, min_coverage", [
    ("fluid_violin.16k.flac", 200.0, 1200.0, 0.9),
    ("fluid_violin.44k.flac", 200.0, 1200.0, 0.9),
    ("arctic_a0007.16k.flac", 60.0, 500.0, 0.45),
    ("arctic_a0007.44k.flac", 60.0, 500.0, 0.45),
])
def test_real_recordings_agree_with_harvest(name, fmin, fmax, min_coverage):
    audio, sample_rate = read_audio(shared_audio(name))
    x = audio[0, :4 * sample_rate]
    hop = sample_rate // 100
    est = yin(x, sample_rate, hop, fmin, fmax)
    ref = harvest_reference(x, sample_rate, hop, fmin, fmax)[:est.f0_hz.shape[-1]]
    both = (ref > 0) & est.voiced.numpy()
    err = np.abs(cents(est.f0_hz.numpy()[both], ref[both]))
    coverage = both.sum() / max(1, (ref > 0).sum())
    report = f"{name}: {both.sum()} frames, median {np.median(err):.2f} c, gross {100 * np.mean(err > 50):.2f} %"
    assert coverage > min_coverage, f"{report}; only {coverage:.2f} of Harvest's voiced frames voiced"
    assert np.median(err) < 10.0, report
    assert np.mean(err > 50.0) < 0.05, report


# ----------------------------------------------------------------------------- edge cases and errors

def test_silence_gives_zero_confidence_and_fmin():
    est = yin(torch.zeros(2, 4000), 16000, 160, fmin=60.0)
    assert est.f0_hz.shape == (2, 25)
    assert bool((est.confidence == 0).all()) and not bool(est.voiced.any())
    assert bool((est.f0_hz == 60.0).all())


def test_shorter_than_one_frame_and_empty():
    est = yin(torch.randn(10), 16000, 160)
    assert est.f0_hz.shape == (1,)
    assert_finite(est.f0_hz)
    assert 0 <= float(est.confidence) <= 1
    empty = yin(torch.zeros(3, 0), 16000, 160)
    assert empty.f0_hz.shape == (3, 0) and empty.voiced.shape == (3, 0)


def test_nan_input_raises_naming_audio():
    x = torch.randn(1000)
    x[10] = float("nan")
    with pytest.raises(ValueError, match="audio"):
        yin(x, 16000, 160)


@pytest.mark.parametrize("kwargs, name", [
    (dict(fmin=500.0, fmax=400.0), "fmin"),
    (dict(fmax=5000.0), "fmax"),
    (dict(threshold=0.0), "threshold"),
    (dict(median_filter=4), "median_filter"),
    (dict(win_length=0), "win_length"),
])
def test_bad_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        yin(torch.randn(1000), 16000, 160, **kwargs)


def test_bad_hop_and_rate_raise():
    with pytest.raises(ValueError, match="hop_size"):
        yin(torch.randn(1000), 16000, 0)
    with pytest.raises(ValueError, match="sample_rate"):
        yin(torch.randn(1000), -1, 160)


def test_median_smoothing_over_voiced_frames_only():
    f0 = torch.tensor([100.0, 100.0, 200.0, 100.0, 100.0, 50.0, 300.0])
    voiced = torch.tensor([True, True, True, True, True, False, True])
    out = median_smooth(f0, voiced, 3)
    # the octave jump is removed; the unvoiced frame is kept; the last frame's window holds only
    # itself among voiced frames, so it keeps its value
    assert out.tolist() == [100.0, 100.0, 100.0, 100.0, 100.0, 50.0, 300.0]


def test_median_filter_option_removes_an_isolated_jump_on_audio():
    x = tone(220.0, 16000, seconds=0.5, kind="harmonic").float()
    plain, smooth = yin(x, 16000, 160), yin(x, 16000, 160, median_filter=5)
    inner = slice(5, -5)
    assert np.abs(cents(smooth.f0_hz[inner], plain.f0_hz[inner])).max() < 1.0   # steady tone: unchanged


def test_batch_consistency():
    x = torch.stack([tone(f, 16000, seconds=0.2, kind="harmonic") for f in (110.0, 330.0, 523.0)]).float()
    x = x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    check_batch_consistency(lambda a: tuple(yin(a, 16000, 160)), [x], rtol=1e-4, atol=1e-5)


def test_leading_dimensions_broadcast():
    x = tone(220.0, 16000, seconds=0.1).float().expand(2, 3, -1)
    est = yin(x, 16000, 160)
    assert est.f0_hz.shape == (2, 3, 10)
    torch.testing.assert_close(est.f0_hz, est.f0_hz[:1, :1].expand(2, 3, 10))


def test_processing_in_chunks_of_frames_gives_the_same_result(monkeypatch):
    x = torch.stack([tone(f, 16000, seconds=0.3, kind="harmonic") for f in (110.0, 440.0)]).float()
    whole = yin(x, 16000, 160, median_filter=3)
    monkeypatch.setattr(importlib.import_module("torchddsp.features.yin"), "_CHUNK_ELEMENTS", 5000)  # 3 frames/chunk
    chunked = yin(x, 16000, 160, median_filter=3)
    torch.testing.assert_close(chunked.f0_hz, whole.f0_hz, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(chunked.confidence, whole.confidence, rtol=1e-4, atol=1e-5)
    assert torch.equal(chunked.voiced, whole.voiced)


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    x = tone(330.0, 16000, seconds=0.2, kind="harmonic").float()
    ref = yin(x, 16000, 160)
    out = yin(x.to(device), 16000, 160)
    assert out.f0_hz.device.type == device
    assert np.abs(cents(out.f0_hz.cpu(), ref.f0_hz)).max() < 0.5
    assert torch.equal(out.voiced.cpu(), ref.voiced)
