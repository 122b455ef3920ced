"""``TimeVaryingBiquads`` processor: a biquad cascade whose coefficients change every frame."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive_int, check_tensor
from torchddsp.functional.filters.iir import second_order_direct, sosfilt, to_sos
from torchddsp.processors.base import Control, Processor


class TimeVaryingBiquads(Processor):
    """A cascade of ``n_sections`` biquads whose coefficients change every frame.

    ``get_controls(numerator, denominator_logits)`` takes network outputs ``(..., frames,
    n_sections, 3)`` and ``(..., frames, n_sections, 2)``; the denominators go through the
    triangle activation (review Table 2), so every pole has radius below ``max_radius`` for any
    input. ``render(audio, sos)`` filters ``(..., frames * hop)`` audio exactly with the sections
    held for each frame (``sosfilt`` with frame-rate sections). Streaming carries the direct form
    I state of each section (no latency).

    Args:
        n_sections: biquads in the cascade.
        max_radius: the largest pole radius, in (0, 1).
        hop_size: samples per frame; ``None`` infers it from each call (``time / frames``),
            which is enough for one-shot rendering; ``stream`` needs it.
    """

    def __init__(self, n_sections: int = 2, max_radius: float = 0.999, hop_size: int | None = None):
        super().__init__()
        self.n_sections = check_positive_int("n_sections", n_sections)
        if not 0 < max_radius < 1:
            raise ValueError(f"max_radius: expected a number in (0, 1), received {max_radius!r}")
        self.max_radius = max_radius
        self.hop_size = None if hop_size is None else check_positive_int("hop_size", hop_size)

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the signal to filter"),
                Control("sos", "frame", (self.n_sections, 6), -2.0, 2.0, default=0.0,
                        description="second-order sections [b0, b1, b2, 1, a1, a2] per frame (stable ones only)"))

    def sample_controls(self, frames, batch_shape=(), *, generator=None, dtype=torch.float32, device=None):
        """Random stable sections: ``get_controls`` of standard normal network outputs."""
        numerator = torch.randn((*batch_shape, frames, self.n_sections, 3), generator=generator, dtype=dtype)
        logits = torch.randn((*batch_shape, frames, self.n_sections, 2), generator=generator, dtype=dtype)
        return {name: value.to(device) for name, value in self.get_controls(numerator, logits).items()}

    def get_controls(self, numerator: torch.Tensor, denominator_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("numerator", numerator, min_dim=3)
        check_tensor("denominator_logits", denominator_logits, min_dim=3)
        if numerator.shape[-2:] != (self.n_sections, 3) or denominator_logits.shape[-2:] != (self.n_sections, 2):
            raise ValueError(f"numerator, denominator_logits: expected (..., frames, {self.n_sections}, 3) and "
                             f"(..., frames, {self.n_sections}, 2), received {tuple(numerator.shape)} and "
                             f"{tuple(denominator_logits.shape)}")
        b, a = second_order_direct(numerator, denominator_logits, max_radius=self.max_radius)
        return {"sos": to_sos(b, a)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"zi": torch.zeros((*batch_shape, self.n_sections, 4), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, sos: torch.Tensor, *, state: dict | None = None):
        if self.hop_size is not None and audio.shape[-1] != sos.shape[-3] * self.hop_size:
            raise ValueError(f"audio: expected {sos.shape[-3]} frames x hop_size {self.hop_size} = "
                             f"{sos.shape[-3] * self.hop_size} samples, received {audio.shape[-1]}")
        if state is None:
            return sosfilt(sos.to(audio.dtype), audio)
        if audio.shape[-1] == 0:                                   # an empty block changes nothing
            return audio, state
        audio, zf = sosfilt(sos.to(audio.dtype), audio, state["zi"])
        return audio, {"zi": zf}
