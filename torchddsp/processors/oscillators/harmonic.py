"""``Harmonic`` processor: network outputs -> harmonic synthesiser controls -> audio (Engel et al. 2020)."""

from __future__ import annotations

import torch

from torchddsp.checks import check_nonnegative, check_positive, check_positive_int, check_tensor
from torchddsp.functional.controls.scaling import exp_sigmoid, normalize_distribution
from torchddsp.functional.oscillators.harmonic import harmonic_oscillator
from torchddsp.processors.base import Control, Processor, stream_phase_oscillator


class Harmonic(Processor):
    """Harmonic oscillator bank driven by frame-rate controls (review Eq. 9).

    ``get_controls`` maps unconstrained inputs to valid controls:

    - ``amplitude = exp_sigmoid(amplitude_logits, threshold=threshold)``, shape ``(..., frames, 1)``;
    - ``harmonic_distribution = exp_sigmoid(distribution_logits)`` with harmonics at or above
      Nyquist (for the frame's f0) set to zero, then normalised to sum to one, ``(..., frames, K)``;
    - ``f0_hz`` passes through, ``(..., frames, 1)``.

    ``render`` turns valid controls into audio ``(..., frames * hop_size)``; ``forward`` does
    both. Streaming (``state``): the phase is carried exactly in float64 and the controls are
    interpolated across block boundaries, with one hop of latency (``base.FrameLookahead``).

    Args:
        sample_rate: audio sample rate in Hz.
        hop_size: audio samples per control frame.
        n_harmonics: ``K``.
        upsampling: ``"linear"`` or ``"hann"`` amplitude upsampling.
        threshold: the smallest amplitude, ``>= 0`` (Engel et al.: ``1e-7``, about -140 dB). A
            model that must render digital silence needs a lower floor.
    """

    def __init__(self, sample_rate: float, hop_size: int, n_harmonics: int = 60, upsampling: str = "linear",
                 threshold: float = 1e-7):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.n_harmonics = check_positive_int("n_harmonics", n_harmonics)
        self.upsampling = upsampling
        self.threshold = check_nonnegative("threshold", threshold)
        self.latency = self.hop_size

    def controls(self) -> tuple[Control, ...]:
        return (
            Control("amplitude", "frame", 1, 0.0, 1.0, default=0.1, description="overall amplitude"),
            Control("harmonic_distribution", "frame", self.n_harmonics, 0.0, 1.0, default=1.0 / self.n_harmonics,
                    description="share of each harmonic, summing to one"),
            Control("f0_hz", "frame", 1, 20.0, self.sample_rate / 2, "log", default=220.0, unit="Hz",
                    description="fundamental frequency"),
        )

    def sample_controls(self, frames, batch_shape=(), *, generator=None, dtype=torch.float32, device=None):
        patch = super().sample_controls(frames, batch_shape, generator=generator, dtype=dtype, device=device)
        patch["harmonic_distribution"] = normalize_distribution(patch["harmonic_distribution"])
        return patch

    def get_controls(self, amplitude_logits: torch.Tensor, distribution_logits: torch.Tensor,
                     f0_hz: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("distribution_logits", distribution_logits, min_dim=2)
        if distribution_logits.shape[-1] != self.n_harmonics:
            raise ValueError(f"distribution_logits: expected {self.n_harmonics} harmonics on the last axis, "
                             f"received shape {tuple(distribution_logits.shape)}")
        amplitude = exp_sigmoid(amplitude_logits, threshold=self.threshold)
        distribution = exp_sigmoid(distribution_logits)
        k = torch.arange(1, self.n_harmonics + 1, dtype=distribution.dtype, device=distribution.device)
        below_nyquist = (k * f0_hz.detach() < self.sample_rate / 2).to(distribution.dtype)
        distribution = normalize_distribution(distribution * below_nyquist)
        return {"amplitude": amplitude, "harmonic_distribution": distribution, "f0_hz": f0_hz}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"phase": torch.zeros(batch_shape, dtype=torch.float64, device=device), "previous": {}}

    def render(self, amplitude: torch.Tensor, harmonic_distribution: torch.Tensor, f0_hz: torch.Tensor, *,
               state: dict | None = None):
        if state is None:
            return harmonic_oscillator(amplitude, harmonic_distribution, f0_hz, self.sample_rate, self.hop_size,
                                       upsampling=self.upsampling)
        if amplitude.shape[-2] == 0:                               # an empty block changes nothing
            return amplitude.new_zeros(amplitude.shape[:-2] + (0,)), state
        controls = {"amplitude": amplitude, "harmonic_distribution": harmonic_distribution, "f0_hz": f0_hz}
        def render(extended, f0_audio, phase):
            return harmonic_oscillator(extended["amplitude"], extended["harmonic_distribution"], f0_audio,
                                       self.sample_rate, self.hop_size, phase, self.upsampling)[0]
        return stream_phase_oscillator(render, controls, state, self.hop_size, self.sample_rate)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}, n_harmonics={self.n_harmonics}"
