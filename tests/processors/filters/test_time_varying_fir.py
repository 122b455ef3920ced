"""TimeVaryingFIR: parity with scipy for a fixed response and with a per-frame loop, controls, errors."""

import numpy as np
import pytest
import scipy.signal
import torch

from helpers import reference_time_varying_fir
from torchddsp.processors import TimeVaryingFIR


def test_a_constant_response_is_scipy_lfilter():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(20, generator=g, dtype=torch.float64)
    x = torch.randn(3, 160, generator=g, dtype=torch.float64)
    y = TimeVaryingFIR(16, taps=20).render(x, h.expand(3, 10, -1))
    np.testing.assert_allclose(y.numpy(), scipy.signal.lfilter(h.numpy(), 1.0, x.numpy(), axis=-1), atol=1e-12)


def test_each_sample_is_filtered_by_its_frames_response():
    g = torch.Generator().manual_seed(1)
    hop, taps, frames = 8, 13, 6
    x = torch.randn(hop * frames, generator=g, dtype=torch.float64)
    h = torch.randn(frames, taps, generator=g, dtype=torch.float64)
    expected = reference_time_varying_fir(x.numpy(), h.numpy(), hop)
    y = TimeVaryingFIR(hop, taps=taps).render(x, h)
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-12)


def test_streaming_carries_the_tail_into_later_blocks():
    processor = TimeVaryingFIR(4, taps=30).double()        # a response longer than several blocks
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 40, generator=g, dtype=torch.float64)
    h = torch.randn(2, 10, 30, generator=g, dtype=torch.float64)
    streamed, state = processor.stream(x, impulse_responses=h, block_frames=1)
    torch.testing.assert_close(streamed, processor.render(x, h), rtol=1e-12, atol=1e-12)
    assert state["tail"].shape == (2, 29)


def test_get_controls_bounds_every_tap():
    processor = TimeVaryingFIR(4, taps=5)
    h = processor.get_controls(torch.tensor([[-1e4, -1.0, 0.0, 1.0, 1e4]]))["impulse_responses"]
    assert float(h.abs().max()) <= 1.0
    torch.testing.assert_close(h[0, 1:4], torch.tanh(torch.tensor([-1.0, 0.0, 1.0])))


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="taps"):
        TimeVaryingFIR(4, taps=0)
    with pytest.raises(ValueError, match="impulse_response_logits"):
        TimeVaryingFIR(4, taps=5).get_controls(torch.zeros(2, 6))
    with pytest.raises(ValueError, match="frames"):
        TimeVaryingFIR(4, taps=5).render(torch.zeros(12), torch.zeros(4, 5))
