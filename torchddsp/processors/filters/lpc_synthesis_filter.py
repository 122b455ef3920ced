"""``LPCSynthesisFilter`` processor: an excitation through a time-varying all-pole lattice."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive_int, check_tensor
from torchddsp.functional.filters.lpc import lpc_synthesis, reflection_from_logits
from torchddsp.processors.base import Control, Processor


class LPCSynthesisFilter(Processor):
    """Source-filter synthesis: an excitation through a time-varying all-pole (LPC) filter.

    ``get_controls(reflection_logits)`` maps ``(..., frames, order)`` network outputs to
    reflection coefficients with ``|k| < max_magnitude`` (``tanh``), which guarantees a stable filter;
    ``render`` runs the normalised lattice (stable for any such coefficients, even when they change
    every frame) with coefficients held per frame. Streaming carries the lattice state (no
    latency). Juvela et al. 2019; Subramani et al. 2022.

    Args:
        order: ``p``, the number of reflection coefficients.
        max_magnitude: the largest ``|k|``, in (0, 1).
        hop_size: samples per frame; ``None`` infers it from each call, enough for one-shot
            rendering; ``stream`` needs it.
    """

    def __init__(self, order: int = 16, max_magnitude: float = 0.999, hop_size: int | None = None):
        super().__init__()
        self.order = check_positive_int("order", order)
        if not 0 < max_magnitude < 1:
            raise ValueError(f"max_magnitude: expected a number in (0, 1), received {max_magnitude!r}")
        self.max_magnitude = max_magnitude
        self.hop_size = None if hop_size is None else check_positive_int("hop_size", hop_size)

    def controls(self) -> tuple[Control, ...]:
        return (Control("excitation", "signal", description="the source signal"),
                Control("reflection", "frame", self.order, -self.max_magnitude, self.max_magnitude, default=0.0,
                        description="reflection coefficients k_1 .. k_p per frame"))

    def get_controls(self, reflection_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("reflection_logits", reflection_logits, min_dim=2)
        if reflection_logits.shape[-1] != self.order:
            raise ValueError(f"reflection_logits: expected {self.order} values on the last axis, "
                             f"received shape {tuple(reflection_logits.shape)}")
        return {"reflection": reflection_from_logits(reflection_logits, self.max_magnitude)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"lattice": torch.zeros((*batch_shape, self.order), dtype=dtype, device=device)}

    def render(self, excitation: torch.Tensor, reflection: torch.Tensor, *, state: dict | None = None):
        if state is None:
            return lpc_synthesis(excitation, reflection.to(excitation.dtype), kind="reflection")
        if excitation.shape[-1] == 0:                              # an empty block changes nothing
            return excitation, state
        y, final = lpc_synthesis(excitation, reflection.to(excitation.dtype), kind="reflection",
                                 state=state["lattice"])
        return y, {"lattice": final}
