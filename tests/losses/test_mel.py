"""Tests for torchddsp.losses.mel: the mel multi-resolution loss.

References: the filterbank of ``mel_reference`` (float64 NumPy, one filter at a time) and a NumPy
STFT transcription.
"""

from __future__ import annotations


import numpy as np
import pytest
import scipy.signal
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from mel_reference import ref_filterbank
from torchddsp.losses import MelMultiResolutionSTFTLoss, mel_multi_resolution_stft_loss, multi_resolution_stft_loss

# ----------------------------------------------------------------------------- float64 NumPy references

def ref_stft_mag(x, n_fft, hop, eps=1e-8):
    w = scipy.signal.get_window("hann", n_fft, fftbins=True)
    x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode="reflect")
    starts = range(0, x.shape[-1] - n_fft + 1, hop)
    spec = np.fft.rfft(np.stack([x[..., s:s + n_fft] for s in starts], axis=-2) * w, axis=-1)
    return np.sqrt(np.maximum(spec.real ** 2 + spec.imag ** 2, eps)).swapaxes(-1, -2)


def ref_mel_loss(x, y, sr, ffts, n_mels, w_sc, w_log, w_lin, log_eps=0.0, reduction="mean", scale="slaney",
                 norm="slaney"):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    total = 0.0
    for n, m in zip(ffts, n_mels):
        fb = ref_filterbank(sr, n, m, 0.0, sr / 2, scale, norm)
        xm, ym = fb @ ref_stft_mag(x, n, n // 4), fb @ ref_stft_mag(y, n, n // 4)
        axes = (-2, -1)
        sc = np.sqrt(((ym - xm) ** 2).sum(axes)) / np.sqrt((ym ** 2).sum(axes))
        log = np.abs(np.log(xm + log_eps) - np.log(ym + log_eps)).mean(axes)
        lin = np.abs(xm - ym).mean(axes)
        per_item = w_sc * sc + w_log * log + w_lin * lin
        total = total + {"none": per_item, "mean": per_item.mean(), "sum": per_item.sum()}[reduction]
    return total / len(ffts)


def _signals(batch=3, time=3000, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(batch, time, generator=g, dtype=torch.float64)
    x = 0.5 * y + 0.5 * torch.randn(batch, time, generator=g, dtype=torch.float64)
    return x.to(dtype=dtype, device=device), y.to(dtype=dtype, device=device)


# ----------------------------------------------------------------------------- loss

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_mel_loss_matches_numpy(device, dtype, reduction):
    x, y = _signals(dtype=dtype, device=device)
    ffts, mels = (512, 256, 128), (40, 24, 12)
    out = mel_multi_resolution_stft_loss(x, y, 16000, ffts, n_mels=mels, w_sc=0.5, w_log_mag=1.0, w_lin_mag=2.0,
                                         log_eps=1e-5, reduction=reduction)
    expected = ref_mel_loss(to_numpy(x), to_numpy(y), 16000, ffts, mels, 0.5, 1.0, 2.0, 1e-5, reduction)
    assert out.dtype == dtype
    assert_matches_reference(out, expected)


def test_mel_loss_htk_unnormalised_and_default_n_mels():
    x, y = _signals(seed=1)
    out = mel_multi_resolution_stft_loss(x, y, 22050, (512, 128), mel_scale="htk", norm=None)
    expected = ref_mel_loss(to_numpy(x), to_numpy(y), 22050, (512, 128), (64, 16), 0.0, 1.0, 1.0, scale="htk",
                            norm=None)
    assert_matches_reference(out, expected)


def test_mel_loss_differs_from_linear_frequency_loss():
    x, y = _signals(seed=2)
    mel = mel_multi_resolution_stft_loss(x, y, 16000, (256,), n_mels=32)
    lin = multi_resolution_stft_loss(x, y, (256,))
    assert abs(float(mel) - float(lin)) > 1e-3


def test_mel_loss_gradcheck():
    x, y = _signals(batch=2, time=80, seed=3)
    x.requires_grad_(True)
    y.requires_grad_(True)
    check_gradcheck(lambda a, b: mel_multi_resolution_stft_loss(a, b, 8000, (32, 16), n_mels=(6, 3), w_sc=1.0,
                                                                w_lin_mag=1.0, reduction="none"), [x, y])


def test_mel_loss_batch_consistency():
    x, y = _signals(batch=3, time=2000, seed=4)
    check_batch_consistency(lambda a, b: mel_multi_resolution_stft_loss(a, b, 16000, (256, 64), w_sc=1.0,
                                                                        reduction="none"), [x, y],
                            rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("silent", ["input", "target", "both"])
def test_mel_loss_safe_on_silence(dtype, silent):
    x, y = _signals(batch=2, time=1024, dtype=dtype, seed=5)
    if silent in ("input", "both"):
        x = torch.zeros_like(x)
    if silent in ("target", "both"):
        y = torch.zeros_like(y)
    x.requires_grad_(True)
    out = check_finite_gradients(lambda a: mel_multi_resolution_stft_loss(a, y, 16000, (256, 64), w_sc=1.0), [x])
    expected = ref_mel_loss(to_numpy(x), to_numpy(y), 16000, (256, 64), (32, 8), 1.0, 1.0, 1.0)
    assert_matches_reference(out, expected, rtol=1e-4 if dtype == torch.float32 else 1e-10)


def test_mel_module_equals_function_and_validates_early():
    x, y = _signals(seed=6)
    module = MelMultiResolutionSTFTLoss(16000, (256, 128), n_mels=(32, 16), w_sc=1.0)
    torch.testing.assert_close(module(x, y), mel_multi_resolution_stft_loss(x, y, 16000, (256, 128), n_mels=(32, 16),
                                                                            w_sc=1.0))
    with pytest.raises(ValueError, match="n_mels.*empty"):
        MelMultiResolutionSTFTLoss(16000, (64,), n_mels=64)
    with pytest.raises(ValueError, match="n_mels.*2 entries"):
        MelMultiResolutionSTFTLoss(16000, (256, 128), n_mels=(32,))
    with pytest.raises(ValueError, match="sample_rate"):
        mel_multi_resolution_stft_loss(x, y, -1.0)
