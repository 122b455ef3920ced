"""Tests for torchddsp.functional.spectral.stft: stft, istft, stft_magnitude and STFTConfig.

References outside the project: a float64 NumPy transcription of the framing (``numpy.pad`` in each
mode, explicit frames, scipy's periodic windows, ``numpy.fft.rfft``), ``torch.stft`` /
``torch.istft`` (the semantics the op claims), and gradcheck for the analytic adjoint.
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
    check_gradcheck,
    seeded_randn,
    to_numpy,
)
from torchddsp.functional.spectral import STFTConfig, istft, stft, stft_magnitude

NUMPY_PAD = {"reflect": "reflect", "constant": "constant", "replicate": "edge", "circular": "wrap"}


def ref_stft(x, n_fft, hop, win=None, window="hann", center=True, pad_mode="reflect"):
    """(..., n_fft // 2 + 1, frames) complex, float64."""
    x = np.asarray(x, np.float64)
    win = n_fft if win is None else win
    w = scipy.signal.get_window(window, win, fftbins=True)
    left = (n_fft - win) // 2
    w_full = np.zeros(n_fft)
    w_full[left:left + win] = w
    if center:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode=NUMPY_PAD[pad_mode])
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    frames = np.stack([x[..., m * hop:m * hop + n_fft] for m in range(n_frames)], axis=-2)
    return np.fft.rfft(frames * w_full, axis=-1).swapaxes(-1, -2)


# ----------------------------------------------------------------------------- parity

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad_mode", ["reflect", "constant", "replicate", "circular"])
@pytest.mark.parametrize("n_fft,hop,win,window", [(256, 64, None, "hann"), (255, 100, 200, "hamming"),
                                                  (64, 64, 48, "blackman"), (128, 32, None, "boxcar")])
def test_stft_matches_numpy_transcription(device, dtype, pad_mode, n_fft, hop, win, window):
    x = seeded_randn(2, 3, 1000, dtype=dtype, device=device)
    z = stft(x, n_fft, hop, win, window, pad_mode=pad_mode)
    expected = ref_stft(to_numpy(x), n_fft, hop, win, window, pad_mode=pad_mode)
    assert z.shape == expected.shape == (2, 3, n_fft // 2 + 1, STFTConfig(n_fft, hop).num_frames(1000))
    assert z.is_complex() and z.device.type == device
    assert_matches_reference(z, expected, dtype=dtype, atol=1e-4 if dtype == torch.float32 else 1e-11)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("pad_mode", ["reflect", "constant", "replicate", "circular"])
def test_stft_equals_torch_stft(center, pad_mode):
    x = seeded_randn(3, 777, seed=1)
    window = torch.hann_window(200, dtype=torch.float64)
    expected = torch.stft(x, 256, 50, 200, window, center=center, pad_mode=pad_mode, return_complex=True)
    torch.testing.assert_close(stft(x, 256, 50, 200, "hann", center, pad_mode), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(stft(x, 256, 50, 200, window, center, pad_mode), expected, rtol=1e-12, atol=1e-12)


def test_stft_defaults_are_torch_stfts():
    # hop n_fft // 4, win_length n_fft, centred, reflect padding
    x = seeded_randn(1200, seed=2)
    expected = torch.stft(x, 128, window=torch.hann_window(128, dtype=torch.float64), return_complex=True)
    torch.testing.assert_close(stft(x, 128), expected, rtol=1e-12, atol=1e-12)


def test_stft_magnitude_is_the_floored_modulus():
    x = seeded_randn(2, 900, seed=3)
    x[1] = 0.0                                          # silence: every bin at the floor
    mag = stft_magnitude(x, 128, 32, eps=1e-6)
    expected = np.sqrt(np.maximum(np.abs(ref_stft(to_numpy(x), 128, 32)) ** 2, 1e-6))
    assert_matches_reference(mag, expected)
    assert float(mag[1].min()) == pytest.approx(1e-3)


# ----------------------------------------------------------------------------- inverse

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_fft,hop,win,window,center", [(256, 64, None, "hann", True), (255, 60, 200, "hann", True),
                                                         (128, 32, None, "hamming", False)])
def test_istft_inverts_stft_and_equals_torch_istft(dtype, n_fft, hop, win, window, center):
    x = seeded_randn(2, 2000, dtype=dtype, seed=4)
    z = stft(x, n_fft, hop, win, window, center)
    y = istft(z, n_fft, hop, win, window, center, length=2000 if center else None)
    w = torch.as_tensor(scipy.signal.get_window(window, win or n_fft), dtype=dtype)
    expected = torch.istft(z, n_fft, hop, win, w, center, length=2000 if center else None)
    torch.testing.assert_close(y, expected, rtol=1e-5 if dtype == torch.float32 else 1e-12,
                               atol=1e-5 if dtype == torch.float32 else 1e-12)
    if center:
        torch.testing.assert_close(y, x, rtol=1e-4 if dtype == torch.float32 else 1e-10,
                                   atol=1e-5 if dtype == torch.float32 else 1e-10)


def test_istft_length_pads_and_trims():
    x = seeded_randn(1000, seed=5)
    z = stft(x, 128, 32)
    assert istft(z, 128, 32, length=900).shape == (900,)
    longer = istft(z, 128, 32, length=1100)        # frames cover 1056 samples past the centre padding
    torch.testing.assert_close(longer, torch.istft(z, 128, 32, window=torch.hann_window(128, dtype=torch.float64),
                                                   length=1100), rtol=1e-12, atol=1e-12)
    assert longer.shape == (1100,) and float(longer[1056:].abs().max()) == 0.0
    torch.testing.assert_close(istft(z, 128, 32, length=900), x[:900], rtol=1e-10, atol=1e-10)


def test_istft_refuses_windows_that_do_not_overlap():
    z = stft(seeded_randn(1000, seed=6), 64, 64, 16, "hann")      # 16-sample windows every 64 samples leave gaps
    with pytest.raises(ValueError, match="NOLA"):
        istft(z, 64, 64, 16, "hann")


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("pad_mode", ["reflect", "constant", "replicate", "circular"])
@pytest.mark.parametrize("n_fft,hop,win", [(32, 8, None), (31, 7, 20), (16, 16, 12)])
def test_magnitude_adjoint_passes_gradcheck(pad_mode, n_fft, hop, win):
    x = seeded_randn(2, 70, seed=7).requires_grad_(True)
    check_gradcheck(lambda s: stft_magnitude(s, n_fft, hop, win, pad_mode=pad_mode), [x])


def test_magnitude_adjoint_without_centring_and_with_a_tensor_window():
    x = seeded_randn(2, 75, seed=8).requires_grad_(True)
    w = torch.rand(24, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.1
    check_gradcheck(lambda s: stft_magnitude(s, 32, 10, 24, w, center=False), [x])


def test_magnitude_gradient_equals_autograd_through_the_stft():
    x = seeded_randn(3, 500, seed=9).requires_grad_(True)
    g = torch.randn(3, 65, 1 + 500 // 40, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fused, = torch.autograd.grad((stft_magnitude(x, 128, 40) * g).sum(), x)
    plain, = torch.autograd.grad((stft(x, 128, 40).abs() * g).sum(), x)
    torch.testing.assert_close(fused, plain, rtol=1e-9, atol=1e-12)


def test_stft_and_istft_pass_gradcheck():
    x = seeded_randn(40, seed=10).requires_grad_(True)
    check_gradcheck(lambda s: torch.view_as_real(stft(s, 16, 4)), [x])
    z = stft(seeded_randn(40, seed=11), 16, 4).detach().requires_grad_(True)
    z = z.to(torch.complex128).detach().requires_grad_(True)
    check_gradcheck(lambda c: istft(c, 16, 4), [z])


def test_silence_gives_zero_gradient_not_nan():
    x = torch.zeros(2, 300, dtype=torch.float64, requires_grad=True)
    stft_magnitude(x, 64).sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_batch_consistency():
    x = seeded_randn(3, 700, seed=12)
    check_batch_consistency(lambda s: stft_magnitude(s, 128, 32), [x], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- config and errors

def test_num_frames_and_window_tensor():
    cfg = STFTConfig(100, 30, 60, "hann")
    assert cfg.num_frames(1000) == 1 + (1000 + 100 - 100) // 30
    assert STFTConfig(100, 30, center=False).num_frames(1000) == 1 + (1000 - 100) // 30
    w = cfg.window_tensor(torch.float64, "cpu")
    assert w.shape == (100,) and float(w[:20].abs().max()) == 0.0 and float(w[80:].abs().max()) == 0.0
    assert_matches_reference(w[20:80], scipy.signal.get_window("hann", 60))


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_fft=0), "n_fft"), (dict(n_fft=64, hop_length=0), "hop_length"),
    (dict(n_fft=64, win_length=65), "win_length"), (dict(n_fft=64, window="kaiser"), "window.*boxcar"),
    (dict(n_fft=64, window=torch.ones(10)), "window"), (dict(n_fft=64, window=3), "window"),
    (dict(n_fft=64, center="yes"), "center"), (dict(n_fft=64, pad_mode="symmetric"), "pad_mode"),
    (dict(n_fft=2), "hop_length")])
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        STFTConfig(**kwargs)


def test_short_or_complex_input_is_refused():
    with pytest.raises(ValueError, match="input.*n_fft // 2"):
        stft(torch.randn(32), 64)
    with pytest.raises(ValueError, match="input.*center=False"):
        stft(torch.randn(32), 64, center=False)
    with pytest.raises(ValueError, match="input.*real"):
        stft_magnitude(torch.randn(100, dtype=torch.complex64), 16)
    with pytest.raises(ValueError, match="eps"):
        stft_magnitude(torch.randn(100), 16, eps=0.0)
    with pytest.raises(ValueError, match="input.*complex"):
        istft(torch.randn(9, 4), 16)
    # constant padding frames any signal that fills one window
    assert stft(torch.randn(1), 64, pad_mode="constant").shape == (33, 1)
