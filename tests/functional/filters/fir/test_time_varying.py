"""Tests for torchddsp.functional.filters.fir.time_varying: time_varying_fir.

References: a float64 NumPy loop over frames (``helpers.reference_time_varying_fir``: ``np.convolve``
of each hop-sized block with its frame's impulse response, tails overlap-added) and
``scipy.signal.lfilter`` for a constant impulse response.
"""

from __future__ import annotations

import numpy as np
import pytest
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
    reference_time_varying_fir,
    to_numpy,
)
from torchddsp.functional.filters.fir import time_varying_fir


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("time, hop, taps", [(640, 64, 128), (100, 8, 5), (50, 7, 13), (33, 10, 1),
                                             (10, 20, 3), (97, 16, 40), (1, 4, 9)])
def test_matches_numpy_frame_loop(dtype, time, hop, taps):
    rng = np.random.default_rng(time + hop + taps)
    frames = -(-time // hop)
    x, h = rng.standard_normal((2, time)), rng.standard_normal((2, frames, taps))
    for delay in sorted({0, taps // 2}):
        out = time_varying_fir(torch.tensor(x, dtype=dtype), torch.tensor(h, dtype=dtype), hop, delay=delay)
        assert out.shape == (2, time) and out.dtype == dtype
        expected = np.stack([reference_time_varying_fir(x[i], h[i], hop, delay) for i in range(2)])
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        assert_matches_reference(out, expected, atol=tol * max(1.0, np.abs(expected).max()))


@settings(max_examples=25, deadline=None)
@given(time=st.integers(1, 200), hop=st.integers(1, 40), taps=st.integers(1, 50), data=st.data())
def test_matches_numpy_random_sizes(time, hop, taps, data):
    frames = -(-time // hop)
    delay = data.draw(st.integers(0, frames * hop + taps - 1 - time))
    rng = np.random.default_rng(time * 31 + hop * 7 + taps)
    x, h = rng.standard_normal(time), rng.standard_normal((frames, taps))
    out = time_varying_fir(torch.tensor(x), torch.tensor(h), hop, delay=delay)
    assert_matches_reference(out, reference_time_varying_fir(x, h, hop, delay), atol=1e-11)


def test_constant_response_equals_scipy_lfilter():
    rng = np.random.default_rng(1)
    x, h = rng.standard_normal(1000), rng.standard_normal(37)
    frames = -(-1000 // 32)
    out = time_varying_fir(torch.tensor(x), torch.tensor(np.tile(h, (frames, 1))), 32)
    assert_matches_reference(out, scipy.signal.lfilter(h, 1.0, x), atol=1e-12)


def test_broadcasting_one_filter_bank_for_a_batch():
    rng = np.random.default_rng(2)
    x, h = rng.standard_normal((3, 1, 90)), rng.standard_normal((2, 6, 11))
    out = time_varying_fir(torch.tensor(x), torch.tensor(h), 16, delay=5)
    assert out.shape == (3, 2, 90)
    expected = np.stack([[reference_time_varying_fir(x[i, 0], h[j], 16, 5) for j in range(2)] for i in range(3)])
    assert_matches_reference(out, expected, atol=1e-12)


def test_gradcheck():
    x = torch.randn(2, 30, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, 7, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda a, b: time_varying_fir(a, b, 8), [x, h])
    check_gradcheck(lambda a, b: time_varying_fir(a, b, 8, delay=3), [x, h])
    shared = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)      # broadcast over the batch
    check_gradcheck(lambda a, b: time_varying_fir(a, b, 8), [x, shared])
    short = torch.randn(5, dtype=torch.float64, requires_grad=True)         # time < hop, taps > time
    check_gradcheck(lambda a, b: time_varying_fir(a, b, 8), [short, torch.randn(1, 9, dtype=torch.float64,
                                                                                 requires_grad=True)])


def test_double_backward_is_refused_not_wrong():
    x = torch.randn(20, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(time_varying_fir(x, h, 8).pow(2).sum(), h, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


def test_batch_consistency():
    x, h = torch.randn(3, 100), torch.randn(3, 7, 20)
    check_batch_consistency(lambda a, b: time_varying_fir(a, b, 16, delay=10), [x, h])


@pytest.mark.parametrize("device", DEVICES)
def test_device_matches_numpy(device):
    rng = np.random.default_rng(4)
    x, h = rng.standard_normal(256), rng.standard_normal((4, 65))
    out = time_varying_fir(torch.tensor(x, device=device), torch.tensor(h, device=device), 64, delay=32)
    assert out.device.type == torch.device(device).type
    assert_matches_reference(out, reference_time_varying_fir(x, h, 64, 32), atol=1e-12)


def test_streaming_blocks_equal_one_shot():
    x, h = torch.randn(2, 320, dtype=torch.float64), torch.randn(2, 10, 50, dtype=torch.float64)
    whole = time_varying_fir(x, h, 32)
    pieces, tail = [], x.new_zeros(2, 0)
    for start in range(0, 320, 96):                  # blocks of 3 frames, the last one of 1
        stop = min(start + 96, 320)
        y, tail = time_varying_fir(x[:, start:stop], h[:, start // 32:-(-stop // 32)], 32,
                                   state=tail)
        pieces.append(y)
    torch.testing.assert_close(torch.cat(pieces, -1), whole, rtol=1e-12, atol=1e-12)
    # The final tail is the rest of the full convolution.
    assert tail.shape == (2, 49)
    assert_matches_reference(torch.cat([whole[0], tail[0]]),
                             reference_time_varying_fir(to_numpy(x[0]), to_numpy(h[0]), 32, full=True), atol=1e-12)


def test_edge_cases():
    # Silence in, silence out; a single tap is a per-block gain.
    assert float(time_varying_fir(torch.zeros(2, 50), torch.randn(2, 4, 9), 13).abs().max()) == 0.0
    x, g = torch.randn(40, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    torch.testing.assert_close(time_varying_fir(x, g, 8), x * g.repeat_interleave(8, 0)[:, 0])
    # Empty signal: no frames.
    assert time_varying_fir(torch.zeros(3, 0), torch.zeros(3, 0, 5), 4).shape == (3, 0)
    # Extreme but valid values: finite output and gradients.
    x = (torch.randn(64) * 1e4).requires_grad_()
    h = (torch.randn(4, 33) * 1e-4).requires_grad_()
    check_finite_gradients(lambda a, b: time_varying_fir(a, b, 16, delay=16), [x, h])
    out = time_varying_fir(torch.randn(2, 1), torch.randn(2, 1, 300), 64, delay=299)
    assert_finite(out)


@pytest.mark.parametrize("kwargs, match", [
    (dict(frames=5), "frames"),
    (dict(delay=-1), "delay"),
    (dict(delay=1000), "delay"),
    (dict(delay=1.5), "delay"),
    (dict(hop=0), "hop_size"),
    (dict(taps=0), "impulse_responses"),
    (dict(tail=True, delay=2), "state"),
])
def test_errors_name_the_argument(kwargs, match):
    frames, taps = kwargs.get("frames", 4), kwargs.get("taps", 5)
    x, h = torch.randn(60), torch.randn(frames, taps)
    tail = torch.zeros(4) if kwargs.get("tail") else None
    with pytest.raises(ValueError, match=match):
        time_varying_fir(x, h, kwargs.get("hop", 16), delay=kwargs.get("delay", 0), state=tail)


def test_chunked_evaluation_matches_reference_and_gradcheck(monkeypatch):
    """Large batches are processed in chunks of leading items; force tiny chunks here."""
    from torchddsp.functional.filters.fir import time_varying

    monkeypatch.setattr(time_varying, "CHUNK_FRAMES", 5)          # 5 frames per chunk: one item at a time
    rng = np.random.default_rng(12)
    x, h = rng.standard_normal((2, 3, 50)), rng.standard_normal((2, 3, 7, 9))
    out = time_varying_fir(torch.tensor(x), torch.tensor(h), 8, delay=4)
    expected = np.stack([[reference_time_varying_fir(x[i, j], h[i, j], 8, 4) for j in range(3)] for i in range(2)])
    assert_matches_reference(out, expected, atol=1e-12)
    xs = torch.randn(2, 20, dtype=torch.float64, requires_grad=True)
    hs = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda a, b: time_varying_fir(a, b, 8), [xs, hs])
    check_gradcheck(lambda b: time_varying_fir(xs.detach(), b, 8), [hs])
    check_gradcheck(lambda a: time_varying_fir(a, hs.detach(), 8, delay=2), [xs])


def test_zero_phase_engine_gradients_including_the_design_matrix(monkeypatch):
    """The window-design engine: gradients for signal, magnitudes and the (learnable-window) matrix."""
    from torchddsp.functional.filters.fir import time_varying
    from torchddsp.functional.filters.fir.window_design import _response_matrix_from_window, design_window

    x = torch.randn(2, 20, dtype=torch.float64, requires_grad=True)
    mags = torch.rand(2, 3, 5, dtype=torch.float64, requires_grad=True)
    matrix = _response_matrix_from_window(design_window("hann", 7, dtype=torch.float64), 5,
                                          time_varying.block_fft_size(8, 7)).requires_grad_()
    for chunk in (4096, 3):
        monkeypatch.setattr(time_varying, "CHUNK_FRAMES", chunk)
        check_gradcheck(lambda a, m, A: time_varying.block_filter(a, (m, A), 8, 7, delay=3), [x, mags, matrix])
    check_gradcheck(lambda m, A: time_varying.block_filter(x.detach()[0], (m, A), 8, 7), [mags, matrix])
