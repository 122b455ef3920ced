"""ComplexCepstrumFilter: a known minimum-phase cepstrum against scipy, identities, bounded gain, errors."""

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import complex_cepstrum_ir, time_varying_fir
from torchddsp.processors import ComplexCepstrumFilter


def test_a_one_pole_cepstrum_filters_as_the_one_pole_filter():
    """log 1/(1 - a z^-1) = sum_q a^q z^-q / q: the causal cepstrum a^q / q is the one-pole filter."""
    a, q = 0.5, 30                                    # truncation: about a^(q+1) / (q+1) = 1.5e-11
    cepstrum = torch.zeros(2 * q + 1, dtype=torch.float64)
    k = torch.arange(1, q + 1, dtype=torch.float64)
    cepstrum[q + 1:] = a ** k / k
    processor = ComplexCepstrumFilter(32, n_quefrencies=q, n_fft=512, shift=0)
    x = torch.randn(2, 320, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = processor.render(x, cepstrum.expand(2, 10, -1))
    np.testing.assert_allclose(y.numpy(), scipy.signal.lfilter([1.0], [1.0, -a], x.numpy(), axis=-1), atol=1e-9)


def test_zero_cepstrum_is_the_identity_delayed_by_shift_unless_compensated_and_c0_is_a_gain():
    causal = ComplexCepstrumFilter(8, n_quefrencies=2, n_fft=16, shift=5, compensate_delay=False)
    aligned = ComplexCepstrumFilter(8, n_quefrencies=2, n_fft=16, shift=5)
    assert (causal.latency, aligned.latency) == (0, 5)
    x = torch.randn(1, 48, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cepstrum = torch.zeros(1, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(causal.render(x, cepstrum)[..., 5:], x[..., :-5])
    torch.testing.assert_close(causal.render(x, cepstrum)[..., :5], torch.zeros(1, 5, dtype=torch.float64))
    torch.testing.assert_close(aligned.render(x, cepstrum), x)
    cepstrum[..., 2] = np.log(0.5)
    torch.testing.assert_close(aligned.render(x, cepstrum), 0.5 * x)


def test_render_is_the_functional_composition():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 64, generator=g, dtype=torch.float64)
    cepstrum = 0.1 * torch.randn(2, 8, 7, generator=g, dtype=torch.float64)
    processor = ComplexCepstrumFilter(8, n_quefrencies=3, n_fft=32)
    expected = time_varying_fir(x, complex_cepstrum_ir(cepstrum, 32), 8, delay=16)
    torch.testing.assert_close(processor.render(x, cepstrum), expected, rtol=0, atol=0)


def test_get_controls_bounds_every_log_magnitude_for_any_logits():
    processor = ComplexCepstrumFilter(8, n_quefrencies=4, n_fft=32, max_log_gain=3.0).double()
    logits = 1e4 * torch.randn(5, 9, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    logits[0] = 1e4                                   # the worst case: every coefficient at the bound
    cepstrum = processor.get_controls(logits)["cepstrum"]
    log_magnitude = torch.log(torch.fft.rfft(complex_cepstrum_ir(cepstrum, 32)).abs())
    assert float(log_magnitude.abs().max()) <= 3.0 + 1e-9
    assert float(log_magnitude[0, 0]) == pytest.approx(3.0, abs=1e-9)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="n_fft"):
        ComplexCepstrumFilter(8, n_quefrencies=10, n_fft=16)
    with pytest.raises(ValueError, match="shift"):
        ComplexCepstrumFilter(8, n_quefrencies=2, n_fft=16, shift=16)
    with pytest.raises(ValueError, match="max_log_gain"):
        ComplexCepstrumFilter(8, max_log_gain=0.0)
    with pytest.raises(ValueError, match="cepstrum_logits"):
        ComplexCepstrumFilter(8, n_quefrencies=2, n_fft=16).get_controls(torch.zeros(3, 4))
