"""DampedSinusoidBank: the equation, the surrogate's gradients through get_controls, streaming, controls, errors."""

import math

import numpy as np
import pytest
import torch

from helpers import assert_delayed_copy, assert_streaming_equivalent
from torchddsp.functional import damped_sinusoid_bank
from torchddsp.processors import DampedSinusoidBank

SR = 16000


def test_render_is_the_sum_of_damped_cosines():
    bank = DampedSinusoidBank(SR, 3, n_samples=500)
    frequency = torch.tensor([[0.0, 440.0, 7999.0]], dtype=torch.float64)
    radius = torch.tensor([[0.99, 0.999, 0.5]], dtype=torch.float64)
    n = np.arange(500)
    expected = sum(r ** n * np.cos(2 * np.pi * f * n / SR) for f, r in zip(frequency[0].numpy(), radius[0].numpy()))
    np.testing.assert_allclose(bank.render(frequency, radius)[0].numpy(), expected, rtol=1e-10, atol=1e-12)


def test_zero_radius_is_an_impulse():
    bank = DampedSinusoidBank(SR, 2, n_samples=8)
    y = bank.render(torch.tensor([100.0, 3000.0]), torch.zeros(2))
    torch.testing.assert_close(y, torch.tensor([2.0, 0, 0, 0, 0, 0, 0, 0]))


def test_get_controls_maps_any_input_into_the_unit_disk_and_back_to_the_same_z():
    bank = DampedSinusoidBank(SR, 4, n_samples=64).double()
    g = torch.Generator().manual_seed(0)
    for scale in (1e-3, 1.0, 1e4):
        u_re = scale * torch.randn(3, 4, generator=g, dtype=torch.float64)
        u_im = scale * torch.randn(3, 4, generator=g, dtype=torch.float64)
        controls = bank.get_controls(u_re, u_im)
        assert float(controls["radius"].max()) < 1.0 and float(controls["radius"].min()) >= 0.0
        assert float(controls["frequency"].min()) >= 0.0 and float(controls["frequency"].max()) <= SR / 2
        u = torch.complex(u_re, u_im)
        z = u / torch.sqrt(1 + u.abs() ** 2)
        torch.testing.assert_close(bank.render(**controls), damped_sinusoid_bank(z, 64), rtol=1e-9, atol=1e-9)


def test_gradients_through_get_controls_are_the_surrogates():
    """forward's gradient with respect to (Re u, Im u) equals the one of Eq. 12 in z directly."""
    bank = DampedSinusoidBank(SR, 3, n_samples=100).double()
    g = torch.Generator().manual_seed(1)
    target = torch.randn(100, generator=g, dtype=torch.float64)
    u_re = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    u_im = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    loss = (bank(u_re, u_im) - target).pow(2).sum()
    via_processor = torch.autograd.grad(loss, [u_re, u_im])
    u = torch.complex(u_re, u_im)
    direct = (damped_sinusoid_bank(u / torch.sqrt(1 + u.abs() ** 2), 100) - target).pow(2).sum()
    for a, b in zip(via_processor, torch.autograd.grad(direct, [u_re, u_im])):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="n_samples"):
        DampedSinusoidBank(SR, 2, n_samples=0)
    with pytest.raises(ValueError, match="n_sinusoids"):
        DampedSinusoidBank(SR, 0, n_samples=10)
    bank = DampedSinusoidBank(SR, 2, n_samples=10)
    with pytest.raises(ValueError, match="z_imag"):
        bank.get_controls(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="state"):
        bank.render(torch.full((2,), 100.0), torch.full((2,), 0.9), state={})
    with pytest.raises(ValueError, match="n_samples"):
        bank.render(torch.full((2,), 100.0), torch.full((2,), 0.9), n_samples=0)
    with pytest.raises(ValueError, match="n_samples"):
        bank.render(torch.full((2,), 100.0), torch.full((2,), 0.9), n_samples=-1, state=bank.initial_state())
    assert math.isclose(bank.controls()[0].high, SR / 2)


def _patch(bank, batch=(2,)):
    return bank.sample_controls(1, batch, generator=torch.Generator().manual_seed(4), dtype=torch.float64)


def test_blocks_carrying_the_position_equal_one_call():
    """A block is a length (``n_samples``); blocks of 1, 3, 0 and 2 samples equal one call, latency 0."""
    bank = DampedSinusoidBank(SR, 3, n_samples=24).double()
    controls = _patch(bank)
    assert bank.latency == 0 and bank.hop_size == 1

    def render(start, stop, state):
        return bank.render(**controls, n_samples=stop - start, state=state)

    initial = bank.initial_state((2,))
    assert_streaming_equivalent(render, 24, initial, [1, 3, 0, 2], rtol=1e-12, atol=1e-12)
    streamed, final = render(0, 24, initial)
    assert_delayed_copy(streamed, bank.render(**controls), bank.latency)
    assert final["position"].tolist() == [24, 24] and final["position"].dtype == torch.int64


def test_stream_and_forward_continue_the_note():
    bank = DampedSinusoidBank(SR, 3, n_samples=30).double()
    controls = _patch(bank)
    one_shot = bank.render(**controls)
    streamed, state = bank.stream(**controls, block_frames=7)
    torch.testing.assert_close(streamed, one_shot, rtol=0, atol=1e-13)
    assert state["position"].tolist() == [30, 30]
    longer, state = bank.stream(**controls, block_frames=11, n_samples=100, state=state)
    torch.testing.assert_close(longer, bank.render(**controls, n_samples=130)[..., 30:], rtol=0, atol=1e-13)
    # forward with a state renders the constructor's n_samples at a time, from where the last call ended
    u_re, u_im = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    first, state = bank(u_re, u_im, state=bank.initial_state((2,)))
    second, state = bank(u_re, u_im, state=state)
    expected = bank.render(**bank.get_controls(u_re, u_im), n_samples=60)
    torch.testing.assert_close(torch.cat([first, second], -1), expected, rtol=0, atol=1e-13)


def test_a_long_stream_keeps_float32_accurate():
    """Ten seconds into a 100 kHz stream: a float32 patch still matches Eq. 12 in float64."""
    bank = DampedSinusoidBank(100_000, 3, n_samples=64)
    frequency = torch.tensor([440.0, 12_345.0, 49_000.0])
    radius = torch.tensor([1.0, 1 - 1e-6, 1 - 4e-7])
    audio, state = bank.render(frequency, radius, state={"position": torch.tensor(10 ** 6)})
    assert audio.dtype == torch.float32 and int(state["position"]) == 10 ** 6 + 64
    z = radius.double().numpy() * np.exp(1j * 2 * np.pi * frequency.double().numpy() / 100_000)
    n = np.arange(10 ** 6, 10 ** 6 + 64)
    expected = (np.abs(z[:, None]) ** n * np.cos(n * np.angle(z[:, None]))).sum(0)
    np.testing.assert_allclose(audio.numpy(), expected, rtol=0, atol=1e-6)       # float32 rounding of the output
