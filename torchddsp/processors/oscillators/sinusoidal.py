"""``Sinusoidal`` processor: unconstrained sinusoidal model (review Eq. 8; Engel et al. 2020b)."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive, check_positive_int
from torchddsp.functional.controls.scaling import exp_sigmoid, unit_to_hz
from torchddsp.functional.core.phase import advance_phase
from torchddsp.functional.core.upsample import upsample
from torchddsp.functional.oscillators.sinusoidal import oscillator_bank
from torchddsp.processors.base import Control, FrameLookahead, Processor


class Sinusoidal(Processor):
    """Bank of ``K`` free sinusoids with frame-rate amplitude and frequency controls.

    ``get_controls`` maps unconstrained inputs to valid controls:
    ``amplitudes = exp_sigmoid(amplitude_logits)`` and
    ``frequencies = unit_to_hz(sigmoid(frequency_logits), hz_min, hz_max)`` (a logarithmic
    frequency scale), both ``(..., frames, K)``. ``render`` upsamples them linearly by
    ``hop_size`` and sums the sinusoids. Streaming carries the ``K`` phases exactly (float64)
    with one hop of latency (``base.FrameLookahead``).

    Args:
        sample_rate, hop_size: audio rate (Hz) and samples per frame.
        n_sinusoids: ``K`` (declares the control size; inputs with another ``K`` are refused).
        hz_min, hz_max: the frequency range of ``get_controls`` (default: 20 Hz to Nyquist).
    """

    def __init__(self, sample_rate: float, hop_size: int, n_sinusoids: int = 16, hz_min: float = 20.0,
                 hz_max: float | None = None):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.n_sinusoids = check_positive_int("n_sinusoids", n_sinusoids)
        self.hz_min = check_positive("hz_min", hz_min)
        self.hz_max = check_positive("hz_max", hz_max if hz_max is not None else sample_rate / 2)
        self.latency = self.hop_size

    def controls(self) -> tuple[Control, ...]:
        return (
            Control("amplitudes", "frame", self.n_sinusoids, 0.0, 1.0, default=0.05,
                    description="amplitude of each sinusoid"),
            Control("frequencies", "frame", self.n_sinusoids, self.hz_min, self.hz_max, "log", default=440.0,
                    unit="Hz", description="frequency of each sinusoid"),
        )

    def get_controls(self, amplitude_logits: torch.Tensor, frequency_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        for name, value in (("amplitude_logits", amplitude_logits), ("frequency_logits", frequency_logits)):
            if value.shape[-1] != self.n_sinusoids:
                raise ValueError(f"{name}: expected {self.n_sinusoids} sinusoids on the last axis, "
                                 f"received shape {tuple(value.shape)}")
        return {"amplitudes": exp_sigmoid(amplitude_logits),
                "frequencies": unit_to_hz(torch.sigmoid(frequency_logits), self.hz_min, self.hz_max)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"phase": torch.zeros((*batch_shape, self.n_sinusoids), dtype=torch.float64, device=device),
                "previous": {}}

    def render(self, amplitudes: torch.Tensor, frequencies: torch.Tensor, *, state: dict | None = None):
        if state is None:
            return oscillator_bank(amplitudes, frequencies, self.sample_rate, hop_size=self.hop_size)
        if amplitudes.shape[-2] == 0:                              # an empty block changes nothing
            return amplitudes.new_zeros(amplitudes.shape[:-2] + (0,)), state
        controls = {"amplitudes": amplitudes, "frequencies": frequencies}
        extended, continued = FrameLookahead.extend(controls, state)
        amps = upsample(extended["amplitudes"], self.hop_size)
        freqs = upsample(extended["frequencies"], self.hop_size)
        keep = freqs.shape[-2] - self.hop_size
        audio = oscillator_bank(amps[..., :keep, :], freqs[..., :keep, :], self.sample_rate, state["phase"])[0]
        phase = advance_phase(state["phase"], freqs[..., :keep, :].transpose(-1, -2), self.sample_rate)
        if not continued:
            audio = torch.nn.functional.pad(audio, (self.hop_size, 0))
        return audio, {"phase": phase, "previous": FrameLookahead.carry(controls)}

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}, n_sinusoids={self.n_sinusoids}"
