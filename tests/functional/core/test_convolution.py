"""Tests for torchddsp.functional.core.convolution: fft_convolve, next_fast_len.

Reference: ``scipy.signal.fftconvolve`` (all modes) and ``scipy.fft.next_fast_len(real=True)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from torchddsp.functional.core.convolution import fft_convolve, next_fast_len

MODES = ["full", "same", "valid"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n, k", [(100, 7), (7, 100), (64, 64), (1, 5), (5, 1), (1, 1), (1000, 257)])
def test_matches_scipy_fftconvolve(dtype, mode, n, k):
    rng = np.random.default_rng(n * 1000 + k)
    x, h = rng.standard_normal((3, n)), rng.standard_normal((3, k))
    out = fft_convolve(torch.tensor(x, dtype=dtype), torch.tensor(h, dtype=dtype), mode)
    expected = scipy.signal.fftconvolve(x, h, mode=mode, axes=-1)
    scale = np.abs(expected).max()
    assert out.dtype == dtype
    assert_matches_reference(out, expected, atol=(1e-5 if dtype == torch.float32 else 1e-12) * scale)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(1, 300), mode=st.sampled_from(MODES))
def test_matches_scipy_random_sizes(n, k, mode):
    rng = np.random.default_rng(n * 7919 + k)
    x, h = rng.standard_normal(n), rng.standard_normal(k)
    out = fft_convolve(torch.tensor(x), torch.tensor(h), mode)
    assert_matches_reference(out, scipy.signal.fftconvolve(x, h, mode=mode), atol=1e-11)


def test_broadcasts_leading_dimensions():
    rng = np.random.default_rng(0)
    x, h = rng.standard_normal((3, 1, 50)), rng.standard_normal((4, 9))
    out = fft_convolve(torch.tensor(x), torch.tensor(h), "same")
    assert out.shape == (3, 4, 50)
    expected = np.stack([[scipy.signal.fftconvolve(x[i, 0], h[j], mode="same") for j in range(4)] for i in range(3)])
    assert_matches_reference(out, expected, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck(mode):
    x = torch.randn(2, 11, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda a, b: fft_convolve(a, b, mode), [x, h])
    check_gradcheck(lambda a, b: fft_convolve(b, a, mode), [x, h])    # kernel longer than signal


def test_batch_consistency():
    x, h = torch.randn(3, 40), torch.randn(3, 9)
    check_batch_consistency(lambda a, b: fft_convolve(a, b, "full"), [x, h])
    check_batch_consistency(lambda a: fft_convolve(a, h[0], "same"), [x])


@pytest.mark.parametrize("device", DEVICES)
def test_device_matches_scipy(device):
    rng = np.random.default_rng(3)
    x, h = rng.standard_normal((2, 300)), rng.standard_normal((2, 31))
    out = fft_convolve(torch.tensor(x, device=device), torch.tensor(h, device=device), "same")
    assert out.device.type == torch.device(device).type
    assert_matches_reference(out, scipy.signal.fftconvolve(x, h, mode="same", axes=-1), atol=1e-12)


def test_edge_cases():
    empty = fft_convolve(torch.zeros(2, 0), torch.ones(2, 3))
    assert empty.shape == (2, 0)
    assert fft_convolve(torch.ones(4), torch.zeros(0), "same").shape == (0,)
    silence = fft_convolve(torch.zeros(2, 100), torch.randn(2, 10))
    assert float(silence.abs().max()) == 0.0
    # Mixed dtypes promote; a float32 signal with a float64 kernel gives float64.
    assert fft_convolve(torch.ones(5), torch.ones(3, dtype=torch.float64)).dtype == torch.float64
    # Large dynamic range: finite values and gradients.
    x = (torch.randn(2, 64) * 1e6).requires_grad_()
    h = (torch.randn(2, 16) * 1e-6).requires_grad_()
    check_finite_gradients(lambda a, b: fft_convolve(a, b), [x, h])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="mode"):
        fft_convolve(torch.ones(3), torch.ones(3), "circular")
    with pytest.raises(ValueError, match="signal"):
        fft_convolve([1.0, 2.0], torch.ones(3))
    with pytest.raises(ValueError, match="kernel"):
        fft_convolve(torch.ones(3), torch.ones((), dtype=torch.float32))
    with pytest.raises(ValueError, match="real"):
        fft_convolve(torch.ones(3, dtype=torch.complex64), torch.ones(3))
    with pytest.raises(ValueError, match="target"):
        next_fast_len(0)


def test_next_fast_len_matches_scipy():
    for n in list(range(1, 3000)) + [12345, 65535, 100_003, 2 ** 20 + 1]:
        assert next_fast_len(n) == scipy.fft.next_fast_len(n, real=True), n


def test_long_inputs_match_numpy_and_are_finite():
    x, h = torch.randn(2, 64000, dtype=torch.float64), torch.randn(8000, dtype=torch.float64)
    out = fft_convolve(x, h)
    assert out.shape == (2, 71999)
    assert_finite(out)
    head = np.convolve(to_numpy(x[0, :300]), to_numpy(h))[:300]        # first samples depend on x[:300] only
    assert_matches_reference(out[0, :300], head, atol=1e-9)


# ------------------------------------------------------- overlap-add path (long * short inputs)

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n, k", [(20000, 700), (700, 20000), (16384, 1), (4096 * 4 + 3, 512)])
def test_overlap_add_path_matches_scipy(dtype, mode, n, k):
    import torchddsp.functional.core.convolution as conv
    block = max(conv.MIN_BLOCK_FFT, 1 << (2 * min(n, k) - 1).bit_length())
    assert max(n, k) >= conv.OVERLAP_ADD_BLOCKS * block       # the case really takes the overlap-add path
    rng = np.random.default_rng(n + k)
    x, h = rng.standard_normal((2, n)), rng.standard_normal((1, k))
    out = fft_convolve(torch.tensor(x, dtype=dtype), torch.tensor(h, dtype=dtype), mode)
    expected = scipy.signal.fftconvolve(x, h, mode=mode, axes=-1)
    assert out.dtype == dtype and out.shape == expected.shape
    scale = np.abs(expected).max()
    assert_matches_reference(out, expected, atol=(1e-5 if dtype == torch.float32 else 1e-12) * scale)


@pytest.mark.parametrize("mode", MODES)
def test_overlap_add_path_gradcheck_and_broadcast(monkeypatch, mode):
    import torchddsp.functional.core.convolution as conv
    monkeypatch.setattr(conv, "MIN_BLOCK_FFT", 8)                 # 8-point blocks: small enough for gradcheck
    x = torch.randn(2, 1, 45, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    out = fft_convolve(x, h, mode)
    expected = np.stack([[scipy.signal.fftconvolve(x.detach()[i, 0].numpy(), h.detach()[j].numpy(), mode=mode)
                          for j in range(3)] for i in range(2)])
    assert_matches_reference(out, expected, atol=1e-12)
    check_gradcheck(lambda a, b: fft_convolve(a, b, mode), [x, h])
    check_gradcheck(lambda a, b: fft_convolve(b, a, mode), [x, h])
