"""``SecondOrderAllpassCascade`` processor: second-order all-pass sections set by pole frequency and radius."""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
from torchddsp.functional.filters.iir import break_frequency_from_unconstrained, second_order_allpass_cascade
from torchddsp.processors.base import Control, Processor


class SecondOrderAllpassCascade(Processor):
    """A cascade of second-order all-pass sections with frame-rate pole frequencies and radii.

    .. math:: A_k(z) = \\frac{a_{2,k} + a_{1,k} z^{-1} + z^{-2}}{1 + a_{1,k} z^{-1} + a_{2,k} z^{-2}},
              \\qquad a_{1,k} = -2 r_k \\cos(2\\pi f_k / f_s), \\quad a_{2,k} = r_k^2

    Section :math:`k` has poles :math:`r_k e^{\\pm j 2\\pi f_k / f_s}` (stable for
    :math:`r_k < 1`) and its phase falls by :math:`2\\pi` around :math:`f_k`, the faster the closer
    :math:`r_k` is to 1 (``functional.filters.iir.allpass.second_order_allpass_cascade``; review Table 2).
    ``render(audio, frequency, radius)``: ``(..., frames, stages)`` each, held for ``hop_size``
    samples (direct form I per section); returns ``(..., frames * hop_size)``.

    ``get_controls(frequency_logits, radius_logits)``: frequencies log-spaced in
    ``[20 Hz, 0.49 f_s]`` (``break_frequency_from_unconstrained``), ``radius = max_radius *
    sigmoid``, so every section is stable for any input. Streaming carries each section's last
    two inputs and outputs ``(..., stages, 4)`` (no latency).

    Args:
        sample_rate: Hz.
        hop_size: samples per frame.
        stages: number of sections.
        max_radius: the largest pole radius, in (0, 1).
    """

    def __init__(self, sample_rate: float, hop_size: int, stages: int = 2, max_radius: float = 0.99):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.stages = check_positive_int("stages", stages)
        if not 0 < max_radius < 1:
            raise ValueError(f"max_radius: expected a number in (0, 1), received {max_radius!r}")
        self.max_radius = max_radius

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the signal to filter"),
                Control("frequency", "frame", self.stages, 20.0, 0.49 * self.sample_rate, "log", default=1000.0,
                        unit="Hz", description="pole frequency of each section (phase -pi there)"),
                Control("radius", "frame", self.stages, 0.0, self.max_radius, default=0.9,
                        description="pole radius of each section (closer to 1: a sharper phase turn)"))

    def get_controls(self, frequency_logits: torch.Tensor, radius_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        for name, value in (("frequency_logits", frequency_logits), ("radius_logits", radius_logits)):
            check_tensor(name, value, min_dim=2)
            if value.shape[-1] != self.stages:
                raise ValueError(f"{name}: expected {self.stages} stages on the last axis, received shape "
                                 f"{tuple(value.shape)}")
        return {"frequency": break_frequency_from_unconstrained(frequency_logits, self.sample_rate),
                "radius": self.max_radius * torch.sigmoid(radius_logits)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"zi": torch.zeros((*batch_shape, self.stages, 4), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, frequency: torch.Tensor, radius: torch.Tensor, *,
               state: dict | None = None):
        check_tensor("frequency", frequency, min_dim=2)
        check_tensor("radius", radius, min_dim=2)
        if frequency.dim() != audio.dim() + 1:
            raise ValueError(f"frequency: expected (..., frames, {self.stages}) with {audio.dim() + 1} dimensions "
                             f"for audio of shape {tuple(audio.shape)}, received shape {tuple(frequency.shape)}")
        if state is not None and audio.shape[-1] == 0:             # an empty block changes nothing
            return audio, state
        a1 = -2 * radius * torch.cos((2 * math.pi / self.sample_rate) * frequency)
        denominators = torch.stack(torch.broadcast_tensors(a1, radius * radius), dim=-1)
        if state is None:
            return second_order_allpass_cascade(audio, denominators)
        audio, zf = second_order_allpass_cascade(audio, denominators, state["zi"])
        return audio, {"zi": zf}

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}, stages={self.stages}"
