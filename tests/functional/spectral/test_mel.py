"""Tests for torchddsp.functional.spectral.mel: the mel scales and the triangular mel filterbank.

References: the float64 NumPy transcriptions of ``mel_reference`` (librosa is not a dependency).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torchddsp.functional as functional
from helpers import DEVICES, assert_matches_reference, to_numpy
from mel_reference import ref_filterbank, ref_hz_to_mel, ref_mel_to_hz
from torchddsp.functional.spectral import hz_to_mel, mel_filterbank, mel_filterbank_pinv, mel_to_hz

# ----------------------------------------------------------------------------- scales

@pytest.mark.parametrize("scale", ["slaney", "htk"])
def test_mel_scales_match_formulas_and_invert(scale):
    f = torch.linspace(0.0, 24000.0, 2001, dtype=torch.float64)
    assert_matches_reference(hz_to_mel(f, scale), ref_hz_to_mel(to_numpy(f), scale))
    m = hz_to_mel(f, scale)
    assert_matches_reference(mel_to_hz(m, scale), ref_mel_to_hz(to_numpy(m), scale))
    assert_matches_reference(mel_to_hz(m, scale), to_numpy(f), rtol=1e-12, atol=1e-9)


def test_mel_scale_anchor_points():
    hz = torch.tensor([0.0, 1000.0, 6400.0], dtype=torch.float64)
    assert_matches_reference(hz_to_mel(hz, "slaney"), np.array([0.0, 15.0, 42.0]))
    assert_matches_reference(hz_to_mel(hz[1:2], "htk"), np.array([2595.0 * math.log10(1.0 + 1000.0 / 700.0)]))


# ----------------------------------------------------------------------------- filterbank

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sr,n_fft,n_mels,f_min,f_max", [
    (16000, 512, 40, 0.0, None), (22050, 1024, 80, 30.0, 8000.0), (44100, 2048, 128, 0.0, None),
    (16000, 255, 20, 50.0, 7000.0)])
@pytest.mark.parametrize("scale", ["slaney", "htk"])
@pytest.mark.parametrize("norm", ["slaney", None])
def test_filterbank_matches_formula(device, sr, n_fft, n_mels, f_min, f_max, scale, norm):
    fb = mel_filterbank(sr, n_fft, n_mels, f_min, f_max, scale, norm, dtype=torch.float64, device=device)
    expected = ref_filterbank(sr, n_fft, n_mels, f_min, sr / 2 if f_max is None else f_max, scale, norm)
    assert fb.shape == (n_mels, n_fft // 2 + 1) and fb.device.type == device
    assert_matches_reference(fb, expected, rtol=1e-10, atol=1e-13)


def test_filterbank_properties():
    fb = mel_filterbank(16000, 1024, 64, norm=None, dtype=torch.float64)
    assert float(fb.max()) <= 1.0 and float(fb.min()) >= 0.0
    peaks = fb.argmax(dim=1)
    assert bool((peaks[1:] >= peaks[:-1]).all()), "filter centres must increase"
    fb32 = mel_filterbank(16000, 1024, 64, dtype=torch.float32)
    assert fb32.dtype == torch.float32
    fb32.zero_()                                  # a copy: the cache is not affected
    assert float(mel_filterbank(16000, 1024, 64).abs().sum()) > 0


def test_filterbank_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_mels.*empty"):
        mel_filterbank(16000, 64, 40)
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(16000, 512, 40, f_max=9000.0)
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(16000, 512, 40, f_min=5000.0, f_max=4000.0)
    with pytest.raises(ValueError, match="sample_rate"):
        mel_filterbank(0, 512, 40)
    with pytest.raises(ValueError, match="mel_scale"):
        mel_filterbank(16000, 512, 40, mel_scale="bark")
    with pytest.raises(ValueError, match="norm"):
        mel_filterbank(16000, 512, 40, norm="l2")


def test_pseudo_inverse_inverts_the_filterbank_on_its_row_space():
    fb = mel_filterbank(16000, 512, 40, dtype=torch.float64)
    pinv = mel_filterbank_pinv(16000, 512, 40, dtype=torch.float64)
    assert pinv.shape == (257, 40)
    assert_matches_reference(fb @ pinv, np.eye(40), rtol=0, atol=1e-8)


def test_one_filterbank_in_the_public_namespaces():
    # one implementation, exported from torchddsp.functional; the losses no longer re-export it
    import torchddsp.losses

    assert functional.mel_filterbank is mel_filterbank
    assert not hasattr(torchddsp.losses, "mel_filterbank") and not hasattr(torchddsp.losses, "hz_to_mel")
