"""``HarmonicPlusNoise``: the differentiable spectral-modelling synthesiser of Engel et al. 2020."""

from __future__ import annotations

import torch

from torchddsp.processors.base import Control, Processor
from torchddsp.processors.effects.reverb import Reverb
from torchddsp.processors.oscillators.harmonic import Harmonic
from torchddsp.processors.synths.filtered_noise import FilteredNoise


def _delay(audio: torch.Tensor, buffer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Delay ``audio`` ``(..., time)`` by ``buffer.shape[-1]`` samples: (delayed block, new buffer)."""
    joined = torch.cat([buffer.expand(*audio.shape[:-1], -1).to(audio.dtype), audio], dim=-1)
    return joined[..., :audio.shape[-1]], joined[..., audio.shape[-1]:]


class HarmonicPlusNoise(Processor):
    """Harmonic oscillator bank + filtered noise (+ optional reverb).

    ``get_controls(amplitude_logits, distribution_logits, f0_hz, noise_logits)`` maps network
    outputs ``(..., frames, 1)``, ``(..., frames, n_harmonics)``, f0 in Hz ``(..., frames, 1)``
    and ``(..., frames, n_noise_bands)`` to valid controls; ``render(**controls)`` returns audio
    ``(..., frames * hop_size)``; ``forward`` does both.

    Streaming: the state holds each part's state; the part with the smaller latency is delayed
    to the other's (``latency = max(hop_size, n_noise_bands - 1)``) before the sum and the reverb.

    Args:
        sample_rate, hop_size: audio rate and samples per frame.
        n_harmonics, n_noise_bands: sizes of the harmonic distribution and noise filter bands.
        reverb: a ``Reverb`` module applied to the mix, or ``None``.
        upsampling: amplitude upsampling of the harmonic part, ``"linear"`` or ``"hann"``.
        threshold: floor of the harmonic amplitude and the noise band magnitudes (``exp_sigmoid``'s
            ``threshold``; Engel et al.: ``1e-7``).
    """

    def __init__(self, sample_rate: float, hop_size: int, n_harmonics: int = 60, n_noise_bands: int = 65,
                 reverb: Reverb | None = None, upsampling: str = "linear", threshold: float = 1e-7):
        super().__init__()
        self.harmonic = Harmonic(sample_rate, hop_size, n_harmonics, upsampling, threshold)
        self.noise = FilteredNoise(hop_size, n_noise_bands, threshold=threshold)
        self.reverb = reverb
        self.sample_rate, self.hop_size = sample_rate, hop_size
        self.latency = max(self.harmonic.latency, self.noise.latency)

    def controls(self) -> tuple[Control, ...]:
        return self.harmonic.controls() + self.noise.controls()

    def sample_controls(self, frames, batch_shape=(), *, generator=None, dtype=torch.float32, device=None):
        kwargs = dict(generator=generator, dtype=dtype, device=device)
        return {**self.harmonic.sample_controls(frames, batch_shape, **kwargs),
                **self.noise.sample_controls(frames, batch_shape, **kwargs)}

    def get_controls(self, amplitude_logits: torch.Tensor, distribution_logits: torch.Tensor,
                     f0_hz: torch.Tensor, noise_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        controls = self.harmonic.get_controls(amplitude_logits, distribution_logits, f0_hz)
        controls.update(self.noise.get_controls(noise_logits))
        return controls

    def forward(self, amplitude_logits: torch.Tensor, distribution_logits: torch.Tensor, f0_hz: torch.Tensor,
                noise_logits: torch.Tensor, noise_seed: int | None = None, *, state: dict | None = None):
        controls = self.get_controls(amplitude_logits, distribution_logits, f0_hz, noise_logits)
        return self.render(**controls, noise_seed=noise_seed, state=state)

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None, noise_seed: int | None = None):
        def delay(latency):
            return torch.zeros((*batch_shape, self.latency - latency), dtype=dtype, device=device)
        state = {"harmonic": self.harmonic.initial_state(batch_shape, dtype=dtype, device=device),
                 "noise": self.noise.initial_state(batch_shape, dtype=dtype, device=device, noise_seed=noise_seed),
                 "harmonic_delay": delay(self.harmonic.latency), "noise_delay": delay(self.noise.latency)}
        if self.reverb is not None:
            state["reverb"] = self.reverb.initial_state(batch_shape, dtype=dtype, device=device)
        return state

    def render(self, amplitude: torch.Tensor, harmonic_distribution: torch.Tensor, f0_hz: torch.Tensor,
               noise_magnitudes: torch.Tensor, noise_seed: int | None = None, *, state: dict | None = None):
        if state is None:
            audio = self.harmonic.render(amplitude, harmonic_distribution, f0_hz)
            audio = audio + self.noise.render(noise_magnitudes, noise_seed=noise_seed)
            return self.reverb(audio) if self.reverb is not None else audio
        harmonic, harmonic_state = self.harmonic.render(amplitude, harmonic_distribution, f0_hz,
                                                        state=state["harmonic"])
        noise, noise_state = self.noise.render(noise_magnitudes, state=state["noise"])
        harmonic, harmonic_delay = _delay(harmonic, state["harmonic_delay"])
        noise, noise_delay = _delay(noise, state["noise_delay"])
        new_state = {"harmonic": harmonic_state, "noise": noise_state,
                     "harmonic_delay": harmonic_delay, "noise_delay": noise_delay}
        audio = harmonic + noise
        if self.reverb is not None:
            audio, new_state["reverb"] = self.reverb(audio, state=state["reverb"])
        return audio, new_state
