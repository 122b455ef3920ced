"""Damped complex-sinusoid surrogate (review Eq. 12; Hayes et al. 2023).

.. math:: y[n] = \\sum_{k=1}^{K} \\Re\\{z_k^n\\} = \\sum_{k=1}^{K} |z_k|^n \\cos(n \\angle z_k),
          \\quad n = n_0 .. n_0 + N - 1

Each complex parameter :math:`z_k` encodes a frequency (:math:`\\angle z_k` in radians per
sample) and a damping (:math:`|z_k|`, decaying for :math:`|z_k| < 1`). Replacing the sinusoid
by this surrogate makes the loss landscape in frequency far better behaved for gradient descent
than optimising :math:`\\sin(\\omega n)` directly. Gradients are with respect to the complex
``z`` (PyTorch's conjugate Wirtinger convention).

Every sample is a closed form in its index ``n``, so rendering from a start index ``n_0``
(the streaming ``state``) continues a note exactly: blocks rendered one after another, each from
the previous block's returned index, equal one call on the whole length.
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_nonnegative_int, check_positive_int, check_tensor


def damped_sinusoid_bank(z: torch.Tensor, n_samples: int, state: torch.Tensor | float | None = None):
    """Render samples ``n0 .. n0 + n_samples - 1`` of Eq. 12 from complex poles ``z`` ``(..., K)``.

    Args:
        z: complex poles ``(..., K)``. ``|z| > 1`` grows exponentially (allowed, but it
            overflows quickly). ``z = 0`` gives 1 at ``n = 0`` and 0 afterwards.
        n_samples: ``N >= 1``, samples to render (``N = 0``, an empty block, only with ``state``).
        state: optional streaming state, the start sample index ``n0`` (a tensor or number,
            integer or float, broadcastable to ``z``'s leading shape ``(...)``; ``None``: start
            at 0). Meant to be ``>= 0`` (not checked: a negative index gives :math:`z^{n}` for
            ``n < 0``). Carry it in int64 (or float64) for long streams: float32 holds sample
            indices exactly only up to :math:`2^{24}` (about 6 minutes at 48 kHz).

    Returns:
        ``(..., N)`` audio in ``z``'s real dtype, or ``(audio, n0 + N)`` when ``state`` is given
        (the next block's start index, in the dtype and shape of ``state``; a Python int
        becomes int64, a Python float float64).

    Computed in float64 from ``z`` cast to complex128 (whatever ``z``'s dtype), so samples far
    into a stream keep their accuracy: at :math:`n = 10^6` the phase :math:`n \\angle z` is
    within about 1e-9 rad and :math:`|z|^n` within about 1e-10 relative of exact, where a
    float32 computation would be off by tenths of a radian. Differentiable with respect
    to ``z`` (and a floating ``state``).
    """
    check_tensor("z", z, min_dim=1)
    (check_positive_int if state is None else check_nonnegative_int)("n_samples", n_samples)
    if not z.is_complex():
        raise ValueError(f"z: expected a complex tensor, received dtype {z.dtype}")
    n = torch.arange(n_samples, dtype=torch.float64, device=z.device)
    if state is not None:
        if not isinstance(state, torch.Tensor):        # a Python number: exact int64, or float64
            state = torch.as_tensor(state, dtype=torch.int64 if isinstance(state, int) else torch.float64)
        state = state.to(z.device)
        lead = tuple(z.shape[:-1])
        try:
            fits = torch.broadcast_shapes(state.shape, lead) == lead
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"state: expected a start index broadcastable to {lead} (the leading dimensions "
                             f"of z), received shape {tuple(state.shape)}")
        if state.is_complex() or state.dtype == torch.bool:
            raise ValueError(f"state: expected an integer or real start index, received dtype {state.dtype}")
        n = state.to(torch.float64).unsqueeze(-1).unsqueeze(-1) + n             # (..., 1, N)
    dtype = z.real.dtype
    z = z.to(torch.complex128)
    magnitude, angle = z.abs().unsqueeze(-1), z.angle().unsqueeze(-1)      # (..., K, 1)
    # |z|^n = exp(n log|z|) for n != 0; n = 0 is exactly 1 (also for z = 0) and carries no gradient.
    log_mag = torch.log(magnitude.clamp_min(torch.finfo(magnitude.dtype).tiny))
    power = torch.where(n != 0, torch.exp(n * log_mag), 1.0)
    audio = (power * torch.cos(n * angle)).sum(-2).to(dtype)
    return audio if state is None else (audio, state + n_samples)
