"""``Phaser`` processor: swept all-pass cascade with feedback, mixed with the dry signal (Carson et al. 2023)."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
from torchddsp.functional.effects.phaser import feedback_from_unconstrained, phaser_exact
from torchddsp.functional.filters.iir import break_frequency_from_unconstrained
from torchddsp.processors.base import Control, Processor


class Phaser(Processor):
    """Phaser: :math:`H(z) = g_1 + g_w P(z) / (1 - g_2 P(z))`, :math:`P` a cascade of first-order all-passes.

    .. math:: P(z) = \\prod_{k=1}^{K} \\frac{a_k + z^{-1}}{1 + a_k z^{-1}}, \\qquad
              a_k = \\frac{\\tan(\\pi f_k / f_s) - 1}{\\tan(\\pi f_k / f_s) + 1}

    after Carson et al., "Differentiable grey-box modelling of phaser effects using frame-based
    spectral processing" (DAFx 2023; review Table 2), evaluated exactly with the break
    frequencies held per frame and the delay-free feedback loop solved
    (``functional.effects.phaser.phaser_exact``), not with the paper's windowed frequency sampling.
    ``render(audio, break_frequency, dry_gain, wet_gain, feedback)``: ``break_frequency``
    ``(..., frames, stages)`` Hz in ``(0, f_s/2)``; ``dry_gain``, ``wet_gain``, ``feedback``
    ``(..., 1)`` per patch, :math:`|g_2| < 1`. Returns ``(..., frames * hop_size)``.

    ``get_controls(break_frequency_logits, dry_logits, wet_logits, feedback_logits)``: break
    frequencies log-spaced in ``[20 Hz, 0.49 f_s]`` (``break_frequency_from_unconstrained``),
    gains ``sigmoid`` in ``[0, 1]``, ``feedback = max_feedback * tanh`` (stable for any input).
    Streaming carries the normalised-section state ``(..., stages)`` (no latency).

    Args:
        sample_rate: Hz.
        hop_size: samples per frame of the break-frequency sweep.
        stages: all-pass sections ``K``.
        max_feedback: bound of ``|feedback|``, in (0, 1).
    """

    def __init__(self, sample_rate: float, hop_size: int, stages: int = 4, max_feedback: float = 0.95):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.stages = check_positive_int("stages", stages)
        if not 0 < max_feedback < 1:
            raise ValueError(f"max_feedback: expected a number in (0, 1), received {max_feedback!r}")
        self.max_feedback = max_feedback

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the signal to process"),
                Control("break_frequency", "frame", self.stages, 20.0, 0.49 * self.sample_rate, "log",
                        default=1000.0, unit="Hz", description="break frequency of each all-pass section"),
                Control("dry_gain", "static", 1, 0.0, 1.0, default=1.0, description="gain of the dry signal g1"),
                Control("wet_gain", "static", 1, 0.0, 1.0, default=1.0, description="gain of the all-pass path gw"),
                Control("feedback", "static", 1, -self.max_feedback, self.max_feedback, default=0.0,
                        description="feedback gain g2 around the cascade"))

    def get_controls(self, break_frequency_logits: torch.Tensor, dry_logits: torch.Tensor, wet_logits: torch.Tensor,
                     feedback_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("break_frequency_logits", break_frequency_logits, min_dim=2)
        if break_frequency_logits.shape[-1] != self.stages:
            raise ValueError(f"break_frequency_logits: expected {self.stages} stages on the last axis, received "
                             f"shape {tuple(break_frequency_logits.shape)}")
        return {"break_frequency": break_frequency_from_unconstrained(break_frequency_logits, self.sample_rate),
                "dry_gain": torch.sigmoid(dry_logits), "wet_gain": torch.sigmoid(wet_logits),
                "feedback": feedback_from_unconstrained(feedback_logits, self.max_feedback)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"zi": torch.zeros((*batch_shape, self.stages), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, break_frequency: torch.Tensor, dry_gain: torch.Tensor,
               wet_gain: torch.Tensor, feedback: torch.Tensor, *, state: dict | None = None):
        check_tensor("break_frequency", break_frequency, min_dim=2)
        if break_frequency.dim() != audio.dim() + 1:
            raise ValueError(f"break_frequency: expected (..., frames, {self.stages}) with {audio.dim() + 1} "
                             f"dimensions for audio of shape {tuple(audio.shape)}, received shape "
                             f"{tuple(break_frequency.shape)}")
        gains = {"dry_gain": dry_gain, "wet_gain": wet_gain, "feedback": feedback}
        for name, value in gains.items():
            check_tensor(name, value, min_dim=1)
            if value.shape[-1] != 1:
                raise ValueError(f"{name}: expected shape (..., 1), received {tuple(value.shape)}")
        if state is not None and audio.shape[-1] == 0:             # an empty block changes nothing
            return audio, state
        gains = {name: value[..., 0] for name, value in gains.items()}
        if state is None:
            return phaser_exact(audio, break_frequency, self.sample_rate, **gains)
        audio, zf = phaser_exact(audio, break_frequency, self.sample_rate, zi=state["zi"], **gains)
        return audio, {"zi": zf}

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}, stages={self.stages}"
