"""``SawtoothSquare`` processor: a band-limited sawtooth/square morph (Masuda & Saito 2021)."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
from torchddsp.functional.oscillators.band_limited import sawtooth_square
from torchddsp.processors.base import Control, Processor, stream_phase_oscillator


class SawtoothSquare(Processor):
    """Band-limited oscillator morphing from square (``morph = 0``) to sawtooth (``morph = 1``).

    .. math:: y[n] = \\sum_{k=1}^{K} \\big(p[n] \\tfrac{2}{\\pi k} + (1 - p[n]) \\tfrac{4}{\\pi k}
              [k \\text{ odd}]\\big) \\sin(k \\phi[n])

    (review Eqs. 10-11; Masuda & Saito, "Synthesizer sound matching with differentiable DSP",
    ISMIR 2021). Harmonics at or above Nyquist are silent sample by sample, so the waveform is
    alias-free for any f0. ``render(f0_hz, morph)`` takes ``(..., frames, 1)`` each and returns
    ``(..., frames * hop_size)`` (``functional.oscillators.band_limited.sawtooth_square``).

    ``get_controls(f0_hz, morph_logits)``: ``morph = sigmoid(morph_logits)`` in ``[0, 1]``;
    ``f0_hz`` passes through. Streaming carries the fundamental's phase exactly (float64,
    ``functional.core.phase.advance_phase``) and interpolates f0 across block boundaries with one hop
    of look-ahead (``latency = hop_size``, ``base.FrameLookahead``).

    Args:
        sample_rate: Hz.
        hop_size: audio samples per control frame.
        n_harmonics: ``K``, harmonics summed (those above Nyquist are silent anyway).
        upsampling: ``"linear"`` or ``"hann"`` upsampling of the morph.
    """

    def __init__(self, sample_rate: float, hop_size: int, n_harmonics: int = 64, upsampling: str = "linear"):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.n_harmonics = check_positive_int("n_harmonics", n_harmonics)
        self.upsampling = upsampling
        self.latency = self.hop_size

    def controls(self) -> tuple[Control, ...]:
        return (Control("f0_hz", "frame", 1, 20.0, self.sample_rate / 2, "log", default=220.0, unit="Hz",
                        description="fundamental frequency"),
                Control("morph", "frame", 1, 0.0, 1.0, default=1.0,
                        description="0: square, 1: sawtooth, linear mix between"))

    def get_controls(self, f0_hz: torch.Tensor, morph_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("f0_hz", f0_hz, min_dim=2)
        check_tensor("morph_logits", morph_logits, min_dim=2)
        return {"f0_hz": f0_hz, "morph": torch.sigmoid(morph_logits)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"phase": torch.zeros(batch_shape, dtype=torch.float64, device=device), "previous": {}}

    def render(self, f0_hz: torch.Tensor, morph: torch.Tensor, *, state: dict | None = None):
        if state is None:
            return sawtooth_square(f0_hz, morph, self.sample_rate, self.hop_size, self.n_harmonics,
                                   upsampling=self.upsampling)
        if f0_hz.shape[-2] == 0:                                   # an empty block changes nothing
            batch = torch.broadcast_shapes(f0_hz.shape[:-2], morph.shape[:-2])
            return f0_hz.new_zeros(*batch, 0), state
        controls = {"f0_hz": f0_hz, "morph": morph}
        def render(extended, f0_audio, phase):
            return sawtooth_square(f0_audio, extended["morph"], self.sample_rate, self.hop_size, self.n_harmonics,
                                   phase, self.upsampling)[0]
        return stream_phase_oscillator(render, controls, state, self.hop_size, self.sample_rate)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}, n_harmonics={self.n_harmonics}"
