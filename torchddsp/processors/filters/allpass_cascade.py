"""``AllpassCascade`` processor: first-order all-pass sections with frame-rate break frequencies."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
from torchddsp.functional.filters.iir import (
    allpass_cascade,
    allpass_coefficient_from_break_frequency,
    break_frequency_from_unconstrained,
)
from torchddsp.processors.base import Control, Processor


class AllpassCascade(Processor):
    """A cascade of first-order all-pass sections :math:`\\prod_k (a_k + z^{-1})/(1 + a_k z^{-1})`.

    .. math:: a_k = \\frac{\\tan(\\pi f_k / f_s) - 1}{\\tan(\\pi f_k / f_s) + 1} \\in (-1, 1)

    Section :math:`k`'s phase passes :math:`-\\pi/2` at its break frequency :math:`f_k`
    (``functional.filters.iir.allpass``; the building block of Carson et al. 2023's phaser, review
    Table 2). ``render(audio, break_frequency)``: ``break_frequency`` ``(..., frames, stages)``
    in Hz, held for ``hop_size`` samples (direct form I per section, stable under any sweep);
    returns ``(..., frames * hop_size)`` with unit magnitude response for fixed controls.

    ``get_controls(break_frequency_logits)`` maps any real input to a log-spaced frequency in
    ``[20 Hz, 0.49 f_s]`` (``break_frequency_from_unconstrained``), hence :math:`|a_k| < 1`.
    Streaming carries each section's last input and output ``(..., stages, 2)`` (no latency).

    Args:
        sample_rate: Hz.
        hop_size: samples per frame.
        stages: number of sections.
    """

    def __init__(self, sample_rate: float, hop_size: int, stages: int = 4):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.stages = check_positive_int("stages", stages)

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the signal to filter"),
                Control("break_frequency", "frame", self.stages, 20.0, 0.49 * self.sample_rate, "log",
                        default=1000.0, unit="Hz", description="frequency of -pi/2 phase of each section"))

    def get_controls(self, break_frequency_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("break_frequency_logits", break_frequency_logits, min_dim=2)
        if break_frequency_logits.shape[-1] != self.stages:
            raise ValueError(f"break_frequency_logits: expected {self.stages} stages on the last axis, received "
                             f"shape {tuple(break_frequency_logits.shape)}")
        return {"break_frequency": break_frequency_from_unconstrained(break_frequency_logits, self.sample_rate)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"zi": torch.zeros((*batch_shape, self.stages, 2), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, break_frequency: torch.Tensor, *, state: dict | None = None):
        check_tensor("break_frequency", break_frequency, min_dim=2)
        if break_frequency.dim() != audio.dim() + 1:
            raise ValueError(f"break_frequency: expected (..., frames, {self.stages}) with {audio.dim() + 1} "
                             f"dimensions for audio of shape {tuple(audio.shape)}, received shape "
                             f"{tuple(break_frequency.shape)}")
        if state is not None and audio.shape[-1] == 0:             # an empty block changes nothing
            return audio, state
        coefficients = allpass_coefficient_from_break_frequency(break_frequency, self.sample_rate)
        if state is None:
            return allpass_cascade(audio, coefficients)
        audio, zf = allpass_cascade(audio, coefficients, state["zi"])
        return audio, {"zi": zf}

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}, stages={self.stages}"
