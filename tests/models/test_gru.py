"""FastGRU: its compiled inference path equals nn.GRU's recurrence; training runs nn.GRU itself."""

import pytest
import torch
from torch import nn

from helpers import assert_streaming_equivalent
from torchddsp.kernels.backend import NUMBA_AVAILABLE
from torchddsp.models import gru as gru_module
from torchddsp.models.gru import FastGRU

pytestmark = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba is not installed")


def _pair(input_size=12, hidden=16, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    reference = nn.GRU(input_size, hidden, batch_first=True).to(dtype)
    fast = FastGRU(input_size, hidden, batch_first=True).to(dtype)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 2e-6), (torch.float64, 1e-13)])
@pytest.mark.parametrize("batch", [1, 3])
def test_inference_matches_nn_gru(dtype, tol, batch):
    reference, fast = _pair(dtype=dtype)
    x = 2 * torch.randn(batch, 300, 12, dtype=dtype)
    h0 = torch.randn(1, batch, 16, dtype=dtype)
    with torch.no_grad():
        assert fast._fast_path(x, h0)
        for state in (None, h0):
            out, final = fast(x, state)
            ref_out, ref_final = reference(x, state)
            assert out.dtype == dtype and out.shape == ref_out.shape and final.shape == ref_final.shape
            torch.testing.assert_close(out, ref_out, rtol=0, atol=tol)
            torch.testing.assert_close(final, ref_final, rtol=0, atol=tol)


def test_block_by_block_equals_one_shot():
    _, fast = _pair()
    x = torch.randn(1, 100, 12)
    with torch.no_grad():
        assert_streaming_equivalent(lambda lo, hi, state: fast(x[:, lo:hi], state), 100, torch.zeros(1, 1, 16),
                                    [37, 63], time_axis=1, rtol=0, atol=0)


def test_training_uses_nn_gru_and_gradients_flow():
    reference, fast = _pair()
    x = torch.randn(2, 50, 12)
    assert not fast._fast_path(x, None)            # parameters require grad and grad mode is on
    out, _ = fast(x)
    ref_out, _ = reference(x)
    assert torch.equal(out, ref_out)
    out.square().sum().backward()
    ref_out.square().sum().backward()
    for p, q in zip(fast.parameters(), reference.parameters()):
        assert torch.equal(p.grad, q.grad)


def test_large_batches_and_empty_sequences():
    reference, fast = _pair()
    big = torch.randn(gru_module.MAX_BATCH + 1, 20, 12)
    with torch.no_grad():
        assert not fast._fast_path(big, None)
        torch.testing.assert_close(fast(big)[0], reference(big)[0], rtol=0, atol=0)
        empty = torch.randn(1, 0, 12)
        h0 = torch.randn(1, 1, 16)
        out, final = fast(empty, h0)
    assert out.shape == (1, 0, 16)
    torch.testing.assert_close(final, h0, rtol=0, atol=0)


def test_bad_state_shape_raises_like_nn_gru():
    _, fast = _pair()
    with torch.no_grad(), pytest.raises(RuntimeError):
        fast(torch.randn(1, 5, 12), torch.randn(1, 2, 16))


def test_autoencoder_inference_matches_training_path():
    from torchddsp.models import DDSPAutoencoder
    from torchddsp.models.autoencoder import ModelConfig

    torch.manual_seed(0)
    model = DDSPAutoencoder(ModelConfig(hidden=32, mlp_layers=1, n_harmonics=20, reverb_seconds=0.1))
    f0 = 200.0 + 50.0 * torch.rand(1, 400)
    loudness = -60.0 + 40.0 * torch.rand(1, 400)
    with torch.no_grad():
        fast = model(f0, loudness, noise_seed=1)
    slow = model(f0, loudness, noise_seed=1).detach()  # grad mode: nn.GRU itself
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-5 * slow.abs().max().item())
