"""Tests for torchddsp.functional.core.framing: frame, overlap_add, cola_constant.

References: ``numpy.lib.stride_tricks.sliding_window_view`` for ``frame``, an explicit NumPy loop
over frames for ``overlap_add`` and ``scipy.signal.check_COLA`` for ``cola_constant``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_gradcheck,
    seeded_randn,
    to_numpy,
)
from torchddsp.functional.core.framing import cola_constant, frame, overlap_add

# ----------------------------------------------------------------------------- references

def ref_frame(x: np.ndarray, length: int, hop: int, pad_end: bool = False) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if pad_end:
        frames = math.ceil(x.shape[-1] / hop)
        need = (frames - 1) * hop + length
        x = np.concatenate([x, np.zeros(x.shape[:-1] + (max(need - x.shape[-1], 0),))], axis=-1)
    return sliding_window_view(x, length, axis=-1)[..., ::hop, :]


def ref_overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    frames = np.asarray(frames, np.float64)
    *lead, n, length = frames.shape
    out = np.zeros((*lead, (n - 1) * hop + length if n else 0))
    for m in range(n):
        out[..., m * hop:m * hop + length] += frames[..., m, :]
    return out


# ----------------------------------------------------------------------------- frame

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("time,length,hop", [(100, 16, 4), (100, 16, 16), (101, 16, 7), (64, 64, 3),
                                             (50, 8, 1), (40, 4, 10)])
def test_frame_matches_stride_tricks(device, dtype, time, length, hop):
    x = seeded_randn(2, 3, time, dtype=dtype, device=device)
    y = frame(x, length, hop)
    assert y.shape == (2, 3, 1 + (time - length) // hop, length) and y.dtype == dtype
    assert_matches_reference(y, ref_frame(to_numpy(x), length, hop), rtol=0, atol=0)


@pytest.mark.parametrize("time,length,hop", [(100, 16, 4), (101, 16, 7), (5, 16, 4), (1, 8, 8), (33, 8, 16),
                                             (16, 16, 16)])
def test_frame_pad_end_matches_reference(time, length, hop):
    x = seeded_randn(2, time)
    y = frame(x, length, hop, pad_end=True)
    assert y.shape == (2, math.ceil(time / hop), length)
    assert_matches_reference(y, ref_frame(to_numpy(x), length, hop, pad_end=True), rtol=0, atol=0)
    # every input sample appears in some frame (when frames do not leave gaps, hop <= length)
    if hop <= length:
        seen = overlap_add(torch.ones_like(y), hop)[..., :time]
        assert bool((seen > 0).all())


def test_frame_longer_than_signal_raises_and_names_arguments():
    with pytest.raises(ValueError, match="frame_length") as info:
        frame(torch.zeros(2, 10), 16, 4)
    assert "pad_end" in str(info.value) and "10" in str(info.value)
    with pytest.raises(ValueError, match="frame_length"):
        frame(torch.zeros(0), 1, 1)


def test_frame_exact_length_gives_one_frame_and_hop_one():
    x = seeded_randn(3, 12)
    torch.testing.assert_close(frame(x, 12, 5), x.unsqueeze(-2), rtol=0, atol=0)
    y = frame(x, 3, 1)
    assert y.shape == (3, 10, 3)
    for k in range(3):
        torch.testing.assert_close(y[..., k], x[..., k:k + 10], rtol=0, atol=0)


@pytest.mark.parametrize("kwargs,name", [(dict(frame_length=0, hop_length=2), "frame_length"),
                                         (dict(frame_length=-4, hop_length=2), "frame_length"),
                                         (dict(frame_length=4.0, hop_length=2), "frame_length"),
                                         (dict(frame_length=4, hop_length=0), "hop_length"),
                                         (dict(frame_length=4, hop_length=-1), "hop_length"),
                                         (dict(frame_length=4, hop_length=1.5), "hop_length")])
def test_frame_bad_sizes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        frame(torch.zeros(32), **kwargs)


def test_frame_bad_input():
    with pytest.raises(ValueError, match="x"):
        frame(torch.tensor(1.0), 1, 1)
    with pytest.raises(ValueError, match="x"):
        frame(np.zeros(32), 4, 2)


def test_frame_gradcheck_and_batch():
    x = seeded_randn(2, 23).requires_grad_()
    check_gradcheck(lambda t: frame(t, 8, 3), [x])
    check_gradcheck(lambda t: frame(t, 8, 3, pad_end=True), [x])
    check_batch_consistency(lambda t: frame(t, 8, 3), [seeded_randn(3, 2, 40)])
    check_batch_consistency(lambda t: frame(t, 8, 3, pad_end=True), [seeded_randn(3, 41)])


# ----------------------------------------------------------------------------- overlap_add

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,length,hop", [(10, 16, 4), (10, 16, 16), (7, 16, 5), (9, 4, 10), (5, 8, 1),
                                          (1, 8, 3), (3, 1, 1)])
def test_overlap_add_matches_numpy_loop(device, dtype, n, length, hop):
    f = seeded_randn(2, 3, n, length, dtype=dtype, device=device)
    y = overlap_add(f, hop)
    assert y.shape == (2, 3, (n - 1) * hop + length) and y.dtype == dtype
    assert_matches_reference(y, ref_overlap_add(to_numpy(f), hop))


def test_overlap_add_zero_frames():
    y = overlap_add(torch.zeros(2, 0, 16), 4)
    assert y.shape == (2, 0)


def test_overlap_add_silence_is_silence():
    assert bool((overlap_add(torch.zeros(3, 5, 8), 2) == 0).all())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), length=st.integers(1, 20), hop=st.integers(1, 24), seed=st.integers(0, 2**16))
def test_overlap_add_is_adjoint_of_frame(n, length, hop, seed):
    # <frame(x), y> == <x, overlap_add(y)> for time = (n - 1) * hop + length
    time = (n - 1) * hop + length
    x = seeded_randn(2, time, seed=seed)
    y = seeded_randn(2, n, length, seed=seed + 1)
    fx = frame(x, length, hop)
    assert fx.shape == y.shape
    lhs = (fx * y).sum(dim=(-2, -1))
    rhs = (x * overlap_add(y, hop)).sum(dim=-1)
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_overlap_add_gradcheck_and_batch():
    f = seeded_randn(2, 5, 7).requires_grad_()
    check_gradcheck(lambda t: overlap_add(t, 3), [f])
    check_gradcheck(lambda t: overlap_add(t, 9), [f])   # hop longer than the frame: gaps
    check_batch_consistency(lambda t: overlap_add(t, 4), [seeded_randn(3, 2, 6, 10)])


def test_overlap_add_bad_arguments():
    with pytest.raises(ValueError, match="frames"):
        overlap_add(torch.zeros(16), 4)
    with pytest.raises(ValueError, match="frames"):
        overlap_add(np.zeros((3, 16)), 4)
    for hop in (0, -2, 2.0):
        with pytest.raises(ValueError, match="hop_length"):
            overlap_add(torch.zeros(3, 16), hop)


# ----------------------------------------------------------------------------- cola_constant

COLA_CASES = [("hann", 512, 256), ("hann", 512, 128), ("hann", 400, 100), ("hamming", 512, 256),
              ("boxcar", 100, 100), ("boxcar", 100, 25), ("bartlett", 256, 128), ("blackman", 600, 200),
              (("tukey", 0.5), 512, 128)]
NON_COLA_CASES = [("hann", 512, 384), ("hann", 512, 200), ("hamming", 512, 384), ("blackman", 600, 300),
                  ("boxcar", 100, 30), ("hann", 64, 100)]


@pytest.mark.parametrize("window,length,hop", COLA_CASES)
def test_cola_constant_agrees_with_scipy_on_cola_windows(window, length, hop):
    w = scipy.signal.get_window(window, length)       # periodic (fftbins=True)
    assert scipy.signal.check_COLA(w, length, length - hop, tol=1e-10)
    c = cola_constant(torch.from_numpy(w), hop)
    # The constant is the window's total divided by the hop (each sample is covered length/hop times).
    np.testing.assert_allclose(c, w.sum() / hop, rtol=1e-12)
    # And it is what a long overlap-add of the window actually gives away from the edges.
    ola = ref_overlap_add(np.tile(w, (40, 1)), hop)
    np.testing.assert_allclose(ola[length:-length], c, rtol=1e-10)


@pytest.mark.parametrize("window,length,hop", NON_COLA_CASES)
def test_cola_constant_raises_like_scipy_on_non_cola_windows(window, length, hop):
    w = scipy.signal.get_window(window, length)
    if hop < length:
        assert not scipy.signal.check_COLA(w, length, length - hop, tol=1e-6)
    with pytest.raises(ValueError, match="window"):
        cola_constant(torch.from_numpy(w), hop)


def test_cola_constant_float32_window_and_tolerance():
    w = torch.hann_window(1024, periodic=True, dtype=torch.float32)
    assert cola_constant(w, 256) == pytest.approx(2.0, rel=1e-6)
    # A symmetric Hann is only approximately COLA: accepted with a loose tolerance, not a tight one.
    sym = torch.from_numpy(scipy.signal.get_window("hann", 64, fftbins=False))
    with pytest.raises(ValueError, match="window"):
        cola_constant(sym, 32, tol=1e-6)
    assert cola_constant(sym, 32, tol=0.2) == pytest.approx(sym.sum().item() / 32, rel=1e-12)


def test_cola_windowed_frames_reconstruct_the_signal():
    # frame -> window -> overlap_add gives back x * constant wherever the window is fully overlapped.
    length, hop = 256, 64
    w = torch.hann_window(length, periodic=True, dtype=torch.float64)
    c = cola_constant(w, hop)
    x = seeded_randn(2, 30 * hop + length - hop)
    y = overlap_add(frame(x, length, hop) * w, hop)
    torch.testing.assert_close(y[..., length:-length], c * x[..., length:-length], rtol=1e-12, atol=1e-12)


def test_cola_constant_bad_arguments():
    with pytest.raises(ValueError, match="window"):
        cola_constant(torch.tensor(1.0), 1)
    with pytest.raises(ValueError, match="window"):
        cola_constant([1.0, 1.0], 1)
    with pytest.raises(ValueError, match="window"):
        cola_constant(torch.zeros(16), 4)               # sums to the constant 0: not a usable window
    with pytest.raises(ValueError, match="hop_length"):
        cola_constant(torch.ones(16), 0)
    with pytest.raises(ValueError, match="hop_length"):
        cola_constant(torch.ones(16), -4)


def test_regression_cola_constant_accepts_a_2d_window():
    """Regression (a bug found by review, fixed in framing.py).

    ``cola_constant`` checks ``min_dim=1`` only. A 2-D ``window`` is flattened by
    ``reshape(-1, hop_length)``, which folds the rows into each other: a stack of a periodic Hann
    (COLA constant 1 at hop N/2) and a boxcar (constant 2) returns 3.0 instead of raising.
    The fix: require ``window.dim() == 1`` and raise ``ValueError`` naming ``window`` and its shape.
    """
    n = 64
    w = torch.stack([torch.hann_window(n, periodic=True, dtype=torch.float64), torch.ones(n, dtype=torch.float64)])
    with pytest.raises(ValueError, match="window"):
        cola_constant(w, n // 2)
