"""damped_sinusoid_bank with a start index (streaming state): far into a stream, blocks, shapes, errors."""

import numpy as np
import pytest
import torch

from helpers import DEVICES, assert_streaming_equivalent, check_finite_gradients, check_gradcheck
from torchddsp.functional.oscillators.damped_sinusoid import damped_sinusoid_bank


def _reference(z: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Eq. 12 in float64 numpy: sum_k |z_k|^n cos(n angle z_k)."""
    z = z.astype(np.complex128)[..., None]
    return (np.abs(z) ** n * np.cos(n * np.angle(z))).sum(-2)


def _poles(dtype=torch.complex128):
    # radii near 1 so that |z|^n is still audible at n = 10^6 (1 - 1e-6: about exp(-1)), one undamped
    radius = torch.tensor([[1 - 1e-6, 1.0, 1 - 3e-7], [1.0, 1 - 2e-6, 1 - 1e-7]], dtype=torch.float64)
    angle = torch.tensor([[0.3, 2.9, 1e-3], [3.1, 0.77, 1.9]], dtype=torch.float64)
    return torch.polar(radius, angle).to(dtype)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("start", [10 ** 6, "tensor", "float64"])
def test_samples_far_into_a_stream_match_a_float64_reference(dtype, start):
    z = _poles(dtype)
    n0 = {"tensor": torch.full((2,), 10 ** 6, dtype=torch.int64),
          "float64": torch.tensor(1e6, dtype=torch.float64)}.get(start, start)
    audio, final = damped_sinusoid_bank(z, 64, state=n0)
    assert audio.dtype == z.real.dtype and audio.shape == (2, 64)
    expected = _reference(z.numpy(), np.arange(10 ** 6, 10 ** 6 + 64))
    assert np.abs(expected).max() > 0.5                      # the reference is not vanishingly small
    # float32 rounding of the output / one float64 ulp of the angle or radius times n = 10^6 (about 1e-9)
    atol = 1e-6 if dtype == torch.complex64 else 5e-9
    np.testing.assert_allclose(audio.numpy(), expected, rtol=0, atol=atol)
    torch.testing.assert_close(final, torch.as_tensor(n0) + 64, rtol=0, atol=0)
    # the check discriminates: a float32 index times a float32 angle is off by far more
    n32 = torch.arange(10 ** 6, 10 ** 6 + 64, dtype=torch.float32)
    z32 = z.to(torch.complex64).unsqueeze(-1)
    naive = (z32.abs() ** n32 * torch.cos(n32 * z32.angle())).sum(-2)
    assert np.abs(naive.numpy() - expected).max() > 1e-3


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_blocks_equal_one_call(dtype):
    z = _poles(dtype) * 0.999 ** 0.5

    def render(start, stop, state):
        return damped_sinusoid_bank(z, stop - start, state=state)

    assert_streaming_equivalent(render, 40, torch.zeros(2, dtype=torch.int64), [1, 3, 0, 2, 7],
                                rtol=0, atol=1e-6 if dtype == torch.complex64 else 1e-12)
    whole, final = render(0, 40, torch.tensor(0))
    torch.testing.assert_close(whole, damped_sinusoid_bank(z, 40), rtol=0, atol=0)
    assert int(final) == 40
    # and far into the stream: blocks from 10^6 on equal one call from 10^6
    assert_streaming_equivalent(render, 40, torch.tensor(10 ** 6), [5, 1, 3], rtol=0,
                                atol=1e-6 if dtype == torch.complex64 else 1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_with_a_start_index(device):
    g = np.random.default_rng(3)
    z = torch.from_numpy(g.uniform(0.3, 0.99, (2, 3)) * np.exp(1j * g.uniform(-3, 3, (2, 3)))).to(device)
    check_gradcheck(lambda z: damped_sinusoid_bank(z, 8, state=torch.tensor([5, 40], device=device))[0],
                    (z.clone().requires_grad_(),))
    # the gradient of blocks equals the gradient of one call
    weight = torch.randn(2, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(device)
    leaf = z.clone().requires_grad_()
    one = torch.autograd.grad((damped_sinusoid_bank(leaf, 12) * weight).sum(), leaf)[0]
    first, n = damped_sinusoid_bank(leaf, 5, state=0)
    second, _ = damped_sinusoid_bank(leaf, 7, state=n)
    blocks = torch.autograd.grad((torch.cat([first, second], -1) * weight).sum(), leaf)[0]
    torch.testing.assert_close(blocks, one, rtol=1e-12, atol=1e-12)
    # n = 0 stays exactly 1 with no gradient, also for z = 0, when the start index is given
    zero = torch.zeros(2, dtype=torch.complex128, device=device, requires_grad=True)
    y = check_finite_gradients(lambda z: damped_sinusoid_bank(z, 4, state=0)[0], (zero,))
    torch.testing.assert_close(y, torch.tensor([2.0, 0.0, 0.0, 0.0], dtype=torch.float64, device=device))


def test_state_shapes_dtypes_and_errors():
    z = _poles().reshape(2, 1, 3).expand(2, 4, 3)
    audio, final = damped_sinusoid_bank(z, 5, state=torch.tensor([[3], [10]]))
    assert audio.shape == (2, 4, 5) and final.tolist() == [[8], [15]] and final.dtype == torch.int64
    torch.testing.assert_close(audio[1, 2], damped_sinusoid_bank(z[1, 2], 15)[10:], rtol=0, atol=1e-12)
    _, final = damped_sinusoid_bank(z, 5, state=2.5)
    assert final.dtype == torch.float64 and float(final) == 7.5
    empty, final = damped_sinusoid_bank(z, 0, state=torch.tensor(4))
    assert empty.shape == (2, 4, 0) and int(final) == 4
    with pytest.raises(ValueError, match="n_samples"):
        damped_sinusoid_bank(z, 0)
    with pytest.raises(ValueError, match="state"):
        damped_sinusoid_bank(z, 5, state=torch.zeros(3))
    with pytest.raises(ValueError, match="state"):
        damped_sinusoid_bank(z, 5, state=torch.zeros(2, 4, 1))
    with pytest.raises(ValueError, match="state"):
        damped_sinusoid_bank(z, 5, state=torch.zeros((), dtype=torch.complex64))
