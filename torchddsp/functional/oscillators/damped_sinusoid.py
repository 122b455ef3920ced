"""Damped complex-sinusoid surrogate (review Eq. 12; Hayes et al. 2023).

.. math:: y[n] = \\sum_{k=1}^{K} \\Re\\{z_k^n\\} = \\sum_{k=1}^{K} |z_k|^n \\cos(n \\angle z_k), \\quad n = 0 .. N-1

Each complex parameter :math:`z_k` encodes a frequency (:math:`\\angle z_k` in radians per
sample) and a damping (:math:`|z_k|`, decaying for :math:`|z_k| < 1`). Replacing the sinusoid
by this surrogate makes the loss landscape in frequency far better behaved for gradient descent
than optimising :math:`\\sin(\\omega n)` directly. Gradients are with respect to the complex
``z`` (PyTorch's conjugate Wirtinger convention).
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive_int, check_tensor


def damped_sinusoid_bank(z: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Render ``(..., n_samples)`` from complex poles ``z`` ``(..., K)`` by Eq. 12.

    ``z`` must be complex; ``|z| > 1`` grows exponentially (allowed, but it overflows float32
    quickly). ``z = 0`` gives 1 at ``n = 0`` and 0 afterwards.
    """
    check_tensor("z", z, min_dim=1)
    check_positive_int("n_samples", n_samples)
    if not z.is_complex():
        raise ValueError(f"z: expected a complex tensor, received dtype {z.dtype}")
    n = torch.arange(n_samples, dtype=z.real.dtype, device=z.device)
    magnitude, angle = z.abs().unsqueeze(-1), z.angle().unsqueeze(-1)      # (..., K, 1)
    # |z|^n = exp(n log|z|) for n >= 1; n = 0 is exactly 1 (also for z = 0) and carries no gradient.
    log_mag = torch.log(magnitude.clamp_min(torch.finfo(magnitude.dtype).tiny))
    power = torch.where(n > 0, torch.exp(n * log_mag), torch.ones_like(n))
    return (power * torch.cos(n * angle)).sum(-2)
