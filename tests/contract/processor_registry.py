"""The registry of processors that the contract suites (``test_processor_contract.py``) run over.

Every ``Processor`` subclass exported by ``torchddsp.processors`` registers here once: how to
build it, how to make unconstrained inputs for ``get_controls``, which render inputs are
differentiable, and which properties it claims. ``test_every_processor_is_registered`` fails
for a processor that is missing, so a new processor cannot skip the suites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from torchddsp import processors as P


@dataclass(frozen=True)
class ProcessorCase:
    """How the contract suites exercise one processor.

    Attributes:
        make: builds the processor (float32; suites cast it).
        frames: frames per test signal (small: gradcheck runs on it).
        logits: ``(processor, batch_shape, frames, generator, scale) -> kwargs`` of unconstrained
            ``get_controls`` inputs drawn as ``scale * N(0, 1)``; ``None`` when the processor's
            ``get_controls`` reads its own parameters.
        render_options: extra ``render`` keywords that make it deterministic (e.g. a noise seed).
        differentiable: the render inputs ``gradcheck`` checks (controls or signals).
        streaming: ``render(state=...)`` chains blocks to the one-shot output (delayed by ``latency``).
        compile: ``torch.compile(fullgraph=True)`` of ``render`` matches eager.
        batch_independent: a batch item's output does not depend on its index (false for noise,
            whose rows are drawn per batch item).
    """

    name: str
    make: Callable[[], P.Processor]
    frames: int = 6
    logits: Callable | None = None
    render_options: dict = field(default_factory=dict)
    differentiable: tuple[str, ...] = ()
    streaming: bool = True
    compile: bool = True
    batch_independent: bool = True

    def __str__(self) -> str:
        return self.name


def _normal(generator, scale, dtype, *shape):
    return scale * torch.randn(shape, generator=generator, dtype=dtype)


def _harmonic_logits(p, batch, frames, g, scale, dtype=torch.float64):
    f0 = 20.0 + (p.sample_rate / 2 - 20.0) * torch.rand((*batch, frames, 1), generator=g, dtype=dtype)
    return {"amplitude_logits": _normal(g, scale, dtype, *batch, frames, 1),
            "distribution_logits": _normal(g, scale, dtype, *batch, frames, p.n_harmonics), "f0_hz": f0}


def _noise_logits(p, batch, frames, g, scale, dtype=torch.float64):
    return {"noise_logits": _normal(g, scale, dtype, *batch, frames, p.n_bands)}


CASES = [
    ProcessorCase("Harmonic", lambda: P.Harmonic(8000, 8, n_harmonics=12), logits=_harmonic_logits,
                  differentiable=("amplitude", "harmonic_distribution", "f0_hz")),
    ProcessorCase("Harmonic-hann", lambda: P.Harmonic(8000, 8, n_harmonics=5, upsampling="hann"),
                  logits=_harmonic_logits, differentiable=("amplitude", "harmonic_distribution", "f0_hz")),
    ProcessorCase("Sinusoidal", lambda: P.Sinusoidal(8000, 8, n_sinusoids=4),
                  logits=lambda p, batch, frames, g, scale, dtype=torch.float64: {
                      "amplitude_logits": _normal(g, scale, dtype, *batch, frames, 4),
                      "frequency_logits": _normal(g, scale, dtype, *batch, frames, 4)},
                  differentiable=("amplitudes", "frequencies")),
    ProcessorCase("FilteredNoise", lambda: P.FilteredNoise(8, n_bands=9), logits=_noise_logits,
                  render_options={"noise_seed": 5}, differentiable=("noise_magnitudes",), batch_independent=False),
    ProcessorCase("HarmonicPlusNoise",
                  lambda: P.HarmonicPlusNoise(8000, 8, n_harmonics=6, n_noise_bands=5,
                                              reverb=P.Reverb(8000, 0.004, seed=1)),
                  logits=lambda p, batch, frames, g, scale, dtype=torch.float64: {
                      **_harmonic_logits(p.harmonic, batch, frames, g, scale, dtype),
                      **_noise_logits(p.noise, batch, frames, g, scale, dtype)},
                  render_options={"noise_seed": 5}, batch_independent=False,
                  differentiable=("amplitude", "harmonic_distribution", "noise_magnitudes")),
    ProcessorCase("Reverb", lambda: P.Reverb(8000, 0.003, seed=2), differentiable=("audio", "impulse_response")),
    ProcessorCase("Reverb-parametric", lambda: P.Reverb(8000, 0.003, mode="parametric", seed=2),
                  differentiable=("audio", "impulse_response")),
    ProcessorCase("ParametricEQ", lambda: P.ParametricEQ(8000, ["lowshelf", "peak", "highpass"]),
                  differentiable=("audio", "frequency", "gain_db", "q")),
    ProcessorCase("TimeVaryingBiquads", lambda: P.TimeVaryingBiquads(2, hop_size=8),
                  logits=lambda p, batch, frames, g, scale, dtype=torch.float64: {
                      "numerator": _normal(g, scale, dtype, *batch, frames, 2, 3),
                      "denominator_logits": _normal(g, scale, dtype, *batch, frames, 2, 2)},
                  differentiable=("audio", "sos")),
    ProcessorCase("LPCSynthesisFilter", lambda: P.LPCSynthesisFilter(4, hop_size=8),
                  logits=lambda p, batch, frames, g, scale, dtype=torch.float64: {
                      "reflection_logits": _normal(g, scale, dtype, *batch, frames, 4)},
                  differentiable=("excitation", "reflection")),
]
