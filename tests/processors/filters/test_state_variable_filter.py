"""StateVariableFilter: Butterworth parity with scipy, the TPT equations sample by sample, controls, errors."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.processors import StateVariableFilter

SR = 8000


def _constant(value, frames, batch=()):
    return torch.full((*batch, frames, 1), float(value), dtype=torch.float64)


def test_butterworth_damping_low_and_high_pass_match_scipy_butter():
    x = torch.randn(2, 320, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    svf = StateVariableFilter(SR, 32)
    frames = 10
    for gains, btype in (((1, 0, 0), "lowpass"), ((0, 0, 1), "highpass")):
        y = svf.render(x, _constant(700, frames, (2,)), _constant(1 / math.sqrt(2), frames, (2,)),
                       *(_constant(c, frames, (2,)) for c in gains))
        b, a = scipy.signal.butter(2, 700, btype=btype, fs=SR)
        np.testing.assert_allclose(y.numpy(), scipy.signal.lfilter(b, a, x.numpy(), axis=-1), atol=1e-11)


def _tpt_reference(x, controls, hop):
    """The TPT state equations, sample by sample, with each frame's controls held for its hop."""
    s1 = s2 = 0.0
    out = np.zeros(len(x))
    for n, xn in enumerate(x):
        fc, r, c_lp, c_bp, c_hp = (float(controls[name][n // hop, 0]) for name in
                                   ("cutoff", "damping", "lowpass_gain", "bandpass_gain", "highpass_gain"))
        g = math.tan(math.pi * fc / SR)
        hp = (xn - (2 * r + g) * s1 - s2) / (1 + 2 * r * g + g * g)
        bp = g * hp + s1
        lp = g * bp + s2
        s1, s2 = 2 * bp - s1, 2 * lp - s2
        out[n] = c_lp * lp + c_bp * bp + c_hp * hp
    return out


def test_modulated_controls_follow_the_tpt_equations():
    svf = StateVariableFilter(SR, 16)
    g = torch.Generator().manual_seed(1)
    controls = svf.sample_controls(12, generator=g, dtype=torch.float64)
    x = torch.randn(12 * 16, generator=g, dtype=torch.float64)
    np.testing.assert_allclose(svf.render(x, **controls).numpy(), _tpt_reference(x.numpy(), controls, 16),
                               rtol=1e-9, atol=1e-11)


def test_get_controls_gives_stable_valid_controls_for_any_logits():
    svf = StateVariableFilter(SR, 8, max_gain=3.0)
    logits = torch.tensor([-1e4, -5.0, 0.0, 5.0, 1e4], dtype=torch.float64)[:, None]
    controls = svf.get_controls(logits, logits, logits.expand(5, 3))
    assert 0 < float(controls["cutoff"].min()) and float(controls["cutoff"].max()) < SR / 2
    assert float(controls["damping"].min()) > 0
    assert float(controls["damping"][2, 0]) == pytest.approx(1 / math.sqrt(2), rel=1e-6)   # Butterworth at 0
    for name in ("lowpass_gain", "bandpass_gain", "highpass_gain"):
        assert float(controls[name].abs().max()) <= 3.0
    x = torch.zeros(40, dtype=torch.float64)
    x[0] = 1.0
    assert bool(torch.isfinite(svf.render(x, **controls)).all())


def test_errors_name_the_argument():
    svf = StateVariableFilter(SR, 8)
    ones = _constant(1, 2)
    with pytest.raises(ValueError, match="damping"):
        svf.render(torch.zeros(16), _constant(500, 2), torch.ones(2, 2), ones, ones, ones)
    with pytest.raises(ValueError, match="cutoff"):
        svf.render(torch.zeros(16), _constant(SR / 2, 2), ones, ones, ones, ones)
    with pytest.raises(ValueError, match="gain_logits"):
        svf.get_controls(torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="max_gain"):
        StateVariableFilter(SR, 8, max_gain=0)
