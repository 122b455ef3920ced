"""Tests for torchddsp.functional.filters.lpc.from_mel: LPC from a (log-)mel spectrum (Juvela et al. 2019).

References (float64, outside the project): a NumPy transcription of librosa's ``filters.mel``
formulas, ``numpy.linalg.pinv``, ``numpy.fft.irfft`` and ``scipy.linalg.solve_toeplitz``; and an
all-pole spectrum whose coefficients must come back from its own mel projection.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    seeded_randn,
    to_numpy,
)
from torchddsp.functional.filters.lpc import lpc_from_mel
from torchddsp.functional.spectral import mel_filterbank

# ----------------------------------------------------------------------------- references

def ref_hz_to_mel(f, htk):
    f = np.asarray(f, np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) / (np.log(6.4) / 27.0), f * 3.0 / 200.0)


def ref_mel_to_hz(m, htk):
    m = np.asarray(m, np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0)), 200.0 * m / 3.0)


def ref_filterbank(sr, n_fft, n_mels, fmin=0.0, fmax=None, htk=False, norm="slaney"):
    fmax = sr / 2 if fmax is None else fmax
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    pts = ref_mel_to_hz(np.linspace(ref_hz_to_mel(fmin, htk), ref_hz_to_mel(fmax, htk), n_mels + 2), htk)
    weights = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lower = (freqs - pts[i]) / (pts[i + 1] - pts[i])
        upper = (pts[i + 2] - freqs) / (pts[i + 2] - pts[i + 1])
        weights[i] = np.maximum(0.0, np.minimum(lower, upper))
        if norm == "slaney":
            weights[i] *= 2.0 / (pts[i + 2] - pts[i])
    return weights


def ref_autocorrelation_from_mel(mel, fb, n_fft, log=True, power=2.0, eps=1e-10):
    """Juvela et al.: max(pinv(M) exp(m), eps) -> power spectrum -> inverse FFT."""
    lin = np.exp(mel) if log else mel
    spec = np.maximum(lin @ np.linalg.pinv(fb).T, eps) ** (2.0 / power)
    return np.fft.irfft(spec, n=n_fft, axis=-1)


def ref_levinson_from_r(r, order):
    out = np.zeros(r.shape[:-1] + (order,))
    for idx in np.ndindex(*r.shape[:-1]):
        out[idx] = scipy.linalg.solve_toeplitz(r[idx][:order], -r[idx][1:order + 1])
    return out


def _ar_power_spectrum(a, n_fft, gain=1.0):
    w = np.arange(n_fft // 2 + 1) * 2 * np.pi / n_fft
    A = 1 + sum(a[i] * np.exp(-1j * w * (i + 1)) for i in range(len(a)))
    return gain / np.abs(A) ** 2


# ----------------------------------------------------------------------------- filterbank

@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax,htk,norm", [
    (16000, 1024, 80, 0.0, None, False, "slaney"),
    (22050, 1023, 40, 50.0, 8000.0, True, None),
    (44100, 2048, 128, 20.0, None, False, None),
])
def test_filterbank_matches_librosa_formulas(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    fb = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, "htk" if htk else "slaney", norm, dtype=torch.float64)
    assert fb.shape == (n_mels, n_fft // 2 + 1) and fb.dtype == torch.float64
    assert_matches_reference(fb, ref_filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm), rtol=1e-9, atol=1e-13)


# ----------------------------------------------------------------------------- lpc_from_mel

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log,power", [(True, 2.0), (False, 2.0), (True, 1.0)])
def test_lpc_from_mel_matches_numpy_pipeline(device, dtype, log, power):
    sr, n_fft, n_mels, order = 16000, 512, 40, 12
    fb = ref_filterbank(sr, n_fft, n_mels)
    spectra = np.stack([_ar_power_spectrum([-1.2, 0.6], n_fft), _ar_power_spectrum([0.5, 0.3, -0.2], n_fft, 3.0),
                        _ar_power_spectrum([-0.4], n_fft, 0.1)]) ** (power / 2)
    mel_lin = spectra @ fb.T
    mel = np.log(mel_lin) if log else mel_lin
    a, k, err = lpc_from_mel(torch.from_numpy(mel).to(dtype=dtype, device=device), order, sr, n_fft,
                             log=log, power=power)
    assert a.shape == k.shape == (3, order) and err.shape == (3,) and a.dtype == dtype
    r = ref_autocorrelation_from_mel(mel, fb, n_fft, log=log, power=power)
    tol = dict(rtol=5e-3, atol=5e-4) if dtype == torch.float32 else dict(rtol=1e-7, atol=1e-9)
    assert_matches_reference(a, ref_levinson_from_r(r, order), **tol)
    ref_err = r[:, 0] + np.sum(ref_levinson_from_r(r, order) * r[:, 1:order + 1], axis=-1)
    assert_matches_reference(err, ref_err, **tol)


def test_recovers_all_pole_envelope():
    """The mel projection of an AR(2) spectrum gives back its coefficients (pseudo-inverse loses little)."""
    sr, n_fft, n_mels = 16000, 1024, 80
    true = np.array([-1.6, 0.9])
    mel = np.log(mel_filterbank(sr, n_fft, n_mels, dtype=torch.float64).numpy() @ _ar_power_spectrum(true, n_fft, 0.5))
    a, k, err = lpc_from_mel(torch.from_numpy(mel), 2, sr, n_fft)
    np.testing.assert_allclose(a.numpy(), true, atol=0.02)
    assert abs(float(err) - 0.5) < 0.05                            # the envelope's gain comes back too


def test_custom_filterbank_equals_default():
    sr, n_fft = 16000, 512
    fb = mel_filterbank(sr, n_fft, 30, mel_scale="htk", norm=None, dtype=torch.float64)
    mel = torch.log(fb @ torch.from_numpy(_ar_power_spectrum([0.3, -0.5], n_fft)) + 1e-3)
    ours = lpc_from_mel(mel, 8, sr, n_fft, mel_scale="htk", norm=None)
    given = lpc_from_mel(mel, 8, sr, n_fft, filterbank=fb.float())  # any dtype; inverted in float64
    for x, y in zip(ours, given):
        assert_matches_reference(x, to_numpy(y), rtol=1e-6, atol=1e-9)


def test_gradcheck_wrt_mel():
    sr, n_fft, n_mels = 8000, 64, 10
    fb = mel_filterbank(sr, n_fft, n_mels, dtype=torch.float64)
    spectra = torch.from_numpy(np.stack([_ar_power_spectrum([-0.9, 0.4], n_fft), _ar_power_spectrum([0.6], n_fft)]))
    mel = torch.log(spectra @ fb.T) + 0.01 * seeded_randn(2, n_mels)
    check_gradcheck(lambda m: lpc_from_mel(m, 4, sr, n_fft), [mel.requires_grad_()])
    linear = mel.detach().exp().requires_grad_()
    check_gradcheck(lambda m: lpc_from_mel(m, 3, sr, n_fft, log=False, power=1.0), [linear])


def test_batch_consistency():
    sr, n_fft, n_mels = 16000, 256, 24
    mel = seeded_randn(3, 5, n_mels) - 2.0                                # (batch, frames, mels)
    check_batch_consistency(lambda m: lpc_from_mel(m, 10, sr, n_fft), [mel], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
def test_silence_and_extremes_are_finite(dtype):
    """Log-mel of silence (very negative): the floor eps keeps the spectrum positive, so no NaN."""
    sr, n_fft, n_mels = 16000, 512, 40
    mel = torch.full((2, n_mels), -100.0, dtype=dtype)
    mel[1, ::2] = 5.0                                              # a very uneven frame next to it
    mel.requires_grad_()
    a, k, err = check_finite_gradients(lambda m: lpc_from_mel(m, 16, sr, n_fft), [mel])
    assert bool((k.abs() < 1).all())
    a1, k1, _ = lpc_from_mel(mel.detach()[:1], 1, sr, n_fft)       # order 1
    assert a1.shape == (1, 1)


def test_rejects_bad_arguments():
    mel = torch.zeros(2, 40)
    with pytest.raises(ValueError, match="filterbank"):
        lpc_from_mel(mel, 8, 16000, 512, filterbank=torch.zeros(40, 100))
    with pytest.raises(ValueError, match="order"):
        lpc_from_mel(mel, 512, 16000, 512)
    with pytest.raises(ValueError, match="n_mels"):
        lpc_from_mel(torch.zeros(2, 400), 8, 16000, 128)
    with pytest.raises(ValueError, match="f_max"):
        lpc_from_mel(mel, 8, 16000, 512, f_max=9000.0)
    with pytest.raises(ValueError, match="power"):
        lpc_from_mel(mel, 8, 16000, 512, power=0.0)
