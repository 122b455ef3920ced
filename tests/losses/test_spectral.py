"""Tests for torchddsp.losses.spectral: stft_magnitude, the three spectral terms and stft_loss.

References outside the project: a float64 NumPy transcription of the STFT (reflect/zero padding,
framing, periodic window, ``numpy.fft.rfft``) and of each term's equation, and
``auraloss.freq.STFTLoss`` for the single-resolution loss.
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
    to_numpy,
)
from torchddsp.losses import (
    LinearMagnitudeDistance,
    LogMagnitudeDistance,
    SpectralConvergence,
    STFTLoss,
    STFTMagnitude,
    linear_magnitude_distance,
    log_magnitude_distance,
    spectral_convergence,
    stft_loss,
    stft_magnitude,
)


def _rand(*shape, dtype=torch.float64, device="cpu", seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
    return x.requires_grad_(requires_grad)


# ----------------------------------------------------------------------------- float64 NumPy references

def ref_window(name: str, length: int) -> np.ndarray:
    """Periodic ("fftbins") window from scipy, as torch's window functions default to."""
    return scipy.signal.get_window({"rectangular": "boxcar"}.get(name, name), length, fftbins=True)


def ref_stft_mag(x, n_fft, hop=None, win=None, window="hann", center=True, pad_mode="reflect", eps=1e-8):
    """sqrt(max(|rfft(frame * window)|^2, eps)), shape (..., n_fft // 2 + 1, frames)."""
    x = np.asarray(x, np.float64)
    hop = n_fft // 4 if hop is None else hop
    win = n_fft if win is None else win
    w = ref_window(window, win) if isinstance(window, str) else np.asarray(window, np.float64)
    left = (n_fft - win) // 2
    w_full = np.zeros(n_fft)
    w_full[left:left + win] = w
    if center:
        widths = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
        x = np.pad(x, widths, mode="reflect" if pad_mode == "reflect" else "constant")
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    frames = np.stack([x[..., m * hop:m * hop + n_fft] for m in range(n_frames)], axis=-2)
    spec = np.fft.rfft(frames * w_full, axis=-1)
    power = spec.real ** 2 + spec.imag ** 2
    return np.sqrt(np.maximum(power, eps)).swapaxes(-1, -2)


def ref_terms(xm, ym, log_eps=0.0):
    """Per-item (sc numerator^2, sc denominator^2, mean |lin|, mean |log|) over the last two axes."""
    axes = (-2, -1)
    return (((ym - xm) ** 2).sum(axes), (ym ** 2).sum(axes), np.abs(xm - ym).mean(axes),
            np.abs(np.log(xm + log_eps) - np.log(ym + log_eps)).mean(axes))


def ref_combine(terms, w_sc, w_log, w_lin, sc_pooling="item", reduction="mean"):
    num, den, lin, log = terms
    sc = np.sqrt(num) / np.sqrt(den) if sc_pooling == "item" else np.full_like(lin, np.sqrt(num.sum() / den.sum()))
    per_item = w_sc * sc + w_log * log + w_lin * lin
    return {"none": per_item, "mean": per_item.mean(), "sum": per_item.sum()}[reduction]


def ref_stft_loss(x, y, n_fft, hop=None, win=None, w_sc=0.0, w_log=1.0, w_lin=1.0, eps=1e-8, log_eps=0.0,
                  center=True, pad_mode="reflect", sc_pooling="item", reduction="mean", window="hann"):
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    xm = ref_stft_mag(x, n_fft, hop, win, window, center, pad_mode, eps)
    ym = ref_stft_mag(y, n_fft, hop, win, window, center, pad_mode, eps)
    return ref_combine(ref_terms(xm, ym, log_eps), w_sc, w_log, w_lin, sc_pooling, reduction)


# ----------------------------------------------------------------------------- stft_magnitude

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_fft,hop,win,center,pad_mode,window", [
    (64, 16, 64, True, "reflect", "hann"),
    (64, 10, 40, True, "reflect", "hann"),       # hop does not divide n_fft, window shorter than n_fft
    (63, 7, 63, True, "constant", "hamming"),    # odd n_fft (no Nyquist bin)
    (32, 32, 32, False, "reflect", "rectangular"),
    (16, 3, 9, False, "reflect", "hann"),        # odd window length inside an even n_fft
])
def test_stft_magnitude_matches_numpy(device, dtype, n_fft, hop, win, center, pad_mode, window):
    x = _rand(2, 3, 300, dtype=dtype, device=device)
    mag = stft_magnitude(x, n_fft, hop, win, window, center=center, pad_mode=pad_mode)
    expected = ref_stft_mag(to_numpy(x), n_fft, hop, win, window, center, pad_mode)
    assert mag.dtype == dtype and mag.device.type == device
    assert_matches_reference(mag, expected, atol=1e-4 if dtype == torch.float32 else 1e-11)


def test_stft_magnitude_accepts_a_window_tensor_and_callable():
    x = _rand(2, 200)
    w = torch.rand(48, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    expected = ref_stft_mag(to_numpy(x), 64, 16, 48, to_numpy(w))
    assert_matches_reference(stft_magnitude(x, 64, 16, 48, w), expected)
    assert_matches_reference(stft_magnitude(x, 64, 16, 48, lambda n: w), expected)


@pytest.mark.parametrize("n_fft,hop,win,center,pad_mode", [
    (16, 4, 16, True, "reflect"), (15, 4, 11, True, "reflect"), (16, 5, 12, True, "constant"),
    (16, 4, 16, False, "reflect"), (8, 1, 8, True, "reflect")])
def test_stft_magnitude_gradcheck(n_fft, hop, win, center, pad_mode):
    x = _rand(2, 40, requires_grad=True)
    check_gradcheck(lambda a: stft_magnitude(a, n_fft, hop, win, center=center, pad_mode=pad_mode), [x])


def test_stft_magnitude_batch_consistency_and_leading_shape():
    x = _rand(3, 2, 500)
    mag = stft_magnitude(x, 128, 32)
    assert mag.shape == (3, 2, 65, 1 + 500 // 32)
    check_batch_consistency(lambda a: stft_magnitude(a, 128, 32), [x], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_stft_magnitude_safe_on_silence(dtype):
    x = torch.zeros(2, 256, dtype=dtype, requires_grad=True)
    mag = check_finite_gradients(lambda a: stft_magnitude(a, 64, 16, eps=1e-8), [x])
    torch.testing.assert_close(mag, torch.full_like(mag, 1e-4))


@settings(max_examples=25, deadline=None)
@given(n_fft=st.integers(2, 64), hop=st.integers(1, 40), win_frac=st.floats(0.2, 1.0),
       extra=st.integers(1, 100), center=st.booleans(), constant=st.booleans())
def test_stft_magnitude_random_configurations(n_fft, hop, win_frac, extra, center, constant):
    win = max(1, int(round(win_frac * n_fft)))
    time = n_fft + extra
    x = _rand(2, time, seed=n_fft * 1000 + extra)
    pad_mode = "constant" if constant else "reflect"
    mag = stft_magnitude(x, n_fft, hop, win, center=center, pad_mode=pad_mode)
    assert_matches_reference(mag, ref_stft_mag(to_numpy(x), n_fft, hop, win, "hann", center, pad_mode),
                             atol=1e-11)


# ----------------------------------------------------------------------------- terms on magnitudes

def _mags(seed=0, lead=(3,)):
    g = torch.Generator().manual_seed(seed)
    xm = torch.rand(*lead, 9, 7, generator=g, dtype=torch.float64) + 0.05
    ym = torch.rand(*lead, 9, 7, generator=g, dtype=torch.float64) + 0.05
    return xm, ym


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_magnitude_terms_match_equations(device, reduction):
    xm, ym = (t.to(device) for t in _mags())
    num, den, lin, log = ref_terms(to_numpy(xm), to_numpy(ym), 0.01)
    red = {"none": lambda v: v, "mean": np.mean, "sum": np.sum}[reduction]
    assert_matches_reference(spectral_convergence(xm, ym, reduction), red(np.sqrt(num) / np.sqrt(den)))
    assert_matches_reference(log_magnitude_distance(xm, ym, 0.01, reduction), red(log))
    assert_matches_reference(linear_magnitude_distance(xm, ym, reduction), red(lin))
    assert_matches_reference(SpectralConvergence(reduction)(xm, ym), red(np.sqrt(num) / np.sqrt(den)))
    assert_matches_reference(LogMagnitudeDistance(0.01, reduction)(xm, ym), red(log))
    assert_matches_reference(LinearMagnitudeDistance(reduction)(xm, ym), red(lin))


def test_magnitude_terms_gradcheck_and_batch():
    xm, ym = _mags()
    xm.requires_grad_(True)
    for fn in (lambda a: spectral_convergence(a, ym, "none"), lambda a: log_magnitude_distance(a, ym, 0.0, "none"),
               lambda a: linear_magnitude_distance(a, ym, "none")):
        check_gradcheck(fn, [xm])
    check_batch_consistency(lambda a, b: spectral_convergence(a, b, "none"), [xm.detach(), ym])


def test_spectral_convergence_perfect_match_has_zero_finite_gradient():
    xm, _ = _mags()
    xm.requires_grad_(True)
    out = check_finite_gradients(lambda a: spectral_convergence(a, xm.detach()), [xm])
    assert float(out.detach()) == 0.0


def test_magnitude_terms_reject_mismatched_shapes():
    xm, ym = _mags()
    with pytest.raises(ValueError, match="target_mag"):
        spectral_convergence(xm, ym[..., :-1])
    with pytest.raises(ValueError, match="input_mag"):
        linear_magnitude_distance(torch.ones(5), ym)
    with pytest.raises(ValueError, match="log_eps"):
        log_magnitude_distance(xm, ym, -1.0)
    with pytest.raises(ValueError, match="reduction"):
        linear_magnitude_distance(xm, ym, "max")


# ----------------------------------------------------------------------------- stft_loss

LOSS_CASES = [
    dict(n_fft=64, hop_length=16, win_length=64, w_sc=0.0, w_log_mag=1.0, w_lin_mag=1.0),
    dict(n_fft=64, hop_length=12, win_length=50, w_sc=1.0, w_log_mag=1.0, w_lin_mag=0.0),
    dict(n_fft=33, hop_length=8, win_length=33, w_sc=0.5, w_log_mag=2.0, w_lin_mag=0.3, log_eps=1e-3),
    dict(n_fft=32, hop_length=8, win_length=32, w_sc=1.0, w_log_mag=0.0, w_lin_mag=0.0, center=False),
    dict(n_fft=32, hop_length=8, win_length=24, w_sc=0.0, w_log_mag=1.0, w_lin_mag=0.0, pad_mode="constant",
         eps=1e-6),
]


def _ref_kwargs(case):
    return dict(n_fft=case["n_fft"], hop=case["hop_length"], win=case["win_length"], w_sc=case["w_sc"],
                w_log=case["w_log_mag"], w_lin=case["w_lin_mag"], eps=case.get("eps", 1e-8),
                log_eps=case.get("log_eps", 0.0), center=case.get("center", True),
                pad_mode=case.get("pad_mode", "reflect"))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("implementation", ["fused", "autograd"])
@pytest.mark.parametrize("case", LOSS_CASES)
def test_stft_loss_matches_numpy(device, dtype, implementation, case):
    x = _rand(3, 400, dtype=dtype, device=device, seed=1)
    y = _rand(3, 400, dtype=dtype, device=device, seed=2) * 0.5
    for reduction in ("mean", "sum", "none"):
        out = stft_loss(x, y, **case, reduction=reduction, implementation=implementation)
        expected = ref_stft_loss(to_numpy(x), to_numpy(y), **_ref_kwargs(case), reduction=reduction)
        assert_matches_reference(out, expected, what=f"reduction={reduction}")
    pooled = stft_loss(x, y, **case, sc_pooling="batch", implementation=implementation)
    assert_matches_reference(pooled, ref_stft_loss(to_numpy(x), to_numpy(y), **_ref_kwargs(case),
                                                   sc_pooling="batch"))


def test_stft_loss_broadcasts_leading_dims():
    x = _rand(2, 3, 300, seed=1)
    y = _rand(3, 300, seed=2)
    out = stft_loss(x, y, 64, 16, reduction="none")
    assert out.shape == (2, 3)
    expected = ref_stft_loss(to_numpy(x), to_numpy(y), 64, 16, reduction="none")
    assert_matches_reference(out, expected)


@pytest.mark.parametrize("case", LOSS_CASES)
def test_stft_loss_gradcheck_fused(case):
    x = _rand(2, 70, seed=1, requires_grad=True)
    y = _rand(2, 70, seed=2, requires_grad=True)
    small = dict(case, n_fft=min(case["n_fft"], 16), hop_length=min(case["hop_length"], 5),
                 win_length=min(case["win_length"], 13))
    check_gradcheck(lambda a, b: stft_loss(a, b, **small, reduction="none"), [x, y])
    check_gradcheck(lambda a, b: stft_loss(a, b, **small, sc_pooling="batch"), [x, y])


def test_stft_loss_autograd_implementation_supports_double_backward():
    x = _rand(1, 40, seed=1, requires_grad=True)
    y = _rand(1, 40, seed=2)
    assert torch.autograd.gradgradcheck(
        lambda a: stft_loss(a, y, 16, 4, w_sc=1.0, implementation="autograd"), (x,))


@pytest.mark.parametrize("case", LOSS_CASES[:3])
def test_stft_loss_fused_gradient_equals_autograd(case):
    x = _rand(3, 500, seed=1, requires_grad=True)
    y = _rand(3, 500, seed=2, requires_grad=True)
    grads = {}
    for impl in ("fused", "autograd"):
        loss = stft_loss(x, y, **case, sc_pooling="batch", implementation=impl)
        grads[impl] = torch.autograd.grad(loss, (x, y))
    for a, b in zip(grads["fused"], grads["autograd"]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("which", [0, 1])
def test_stft_loss_gradient_for_one_side_only(which):
    signals = [_rand(2, 300, seed=1), _rand(2, 300, seed=2)]
    signals[which].requires_grad_(True)
    grads = []
    for impl in ("fused", "autograd"):
        loss = stft_loss(*signals, 64, 16, w_sc=1.0, w_log_mag=1.0, w_lin_mag=1.0, implementation=impl)
        grads.append(torch.autograd.grad(loss, signals[which])[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)
    assert float(grads[0].abs().max()) > 0


def test_stft_loss_batch_consistency():
    x, y = _rand(4, 600, seed=1), _rand(4, 600, seed=2)
    check_batch_consistency(lambda a, b: stft_loss(a, b, 128, 32, w_sc=1.0, reduction="none"), [x, y],
                            rtol=1e-10, atol=1e-12)


def test_stft_loss_matches_auraloss_stft_loss():
    import auraloss

    x = _rand(3, 1, 2000, seed=1)
    y = _rand(3, 1, 2000, seed=2)
    ref = auraloss.freq.STFTLoss(256, 60, 200, w_sc=1.0, w_log_mag=1.0, w_lin_mag=1.0)
    ref.window = torch.hann_window(200, dtype=torch.float64)      # auraloss keeps a float32 window
    expected = float(ref(x, y))
    ours = stft_loss(x, y, 256, 60, 200, w_sc=1.0, w_log_mag=1.0, w_lin_mag=1.0, sc_pooling="batch")
    assert_matches_reference(ours, np.float64(expected), rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("implementation", ["fused", "autograd"])
@pytest.mark.parametrize("silent", ["input", "target", "both"])
def test_stft_loss_safe_on_silence(dtype, implementation, silent):
    x = _rand(2, 512, dtype=dtype, seed=1)
    y = _rand(2, 512, dtype=dtype, seed=2)
    if silent in ("input", "both"):
        x = torch.zeros_like(x)
    if silent in ("target", "both"):
        y = torch.zeros_like(y)
    x.requires_grad_(True)
    y.requires_grad_(True)
    for pooling in ("item", "batch"):
        out = check_finite_gradients(
            lambda a, b: stft_loss(a, b, 128, 32, w_sc=1.0, w_log_mag=1.0, w_lin_mag=1.0, sc_pooling=pooling,
                                   implementation=implementation), [x, y])
        if silent == "both":
            assert float(out.detach()) == 0.0
        else:
            expected = ref_stft_loss(to_numpy(x), to_numpy(y), 128, 32, w_sc=1.0, sc_pooling=pooling)
            assert_matches_reference(out, expected, rtol=1e-4 if dtype == torch.float32 else 1e-10)


def test_stft_loss_module_equals_function():
    x, y = _rand(2, 300, seed=1), _rand(2, 300, seed=2)
    module = STFTLoss(64, 16, 48, w_sc=1.0, w_lin_mag=0.5, reduction="none")
    torch.testing.assert_close(module(x, y), stft_loss(x, y, 64, 16, 48, w_sc=1.0, w_lin_mag=0.5, reduction="none"))
    torch.testing.assert_close(STFTMagnitude(64, 16)(x), stft_magnitude(x, 64, 16))


# ----------------------------------------------------------------------------- errors and short inputs

def test_short_inputs_raise_or_are_defined():
    with pytest.raises(ValueError, match="input.*n_fft // 2 = 32"):
        stft_loss(torch.zeros(2, 32), torch.zeros(2, 32), 64)
    with pytest.raises(ValueError, match="x.*n_fft=64.*center=False"):
        stft_magnitude(torch.zeros(2, 63), 64, center=False)
    # zero padding makes even a single sample well defined: one frame per hop
    x, y = _rand(2, 5, seed=1), _rand(2, 5, seed=2)
    out = stft_loss(x, y, 64, 16, pad_mode="constant", reduction="none")
    assert_matches_reference(out, ref_stft_loss(to_numpy(x), to_numpy(y), 64, 16, pad_mode="constant",
                                                reduction="none"))


@pytest.mark.parametrize("kwargs,name", [
    (dict(w_sc=0.0, w_log_mag=0.0, w_lin_mag=0.0), "w_sc, w_log_mag, w_lin_mag"),
    (dict(w_lin_mag=-1.0), "w_lin_mag"),
    (dict(eps=0.0), "eps"),
    (dict(log_eps=float("nan")), "log_eps"),
    (dict(win_length=80), "win_length"),
    (dict(hop_length=0), "hop_length"),
    (dict(window=torch.ones(10)), "window"),
    (dict(window="kaiser"), "window"),
    (dict(pad_mode="symmetric"), "pad_mode"),
    (dict(reduction="max"), "reduction"),
    (dict(w_sc=1.0, sc_pooling="batch", reduction="none"), "reduction"),
    (dict(implementation="cuda"), "implementation"),
    (dict(center=1), "center"),
])
def test_stft_loss_rejects_bad_arguments(kwargs, name):
    x = torch.zeros(2, 200)
    with pytest.raises(ValueError, match=name):
        stft_loss(x, x, **dict(dict(n_fft=64), **kwargs))


def test_stft_loss_rejects_mismatched_signals():
    with pytest.raises(ValueError, match="target.*same number of samples"):
        stft_loss(torch.zeros(2, 200), torch.zeros(2, 201), 64)
    with pytest.raises(ValueError, match="input and target.*broadcastable"):
        stft_loss(torch.zeros(2, 200), torch.zeros(3, 200), 64)
    with pytest.raises(ValueError, match="input"):
        stft_loss(torch.zeros(2, 200, dtype=torch.complex64), torch.zeros(2, 200), 64)
    with pytest.raises(ValueError, match="target"):
        stft_loss(torch.zeros(2, 200), [0.0] * 200, 64)
    assert_finite(stft_loss(torch.zeros(2, 200), torch.ones(2, 200, dtype=torch.float64), 64))
