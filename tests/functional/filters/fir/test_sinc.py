"""Tests for torchddsp.functional.filters.fir.sinc: sinc_lowpass_ir, sinc_highpass_ir, sinc_lowpass, sinc_highpass.

Reference: ``scipy.signal.firwin`` per frame (low-pass, ``pass_zero=False`` high-pass, with and
without ``scale``) and a NumPy loop over frames for the filtering.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    reference_time_varying_fir,
    to_numpy,
)
from torchddsp.functional.filters.fir import sinc_highpass, sinc_highpass_ir, sinc_lowpass, sinc_lowpass_ir

FS = 16000.0


def firwin_bank(cutoffs: np.ndarray, taps: int, window: str, kind: str, normalize: bool) -> np.ndarray:
    """firwin per frame; cutoffs (frames,) in Hz strictly between 0 and Nyquist."""
    rows = []
    for fc in cutoffs:
        if kind == "low":
            rows.append(scipy.signal.firwin(taps, fc, window=window, scale=normalize, fs=FS))
        elif normalize:                      # delta minus the DC-normalised low-pass
            low = scipy.signal.firwin(taps, fc, window=window, scale=True, fs=FS)
            delta = np.zeros(taps)
            delta[taps // 2] = 1.0
            rows.append(delta - low)
        else:
            rows.append(scipy.signal.firwin(taps, fc, window=window, pass_zero=False, scale=False, fs=FS))
    return np.stack(rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["low", "high"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("window, taps", [("hamming", 63), ("hann", 31), ("blackman", 101), ("boxcar", 15)])
def test_ir_matches_scipy_firwin(dtype, kind, normalize, window, taps):
    cutoffs = np.array([50.0, 700.0, 2500.0, 7900.0])
    design = sinc_lowpass_ir if kind == "low" else sinc_highpass_ir
    out = design(torch.tensor(cutoffs, dtype=dtype).reshape(1, 4, 1), FS, taps, window, normalize)
    expected = firwin_bank(cutoffs, taps, window, kind, normalize)[None]
    assert out.shape == (1, 4, taps) and out.dtype == dtype
    assert_matches_reference(out, expected, atol=1e-6 if dtype == torch.float32 else 1e-13)


def test_cutoff_at_and_above_nyquist_and_at_zero():
    cut = torch.tensor([[8000.0], [12000.0], [1e9], [0.0]], dtype=torch.float64)
    delta = np.zeros(31)
    delta[15] = 1.0
    low = sinc_lowpass_ir(cut, FS, 31)
    high = sinc_highpass_ir(cut, FS, 31)
    assert_matches_reference(low[:3], np.tile(delta, (3, 1)), atol=1e-15)          # pass everything
    assert_matches_reference(high[:3], np.zeros((3, 31)), atol=1e-15)             # pass nothing
    assert_matches_reference(low[3], np.zeros(31), atol=0)                         # cutoff 0: nothing
    assert_matches_reference(high[3], delta, atol=0)
    w = np.hamming(31)
    assert_matches_reference(sinc_lowpass_ir(cut, FS, 31, normalize=True)[3], w / w.sum(), atol=1e-15)
    assert_matches_reference(sinc_highpass_ir(cut, FS, 31, normalize=True)[3], delta - w / w.sum(), atol=1e-15)
    # Above Nyquist the response no longer depends on the cutoff: a zero, finite gradient.
    c = torch.tensor([[9000.0], [4000.0]], dtype=torch.float64, requires_grad=True)
    grad, = torch.autograd.grad(sinc_lowpass_ir(c, FS, 31).pow(2).sum(), c)
    assert grad[0].item() == 0.0 and grad[1].item() != 0.0


def test_frequency_response_passes_and_stops():
    # Blackman, 101 taps: transition band about 5.5 / 101 * fs = 870 Hz wide, stopband below -70 dB.
    cut = torch.tensor([[1000.0], [4000.0]], dtype=torch.float64)
    low = to_numpy(sinc_lowpass_ir(cut, FS, 101, "blackman"))
    high = to_numpy(sinc_highpass_ir(cut, FS, 101, "blackman"))
    for i, fc in enumerate((1000.0, 4000.0)):
        below, above = fc / 2, fc + 1500.0
        _, resp = scipy.signal.freqz(low[i], worN=[below, above], fs=FS)
        assert abs(abs(resp[0]) - 1.0) < 2e-3 and abs(resp[1]) < 1e-3, (fc, abs(resp))
        _, resp = scipy.signal.freqz(high[i], worN=[below, above], fs=FS)
        assert abs(resp[0]) < 1e-3 and abs(abs(resp[1]) - 1.0) < 2e-3, (fc, abs(resp))


@pytest.mark.parametrize("kind", ["low", "high"])
@pytest.mark.parametrize("compensate_delay", [True, False])
def test_filtering_matches_numpy_loop(kind, compensate_delay):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 300))
    cutoffs = rng.uniform(100.0, 7000.0, (2, 5, 1))
    apply = sinc_lowpass if kind == "low" else sinc_highpass
    out = apply(torch.tensor(x), torch.tensor(cutoffs), FS, 64, taps=41, compensate_delay=compensate_delay)
    delay = 20 if compensate_delay else 0
    banks = [firwin_bank(cutoffs[i, :, 0], 41, "hamming", kind, False) for i in range(2)]
    expected = np.stack([reference_time_varying_fir(x[i], banks[i], 64, delay) for i in range(2)])
    assert_matches_reference(out, expected, atol=1e-12)


def test_gradcheck_wrt_cutoff_and_signal():
    cut = torch.tensor([[[300.0], [2500.0], [6000.0]]], dtype=torch.float64, requires_grad=True)
    for normalize in (False, True):
        check_gradcheck(lambda c: sinc_lowpass_ir(c, FS, 15, normalize=normalize), [cut])
        check_gradcheck(lambda c: sinc_highpass_ir(c, FS, 15, "hann", normalize=normalize), [cut])
    x = torch.randn(1, 40, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda a, c: sinc_lowpass(a, c, FS, 16, taps=9), [x, cut])
    check_gradcheck(lambda a, c: sinc_highpass(a, c, FS, 16, taps=9, compensate_delay=False), [x, cut])


def test_batch_consistency():
    x, cut = torch.randn(3, 128), torch.rand(3, 4, 1) * 7000 + 100
    check_batch_consistency(lambda a, c: sinc_lowpass(a, c, FS, 32, taps=21), [x, cut])
    check_batch_consistency(lambda c: sinc_highpass_ir(c, FS, 21, normalize=True), [cut])


@pytest.mark.parametrize("device", DEVICES)
def test_device_matches_scipy(device):
    cutoffs = np.array([500.0, 3000.0])
    out = sinc_lowpass_ir(torch.tensor(cutoffs, device=device).reshape(2, 1), FS, 63)
    assert out.device.type == torch.device(device).type
    assert_matches_reference(out, firwin_bank(cutoffs, 63, "hamming", "low", False), atol=1e-13)


def test_edge_cases():
    assert float(sinc_lowpass(torch.zeros(2, 50), torch.full((2, 4, 1), 1000.0), FS, 16).abs().max()) == 0.0
    assert sinc_lowpass(torch.randn(1), torch.full((1, 1), 1000.0), FS, 16, taps=3).shape == (1,)
    # Extreme but valid cutoffs (0, tiny, Nyquist, far above): finite values and gradients.
    cut = torch.tensor([[0.0], [1e-6], [8000.0], [1e12]], dtype=torch.float64, requires_grad=True)
    for normalize in (False, True):
        check_finite_gradients(lambda c: sinc_lowpass_ir(c, FS, 31, normalize=normalize), [cut])
        check_finite_gradients(lambda c: sinc_highpass_ir(c, FS, 31, normalize=normalize), [cut])
    assert_finite(sinc_highpass(torch.randn(64), cut, FS, 16, taps=31))


@pytest.mark.parametrize("call, match", [
    (lambda: sinc_lowpass_ir(torch.full((3, 1), 100.0), FS, 32), "taps"),
    (lambda: sinc_lowpass_ir(torch.full((3, 1), -1.0), FS, 31), "cutoff"),
    (lambda: sinc_lowpass_ir(torch.full((3, 2), 100.0), FS, 31), "cutoff"),
    (lambda: sinc_lowpass_ir(torch.full((3,), 100.0), FS, 31), "cutoff"),
    (lambda: sinc_highpass_ir(torch.full((3, 1), 100.0), 0.0, 31), "sample_rate"),
    (lambda: sinc_lowpass(torch.randn(100), torch.full((3, 1), 100.0), FS, 16), "frames"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
