"""Filter processors: parity with scipy, stability for any network output, gradients, learning."""

import numpy as np
import pytest
import scipy.signal
import torch

from helpers import assert_matches_reference, check_finite_gradients, check_gradcheck
from torchddsp.functional.filters.lpc import reflection_to_lpc
from torchddsp.processors import LPCSynthesisFilter, ParametricEQ, TimeVaryingBiquads


def test_parametric_eq_matches_scipy_sosfilt_of_its_sections():
    eq = ParametricEQ(16000, ["lowshelf", "peak", "highpass"]).double()
    with torch.no_grad():
        eq.gain_logits.copy_(torch.tensor([0.5, -1.0, 0.0], dtype=torch.float64))
    x = torch.randn(2, 3000, dtype=torch.float64)
    sos = eq.sos(**eq.get_controls()).detach().numpy()
    assert_matches_reference(eq(x), scipy.signal.sosfilt(sos, x.numpy(), axis=-1))
    with pytest.raises(ValueError, match="band_types"):
        ParametricEQ(16000, ["shelf"])


def test_parametric_eq_learns_a_target_equaliser():
    torch.manual_seed(0)
    target_eq = ParametricEQ(16000, ["peak"])
    with torch.no_grad():
        target_eq.frequency_logits.fill_(0.5)
        target_eq.gain_logits.fill_(0.6)
        target_eq.q_logits.fill_(0.3)
    model = ParametricEQ(16000, ["peak"])
    x = torch.randn(4, 4000)
    with torch.no_grad():
        target = target_eq(x)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(80):
        optimizer.zero_grad()
        loss = (model(x) - target).pow(2).mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.05 * losses[0]


def test_time_varying_biquads_are_stable_for_any_logits_and_match_a_loop():
    tv = TimeVaryingBiquads(n_sections=2)
    g = torch.Generator().manual_seed(1)
    numerator = torch.randn(1, 5, 2, 3, generator=g, dtype=torch.float64)
    logits = 1e4 * torch.randn(1, 5, 2, 2, generator=g, dtype=torch.float64)
    sos = tv.get_controls(numerator, logits)["sos"]
    for row in sos.reshape(-1, 6).numpy():
        assert np.abs(np.roots(row[3:])).max() < 1.0
    x = torch.randn(1, 5 * 32, generator=g, dtype=torch.float64)
    y = tv.render(x, sos)
    # Reference: direct form I per sample, sections held for each 32-sample frame, cascaded.
    signal = x[0].numpy().copy()
    for section in range(2):
        out = np.zeros_like(signal)
        for n in range(len(signal)):
            b0, b1, b2, a0, a1, a2 = sos[0, n // 32, section].numpy()
            acc = b0 * signal[n] + (b1 * signal[n - 1] if n >= 1 else 0) + (b2 * signal[n - 2] if n >= 2 else 0)
            acc -= (a1 * out[n - 1] if n >= 1 else 0) + (a2 * out[n - 2] if n >= 2 else 0)
            out[n] = acc / a0
        signal = out
    assert_matches_reference(y, signal[None])


def test_time_varying_biquads_gradients_and_errors():
    tv = TimeVaryingBiquads(n_sections=1)
    num = torch.randn(1, 3, 1, 3, dtype=torch.float64, requires_grad=True)
    den = torch.randn(1, 3, 1, 2, dtype=torch.float64, requires_grad=True)
    x = torch.randn(1, 24, dtype=torch.float64)
    check_gradcheck(lambda n, d: tv(x, n, d), (num, den))
    with pytest.raises(ValueError, match="numerator"):
        tv(x, num[..., :2], den)


def test_lpc_filter_matches_scipy_and_is_finite_for_any_logits():
    lp = LPCSynthesisFilter(order=6)
    logits = torch.randn(1, 1, 6, dtype=torch.float64)
    x = torch.randn(1, 2000, dtype=torch.float64)
    k = lp.get_controls(logits)["reflection"]
    a = reflection_to_lpc(k)[0, 0].numpy()
    expected = scipy.signal.lfilter([1.0], np.concatenate([[1.0], a]), x[0].numpy())
    assert_matches_reference(lp(x, logits), expected[None], rtol=1e-8, atol=1e-10)
    extreme = (1e4 * torch.randn(2, 100, 6, dtype=torch.float64)).requires_grad_()
    excitation = torch.randn(2, 100 * 160, dtype=torch.float64)
    check_finite_gradients(lambda l: lp(excitation, l), (extreme,))
    with pytest.raises(ValueError, match="reflection_logits"):
        lp(x, torch.randn(1, 1, 5))
