"""SincFilter: parity with scipy's firwin + lfilter and the functional op, keep-or-kill, controls, errors."""

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import sinc_highpass, sinc_lowpass
from torchddsp.processors import SincFilter

SR = 8000


def test_constant_cutoff_matches_scipy_firwin_and_lfilter():
    x = torch.randn(2, 400, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cutoff = torch.full((2, 25, 1), 1234.0, dtype=torch.float64)
    for mode, pass_zero in (("lowpass", True), ("highpass", False)):
        y = SincFilter(SR, 16, mode=mode, taps=31, compensate_delay=False).render(x, cutoff)
        h = scipy.signal.firwin(31, 1234.0, window="hamming", pass_zero=pass_zero, scale=False, fs=SR)
        np.testing.assert_allclose(y.numpy(), scipy.signal.lfilter(h, 1.0, x.numpy(), axis=-1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("compensate_delay", [True, False])
@pytest.mark.parametrize("mode, functional", [("lowpass", sinc_lowpass), ("highpass", sinc_highpass)])
def test_render_is_the_functional_filter(mode, functional, compensate_delay):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 160, generator=g, dtype=torch.float64)
    cutoff = 50 + 3900 * torch.rand(3, 10, 1, generator=g, dtype=torch.float64)
    processor = SincFilter(SR, 16, mode=mode, taps=21, window="blackman", normalize=True,
                           compensate_delay=compensate_delay)
    assert processor.latency == (10 if compensate_delay else 0)
    expected = functional(x, cutoff, SR, 16, taps=21, window="blackman", normalize=True,
                          compensate_delay=compensate_delay)
    torch.testing.assert_close(processor.render(x, cutoff), expected, rtol=0, atol=0)


def test_streaming_the_zero_phase_filter_delays_it_by_half_the_taps():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 120, generator=g, dtype=torch.float64)
    cutoff = 50 + 3900 * torch.rand(2, 30, 1, generator=g, dtype=torch.float64)
    processor = SincFilter(SR, 4, taps=41)                  # the latency (20) spans five frames
    streamed, state = processor.stream(x, cutoff=cutoff, block_frames=3)
    one_shot = processor.render(x, cutoff)
    torch.testing.assert_close(streamed[..., 20:], one_shot[..., :-20], rtol=1e-12, atol=1e-12)
    assert float(streamed[..., :20].abs().max()) == 0.0
    assert int(state["position"]) == 120


@pytest.mark.parametrize("mode, kept", [("lowpass", 300.0), ("highpass", 3000.0)])
def test_keeps_a_tone_in_the_passband_and_kills_one_in_the_stopband(mode, kept):
    n = torch.arange(4000, dtype=torch.float64)
    processor = SincFilter(SR, 100, mode=mode, taps=101)
    cutoff = torch.full((40, 1), 1000.0, dtype=torch.float64)
    for tone in (300.0, 3000.0):
        y = processor.render(torch.sin(2 * torch.pi * tone * n / SR), cutoff)[100:-100]   # past the edges
        rms = float(y.pow(2).mean().sqrt()) * np.sqrt(2)
        assert rms == pytest.approx(1.0, abs=0.01) if tone == kept else rms < 1e-2


def test_get_controls_gives_cutoffs_in_the_declared_range_for_any_logits():
    processor = SincFilter(SR, 8)
    logits = torch.tensor([[-1e4], [-2.0], [0.0], [2.0], [1e4]])
    cutoff = processor.get_controls(logits)["cutoff"]
    declared = processor.controls()[1]
    assert float(cutoff.min()) >= declared.low * (1 - 1e-6) and float(cutoff.max()) <= declared.high * (1 + 1e-6)
    assert bool((cutoff[1:] > cutoff[:-1]).all()), "monotonic in the logit"


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="taps"):
        SincFilter(SR, 8, taps=10)
    with pytest.raises(ValueError, match="mode"):
        SincFilter(SR, 8, mode="bandpass")
    with pytest.raises(ValueError, match="cutoff"):
        SincFilter(SR, 8).render(torch.zeros(16), torch.full((2, 1), -5.0))
    with pytest.raises(ValueError, match="frames"):
        SincFilter(SR, 8).render(torch.zeros(16), torch.full((3, 1), 500.0))
