"""StateSpaceFilter: the state equations sample by sample, contractive A for any logits, errors."""

import numpy as np
import pytest
import torch

from torchddsp.processors import StateSpaceFilter


def _reference(u, A, B, C, D, hop):
    x = np.zeros(A.shape[-1])
    out = np.zeros(len(u))
    for n, un in enumerate(u):
        m = n // hop
        out[n] = C[m] @ x + D[m, 0] * un
        x = A[m] @ x + B[m] * un
    return out


@pytest.mark.parametrize("method", ["lfilter", "block"])
def test_frame_varying_system_follows_the_state_equations(method):
    processor = StateSpaceFilter(3, 10, method=method)
    g = torch.Generator().manual_seed(0)
    controls = processor.sample_controls(7, generator=g, dtype=torch.float64)
    u = torch.randn(70, generator=g, dtype=torch.float64)
    expected = _reference(u.numpy(), *(controls[k].numpy() for k in "ABCD"), 10)
    np.testing.assert_allclose(processor.render(u, **controls).numpy(), expected, rtol=1e-9, atol=1e-11)


def test_get_controls_makes_a_contractive_state_matrix_for_any_weight():
    processor = StateSpaceFilter(4, 8, max_radius=0.9)
    g = torch.Generator().manual_seed(1)
    for scale in (1e-3, 1.0, 1e4):
        weight = scale * torch.randn(2, 5, 4, 4, generator=g, dtype=torch.float64)
        B, C, D = torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 1)
        controls = processor.get_controls(weight, B, C, D)
        assert float(torch.linalg.matrix_norm(controls["A"], ord=2).max()) < 0.9
        assert controls["B"] is B and controls["C"] is C and controls["D"] is D


def test_sampled_patches_are_contractive():
    processor = StateSpaceFilter(3, 8, max_radius=0.95)
    A = processor.sample_controls(20, (4,), generator=torch.Generator().manual_seed(2), dtype=torch.float64)["A"]
    assert float(torch.linalg.matrix_norm(A, ord=2).max()) < 0.95


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="max_radius"):
        StateSpaceFilter(2, 8, max_radius=1.0)
    with pytest.raises(ValueError, match="method"):
        StateSpaceFilter(2, 8, method="scan")
    processor = StateSpaceFilter(2, 8)
    with pytest.raises(ValueError, match="weight"):
        processor.get_controls(torch.zeros(3, 3, 3), torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="D"):
        processor.render(torch.zeros(16), torch.zeros(2, 2, 2), torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2, 2))
