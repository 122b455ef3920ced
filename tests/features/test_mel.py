"""Tests for torchddsp.features.mel (mel / log-mel spectrograms, MFCC).

References: a float64 NumPy transcription (explicit framing, periodic Hann window, NumPy FFT,
the filterbank of torchddsp.functional.spectral.mel_filterbank, which tests/functional/spectral/test_mel.py checks against
its own transcription, and ``scipy.fft.dct(norm="ortho")``), and, where librosa is installed,
``librosa.feature.melspectrogram`` / ``power_to_db`` / ``librosa.feature.mfcc`` with the same
parameters, on synthetic and real recordings (librosa builds its filterbank in float32, so
parity with it is to ~1e-7 relative, not float64 precision).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    shared_audio,
)
from torchddsp.data.audio import read_audio
from torchddsp.features import dct_matrix, log_mel_spectrogram, mel_spectrogram, mfcc
from torchddsp.functional.spectral import mel_filterbank


def signal(sr, seconds=0.25, seed=0, batch=2):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sr * seconds), dtype=torch.float64) / sr
    tones = torch.stack([0.4 * torch.sin(2 * math.pi * f * t) for f in (220.0, 1337.0)][:batch])
    return tones + 0.05 * torch.randn(tones.shape, generator=g, dtype=torch.float64)


def ref_mel(x, sr, n_fft, hop, n_mels, win_length=None, power=2.0, f_min=0.0, f_max=None, mel_scale="slaney",
            norm="slaney"):
    """Frames centred at m*hop with zero padding (torch.stft/librosa, center=True, pad_mode='constant')."""
    x = np.asarray(x, np.float64)
    win_length = win_length or n_fft
    w = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    w[left:left + win_length] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)])
    frames = 1 + x.shape[-1] // hop
    spec = np.stack([np.fft.rfft(padded[..., m * hop:m * hop + n_fft] * w, axis=-1) for m in range(frames)], -2)
    fb = mel_filterbank(sr, n_fft, n_mels, f_min, f_max, mel_scale, norm, dtype=torch.float64).numpy()
    return (np.abs(spec) ** power) @ fb.T                      # (..., frames, n_mels)


# ----------------------------------------------------------------------------- NumPy transcription

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sr, n_fft, hop, win, n_mels, scale, norm", [
    (16000, 512, 128, None, 64, "slaney", "slaney"),
    (22050, 1024, 256, 800, 80, "htk", None),
    (8000, 256, 80, None, 40, "slaney", None),
    (48000, 2048, 480, 1200, 128, "htk", "slaney"),
])
def test_mel_spectrogram_matches_numpy(sr, n_fft, hop, win, n_mels, scale, norm, dtype):
    x = signal(sr)
    out = mel_spectrogram(x.to(dtype), sr, n_fft, hop, win, n_mels, mel_scale=scale, norm=norm)
    ref = ref_mel(x.numpy(), sr, n_fft, hop, n_mels, win, mel_scale=scale, norm=norm)
    assert out.shape == ref.shape and out.dtype == dtype
    tol = dict(rtol=1e-4, atol=1e-4 * np.abs(ref).max()) if dtype == torch.float32 else {}
    assert_matches_reference(out, ref, **tol)


def test_magnitude_power_and_logs_match_numpy():
    x = signal(16000)
    ref1 = ref_mel(x.numpy(), 16000, 512, 128, 40, power=1.0)
    assert_matches_reference(mel_spectrogram(x, 16000, 512, 128, n_mels=40, power=1.0), ref1)
    db = log_mel_spectrogram(x, 16000, 512, 128, n_mels=40, power=1.0, amin=1e-5)
    assert_matches_reference(db, 20 * np.log10(np.maximum(ref1, 1e-5)))
    ln = log_mel_spectrogram(x, 16000, 512, 128, n_mels=40, power=1.0, log="ln", amin=1e-5)
    assert_matches_reference(ln, np.log(np.maximum(ref1, 1e-5)))
    ref2 = ref_mel(x.numpy(), 16000, 512, 128, 40)
    top = log_mel_spectrogram(x, 16000, 512, 128, n_mels=40, top_db=60.0)
    db2 = 10 * np.log10(np.maximum(ref2, 1e-10))
    assert_matches_reference(top, np.maximum(db2, db2.max(axis=(-2, -1), keepdims=True) - 60.0))


def test_dct_matrix_is_orthonormal_dct_ii():
    C = dct_matrix(40, dtype=torch.float64)
    assert_matches_reference(C @ C.T, np.eye(40), atol=1e-12)
    v = np.random.default_rng(0).standard_normal((3, 40))
    assert_matches_reference(torch.from_numpy(v) @ dct_matrix(40, 13, dtype=torch.float64).T,
                             scipy.fft.dct(v, type=2, norm="ortho", axis=-1)[:, :13])


@pytest.mark.parametrize("lifter", [0.0, 22.0])
def test_mfcc_matches_numpy(lifter):
    x = signal(16000)
    out = mfcc(x, 16000, 13, 512, 128, n_mels=40, lifter=lifter)
    ref = scipy.fft.dct(10 * np.log10(np.maximum(ref_mel(x.numpy(), 16000, 512, 128, 40), 1e-10)),
                        type=2, norm="ortho", axis=-1)[..., :13]
    if lifter:
        ref = ref * (1 + lifter / 2 * np.sin(np.pi * np.arange(1, 14) / lifter))
    assert_matches_reference(out, ref, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- librosa, synthetic and real

@pytest.mark.parametrize("htk, norm", [(False, "slaney"), (True, None)])
def test_matches_librosa_melspectrogram_and_mfcc(htk, norm):
    librosa = pytest.importorskip("librosa")
    x = signal(22050)[0].numpy()
    kw = dict(n_fft=1024, hop_length=256, win_length=None, n_mels=64, fmin=30.0, fmax=9000.0)
    ref = librosa.feature.melspectrogram(y=x, sr=22050, center=True, pad_mode="constant", power=2.0, htk=htk,
                                         norm=norm, **kw)
    ours = mel_spectrogram(torch.from_numpy(x), 22050, 1024, 256, None, 64, 30.0, 9000.0,
                           "htk" if htk else "slaney", norm)
    assert_matches_reference(ours, ref.T, rtol=1e-6, atol=1e-9 * ref.max())
    if norm == "slaney":          # librosa's defaults from the waveform
        ref_mfcc = librosa.feature.mfcc(y=x, sr=22050, n_mfcc=20, center=True, pad_mode="constant", htk=htk,
                                        lifter=22, **kw)
    else:                         # mfcc's `norm` is the DCT's, so pass the log-mel in
        ref_mfcc = librosa.feature.mfcc(S=librosa.power_to_db(ref), n_mfcc=20, lifter=22)
    ours_mfcc = mfcc(torch.from_numpy(x), 22050, 20, 1024, 256, None, 64, 30.0, 9000.0, "htk" if htk else "slaney",
                     norm, lifter=22.0, top_db=80.0)
    assert_matches_reference(ours_mfcc, ref_mfcc.T, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ["arctic_a0007.16k.flac", "fluid_violin.44k.flac"])
def test_real_recordings_match_librosa(name):
    librosa = pytest.importorskip("librosa")
    audio, sr = read_audio(shared_audio(name))
    x = audio[0, :2 * sr]
    n_fft, hop = (1024, 256) if sr == 16000 else (2048, 512)
    ref = librosa.feature.melspectrogram(y=x.double().numpy(), sr=sr, n_fft=n_fft, hop_length=hop, n_mels=80,
                                         center=True, pad_mode="constant")
    ref_db = librosa.power_to_db(ref, ref=1.0, amin=1e-10, top_db=None)
    ours = log_mel_spectrogram(x, sr, n_fft, hop, n_mels=80)                        # float32
    assert ours.shape == ref_db.T.shape
    # float32 log-mel against float64: within 1e-3 dB where the band holds energy
    assert np.abs(ours.numpy() - ref_db.T).max() < 1e-2
    np.testing.assert_allclose(ours.numpy(), ref_db.T, atol=1e-3, rtol=0)
    ref_mfcc = librosa.feature.mfcc(y=x.double().numpy(), sr=sr, n_mfcc=20, n_fft=n_fft, hop_length=hop,
                                    n_mels=80, center=True, pad_mode="constant")
    ours_mfcc = mfcc(x.double(), sr, 20, n_fft, hop, n_mels=80, top_db=80.0)
    assert_matches_reference(ours_mfcc, ref_mfcc.T, rtol=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------- gradients, batches, edges

def test_gradcheck():
    x = (0.3 * torch.randn(1, 48, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).requires_grad_()
    check_gradcheck(lambda a: log_mel_spectrogram(a, 8000, 32, 16, n_mels=6), [x])
    check_gradcheck(lambda a: mfcc(a, 8000, 4, 32, 16, n_mels=6, lifter=3.0), [x], fast_mode=True)
    check_gradcheck(lambda a: mel_spectrogram(a, 8000, 32, 16, n_mels=6, power=1.0), [x], fast_mode=True)


def test_silence_is_finite_with_finite_gradient():
    x = torch.zeros(2, 800, dtype=torch.float64, requires_grad=True)
    for fn in (lambda a: log_mel_spectrogram(a, 16000, 256, 64, n_mels=20),
               lambda a: log_mel_spectrogram(a, 16000, 256, 64, n_mels=20, power=1.0, log="ln", amin=1e-5),
               lambda a: mfcc(a, 16000, 13, 256, 64, n_mels=20)):
        check_finite_gradients(fn, [x])
    assert bool((log_mel_spectrogram(x, 16000, 256, 64, n_mels=20) == -100.0).all())


def test_batch_consistency_and_leading_dims():
    x = torch.cat([signal(16000, seed=s) for s in range(2)])              # (4, time)
    check_batch_consistency(lambda a: log_mel_spectrogram(a, 16000, 512, 128, n_mels=40), [x], rtol=1e-9, atol=1e-9)
    check_batch_consistency(lambda a: mfcc(a, 16000, 13, 512, 128, n_mels=40), [x], rtol=1e-9, atol=1e-9)
    y = x.reshape(2, 2, -1)
    assert mfcc(y, 16000, 13, 512, 128, n_mels=40).shape == (2, 2, 1 + x.shape[-1] // 128, 13)


def test_short_audio():
    out = log_mel_spectrogram(torch.randn(3, 10), 16000, 512, 128, n_mels=40)
    assert out.shape == (3, 1, 40) and bool(torch.isfinite(out).all())
    with pytest.raises(ValueError, match="audio"):
        log_mel_spectrogram(torch.randn(10), 16000, 512, 128, n_mels=40, pad_mode="reflect")
    with pytest.raises(ValueError, match="audio"):
        log_mel_spectrogram(torch.randn(100), 16000, 512, 128, n_mels=40, center=False)


@pytest.mark.parametrize("sample_rate", [8000, 48000])
def test_sample_rates(sample_rate):
    x = signal(sample_rate, batch=1)
    out = log_mel_spectrogram(x, sample_rate, 1024, 256, n_mels=64)
    ref = 10 * np.log10(np.maximum(ref_mel(x.numpy(), sample_rate, 1024, 256, 64), 1e-10))
    assert_matches_reference(out, ref, rtol=1e-9, atol=1e-9)


def test_nan_input_raises_naming_audio():
    x = torch.randn(1000)
    x[0] = float("nan")
    with pytest.raises(ValueError, match="audio"):
        mel_spectrogram(x, 16000)
    with pytest.raises(ValueError, match="audio"):
        mfcc(x, 16000)


@pytest.mark.parametrize("call, name", [
    (lambda x: mfcc(x, 16000, n_mfcc=50, n_mels=40), "n_mfcc"),
    (lambda x: mfcc(x, 16000, lifter=-1.0), "lifter"),
    (lambda x: mel_spectrogram(x, 16000, 512, win_length=1024), "win_length"),
    (lambda x: mel_spectrogram(x, 16000, 512, power=0.0), "power"),
    (lambda x: mel_spectrogram(x, 16000, 512, pad_mode="edge"), "pad_mode"),
    (lambda x: log_mel_spectrogram(x, 16000, 512, log="log2"), "log"),
    (lambda x: log_mel_spectrogram(x, 16000, 512, top_db=-3.0), "top_db"),
    (lambda x: mel_spectrogram(x, 16000, 512, f_max=9000.0), "f_max"),
    (lambda x: dct_matrix(10, 11), "n_out"),
])
def test_bad_arguments_raise(call, name):
    with pytest.raises(ValueError, match=name):
        call(torch.randn(4000))


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    x = signal(16000)
    out = mfcc(x.to(device), 16000, 13, 512, 128, n_mels=40)
    assert out.device.type == device
    torch.testing.assert_close(out.cpu(), mfcc(x, 16000, 13, 512, 128, n_mels=40), rtol=1e-9, atol=1e-9)
