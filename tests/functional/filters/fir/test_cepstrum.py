"""Tests for torchddsp.functional.filters.fir.cepstrum: complex_cepstrum_ir.

References: review Eq. 7 evaluated with NumPy's complex FFT (``np.fft.ifft(np.exp(np.fft.fft(c)))``)
and the closed-form complex cepstra of one-zero filters: for :math:`|a| < 1`,
:math:`\\log(1 - a z^{-1}) = -\\sum_{n \\ge 1} a^n z^{-n} / n` (minimum phase, causal cepstrum) and
:math:`\\log(1 - a z) = -\\sum_{n \\ge 1} a^n z^{n} / n` (maximum phase, anticausal cepstrum).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
)
from torchddsp.functional.filters.fir import complex_cepstrum_ir


def reference(cepstrum: np.ndarray, n_fft: int, shift: int) -> np.ndarray:
    """Eq. 7 with the full complex DFT: quefrency q at index q mod N, then rotate by shift."""
    half = cepstrum.shape[-1] // 2
    circular = np.zeros(cepstrum.shape[:-1] + (n_fft,))
    for q in range(-half, half + 1):
        circular[..., q % n_fft] = cepstrum[..., half + q]
    h = np.fft.ifft(np.exp(np.fft.fft(circular, axis=-1)), axis=-1)
    assert np.abs(h.imag).max() < 1e-10            # a real cepstrum gives a real response
    return np.roll(h.real, shift, axis=-1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("length, n_fft, shift", [(9, 32, None), (9, 32, 0), (31, 256, 100), (1, 1, None),
                                                  (5, 5, 2), (21, 64, 63)])
def test_matches_numpy_equation(dtype, length, n_fft, shift):
    rng = np.random.default_rng(length * n_fft)
    c = rng.standard_normal((2, 3, length)) * 0.3
    out = complex_cepstrum_ir(torch.tensor(c, dtype=dtype), n_fft, shift=shift)
    expected = reference(c, n_fft, n_fft // 2 if shift is None else shift)
    assert out.shape == (2, 3, n_fft) and out.dtype == dtype
    assert_matches_reference(out, expected, atol=1e-5 if dtype == torch.float32 else 1e-12)


def test_closed_form_minimum_and_maximum_phase_filters():
    a, q = 0.5, 40
    n = np.arange(1, q + 1)
    causal = np.concatenate([np.zeros(q), [0.0], -a ** n / n])          # 1 - a z^-1: minimum phase
    anticausal = causal[::-1].copy()                                     # 1 - a z: maximum phase
    gain = np.zeros(2 * q + 1)
    gain[q] = np.log(3.0)                                                # quefrency 0 = log gain
    c = torch.tensor(np.stack([causal, anticausal, causal + gain]))
    h = complex_cepstrum_ir(c, 256, shift=128).numpy()
    expected = np.zeros((3, 256))
    expected[0, 128], expected[0, 129] = 1.0, -a
    expected[1, 128], expected[1, 127] = 1.0, -a
    expected[2] = 3.0 * expected[0]
    assert_matches_reference(torch.tensor(h), expected, atol=1e-13)      # truncation error a^41 / 41


def test_zero_cepstrum_is_a_delayed_impulse():
    h = complex_cepstrum_ir(torch.zeros(4, 11), 64, shift=5)
    expected = np.zeros((4, 64))
    expected[:, 5] = 1.0
    assert_matches_reference(h, expected, atol=1e-6)


def test_gradcheck():
    c = (torch.randn(2, 3, 7, dtype=torch.float64) * 0.3).requires_grad_()
    check_gradcheck(lambda x: complex_cepstrum_ir(x, 16), [c])
    check_gradcheck(lambda x: complex_cepstrum_ir(x, 7, shift=0), [c])


def test_batch_consistency():
    check_batch_consistency(lambda x: complex_cepstrum_ir(x, 64), [torch.randn(3, 5, 15) * 0.2])


@pytest.mark.parametrize("device", DEVICES)
def test_device_matches_numpy(device):
    c = np.random.default_rng(5).standard_normal((4, 21)) * 0.2
    out = complex_cepstrum_ir(torch.tensor(c, device=device), 128)
    assert out.device.type == torch.device(device).type
    assert_matches_reference(out, reference(c, 128, 64), atol=1e-12)


def test_edge_cases():
    # Very negative log gain: a response near zero, finite values and gradients.
    c = torch.zeros(2, 9)
    c[:, 4] = torch.tensor([-80.0, 20.0])
    c.requires_grad_()
    out = check_finite_gradients(lambda x: complex_cepstrum_ir(x, 32), [c])
    assert float(out[0].detach().abs().max()) < 1e-30
    assert_finite(out)


@pytest.mark.parametrize("call, match", [
    (lambda: complex_cepstrum_ir(torch.zeros(3, 8), 16), "cepstrum"),
    (lambda: complex_cepstrum_ir(torch.zeros(3, 9), 8), "n_fft"),
    (lambda: complex_cepstrum_ir(torch.zeros(3, 9), 16, shift=16), "shift"),
    (lambda: complex_cepstrum_ir(torch.zeros(3, 9), 16, shift=-1), "shift"),
    (lambda: complex_cepstrum_ir(torch.zeros(3, 9, dtype=torch.complex64), 16), "cepstrum"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
