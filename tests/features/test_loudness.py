"""Tests for torchddsp.features.loudness.

References: a float64 NumPy transcription of the loudness equation (NumPy FFT of explicitly
framed, Hann-windowed audio; A-weighting transcribed from IEC 61672-1) and, where librosa is
installed, an independent one with ``librosa.stft`` and ``librosa.A_weighting``. The brief's
bound is 0.1 dB; float64 agrees to ~1e-10 dB and float32 to ~1e-3 dB.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    shared_audio,
    to_numpy,
)
from loudness_reference import ref_a_weighting, ref_loudness
from torchddsp.data.audio import read_audio
from torchddsp.features import a_weighting, default_loudness_n_fft, loudness


def noisy_tone(sr, seconds=0.3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sr * seconds), dtype=torch.float64) / sr
    x = 0.3 * torch.sin(2 * math.pi * 440 * t) * torch.linspace(0, 1, t.numel(), dtype=torch.float64)
    return (x + 0.01 * torch.randn(t.numel(), generator=g, dtype=torch.float64)).to(dtype)


# ----------------------------------------------------------------------------- references

def test_a_weighting_formula():
    f = np.array([0.0, 10.0, 100.0, 1000.0, 4000.0, 20000.0])
    assert_matches_reference(a_weighting(torch.tensor(f)), ref_a_weighting(f), rtol=1e-12, atol=1e-10)
    assert abs(float(a_weighting(torch.tensor(1000.0, dtype=torch.float64)))) < 0.01
    # IEC 61672-1 table values (dB): 100 Hz -19.1, 10 kHz -2.5
    assert float(a_weighting(torch.tensor(100.0))) == pytest.approx(-19.1, abs=0.05)
    assert float(a_weighting(torch.tensor(10000.0))) == pytest.approx(-2.5, abs=0.05)
    assert float(a_weighting(torch.tensor(0.0), min_db=None)) == -math.inf


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_a_weighting_matches_librosa():
    librosa = pytest.importorskip("librosa")
    f = np.linspace(0, 24000, 513)
    assert_matches_reference(a_weighting(torch.tensor(f)), librosa.A_weighting(f), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sample_rate, hop", [(8000, 80), (16000, 64), (44100, 441), (48000, 256)])
def test_matches_numpy_transcription(sample_rate, hop, dtype):
    x = torch.stack([noisy_tone(sample_rate, seed=s) for s in range(2)])
    n_fft = default_loudness_n_fft(sample_rate)
    out = loudness(x.to(dtype), sample_rate, hop)
    assert out.dtype == dtype and out.shape == (2, math.ceil(x.shape[-1] / hop))
    ref = ref_loudness(x.numpy(), sample_rate, hop, n_fft)
    tol = dict(rtol=0, atol=1e-3) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-9)
    assert_matches_reference(out, ref, **tol)


def test_options_match_numpy_transcription():
    x = noisy_tone(16000)
    for kw in (dict(ref_db=20.7, range_db=80.0, normalized=False), dict(n_fft=512, amin=1e-8)):
        n_fft = kw.pop("n_fft", 2048)
        out = loudness(x, 16000, 100, n_fft, **kw)
        assert_matches_reference(out, ref_loudness(x.numpy(), 16000, 100, n_fft, **kw), rtol=1e-10, atol=1e-9)


def test_normalized_is_a_reference_shift():
    x = noisy_tone(16000)
    scale_db = 20 * math.log10(torch.hann_window(2048, dtype=torch.float64).sum().item() / 2)
    torch.testing.assert_close(loudness(x, 16000, 160),
                               loudness(x, 16000, 160, normalized=False, ref_db=scale_db), rtol=0, atol=1e-9)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("name", ["trumpet_solo.16k.flac", "trumpet_solo.44k.flac", "arctic_a0007.16k.flac",
                                  "fluid_violin.44k.flac"])
def test_real_recordings_match_librosa_transcription(name):
    librosa = pytest.importorskip("librosa")
    audio, sr = read_audio(shared_audio(name))
    x = audio[0, :3 * sr]
    hop = sr // 100
    n_fft = default_loudness_n_fft(sr)
    out = loudness(x, sr, hop)                                                    # float32
    spec = librosa.stft(x.double().numpy(), n_fft=n_fft, hop_length=hop, window="hann", center=True,
                        pad_mode="constant")[:, :out.shape[-1]]
    window_sum = librosa.filters.get_window("hann", n_fft, fftbins=True).sum()
    power_db = librosa.power_to_db(np.abs(spec) ** 2 / (window_sum / 2) ** 2, ref=1.0, amin=1e-20, top_db=None)
    weighting = librosa.A_weighting(librosa.fft_frequencies(sr=sr, n_fft=n_fft))[:, None]
    ref = np.maximum(power_db + weighting, -120.0).mean(axis=0)
    err = np.abs(to_numpy(out) - ref).max()
    assert err < 0.1, f"{name}: max |error| {err:.2e} dB"
    assert err < 1e-2      # float32 in practice


# ----------------------------------------------------------------------------- behaviour

def test_frames_are_centred_on_hop_multiples():
    """A click at sample m*hop is loudest in frame m."""
    for sr, hop in ((16000, 160), (48000, 480)):
        for m in (3, 10, 17):
            x = torch.zeros(20 * hop, dtype=torch.float64)
            x[m * hop] = 1.0
            out = loudness(x, sr, hop, n_fft=4 * hop)
            assert int(out.argmax()) == m
            assert float(out[m - 1]) == pytest.approx(float(out[m + 1]), abs=1e-9)   # symmetric window


def test_louder_is_louder_and_default_n_fft():
    x = noisy_tone(16000)
    assert bool((loudness(2 * x, 16000, 160) > loudness(x, 16000, 160)).all())
    assert [default_loudness_n_fft(sr) for sr in (8000, 16000, 44100, 48000)] == [1024, 2048, 5644, 6144]


@pytest.mark.parametrize("sample_rate", [8000, 48000])
def test_silence_is_finite_at_the_floor_with_finite_gradient(sample_rate):
    x = torch.zeros(2, sample_rate // 10, dtype=torch.float64, requires_grad=True)
    out = check_finite_gradients(lambda a: loudness(a, sample_rate, sample_rate // 100), [x])
    assert bool((out == -120.0).all())
    assert bool((loudness(x, sample_rate, 100, range_db=80.0) == -80.0).all())


def test_gradcheck():
    x = (0.3 * torch.randn(2, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).requires_grad_()
    check_gradcheck(lambda a: loudness(a, 16000, 16, n_fft=32), [x[:1, :30].detach().requires_grad_()])
    check_gradcheck(lambda a: loudness(a, 16000, 16, n_fft=32), [x], fast_mode=True)
    check_gradcheck(lambda a: loudness(a, 8000, 8, n_fft=16, normalized=False, ref_db=3.0), [x], fast_mode=True)


def test_batch_consistency():
    x = torch.stack([noisy_tone(16000, seconds=0.1, seed=s) for s in range(3)])
    check_batch_consistency(lambda a: loudness(a, 16000, 64), [x], rtol=1e-9, atol=1e-9)


def test_processing_in_chunks_of_frames_gives_the_same_result(monkeypatch):
    x = torch.stack([noisy_tone(16000, seconds=0.2, seed=s) for s in range(2)])
    whole = loudness(x, 16000, 64)
    monkeypatch.setattr(importlib.import_module("torchddsp.features.loudness"), "_CHUNK_ELEMENTS", 10000)
    torch.testing.assert_close(loudness(x, 16000, 64), whole, rtol=1e-12, atol=1e-10)


def test_short_audio_and_leading_dims():
    out = loudness(torch.randn(2, 3, 7), 16000, 160)
    assert out.shape == (2, 3, 1)
    assert loudness(torch.zeros(4, 0), 16000, 160).shape == (4, 0)


def test_nan_input_raises_naming_audio():
    x = torch.randn(1000)
    x[3] = float("nan")
    with pytest.raises(ValueError, match="audio"):
        loudness(x, 16000, 160)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_fft=0), "n_fft"), (dict(range_db=0.0), "range_db"), (dict(amin=-1.0), "amin"),
    (dict(ref_db=float("nan")), "ref_db"), (dict(hop_size=0), "hop_size"), (dict(sample_rate=0), "sample_rate"),
])
def test_bad_arguments_raise(kwargs, name):
    args = dict(sample_rate=16000, hop_size=160)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        loudness(torch.randn(1000), **args)


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    x = noisy_tone(16000, seconds=0.1)
    out = loudness(x.to(device), 16000, 160)
    assert out.device.type == device
    torch.testing.assert_close(out.cpu(), loudness(x, 16000, 160), rtol=1e-9, atol=1e-9)
