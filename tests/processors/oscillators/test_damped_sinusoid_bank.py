"""DampedSinusoidBank: the equation, the surrogate's gradients through get_controls, controls, errors."""

import math

import numpy as np
import pytest
import torch

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
    assert math.isclose(bank.controls()[0].high, SR / 2)
