"""Tests for torchddsp.functional.core.upsample (frame rate -> audio rate).

Alignment under test: frame ``m`` sits at sample ``m * hop``; the last frame is held for its hop.
References: ``numpy.interp`` for ``linear``; for ``hann``, an explicit overlap-add of periodic
Hann windows of length ``2 * hop`` from ``scipy.signal.get_window`` centred on the frames.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import get_window

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
from torchddsp.functional.core.upsample import UPSAMPLING_METHODS, interpolation_weights, upsample

# ----------------------------------------------------------------------------- references

def ref_linear(controls: np.ndarray, hop: int) -> np.ndarray:
    """numpy.interp per channel; samples past the last frame hold its value (interp's right end)."""
    *lead, frames, channels = controls.shape
    flat = controls.reshape(-1, frames, channels)
    n = np.arange(frames * hop) / hop            # position of each sample in frame units
    out = np.empty((flat.shape[0], frames * hop, channels))
    for b in range(flat.shape[0]):
        for c in range(channels):
            out[b, :, c] = np.interp(n, np.arange(frames), flat[b, :, c])
    return out.reshape(*lead, frames * hop, channels)


def ref_hann(controls: np.ndarray, hop: int) -> np.ndarray:
    """Overlap-add of periodic Hann windows of length 2*hop centred on each frame.

    A phantom frame ``frames`` equal to the last frame implements "last frame held".
    """
    *lead, frames, channels = controls.shape
    flat = controls.reshape(-1, frames, channels)
    ext = np.concatenate([flat, flat[:, -1:, :]], axis=1)
    win = get_window("hann", 2 * hop, fftbins=True)    # periodic Hann, peak at index hop
    length = frames * hop
    out = np.zeros((flat.shape[0], length + 3 * hop, channels))
    for m in range(frames + 1):
        start = m * hop - hop + hop                     # window start m*hop - hop, shifted by +hop
        out[:, start:start + 2 * hop, :] += win[None, :, None] * ext[:, m:m + 1, :]
    return out[:, hop:hop + length, :].reshape(*lead, length, channels)


# ----------------------------------------------------------------------------- parity

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hop", [1, 2, 5, 64, 160])
def test_linear_matches_numpy_interp(device, dtype, hop):
    c = seeded_randn(2, 3, 7, 4, dtype=dtype, device=device)
    y = upsample(c, hop, "linear")
    assert y.shape == (2, 3, 7 * hop, 4) and y.dtype == dtype and y.device.type == device
    assert_matches_reference(y, ref_linear(to_numpy(c).astype(np.float64), hop))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hop", [1, 2, 5, 64, 160])
def test_hann_matches_overlap_add_of_hann_windows(device, dtype, hop):
    c = seeded_randn(2, 9, 3, dtype=dtype, device=device, seed=1)
    y = upsample(c, hop, "hann")
    assert y.shape == (2, 9 * hop, 3) and y.dtype == dtype
    assert_matches_reference(y, ref_hann(to_numpy(c).astype(np.float64), hop))


@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_interpolation_weights_match_docstring(method):
    hop = 12
    t = np.arange(hop)
    expected = t / hop if method == "linear" else 0.5 * (1 - np.cos(np.pi * t / hop))
    w = interpolation_weights(hop, method, dtype=torch.float64)
    assert w.shape == (hop,) and w.dtype == torch.float64
    assert_matches_reference(w, expected)
    assert interpolation_weights(hop, method, dtype=torch.float32).dtype == torch.float32


# ----------------------------------------------------------------------------- properties

@settings(max_examples=40, deadline=None)
@given(frames=st.integers(1, 12), hop=st.integers(1, 40), channels=st.integers(1, 3),
       method=st.sampled_from(UPSAMPLING_METHODS), seed=st.integers(0, 2**16))
def test_frames_sit_at_multiples_of_hop_and_output_is_convex(frames, hop, channels, method, seed):
    c = seeded_randn(frames, channels, seed=seed)
    y = upsample(c, hop, method)
    assert y.shape == (frames * hop, channels)
    # Frame m is reproduced exactly at sample m * hop.
    torch.testing.assert_close(y[::hop], c, rtol=0, atol=1e-12)
    # Between frames m and m+1 the curve stays between their values (convex combination).
    nxt = torch.cat([c[1:], c[-1:]])
    lo = torch.minimum(c, nxt).repeat_interleave(hop, dim=0)
    hi = torch.maximum(c, nxt).repeat_interleave(hop, dim=0)
    assert bool((y >= lo - 1e-12).all()) and bool((y <= hi + 1e-12).all())
    # The last frame is held for its hop.
    torch.testing.assert_close(y[-hop:], c[-1:].expand(hop, channels), rtol=0, atol=0)


@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_constant_and_silent_controls_stay_constant(method):
    c = torch.full((2, 6, 3), 0.7, dtype=torch.float64)
    torch.testing.assert_close(upsample(c, 33, method), torch.full((2, 198, 3), 0.7, dtype=torch.float64),
                               rtol=0, atol=1e-15)
    z = torch.zeros(1, 5, 2)
    assert bool((upsample(z, 16, method) == 0).all())


@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_hop_one_is_identity(method):
    c = seeded_randn(3, 10, 2)
    torch.testing.assert_close(upsample(c, 1, method), c, rtol=0, atol=0)


@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_block_by_block_with_one_frame_lookahead_equals_one_shot(method):
    # The docstring promises one frame of look-ahead only: rendering frames [a, b) with frame b
    # appended and dropping its hop gives the same samples as one-shot.
    hop, c = 32, seeded_randn(2, 20, 3)
    whole = upsample(c, hop, method)
    pieces = []
    for a, b in [(0, 3), (3, 4), (4, 11), (11, 20)]:
        chunk = c[:, a:min(b + 1, 20)]
        out = upsample(chunk, hop, method)
        pieces.append(out[:, :(b - a) * hop])
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=0, atol=1e-14)


# ----------------------------------------------------------------------------- edge cases

@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_zero_frames_and_one_frame(method):
    empty = upsample(torch.zeros(4, 0, 3), 10, method)
    assert empty.shape == (4, 0, 3)
    one = torch.tensor([[[1.5, -2.0]]])
    torch.testing.assert_close(upsample(one, 7, method), one.expand(1, 7, 2), rtol=0, atol=0)


@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_extreme_values_stay_finite_with_finite_gradients(method):
    c = torch.tensor([[1e30], [-1e30], [0.0], [1e-30]], dtype=torch.float64, requires_grad=True)
    check_finite_gradients(lambda t: upsample(t, 8, method), [c])


@pytest.mark.parametrize("hop,match", [(0, "hop_size"), (-1, "hop_size"), (2.5, "hop_size"), (True, "hop_size")])
def test_bad_hop_size(hop, match):
    with pytest.raises(ValueError, match=match):
        upsample(torch.zeros(3, 1), hop)
    with pytest.raises(ValueError, match=match):
        interpolation_weights(hop)


def test_bad_controls_and_method():
    with pytest.raises(ValueError, match="controls"):
        upsample(torch.zeros(5), 4)                 # needs (..., frames, channels)
    with pytest.raises(ValueError, match="controls"):
        upsample(np.zeros((5, 1)), 4)
    with pytest.raises(ValueError, match="controls"):
        upsample(torch.zeros(5, 1, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="method"):
        upsample(torch.zeros(5, 1), 4, "cubic")
    with pytest.raises(ValueError, match="method"):
        interpolation_weights(4, "nearest")


# ----------------------------------------------------------------------------- autograd and batching

@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_gradcheck(method):
    c = seeded_randn(2, 5, 2).requires_grad_()
    check_gradcheck(lambda t: upsample(t, 4, method), [c])
    check_gradcheck(lambda t: upsample(t, 1, method), [c])


@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_gradient_is_the_adjoint_of_interpolation(method):
    # Each output sample c[mH+t] = (1-w)c_m + w c_{m+1}; so d(sum)/d c_m is the total weight
    # frame m receives, computed here with the docstring's w(t) in NumPy.
    hop, frames = 10, 6
    c = seeded_randn(frames, 1).requires_grad_()
    upsample(c, hop, method).sum().backward()
    t = np.arange(hop)
    w = t / hop if method == "linear" else 0.5 * (1 - np.cos(np.pi * t / hop))
    expected = np.zeros(frames)
    for m in range(frames):
        nxt = min(m + 1, frames - 1)
        expected[m] += (1 - w).sum()
        expected[nxt] += w.sum()
    assert_matches_reference(c.grad[:, 0], expected)


@pytest.mark.parametrize("method", UPSAMPLING_METHODS)
def test_batch_consistency(method):
    check_batch_consistency(lambda t: upsample(t, 16, method), [seeded_randn(4, 7, 3)])
