"""``StateSpaceFilter`` processor: a linear state-space filter whose matrices change every frame."""

from __future__ import annotations

import torch

from torchddsp.checks import check_choice, check_positive_int, check_tensor
from torchddsp.functional.filters.iir import stable_state_matrix, state_space_filter
from torchddsp.processors.base import Control, Processor


class StateSpaceFilter(Processor):
    """Single-input single-output state-space filter of order ``N`` (Kuznetsov et al. 2020).

    .. math:: \\mathbf{x}[n+1] = A_m \\mathbf{x}[n] + B_m u[n], \\qquad y[n] = C_m \\mathbf{x}[n] + D_m u[n]

    with frame :math:`m`'s matrices held for its ``hop_size`` samples, evaluated exactly
    (``functional.filters.iir.state_space_filter``; the linear Elman network of review Eq. 1).
    ``render(audio, A, B, C, D)`` takes ``A`` ``(..., frames, N, N)``, ``B`` and ``C``
    ``(..., frames, N)``, ``D`` ``(..., frames, 1)`` and returns ``(..., frames * hop_size)``.

    ``get_controls(weight, B, C, D)``: ``A = stable_state_matrix(weight, max_radius)``
    (:math:`\\|A\\|_2 < \\rho_{max} < 1`, so the state contracts under any frame-to-frame
    switching and every pole lies inside the circle of radius ``max_radius``); ``B``, ``C``,
    ``D`` pass through. Streaming carries the state :math:`\\mathbf{x}` ``(..., N)`` (no latency).

    Args:
        order: ``N``.
        hop_size: samples per frame.
        max_radius: in (0, 1).
        method: ``"lfilter"`` or ``"block"`` (see ``state_space_filter``).
    """

    def __init__(self, order: int, hop_size: int, max_radius: float = 0.99, method: str = "lfilter"):
        super().__init__()
        self.order = check_positive_int("order", order)
        self.hop_size = check_positive_int("hop_size", hop_size)
        if not 0 < max_radius < 1:
            raise ValueError(f"max_radius: expected a number in (0, 1), received {max_radius!r}")
        self.max_radius = max_radius
        check_choice("method", method, ("lfilter", "block"))
        self.method = method

    def controls(self) -> tuple[Control, ...]:
        n, rho = self.order, self.max_radius
        return (Control("audio", "signal", description="the input u"),
                Control("A", "frame", (n, n), -rho, rho, default=0.0,
                        description="state matrix with ||A||_2 < max_radius (random patches: see sample_controls)"),
                Control("B", "frame", n, -1.0, 1.0, default=1.0, description="input vector"),
                Control("C", "frame", n, -1.0, 1.0, default=1.0, description="output vector"),
                Control("D", "frame", 1, -1.0, 1.0, default=0.0, description="direct feed-through"))

    def sample_controls(self, frames, batch_shape=(), *, generator=None, dtype=torch.float32, device=None):
        """A random patch whose ``A`` is contractive: ``stable_state_matrix`` of a standard normal weight."""
        patch = super().sample_controls(frames, batch_shape, generator=generator, dtype=dtype, device=device)
        weight = torch.randn(patch["A"].shape, generator=generator, dtype=torch.float64)
        patch["A"] = stable_state_matrix(weight, max_radius=self.max_radius).to(dtype=dtype, device=device)
        return patch

    def get_controls(self, weight: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                     D: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("weight", weight, min_dim=3)
        n = self.order
        if weight.shape[-2:] != (n, n):
            raise ValueError(f"weight: expected (..., frames, {n}, {n}), received shape {tuple(weight.shape)}")
        return {"A": stable_state_matrix(weight, max_radius=self.max_radius), "B": B, "C": C, "D": D}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"state": torch.zeros((*batch_shape, self.order), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: torch.Tensor, *,
               state: dict | None = None):
        check_tensor("D", D, min_dim=2)
        if D.shape[-1] != 1:
            raise ValueError(f"D: expected shape (..., frames, 1), received {tuple(D.shape)}")
        if state is not None and audio.shape[-1] == 0:             # an empty block changes nothing
            return audio, state
        if state is None:
            return state_space_filter(A, B, C, D[..., 0], audio, method=self.method)
        audio, final = state_space_filter(A, B, C, D[..., 0], audio, state["state"], method=self.method)
        return audio, {"state": final}

    def extra_repr(self) -> str:
        return f"order={self.order}, hop_size={self.hop_size}, max_radius={self.max_radius}, method={self.method!r}"
