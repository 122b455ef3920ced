"""Tests for torchddsp.losses.multi_resolution.

Acceptance: parity with ``auraloss.freq.MultiResolutionSTFTLoss`` (a test dependency) at matching
configurations, value to 1e-5 relative in float32 (and to rounding in float64), gradients too.
Other references: a float64 NumPy transcription of the STFT and of each term's equation.
"""

from __future__ import annotations

import auraloss
import numpy as np
import pytest
import scipy.signal
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    to_numpy,
)
from torchddsp.losses import MultiResolutionSTFTLoss, multi_resolution_stft_loss, stft_loss

W4_FFTS = (2048, 1024, 512, 256, 128, 64)
PWG_FFTS, PWG_HOPS, PWG_WINS = (1024, 2048, 512), (120, 240, 50), (600, 1200, 240)   # auraloss defaults


def _signals(batch=4, time=16000, dtype=torch.float32, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(batch, 1, time, generator=g, dtype=torch.float64)
    prediction = 0.5 * target + 0.5 * torch.randn(batch, 1, time, generator=g, dtype=torch.float64)
    return prediction.to(dtype=dtype, device=device), target.to(dtype=dtype, device=device)


def _auraloss(ffts, hops, wins, w_sc, w_log, w_lin, dtype):
    ref = auraloss.freq.MultiResolutionSTFTLoss(list(ffts), list(hops), list(wins), w_sc=w_sc, w_log_mag=w_log,
                                                w_lin_mag=w_lin)
    for res in ref.stft_losses:          # auraloss builds float32 windows; use the input's precision
        res.window = torch.hann_window(res.win_length, dtype=dtype)
    return ref


# ----------------------------------------------------------------------------- float64 NumPy references
# (self-contained on purpose: pytest imports test modules under package names here, so test files
# cannot import each other; the same transcription is checked in detail in test_spectral.py)

def ref_stft_mag(x, n_fft, hop, win, eps=1e-8):
    """sqrt(max(|rfft(frame * periodic Hann)|^2, eps)) of the reflect-padded signal, (..., freq, frames)."""
    w = np.zeros(n_fft)
    left = (n_fft - win) // 2
    w[left:left + win] = scipy.signal.get_window("hann", win, fftbins=True)
    x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode="reflect")
    starts = range(0, x.shape[-1] - n_fft + 1, hop)
    spec = np.fft.rfft(np.stack([x[..., s:s + n_fft] for s in starts], axis=-2) * w, axis=-1)
    return np.sqrt(np.maximum(spec.real ** 2 + spec.imag ** 2, eps)).swapaxes(-1, -2)


def ref_terms(xm, ym):
    axes = (-2, -1)
    return (((ym - xm) ** 2).sum(axes), (ym ** 2).sum(axes), np.abs(xm - ym).mean(axes),
            np.abs(np.log(xm) - np.log(ym)).mean(axes))


def ref_combine(terms, w_sc, w_log, w_lin, sc_pooling="item", reduction="mean"):
    num, den, lin, log = terms
    sc = np.sqrt(num / den) if sc_pooling == "item" else np.full_like(lin, np.sqrt(num.sum() / den.sum()))
    per_item = w_sc * sc + w_log * log + w_lin * lin
    return {"none": per_item, "mean": per_item.mean(), "sum": per_item.sum()}[reduction]


def ref_mr_loss(x, y, ffts, hops, wins, w_sc, w_log, w_lin, eps=1e-8, sc_pooling="item", reduction="mean",
                resolution_reduction="mean"):
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    total = 0.0
    for n, h, w in zip(ffts, hops, wins):
        terms = ref_terms(ref_stft_mag(x, n, h, w, eps), ref_stft_mag(y, n, h, w, eps))
        total = total + ref_combine(terms, w_sc, w_log, w_lin, sc_pooling, reduction)
    return total / len(ffts) if resolution_reduction == "mean" else total


# ----------------------------------------------------------------------------- acceptance: auraloss parity

AURALOSS_CASES = [
    pytest.param(W4_FFTS, tuple(n // 4 for n in W4_FFTS), W4_FFTS, 0.0, 1.0, 1.0, id="W4-log+lin"),
    pytest.param(W4_FFTS, tuple(n // 4 for n in W4_FFTS), W4_FFTS, 1.0, 1.0, 1.0, id="W4-all-terms"),
    pytest.param(PWG_FFTS, PWG_HOPS, PWG_WINS, 1.0, 1.0, 0.0, id="auraloss-defaults"),
]


@pytest.mark.parametrize("ffts,hops,wins,w_sc,w_log,w_lin", AURALOSS_CASES)
def test_matches_auraloss_float32(ffts, hops, wins, w_sc, w_log, w_lin):
    x, y = _signals(batch=3, time=8000)
    x.requires_grad_(True)
    ref = _auraloss(ffts, hops, wins, w_sc, w_log, w_lin, torch.float32)
    expected = ref(x, y)
    expected_grad, = torch.autograd.grad(expected, x)
    ours = multi_resolution_stft_loss(x, y, ffts, hops, wins, w_sc=w_sc, w_log_mag=w_log, w_lin_mag=w_lin,
                                      sc_pooling="batch")
    grad, = torch.autograd.grad(ours, x)
    assert_matches_reference(ours, np.float64(expected.item()), rtol=1e-5, atol=0, what="loss value")
    # float32 gradients of both carry ~5e-3 relative error against float64 (rounding in small bins is
    # amplified by the 1/|X| of the log term); they agree with each other far more closely than that.
    # Where |X| and |Y| of a bin round differently, the sign of that bin's L1 term can differ, so
    # the bound is on the whole gradient (relative 2-norm) plus a looser elementwise bound.
    scale = float(expected_grad.abs().max())
    assert float((grad - expected_grad).norm() / expected_grad.norm()) < 1e-5
    assert_matches_reference(grad, to_numpy(expected_grad), rtol=0, atol=1e-4 * scale, what="gradient")


@pytest.mark.parametrize("implementation", ["fused", "autograd"])
@pytest.mark.parametrize("ffts,hops,wins,w_sc,w_log,w_lin", AURALOSS_CASES)
def test_matches_auraloss_float64(ffts, hops, wins, w_sc, w_log, w_lin, implementation):
    x, y = _signals(batch=3, time=8000, dtype=torch.float64, seed=1)
    x.requires_grad_(True)
    ref = _auraloss(ffts, hops, wins, w_sc, w_log, w_lin, torch.float64)
    expected = ref(x, y)
    expected_grad, = torch.autograd.grad(expected, x)
    ours = multi_resolution_stft_loss(x, y, ffts, hops, wins, w_sc=w_sc, w_log_mag=w_log, w_lin_mag=w_lin,
                                      sc_pooling="batch", implementation=implementation)
    grad, = torch.autograd.grad(ours, x)
    assert_matches_reference(ours, np.float64(expected.item()), rtol=1e-12, atol=0, what="loss value")
    assert_matches_reference(grad, to_numpy(expected_grad), rtol=0, atol=1e-12 * float(expected_grad.abs().max()),
                             what="gradient")


def test_module_matches_auraloss_module():
    x, y = _signals(batch=2, time=6000)
    ref = _auraloss(PWG_FFTS, PWG_HOPS, PWG_WINS, 1.0, 1.0, 0.0, torch.float32)
    ours = MultiResolutionSTFTLoss(PWG_FFTS, PWG_HOPS, PWG_WINS, w_sc=1.0, w_log_mag=1.0, w_lin_mag=0.0,
                                   sc_pooling="batch")
    assert_matches_reference(ours(x, y), np.float64(ref(x, y).item()), rtol=1e-5, atol=0)


# ----------------------------------------------------------------------------- NumPy reference

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("resolution_reduction", ["mean", "sum"])
def test_matches_numpy(device, dtype, reduction, resolution_reduction):
    x, y = _signals(batch=3, time=1500, dtype=dtype, device=device, seed=2)
    ffts, hops, wins = (256, 128, 64, 33), (64, 20, 16, 8), (256, 100, 64, 33)
    out = multi_resolution_stft_loss(x, y, ffts, hops, wins, w_sc=0.7, w_log_mag=1.3, w_lin_mag=0.4,
                                     reduction=reduction, resolution_reduction=resolution_reduction)
    expected = ref_mr_loss(to_numpy(x), to_numpy(y), ffts, hops, wins, 0.7, 1.3, 0.4, reduction=reduction,
                           resolution_reduction=resolution_reduction)
    assert out.shape == np.shape(expected) and out.dtype == dtype
    assert_matches_reference(out, expected)


def test_defaults_are_ddsp_configuration():
    x, y = _signals(batch=2, time=4000, dtype=torch.float64, seed=3)
    expected = ref_mr_loss(to_numpy(x), to_numpy(y), W4_FFTS, [n // 4 for n in W4_FFTS], W4_FFTS, 0.0, 1.0, 1.0)
    assert_matches_reference(multi_resolution_stft_loss(x, y), expected)
    assert_matches_reference(MultiResolutionSTFTLoss()(x, y), expected)


def test_equals_weighted_sum_of_single_terms_and_resolutions():
    x, y = _signals(batch=2, time=3000, dtype=torch.float64, seed=4)
    ffts = (512, 128)
    full = multi_resolution_stft_loss(x, y, ffts, w_sc=2.0, w_log_mag=0.5, w_lin_mag=3.0)
    parts = 0.0
    for n in ffts:
        parts = parts + 2.0 * stft_loss(x, y, n, w_sc=1.0, w_log_mag=0.0, w_lin_mag=0.0) \
            + 0.5 * stft_loss(x, y, n, w_sc=0.0, w_log_mag=1.0, w_lin_mag=0.0) \
            + 3.0 * stft_loss(x, y, n, w_sc=0.0, w_log_mag=0.0, w_lin_mag=1.0)
    torch.testing.assert_close(full, parts / 2, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- gradients, batch, silence

@pytest.mark.parametrize("sc_pooling", ["item", "batch"])
def test_gradcheck(sc_pooling):
    x, y = _signals(batch=2, time=90, dtype=torch.float64, seed=5)
    x.requires_grad_(True)
    y.requires_grad_(True)
    check_gradcheck(lambda a, b: multi_resolution_stft_loss(a, b, (32, 16, 8), (8, 3, 2), (30, 16, 8), w_sc=1.0,
                                                            w_log_mag=1.0, w_lin_mag=1.0, sc_pooling=sc_pooling),
                    [x, y])


def test_batch_consistency():
    x, y = _signals(batch=3, time=2000, dtype=torch.float64, seed=6)
    check_batch_consistency(lambda a, b: multi_resolution_stft_loss(a, b, (256, 64), w_sc=1.0, reduction="none"),
                            [x, y], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("silent", ["input", "target", "both"])
def test_safe_on_silence(dtype, silent):
    x, y = _signals(batch=2, time=2048, dtype=dtype, seed=7)
    if silent in ("input", "both"):
        x = torch.zeros_like(x)
    if silent in ("target", "both"):
        y = torch.zeros_like(y)
    x.requires_grad_(True)
    out = check_finite_gradients(lambda a: multi_resolution_stft_loss(a, y, (1024, 256, 64), w_sc=1.0), [x])
    expected = ref_mr_loss(to_numpy(x), to_numpy(y), (1024, 256, 64), (256, 64, 16), (1024, 256, 64), 1.0, 1.0, 1.0)
    assert_matches_reference(out, expected, rtol=1e-4 if dtype == torch.float32 else 1e-10)


# ----------------------------------------------------------------------------- errors

def test_rejects_bad_arguments():
    x = torch.zeros(2, 3000)
    with pytest.raises(ValueError, match="hop_lengths.*3 entries"):
        multi_resolution_stft_loss(x, x, (512, 256, 128), (128, 64))
    with pytest.raises(ValueError, match="win_lengths.*2 entries"):
        multi_resolution_stft_loss(x, x, (512, 256), None, (512,))
    with pytest.raises(ValueError, match="n_ffts.*at least one"):
        multi_resolution_stft_loss(x, x, ())
    with pytest.raises(ValueError, match="n_ffts.*sequence"):
        multi_resolution_stft_loss(x, x, 512)
    with pytest.raises(ValueError, match="win_length"):
        multi_resolution_stft_loss(x, x, (512, 256), None, (512, 300))
    with pytest.raises(ValueError, match="resolution_reduction"):
        multi_resolution_stft_loss(x, x, resolution_reduction="max")
    with pytest.raises(ValueError, match="resolution_reduction"):
        MultiResolutionSTFTLoss(resolution_reduction="max")
    with pytest.raises(ValueError, match="w_sc"):
        MultiResolutionSTFTLoss(w_sc=-1.0)


def test_input_shorter_than_largest_fft_is_a_clear_error():
    x = torch.zeros(2, 1000)
    with pytest.raises(ValueError, match="input.*n_fft // 2 = 1024"):
        multi_resolution_stft_loss(x, x)
    with pytest.raises(ValueError, match="target.*same number of samples"):
        multi_resolution_stft_loss(torch.zeros(2, 5000), torch.zeros(2, 4999))
