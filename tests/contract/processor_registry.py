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
        export: ``torch.export.export`` captures ``render`` (the pure kernel paths) and matches eager.
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
    export: bool = True
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


def _logits(**shapes):
    """A ``logits`` builder drawing each named input as ``scale * N(0, 1)`` of ``(*batch, frames, *shape)``
    (``static=True`` shapes: ``(*batch, *shape)``)."""
    def build(p, batch, frames, g, scale, dtype=torch.float64):
        out = {}
        for name, (shape, static) in shapes.items():
            steps = () if static else (frames,)
            out[name] = _normal(g, scale, dtype, *batch, *steps, *shape(p))
        return out
    return build


CASES += [
    ProcessorCase("SawtoothSquare", lambda: P.SawtoothSquare(8000, 8, n_harmonics=10),
                  logits=lambda p, batch, frames, g, scale, dtype=torch.float64: {
                      "f0_hz": _harmonic_logits(p, batch, frames, g, scale, dtype)["f0_hz"],
                      "morph_logits": _normal(g, scale, dtype, *batch, frames, 1)},
                  differentiable=("f0_hz", "morph")),
    ProcessorCase("DampedSinusoidBank", lambda: P.DampedSinusoidBank(8000, 3, n_samples=24), frames=24,
                  logits=_logits(z_real=(lambda p: (3,), True), z_imag=(lambda p: (3,), True)),
                  differentiable=("frequency", "radius")),   # static controls: a stream block is n_samples
    ProcessorCase("SincFilter-lowpass", lambda: P.SincFilter(8000, 8, taps=11),
                  logits=_logits(cutoff_logits=(lambda p: (1,), False)), differentiable=("audio", "cutoff")),
    ProcessorCase("SincFilter-highpass", lambda: P.SincFilter(8000, 8, mode="highpass", taps=9, normalize=True,
                                                                     compensate_delay=False),
                  logits=_logits(cutoff_logits=(lambda p: (1,), False)), differentiable=("audio", "cutoff")),
    ProcessorCase("ComplexCepstrumFilter", lambda: P.ComplexCepstrumFilter(8, n_quefrencies=3, n_fft=16),
                  logits=_logits(cepstrum_logits=(lambda p: (7,), False)), differentiable=("audio", "cepstrum")),
    ProcessorCase("ComplexCepstrumFilter-causal",
                  lambda: P.ComplexCepstrumFilter(8, n_quefrencies=2, n_fft=12, shift=3, compensate_delay=False),
                  logits=_logits(cepstrum_logits=(lambda p: (5,), False)), differentiable=("audio", "cepstrum")),
    ProcessorCase("FrequencyFilter", lambda: P.FrequencyFilter(8, n_bands=5),
                  logits=_logits(magnitude_logits=(lambda p: (5,), False)), differentiable=("audio", "magnitudes")),
    ProcessorCase("TimeVaryingFIR", lambda: P.TimeVaryingFIR(8, taps=12),
                  logits=_logits(impulse_response_logits=(lambda p: (12,), False)),
                  differentiable=("audio", "impulse_responses")),
    ProcessorCase("StateVariableFilter", lambda: P.StateVariableFilter(8000, 8),
                  logits=_logits(cutoff_logits=(lambda p: (1,), False), damping_logits=(lambda p: (1,), False),
                                 gain_logits=(lambda p: (3,), False)),
                  differentiable=("audio", "cutoff", "damping", "lowpass_gain", "bandpass_gain", "highpass_gain")),
    ProcessorCase("StateSpaceFilter", lambda: P.StateSpaceFilter(3, 8),
                  logits=_logits(weight=(lambda p: (3, 3), False), B=(lambda p: (3,), False),
                                 C=(lambda p: (3,), False), D=(lambda p: (1,), False)),
                  differentiable=("audio", "A", "B", "C", "D")),
    ProcessorCase("StateSpaceFilter-block", lambda: P.StateSpaceFilter(2, 8, method="block"),
                  logits=_logits(weight=(lambda p: (2, 2), False), B=(lambda p: (2,), False),
                                 C=(lambda p: (2,), False), D=(lambda p: (1,), False)),
                  differentiable=("audio", "A", "B", "C", "D")),
    ProcessorCase("AllpassCascade", lambda: P.AllpassCascade(8000, 8, stages=3),
                  logits=_logits(break_frequency_logits=(lambda p: (3,), False)),
                  differentiable=("audio", "break_frequency")),
    ProcessorCase("SecondOrderAllpassCascade", lambda: P.SecondOrderAllpassCascade(8000, 8, stages=2),
                  logits=_logits(frequency_logits=(lambda p: (2,), False), radius_logits=(lambda p: (2,), False)),
                  differentiable=("audio", "frequency", "radius")),
    ProcessorCase("Phaser", lambda: P.Phaser(8000, 8, stages=3),
                  logits=_logits(break_frequency_logits=(lambda p: (3,), False), dry_logits=(lambda p: (1,), True),
                                 wet_logits=(lambda p: (1,), True), feedback_logits=(lambda p: (1,), True)),
                  differentiable=("audio", "break_frequency", "dry_gain", "wet_gain", "feedback")),
]
