"""Tests for torchddsp.functional.filters.fir.window_design: window_design_ir, window_design_response,
frequency_filter, design_window.

References, in float64 NumPy straight from the equations of Engel et al. 2020 (review §3.1.2):
the zero-phase response as an explicit cosine sum (no FFT), NumPy's symmetric windows
(``np.hanning``, ``np.hamming``, ``np.blackman``), the DFT of the causal response by
``np.fft.rfft``, and a loop over frames with ``np.convolve`` for the filtering.
"""

from __future__ import annotations

import numpy as np
import pytest
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
    reference_time_varying_fir,
)
from torchddsp.functional.filters.fir import (
    design_window,
    frequency_filter,
    time_varying_fir,
    window_design_ir,
    window_design_response,
)

NUMPY_WINDOWS = {"hann": np.hanning, "hamming": np.hamming, "blackman": np.blackman, "boxcar": np.ones}


def reference_window(name: str, size: int) -> np.ndarray:
    centre = size // 2
    w = NUMPY_WINDOWS[name](2 * centre + 1)[:size].copy()
    if size % 2 == 0:
        w[0] = 0.0
    return w


def reference_ir(magnitudes: np.ndarray, size: int | None = None, window: str = "hann") -> np.ndarray:
    """h[t] = w[t] g[t - c], g the zero-phase response as an explicit cosine sum."""
    n_bands = magnitudes.shape[-1]
    n = 2 * (n_bands - 1)
    size = size or n
    centre = size // 2
    k = np.arange(n_bands)
    weight = np.where((k == 0) | (k == n_bands - 1), 1.0, 2.0) / n
    lags = (np.arange(size) - centre) % n
    g = (magnitudes[..., None, :] * weight * np.cos(2 * np.pi * lags[:, None] * k / n)).sum(-1)
    return g * reference_window(window, size)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "boxcar"])
@pytest.mark.parametrize("n_bands, size", [(65, None), (65, 127), (9, 7), (9, 16), (2, None), (2, 1), (33, 20)])
def test_ir_matches_equation(dtype, window, n_bands, size):
    rng = np.random.default_rng(n_bands * 100 + (size or 0))
    mags = rng.uniform(-1.0, 2.0, (2, 3, n_bands))
    out = window_design_ir(torch.tensor(mags, dtype=dtype), size, window)
    expected = reference_ir(mags, size, window)
    assert out.shape == expected.shape and out.dtype == dtype
    assert_matches_reference(out, expected, atol=1e-6 if dtype == torch.float32 else 1e-13)
    # Linear phase: symmetric about the centre tap (the leading zero of an even size aside).
    body = expected[..., 1:] if expected.shape[-1] % 2 == 0 else expected
    np.testing.assert_allclose(body, body[..., ::-1], atol=1e-13)


@pytest.mark.parametrize("n_bands, size, n_fft", [(65, None, 192), (65, 101, 256), (9, 16, 40), (5, 3, 7)])
def test_response_is_dft_of_ir_with_linear_phase_removed(n_bands, size, n_fft):
    rng = np.random.default_rng(n_fft)
    mags = rng.uniform(0.0, 1.0, (4, n_bands))
    h = reference_ir(mags, size)
    centre = h.shape[-1] // 2
    spectrum = np.fft.rfft(h, n_fft) * np.exp(2j * np.pi * np.arange(n_fft // 2 + 1) * centre / n_fft)
    np.testing.assert_allclose(spectrum.imag, 0.0, atol=1e-12)        # the reference is zero-phase
    out = window_design_response(torch.tensor(mags), n_fft, size)
    assert_matches_reference(out, spectrum.real, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compensate_delay", [True, False])
@pytest.mark.parametrize("time, hop, n_bands, size, window", [
    (640, 64, 65, None, "hann"), (200, 16, 9, 11, "hamming"), (101, 10, 17, 32, "blackman"),
    (5, 8, 5, None, "boxcar"), (64, 64, 65, 100, "hann"),
])
def test_frequency_filter_matches_numpy_loop(dtype, compensate_delay, time, hop, n_bands, size, window):
    rng = np.random.default_rng(time + hop)
    frames = -(-time // hop)
    x, mags = rng.uniform(-1, 1, (2, time)), rng.uniform(0, 1, (2, frames, n_bands))
    out = frequency_filter(torch.tensor(x, dtype=dtype), torch.tensor(mags, dtype=dtype), hop, window_size=size,
                           window=window, compensate_delay=compensate_delay)
    h = reference_ir(mags, size, window)
    delay = h.shape[-1] // 2 if compensate_delay else 0
    expected = np.stack([reference_time_varying_fir(x[i], h[i], hop, delay) for i in range(2)])
    assert out.shape == (2, time) and out.dtype == dtype
    assert_matches_reference(out, expected, atol=2e-6 if dtype == torch.float32 else 1e-13)


@settings(max_examples=20, deadline=None)
@given(time=st.integers(1, 120), hop=st.integers(1, 20), n_bands=st.integers(2, 12), data=st.data())
def test_frequency_filter_equals_designed_irs_through_time_varying_fir(time, hop, n_bands, data):
    size = data.draw(st.integers(1, 2 * (n_bands - 1)))
    frames = -(-time // hop)
    x, mags = torch.randn(time, dtype=torch.float64), torch.rand(frames, n_bands, dtype=torch.float64)
    for compensate in (True, False):
        fused = frequency_filter(x, mags, hop, window_size=size, compensate_delay=compensate)
        direct = time_varying_fir(x, window_design_ir(mags, size), hop, delay=size // 2 if compensate else 0)
        torch.testing.assert_close(fused, direct, rtol=1e-10, atol=1e-12)


def test_unit_magnitudes_pass_the_signal_unchanged():
    # M = 1 gives g = delta, so every filter is a pure delay of size // 2 (the Hann window is 1 there).
    x = torch.randn(3, 500, dtype=torch.float64)
    ones = torch.ones(3, 8, 65, dtype=torch.float64)
    torch.testing.assert_close(frequency_filter(x, ones, 64), x, rtol=0, atol=1e-12)
    causal = frequency_filter(x, ones, 64, compensate_delay=False)
    torch.testing.assert_close(causal[:, 64:], x[:, :-64], rtol=0, atol=1e-12)


def test_gradcheck():
    mags = torch.rand(2, 4, 9, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 30, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda m: window_design_ir(m), [mags])
    check_gradcheck(lambda m: window_design_ir(m, 7, "hamming"), [mags])
    check_gradcheck(lambda m: window_design_response(m, 24, 11), [mags])
    check_gradcheck(lambda a, m: frequency_filter(a, m, 8), [x, mags])
    check_gradcheck(lambda a, m: frequency_filter(a, m, 8, window_size=13, compensate_delay=False), [x, mags])
    shared = torch.rand(4, 9, dtype=torch.float64, requires_grad=True)       # one filter bank for the batch
    check_gradcheck(lambda a, m: frequency_filter(a, m, 8, window_size=5), [x, shared])


def test_batch_consistency():
    x, mags = torch.randn(3, 160), torch.rand(3, 10, 17)
    check_batch_consistency(lambda a, m: frequency_filter(a, m, 16), [x, mags])
    check_batch_consistency(lambda m: window_design_ir(m, 20), [mags])


@pytest.mark.parametrize("device", DEVICES)
def test_device_matches_numpy(device):
    rng = np.random.default_rng(8)
    x, mags = rng.uniform(-1, 1, 256), rng.uniform(0, 1, (4, 65))
    out = frequency_filter(torch.tensor(x, device=device), torch.tensor(mags, device=device), 64)
    ir = window_design_ir(torch.tensor(mags, device=device))
    assert out.device.type == ir.device.type == torch.device(device).type
    h = reference_ir(mags)
    assert_matches_reference(ir, h, atol=1e-13)
    assert_matches_reference(out, reference_time_varying_fir(x, h, 64, 64), atol=1e-13)


def test_streaming_blocks_equal_one_shot():
    x, mags = torch.randn(2, 256, dtype=torch.float64), torch.rand(2, 16, 9, dtype=torch.float64)
    whole = frequency_filter(x, mags, 16, compensate_delay=False)
    out, tail = [], x.new_zeros(2, 0)
    for start in range(0, 256, 64):
        y, tail = frequency_filter(x[:, start:start + 64], mags[:, start // 16:start // 16 + 4], 16,
                                   compensate_delay=False, state=tail)
        out.append(y)
    torch.testing.assert_close(torch.cat(out, -1), whole, rtol=1e-12, atol=1e-12)


def test_edge_cases():
    x = torch.randn(2, 100)
    assert float(frequency_filter(x, torch.zeros(2, 7, 33), 16).abs().max()) == 0.0     # zero magnitudes
    assert float(frequency_filter(torch.zeros(2, 100), torch.rand(2, 7, 33), 16).abs().max()) == 0.0
    assert frequency_filter(torch.randn(1), torch.rand(1, 65), 64).shape == (1,)         # time < hop
    assert frequency_filter(torch.zeros(0), torch.rand(0, 65), 64).shape == (0,)
    # Very small and very large magnitudes: finite values and gradients.
    mags = torch.cat([torch.full((1, 4, 17), 1e-30), torch.full((1, 4, 17), 1e8)]).requires_grad_()
    xs = torch.randn(2, 64, requires_grad=True)
    check_finite_gradients(lambda a, m: frequency_filter(a, m, 16), [xs, mags])
    assert_finite(window_design_ir(mags))


def test_design_window_matches_numpy_and_checks_symmetry():
    for name in NUMPY_WINDOWS:
        for size in (1, 2, 7, 8, 128):
            assert_matches_reference(design_window(name, size, dtype=torch.float64), reference_window(name, size),
                                     atol=1e-15)
    custom = torch.tensor([0.0, 0.5, 1.0, 0.5])
    torch.testing.assert_close(design_window(custom, 4), custom)
    with pytest.raises(ValueError, match="window"):
        design_window(torch.tensor([0.2, 0.5, 1.0, 0.5]), 4)            # even size must start with 0
    with pytest.raises(ValueError, match="window"):
        design_window(torch.tensor([0.1, 1.0, 0.5]), 3)
    with pytest.raises(ValueError, match="window"):
        design_window(torch.ones(5), 3)
    with pytest.raises(ValueError, match="window"):
        design_window("kaiser", 3)


@pytest.mark.parametrize("call, match", [
    (lambda: window_design_ir(torch.rand(4, 1)), "magnitudes"),
    (lambda: window_design_ir(torch.rand(4)), "magnitudes"),
    (lambda: window_design_ir(torch.rand(4, 9), 17), "window_size"),
    (lambda: window_design_ir(torch.rand(4, 9), 0), "window_size"),
    (lambda: window_design_response(torch.rand(4, 9), 0), "n_fft"),
    (lambda: frequency_filter(torch.randn(100), torch.rand(5, 9), 16), "frames"),
    (lambda: frequency_filter(torch.randn(100), torch.rand(7, 9), 0), "hop_size"),
    (lambda: frequency_filter(torch.randn(100), torch.rand(7, 9), 16, state=torch.zeros(3)),
     "state"),
    (lambda: window_design_ir(torch.rand(4, 9, dtype=torch.complex64)), "magnitudes"),
])
def test_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_chunked_evaluation_matches_reference(monkeypatch):
    from torchddsp.functional.filters.fir import time_varying

    monkeypatch.setattr(time_varying, "CHUNK_FRAMES", 7)           # two items per chunk, the last one alone
    rng = np.random.default_rng(13)
    x, mags = rng.uniform(-1, 1, (5, 60)), rng.uniform(0, 1, (5, 4, 9))
    out = frequency_filter(torch.tensor(x), torch.tensor(mags), 16)
    h = reference_ir(mags)
    expected = np.stack([reference_time_varying_fir(x[i], h[i], 16, 8) for i in range(5)])
    assert_matches_reference(out, expected, atol=1e-13)
    xs = torch.tensor(x[:3, :24], requires_grad=True)
    ms = torch.tensor(mags[:3, :2, :5], requires_grad=True)
    check_gradcheck(lambda a, m: frequency_filter(a, m, 16, window_size=7), [xs, ms])


def test_backward_twice_with_retained_graph_gives_the_same_gradient():
    x, mags = torch.randn(3, 200, dtype=torch.float64), torch.rand(3, 13, 9, dtype=torch.float64, requires_grad=True)
    y = frequency_filter(x, mags, 16)
    g = torch.randn_like(y)
    first, = torch.autograd.grad(y, mags, g, retain_graph=True)
    second, = torch.autograd.grad(y, mags, g)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
