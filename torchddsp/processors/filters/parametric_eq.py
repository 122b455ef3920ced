"""``ParametricEQ`` processor: a cascade of cookbook biquads whose frequencies, gains and Q are learned."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from torchddsp.checks import check_positive
from torchddsp.functional.filters.iir import biquad_design, eq_controls_from_logits, sosfilt
from torchddsp.functional.filters.iir.parametric_eq import FILTER_TYPES, GAIN_TYPES
from torchddsp.processors.base import Control, Processor


class ParametricEQ(Processor):
    """A cascade of cookbook biquads (Bristow-Johnson's Audio EQ Cookbook) with learned settings.

    ``get_controls()`` maps the module's logits to ``frequency`` (Hz, log scale between 20 Hz and
    0.49 fs), ``gain_db`` (``24 tanh``) and ``q`` (log scale in [0.1, 10]) per band, each
    ``(n_bands,)``; ``render(audio, **controls)`` designs the sections
    (``parametric_eq.biquad_design``) and filters exactly with ``sosfilt``. The designs are
    stable for every valid control, so no value a network produces makes the filter unstable.
    Streaming carries ``sosfilt``'s state ``zi`` (no latency).
    Example: ``ParametricEQ(44100, ["lowshelf", "peak", "peak", "highshelf"])``.
    """

    def __init__(self, sample_rate: float, band_types: Sequence[str] = ("lowshelf", "peak", "peak", "highshelf")):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        unknown = [t for t in band_types if t not in FILTER_TYPES]
        if unknown or not band_types:
            raise ValueError(f"band_types: expected a non-empty list of {sorted(FILTER_TYPES)}, "
                             f"received {list(band_types)}")
        self.band_types = list(band_types)
        bands = len(band_types)
        self.frequency_logits = nn.Parameter(torch.linspace(-2.0, 2.0, bands + 2)[1:-1])   # spread over the range
        self.gain_logits = nn.Parameter(torch.zeros(bands))
        self.q_logits = nn.Parameter(torch.zeros(bands))

    def controls(self) -> tuple[Control, ...]:
        bands = len(self.band_types)
        return (Control("audio", "signal", description="the signal to equalise"),
                Control("frequency", "static", bands, 20.0, 0.49 * self.sample_rate, "log", default=1000.0,
                        unit="Hz", description="centre or corner frequency of each band"),
                Control("gain_db", "static", bands, -24.0, 24.0, default=0.0, unit="dB",
                        description="gain of each band (peak and shelf bands)"),
                Control("q", "static", bands, 0.1, 10.0, "log", default=0.7071, description="quality factor"))

    def get_controls(self) -> dict[str, torch.Tensor]:
        frequency, gain_db, q = eq_controls_from_logits(self.frequency_logits, self.gain_logits, self.q_logits,
                                                        self.sample_rate)
        return {"frequency": frequency, "gain_db": gain_db, "q": q}

    def sos(self, frequency: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Second-order sections ``(..., n_bands, 6)``."""
        rows = [biquad_design(t, frequency[..., i], gain_db[..., i] if t in GAIN_TYPES else None, q[..., i],
                              self.sample_rate) for i, t in enumerate(self.band_types)]
        return torch.stack(rows, dim=-2)

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"zi": torch.zeros((*batch_shape, len(self.band_types), 2), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, frequency: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor, *,
               state: dict | None = None):
        sos = self.sos(frequency, gain_db, q).to(audio.dtype)
        if state is None:
            return sosfilt(sos, audio)
        audio, zf = sosfilt(sos, audio, state["zi"])
        return audio, {"zi": zf}
