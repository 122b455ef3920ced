"""Filter processors (issue: recursive filters): a learnable parametric EQ, a time-varying biquad
cascade driven by frame-rate controls, and an LPC synthesis filter.

Each maps unconstrained inputs (learned parameters or network outputs) through a stability-
guaranteeing parameterisation, so no value a network produces can make the filter unstable.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .._checks import check_positive, check_positive_int, check_tensor
from ..functional.iir import biquad_design, eq_controls_from_logits, second_order_direct, sosfilt, to_sos
from ..functional.iir.parametric_eq import FILTER_TYPES, GAIN_TYPES
from ..functional.lpc import lpc_synthesis, reflection_from_logits


class ParametricEQ(nn.Module):
    """A cascade of cookbook biquads whose frequencies, gains and Q are learned.

    ``get_controls()`` maps the logits to ``frequency`` (Hz, log scale between 20 Hz and 0.49 fs),
    ``gain_db`` (``24 tanh``) and ``q`` (log scale in [0.1, 10]) per band; ``render(audio,
    **controls)`` designs the sections (``parametric_eq.biquad_design``) and filters exactly with
    ``sosfilt``. Example: ``ParametricEQ(44100, ["lowshelf", "peak", "peak", "highshelf"])``.
    """

    def __init__(self, sample_rate: float, band_types: Sequence[str] = ("lowshelf", "peak", "peak", "highshelf")):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        unknown = [t for t in band_types if t not in FILTER_TYPES]
        if unknown or not band_types:
            raise ValueError(f"band_types: expected a non-empty list of {sorted(FILTER_TYPES)}, received {list(band_types)}")
        self.band_types = list(band_types)
        bands = len(band_types)
        self.frequency_logits = nn.Parameter(torch.linspace(-2.0, 2.0, bands + 2)[1:-1])   # spread over the range
        self.gain_logits = nn.Parameter(torch.zeros(bands))
        self.q_logits = nn.Parameter(torch.zeros(bands))

    def get_controls(self) -> dict[str, torch.Tensor]:
        frequency, gain_db, q = eq_controls_from_logits(self.frequency_logits, self.gain_logits, self.q_logits,
                                                        self.sample_rate)
        return {"frequency": frequency, "gain_db": gain_db, "q": q}

    def sos(self, frequency: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Second-order sections ``(n_bands, 6)``."""
        rows = [biquad_design(t, frequency[..., i], gain_db[..., i] if t in GAIN_TYPES else None, q[..., i],
                              self.sample_rate) for i, t in enumerate(self.band_types)]
        return torch.stack(rows, dim=-2)

    def render(self, audio: torch.Tensor, frequency: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        check_tensor("audio", audio, min_dim=1)
        return sosfilt(self.sos(frequency, gain_db, q).to(audio.dtype), audio)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.render(audio, **self.get_controls())


class TimeVaryingBiquads(nn.Module):
    """A cascade of ``n_sections`` biquads whose coefficients change every frame.

    ``get_controls(numerator, denominator_logits)`` takes network outputs ``(..., frames,
    n_sections, 3)`` and ``(..., frames, n_sections, 2)``; the denominators go through the
    triangle activation (review Table 2), so every pole has radius below ``max_radius`` for any
    input. ``render(audio, sos)`` filters ``(..., frames * hop)`` audio exactly with the sections
    held for each frame (``sosfilt`` with frame-rate sections).
    """

    def __init__(self, n_sections: int = 2, max_radius: float = 0.999):
        super().__init__()
        self.n_sections = check_positive_int("n_sections", n_sections)
        self.max_radius = max_radius

    def get_controls(self, numerator: torch.Tensor, denominator_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("numerator", numerator, min_dim=3)
        check_tensor("denominator_logits", denominator_logits, min_dim=3)
        if numerator.shape[-2:] != (self.n_sections, 3) or denominator_logits.shape[-2:] != (self.n_sections, 2):
            raise ValueError(f"numerator, denominator_logits: expected (..., frames, {self.n_sections}, 3) and "
                             f"(..., frames, {self.n_sections}, 2), received {tuple(numerator.shape)} and "
                             f"{tuple(denominator_logits.shape)}")
        b, a = second_order_direct(numerator, denominator_logits, max_radius=self.max_radius)
        return {"sos": to_sos(b, a)}

    def render(self, audio: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
        return sosfilt(sos.to(audio.dtype), audio)

    def forward(self, audio: torch.Tensor, numerator: torch.Tensor, denominator_logits: torch.Tensor) -> torch.Tensor:
        return self.render(audio, **self.get_controls(numerator, denominator_logits))


class LPCSynthesisFilter(nn.Module):
    """Source-filter synthesis: an excitation through a time-varying all-pole (LPC) filter.

    ``get_controls(reflection_logits)`` maps ``(..., frames, order)`` network outputs to
    reflection coefficients with ``|k| < 1`` (``tanh``), which guarantees a stable filter;
    ``render`` runs the normalised lattice (stable for any such coefficients, even when they change
    every frame) with coefficients held per frame. Juvela et al. 2019; Subramani et al. 2022.
    """

    def __init__(self, order: int = 16, max_magnitude: float = 0.999):
        super().__init__()
        self.order = check_positive_int("order", order)
        self.max_magnitude = max_magnitude

    def get_controls(self, reflection_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("reflection_logits", reflection_logits, min_dim=2)
        if reflection_logits.shape[-1] != self.order:
            raise ValueError(f"reflection_logits: expected {self.order} values on the last axis, "
                             f"received shape {tuple(reflection_logits.shape)}")
        return {"reflection": reflection_from_logits(reflection_logits, self.max_magnitude)}

    def render(self, excitation: torch.Tensor, reflection: torch.Tensor) -> torch.Tensor:
        return lpc_synthesis(excitation, reflection.to(excitation.dtype), kind="reflection")

    def forward(self, excitation: torch.Tensor, reflection_logits: torch.Tensor) -> torch.Tensor:
        return self.render(excitation, **self.get_controls(reflection_logits))
