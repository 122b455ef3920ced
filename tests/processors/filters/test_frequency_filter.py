"""FrequencyFilter: parity with the impulse-response form, keep-or-kill, streaming latency, controls, errors."""

import numpy as np
import pytest
import torch

from torchddsp.functional.filters.fir import time_varying_fir, window_design_ir
from torchddsp.processors import FrequencyFilter


def test_render_is_the_window_design_impulse_responses_overlap_added_without_their_delay():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 96, generator=g, dtype=torch.float64)
    magnitudes = torch.rand(2, 12, 9, generator=g, dtype=torch.float64)
    expected = time_varying_fir(x, window_design_ir(magnitudes), 8, delay=8)
    torch.testing.assert_close(FrequencyFilter(8, n_bands=9).render(x, magnitudes), expected, rtol=1e-10, atol=1e-12)


def test_keeps_the_passband_and_kills_the_stopband():
    sr, n = 8000, torch.arange(8000, dtype=torch.float64)
    processor = FrequencyFilter(100, n_bands=129)
    magnitudes = (torch.arange(129) < 64).to(torch.float64).expand(80, 129)    # pass below 2 kHz
    for tone, expected in ((500.0, 1.0), (3500.0, 0.0)):
        y = processor.render(torch.sin(2 * np.pi * tone * n / sr), magnitudes)[500:-500]
        assert float(y.pow(2).mean().sqrt()) * np.sqrt(2) == pytest.approx(expected, abs=0.01)


def test_streaming_is_the_one_shot_delayed_by_the_filters_delay():
    processor = FrequencyFilter(4, n_bands=17)               # latency 16: four frames
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 80, generator=g, dtype=torch.float64)
    magnitudes = torch.rand(3, 20, 17, generator=g, dtype=torch.float64)
    streamed, state = processor.stream(x, magnitudes=magnitudes, block_frames=3)
    torch.testing.assert_close(streamed[..., 16:], processor.render(x, magnitudes)[..., :-16], rtol=1e-10, atol=1e-12)
    assert float(streamed[..., :16].abs().max()) == 0.0 and int(state["position"]) == 80


def test_get_controls_gives_positive_bounded_magnitudes_for_any_logits():
    processor = FrequencyFilter(4, n_bands=3, threshold=1e-5)
    magnitudes = processor.get_controls(torch.tensor([[-1e4, 0.0, 1e4]], dtype=torch.float64))["magnitudes"]
    assert float(magnitudes.min()) >= 1e-5 and float(magnitudes.max()) <= 2.0 + 1e-5


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="n_bands"):
        FrequencyFilter(4, n_bands=1)
    with pytest.raises(ValueError, match="threshold"):
        FrequencyFilter(4, threshold=-1.0)
    with pytest.raises(ValueError, match="magnitude_logits"):
        FrequencyFilter(4, n_bands=3).get_controls(torch.zeros(2, 4))
