"""The registry of functional ops that the contract suites (``test_op_contract.py``) run over.

Every public function of ``torchddsp.functional`` and its submodules (their ``__all__``) either
registers here once, as one or more ``OpCase``, or is listed in ``EXCLUDED`` with the reason.
``test_every_public_op_is_registered`` fails for an op that is in neither, so a new op cannot
skip the suites.

A case says how to build small float64 inputs (the suites cast them), which inputs are
differentiable, and which properties the op claims. A claim is ``True`` only where its suite
passes; a ``False`` claim caused by a defect in the op carries a comment saying what fails.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import torch

from helpers import random_stable_filter
from torchddsp import functional as F
from torchddsp.functional import effects
from torchddsp.functional import spectral as S
from torchddsp.functional.effects.phaser import phaser_num_frames
from torchddsp.functional.filters import fir, iir
from torchddsp.functional.spectral import mel

L = importlib.import_module("torchddsp.functional.filters.lpc")   # ``F.lpc`` is the function, not the package

SR = 8000.0
HOP = 4
FRAMES = 3
TIME = HOP * FRAMES


@dataclass(frozen=True)
class Streaming:
    """How to run an op block by block.

    Attributes:
        state: the keyword that carries the state in (``zi``, ``state``, ``initial_state``, ...).
        initial: ``(kwargs) -> state`` the state at rest for the built inputs (batch first).
        sliced: inputs cut per block: ``name -> (axis, samples per step)``; the block sizes that
            the suite draws count steps (samples, or frames for frame-rate ops).
        split: ``(result, state_in) -> (output, final_state)`` when the op does not return that pair.
        build: inputs for the streaming check when they differ from the case's (e.g. audio-rate
            controls, whose one-shot interpolation would otherwise need the next block's frame).
    """

    state: str
    initial: Callable[[dict], torch.Tensor]
    sliced: dict[str, tuple[int, int]]
    split: Callable | None = None
    build: Callable | None = None


@dataclass(frozen=True)
class OpCase:
    """How the contract suites exercise one public op.

    Attributes:
        name: test id (the op's name, with a variant in brackets).
        op: the public function (what the registration test looks for).
        build: ``(batch, generator) -> kwargs`` of small valid float64 inputs; tensors have the
            batch on their leading axis unless named in ``shared``.
        differentiable: inputs that ``gradcheck`` checks (empty: the op carries no gradient).
        call: how the suites call it, ``(**kwargs) -> result``; defaults to ``op``.
        output: picks the tensor(s) the suites compare from the result (e.g. ``h`` of ``(w, h)``).
        shared: tensor inputs without a batch axis (shared by every item).
        batch: a batch equals the loop over its items.
        streaming: how to run it block by block (``None``: not claimed).
        compile: ``torch.compile(fullgraph=True)`` forward and backward match eager.
        export: ``torch.export.export`` captures it and the exported program matches eager.
        silence: inputs set to zero by the silence check (signals, amplitudes, magnitudes).
        extreme: unconstrained inputs that the hypothesis suite scales by ``10 ** s``,
            ``s`` in ``[-3, max_log_scale]``; the op claims finite values and gradients there.
        float32: float32 inputs give float32 outputs close to the float64 ones (on every device).
        float32_tol: float32 vs float64 tolerance, relative to the largest output magnitude.
        float64_output: the op computes and returns float64 whatever its input (phase state);
            a tuple of indices names the outputs that are float64 (a final phase state).
    """

    name: str
    op: Callable
    build: Callable[[int, torch.Generator], dict]
    differentiable: tuple[str, ...] = ()
    call: Callable | None = None
    output: Callable | None = None
    shared: tuple[str, ...] = ()
    batch: bool = True
    streaming: Streaming | None = None
    compile: bool = True
    export: bool = True
    silence: tuple[str, ...] = ()
    extreme: tuple[str, ...] = ()
    max_log_scale: float = 6.0
    float32: bool = True
    float32_tol: float = 1e-4
    float64_output: bool | tuple[int, ...] = False

    def __str__(self) -> str:
        return self.name

    def run(self, kwargs: dict):
        """Call the op and return the tensor (or tuple of tensors) the suites compare."""
        result = (self.call or self.op)(**kwargs)
        return self.output(result) if self.output is not None else result


# Public functions that are deliberately not registered: ``"module.name"`` (module relative to
# ``torchddsp.functional``, where the function is defined) -> why.
EXCLUDED = {
    "core.framing.cola_constant": "returns a Python float from a window and a hop: a COLA check, not a tensor op",
    "core.constant_cache.constant_cache": "a decorator for building constant tensors, not an op",
    "core.convolution.next_fast_len": "an integer FFT size from an integer; no tensor",
    "spectral.stft.padding_for": "a pad-mode name from two integers; no tensor",
    "core.upsample.interpolation_weights": "constant interpolation weights from an integer hop; no tensor input",
    "core.noise.white_noise": "draws noise from a shape and a seed; no tensor input, no gradient",
    "core.noise.white_noise_like": "draws noise shaped like its input; no gradient",
    "core.noise.indexed_noise": "draws counter-based noise from a shape, a seed and a start; no gradient",
    "filters.fir.window_design.design_window": "builds a constant window from a name and an integer size; no tensor input",
    "spectral.mel.mel_filterbank": "builds a constant matrix from integers and frequencies; no tensor input",
    "spectral.mel.mel_filterbank_pinv": "pseudo-inverse of the constant mel matrix; no tensor input",
    "core.windows.get_window": "builds a constant window from a name and an integer size; no tensor input",
    "core.resample.resample": "scipy's resample_poly on the CPU for data preparation: refuses inputs that require grad",
    "core.resample.resampling_ratio": "a pair of integers from two rates; no tensor input",
    "spectral.stft.check_eps": "an argument check returning a float",
}


# ----------------------------------------------------------------------------------- input helpers

def normal(g, *shape, scale=1.0):
    return scale * torch.randn(shape, generator=g, dtype=torch.float64)


def uniform(g, low, high, *shape):
    return low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float64)


def _seed(g) -> int:
    return int(torch.randint(0, 2 ** 31 - 1, (1,), generator=g))


def stable_ba(g, batch, order, *extra):
    """A batch of random stable ``(b, a)`` (``a[..., 0] = 1``), shape ``(batch, *extra, order + 1)``."""
    b, a = random_stable_filter(order, _seed(g), shape=(batch, *extra))
    return torch.from_numpy(b), torch.from_numpy(a)


def stable_sos(g, batch, sections, *extra):
    return torch.from_numpy(random_stable_filter(2 * sections, _seed(g), shape=(batch, *extra), output="sos"))


def autocorrelation_of_noise(g, batch, lags, length=16):
    x = normal(g, batch, length)
    return torch.stack([(x[:, :length - k] * x[:, k:]).sum(-1) / length for k in range(lags + 1)], dim=-1)


def contraction(g, batch, n, radius=0.8):
    w = normal(g, batch, n, n)
    return radius * w / torch.linalg.matrix_norm(w, ord=2)[:, None, None]


def zeros_like_batch(*shape):
    """``initial`` for a state of zeros ``(batch, *shape)``, the batch read from the first tensor."""
    def initial(kwargs):
        tensor = next(v for v in kwargs.values() if isinstance(v, torch.Tensor))
        return torch.zeros((tensor.shape[0], *shape), dtype=torch.float64)
    return initial


def _second(result):
    return result[1]


# ---------------------------------------------------------------------------------------- the cases

def _harmonic_bank(batch, g, hop=HOP, frames=FRAMES):
    return dict(harmonic_amplitudes=uniform(g, 0.0, 1.0, batch, frames, 4),
                f0=uniform(g, 50.0, 1500.0, batch, frames, 1), sample_rate=SR, hop_size=hop)


def _harmonic_oscillator(batch, g, hop=HOP, frames=FRAMES):
    return dict(amplitude=uniform(g, 0.0, 1.0, batch, frames, 1),
                harmonic_distribution=uniform(g, 0.0, 1.0, batch, frames, 4),
                f0=uniform(g, 50.0, 1500.0, batch, frames, 1), sample_rate=SR, hop_size=hop)


def _sawtooth_square(batch, g, hop=HOP, frames=FRAMES):
    return dict(f0=uniform(g, 50.0, 1500.0, batch, frames, 1), morph=uniform(g, 0.0, 1.0, batch, frames, 1),
                sample_rate=SR, hop_size=hop, n_harmonics=5)


def _oscillator_bank(batch, g, hop=HOP, frames=FRAMES):
    return dict(amplitudes=uniform(g, 0.0, 1.0, batch, frames, 2),
                frequencies=uniform(g, 50.0, 3500.0, batch, frames, 2), sample_rate=SR, hop_size=hop)


def _stream_osc(builder, fields, state_shape):
    """Oscillators stream at ``hop_size = 1``: one-shot linear upsampling of frame-rate controls
    reads the next frame, which a block does not have (processors add a frame of latency)."""
    return Streaming("state", zeros_like_batch(*state_shape), {name: (-2, 1) for name in fields},
                     build=lambda batch, g: builder(batch, g, hop=1, frames=TIME))


def _lpc_coefficients(g, batch, order, *extra):
    return stable_ba(g, batch, order, *extra)[1][..., 1:]


CASES: list[OpCase] = [
    # ---- scalings (elementwise)
    OpCase("amplitude_to_db", F.amplitude_to_db, lambda b, g: dict(amplitude=uniform(g, 0.01, 2.0, b, 5)),
           ("amplitude",), silence=("amplitude",), extreme=("amplitude",)),
    OpCase("db_to_amplitude", F.db_to_amplitude, lambda b, g: dict(db=uniform(g, -60.0, 12.0, b, 5)),
           ("db",), extreme=("db",), max_log_scale=1.5),            # 10 ** (db / 20) overflows float32 past ~770 dB
    OpCase("exp_sigmoid", F.exp_sigmoid, lambda b, g: dict(x=normal(g, b, 5)), ("x",), extreme=("x",)),
    OpCase("hz_to_midi", F.hz_to_midi, lambda b, g: dict(frequency=uniform(g, 20.0, 4000.0, b, 5)),
           ("frequency",), silence=("frequency",), extreme=("frequency",)),
    OpCase("midi_to_hz", F.midi_to_hz, lambda b, g: dict(notes=uniform(g, 0.0, 127.0, b, 5)),
           ("notes",), extreme=("notes",), max_log_scale=1.0),      # 2 ** ((n - 69) / 12) overflows float32 past ~1600
    OpCase("unit_to_hz", F.unit_to_hz, lambda b, g: dict(x=uniform(g, 0.0, 1.0, b, 5)), ("x",),
           silence=("x",)),
    OpCase("normalize_distribution", F.normalize_distribution, lambda b, g: dict(weights=uniform(g, 0.1, 1.0, b, 5)),
           ("weights",), silence=("weights",), extreme=("weights",)),
    OpCase("hz_to_mel", mel.hz_to_mel, lambda b, g: dict(frequency=uniform(g, 0.0, 4000.0, b, 5)),
           ("frequency",), silence=("frequency",), extreme=("frequency",)),
    OpCase("hz_to_mel[htk]", mel.hz_to_mel, lambda b, g: dict(frequency=uniform(g, 0.0, 4000.0, b, 5), mel_scale="htk"),
           ("frequency",), silence=("frequency",), extreme=("frequency",)),
    OpCase("mel_to_hz", mel.mel_to_hz, lambda b, g: dict(mel=uniform(g, 0.0, 40.0, b, 5)), ("mel",),
           silence=("mel",), extreme=("mel",), max_log_scale=1.0),   # exponential in mel above 1 kHz
    # ---- phase and oscillators
    OpCase("accumulate_phase", F.accumulate_phase,
           lambda b, g: dict(frequency=uniform(g, -3000.0, 3000.0, b, TIME), sample_rate=SR,
                             state=uniform(g, 0.0, 6.0, b)),
           ("frequency", "state"), silence=("frequency",), extreme=("frequency", "state"), float64_output=(1,),
           streaming=Streaming("state", zeros_like_batch(), {"frequency": (-1, 1)})),
    OpCase("advance_phase", F.advance_phase,
           lambda b, g: dict(phase=uniform(g, 0.0, 6.0, b), frequency=uniform(g, -3000.0, 3000.0, b, TIME),
                             sample_rate=SR),
           ("phase", "frequency"), silence=("frequency",), extreme=("phase", "frequency"), float64_output=True,
           streaming=Streaming("phase", zeros_like_batch(), {"frequency": (-1, 1)},
                               split=lambda out, state: (out.new_zeros(*out.shape, 0), out))),
    OpCase("harmonic_bank", F.harmonic_bank, _harmonic_bank, ("harmonic_amplitudes", "f0"),
           silence=("harmonic_amplitudes",), extreme=("harmonic_amplitudes", "f0"),
           streaming=_stream_osc(_harmonic_bank, ("harmonic_amplitudes", "f0"), ())),
    OpCase("harmonic_bank[hann]", F.harmonic_bank, lambda b, g: dict(_harmonic_bank(b, g), upsampling="hann"),
           ("harmonic_amplitudes", "f0"), silence=("harmonic_amplitudes",), extreme=("harmonic_amplitudes", "f0")),
    OpCase("harmonic_oscillator", F.harmonic_oscillator, _harmonic_oscillator,
           ("amplitude", "harmonic_distribution", "f0"), silence=("amplitude",),
           extreme=("amplitude", "harmonic_distribution", "f0"),
           streaming=_stream_osc(_harmonic_oscillator, ("amplitude", "harmonic_distribution", "f0"), ())),
    OpCase("sawtooth_square", F.sawtooth_square, _sawtooth_square, ("f0", "morph"),
           extreme=("f0", "morph"), streaming=_stream_osc(_sawtooth_square, ("f0", "morph"), ())),
    OpCase("oscillator_bank", F.oscillator_bank, _oscillator_bank, ("amplitudes", "frequencies"),
           silence=("amplitudes",), extreme=("amplitudes", "frequencies"),
           streaming=_stream_osc(_oscillator_bank, ("amplitudes", "frequencies"), (2,))),
    OpCase("damped_sinusoid_bank", F.damped_sinusoid_bank,
           lambda b, g: dict(z=torch.polar(uniform(g, 0.3, 0.95, b, 3), uniform(g, 0.0, 3.0, b, 3)), n_samples=10),
           ("z",), silence=("z",)),
    # ---- core signal utilities
    OpCase("upsample", F.upsample, lambda b, g: dict(controls=normal(g, b, FRAMES, 2), hop_size=HOP),
           ("controls",), silence=("controls",), extreme=("controls",)),
    OpCase("upsample[hann]", F.upsample,
           lambda b, g: dict(controls=normal(g, b, FRAMES, 2), hop_size=HOP, method="hann"),
           ("controls",), silence=("controls",), extreme=("controls",)),
    OpCase("frame", F.frame, lambda b, g: dict(x=normal(g, b, TIME), frame_length=4, hop_length=2), ("x",),
           silence=("x",), extreme=("x",)),
    OpCase("overlap_add", F.overlap_add, lambda b, g: dict(frames=normal(g, b, FRAMES, 4), hop_length=2),
           ("frames",), silence=("frames",), extreme=("frames",)),
    OpCase("stft", S.stft, lambda b, g: dict(input=normal(g, b, 32), n_fft=8, hop_length=2), ("input",),
           output=torch.view_as_real, silence=("input",), extreme=("input",)),
    OpCase("stft[constant, hamming]", S.stft,
           lambda b, g: dict(input=normal(g, b, 32), n_fft=8, hop_length=4, window="hamming", pad_mode="constant"),
           ("input",), output=torch.view_as_real, silence=("input",), extreme=("input",)),
    OpCase("istft", S.istft, lambda b, g: dict(x=normal(g, b, 32)), ("x",),
           call=lambda x: S.istft(S.stft(x, 8, 2), 8, 2, length=32), silence=("x",), extreme=("x",)),
    OpCase("stft_magnitude", S.stft_magnitude, lambda b, g: dict(input=normal(g, b, 32), n_fft=8, hop_length=2),
           ("input",), silence=("input",), extreme=("input",)),
    OpCase("power_spectrum", S.power_spectrum, lambda b, g: dict(re=normal(g, b, 5), im=normal(g, b, 5)),
           ("re", "im"), call=lambda re, im: S.power_spectrum(torch.complex(re, im)), silence=("re", "im"),
           extreme=("re", "im")),
    OpCase("fft_convolve", F.fft_convolve, lambda b, g: dict(signal=normal(g, b, 10), kernel=normal(g, b, 4)),
           ("signal", "kernel"), silence=("signal",), extreme=("signal", "kernel")),
    OpCase("fft_convolve[same]", F.fft_convolve,
           lambda b, g: dict(signal=normal(g, b, 10), kernel=normal(g, b, 4), mode="same"),
           ("signal", "kernel"), silence=("signal",), extreme=("signal", "kernel")),
    OpCase("convolution_reverb", F.convolution_reverb,
           lambda b, g: dict(audio=normal(g, b, TIME), impulse_response=normal(g, b, 5, scale=0.5)),
           ("audio", "impulse_response"), silence=("audio",), extreme=("audio", "impulse_response"),
           streaming=Streaming("state", zeros_like_batch(4), {"audio": (-1, 1)})),
    OpCase("exponential_decay_ir", F.exponential_decay_ir,
           lambda b, g: dict(length=10, sample_rate=SR, decay_time=uniform(g, 0.0005, 0.002, b),
                             gain=uniform(g, 0.5, 1.5, b), seed=3),
           ("decay_time", "gain"), silence=("gain",),
           batch=False,    # the seeded noise is drawn for the whole shape: item i of a batch != the item alone
           float32=False,  # the seeded noise differs between float32 and float64 (max abs diff 0.74)
           compile=False, export=False),  # draws noise with a torch.Generator, which tracing cannot create
    # ---- FIR
    OpCase("window_design_ir", F.window_design_ir, lambda b, g: dict(magnitudes=normal(g, b, FRAMES, 5)),
           ("magnitudes",), silence=("magnitudes",), extreme=("magnitudes",)),
    OpCase("window_design_response", fir.window_design_response,
           lambda b, g: dict(magnitudes=normal(g, b, FRAMES, 5), n_fft=16), ("magnitudes",),
           silence=("magnitudes",), extreme=("magnitudes",)),
    OpCase("frequency_filter", F.frequency_filter,
           lambda b, g: dict(signal=normal(g, b, TIME), magnitudes=uniform(g, 0.0, 1.0, b, FRAMES, 5), hop_size=HOP),
           ("signal", "magnitudes"), silence=("signal", "magnitudes"), extreme=("signal", "magnitudes")),
    OpCase("frequency_filter[causal]", F.frequency_filter,
           lambda b, g: dict(signal=normal(g, b, TIME), magnitudes=uniform(g, 0.0, 1.0, b, FRAMES, 5), hop_size=HOP,
                             compensate_delay=False),
           ("signal", "magnitudes"), silence=("signal",),
           streaming=Streaming("state", zeros_like_batch(7), {"signal": (-1, HOP), "magnitudes": (-2, 1)})),
    OpCase("time_varying_fir", F.time_varying_fir,
           lambda b, g: dict(signal=normal(g, b, TIME), impulse_responses=normal(g, b, FRAMES, 5), hop_size=HOP),
           ("signal", "impulse_responses"), silence=("signal",), extreme=("signal", "impulse_responses"),
           streaming=Streaming("state", zeros_like_batch(4), {"signal": (-1, HOP), "impulse_responses": (-2, 1)})),
    OpCase("complex_cepstrum_ir", F.complex_cepstrum_ir,
           lambda b, g: dict(cepstrum=normal(g, b, FRAMES, 5, scale=0.3), n_fft=8), ("cepstrum",),
           silence=("cepstrum",)),
    OpCase("sinc_lowpass_ir", fir.sinc_lowpass_ir,
           lambda b, g: dict(cutoff=uniform(g, 200.0, 3800.0, b, FRAMES, 1), sample_rate=SR, taps=7), ("cutoff",),
           silence=("cutoff",), extreme=("cutoff",)),
    OpCase("sinc_highpass_ir", fir.sinc_highpass_ir,
           lambda b, g: dict(cutoff=uniform(g, 200.0, 3800.0, b, FRAMES, 1), sample_rate=SR, taps=7), ("cutoff",),
           silence=("cutoff",), extreme=("cutoff",)),
    OpCase("sinc_lowpass", F.sinc_lowpass,
           lambda b, g: dict(signal=normal(g, b, TIME), cutoff=uniform(g, 200.0, 3800.0, b, FRAMES, 1),
                             sample_rate=SR, hop_size=HOP, taps=7),
           ("signal", "cutoff"), silence=("signal",), extreme=("signal", "cutoff")),
    OpCase("sinc_highpass", F.sinc_highpass,
           lambda b, g: dict(signal=normal(g, b, TIME), cutoff=uniform(g, 200.0, 3800.0, b, FRAMES, 1),
                             sample_rate=SR, hop_size=HOP, taps=7, normalize=True),
           ("signal", "cutoff"), silence=("signal",), extreme=("signal", "cutoff")),
    # ---- IIR: parameterisations
    OpCase("first_order_activation", iir.first_order_activation, lambda b, g: dict(a1_logit=normal(g, b, 3)),
           ("a1_logit",), extreme=("a1_logit",)),
    OpCase("triangle_activation", iir.triangle_activation,
           lambda b, g: dict(a1_logit=normal(g, b, 3), a2_logit=normal(g, b, 3)), ("a1_logit", "a2_logit"),
           extreme=("a1_logit", "a2_logit")),
    OpCase("pole_activation", iir.pole_activation, lambda b, g: dict(real=normal(g, b, 3), imag=normal(g, b, 3)),
           ("real", "imag"), extreme=("real", "imag")),
    OpCase("first_order_direct", iir.first_order_direct,
           lambda b, g: dict(b=normal(g, b, 2), a_logits=normal(g, b, 1)), ("b", "a_logits"),
           extreme=("b", "a_logits")),
    OpCase("second_order_direct", iir.second_order_direct,
           lambda b, g: dict(b=normal(g, b, 3), a_logits=normal(g, b, 2)), ("b", "a_logits"),
           extreme=("b", "a_logits")),
    OpCase("conjugate_pole_zero", iir.conjugate_pole_zero,
           lambda b, g: dict(gain=normal(g, b), zero=normal(g, b, 2), pole=normal(g, b, 2)),
           ("gain", "zero", "pole"), extreme=("gain", "zero", "pole")),
    OpCase("conjugate_pole_zero[polar]", iir.conjugate_pole_zero,
           lambda b, g: dict(gain=normal(g, b), zero=normal(g, b, 2), pole=normal(g, b, 2), form="polar",
                             zero_activation="squash"),
           ("gain", "zero", "pole"), extreme=("gain", "zero", "pole")),
    OpCase("break_frequency_from_unconstrained", iir.break_frequency_from_unconstrained,
           lambda b, g: dict(raw=normal(g, b, 3), sample_rate=SR), ("raw",), extreme=("raw",)),
    OpCase("allpass_coefficient_from_break_frequency", iir.allpass_coefficient_from_break_frequency,
           lambda b, g: dict(break_frequency=uniform(g, 50.0, 3900.0, b, 3), sample_rate=SR), ("break_frequency",)),
    OpCase("svf_controls_from_unconstrained", iir.svf_controls_from_unconstrained,
           lambda b, g: dict(cutoff_raw=normal(g, b, 3), damping_raw=normal(g, b, 3), sample_rate=SR),
           ("cutoff_raw", "damping_raw"), extreme=("cutoff_raw", "damping_raw")),
    OpCase("svf_coefficients", iir.svf_coefficients,
           lambda b, g: dict(cutoff=uniform(g, 50.0, 3900.0, b, 3), damping=uniform(g, 0.1, 3.0, b, 3), sample_rate=SR,
                             lowpass_gain=normal(g, b, 3), bandpass_gain=normal(g, b, 3),
                             highpass_gain=normal(g, b, 3)),
           ("cutoff", "damping", "lowpass_gain", "bandpass_gain", "highpass_gain")),
    OpCase("eq_controls_from_logits", iir.eq_controls_from_logits,
           lambda b, g: dict(frequency_logits=normal(g, b, 3), gain_logits=normal(g, b, 3), q_logits=normal(g, b, 3),
                             sample_rate=SR),
           ("frequency_logits", "gain_logits", "q_logits"), extreme=("frequency_logits", "gain_logits", "q_logits")),
    OpCase("biquad_design[peak]", iir.biquad_design,
           lambda b, g: dict(filter_type="peak", frequency=uniform(g, 100.0, 3000.0, b), gain_db=uniform(g, -12, 12, b),
                             q=uniform(g, 0.5, 4.0, b), sample_rate=SR), ("frequency", "gain_db", "q")),
    OpCase("biquad_design[lowpass]", iir.biquad_design,
           lambda b, g: dict(filter_type="lowpass", frequency=uniform(g, 100.0, 3000.0, b), gain_db=None,
                             q=uniform(g, 0.5, 4.0, b), sample_rate=SR), ("frequency", "q")),
    OpCase("parametric_eq", iir.parametric_eq,
           lambda b, g: dict(filter_types=["lowshelf", "peak", "highpass"], frequency=uniform(g, 100.0, 3000.0, b, 3),
                             gain_db=uniform(g, -12.0, 12.0, b, 3), q=uniform(g, 0.5, 4.0, b, 3), sample_rate=SR),
           ("frequency", "gain_db", "q")),
    OpCase("to_sos", iir.to_sos, lambda b, g: dict(zip(("b", "a"), stable_ba(g, b, 2))), ("b", "a"),
           extreme=("b", "a")),
    OpCase("stable_state_matrix", iir.stable_state_matrix,
           lambda b, g: dict(weight=normal(g, b, 3, 3), radius_raw=normal(g, b)), ("weight", "radius_raw"),
           extreme=("weight", "radius_raw")),
    OpCase("state_space_to_tf", iir.state_space_to_tf,
           lambda b, g: dict(A=contraction(g, b, 3), B=normal(g, b, 3), C=normal(g, b, 3), D=normal(g, b)),
           ("A", "B", "C", "D"), extreme=("B", "C", "D")),
    # ---- IIR: frequency responses
    OpCase("freqz", F.freqz, lambda b, g: dict(zip(("b", "a"), stable_ba(g, b, 2)), worN=8), ("b", "a"),
           output=_second, extreme=("b",)),
    OpCase("sosfreqz", F.sosfreqz, lambda b, g: dict(sos=stable_sos(g, b, 2), worN=8), ("sos",), output=_second),
    OpCase("sosfilt_zi", iir.sosfilt_zi, lambda b, g: dict(sos=stable_sos(g, b, 2)), ("sos",)),
    OpCase("frequency_sampled_filter", iir.frequency_sampled_filter,
           lambda b, g: dict(x=normal(g, b, TIME), **dict(zip(("b", "a"), stable_ba(g, b, 2))), n_fft=32),
           ("x", "b", "a"), silence=("x",), extreme=("x",)),
    # ---- IIR: filters
    OpCase("lfilter", F.lfilter,
           lambda b, g: dict(zip(("b", "a"), stable_ba(g, b, 2)), x=normal(g, b, TIME)), ("b", "a", "x"),
           silence=("x",), extreme=("x",),
           streaming=Streaming("zi", zeros_like_batch(2), {"x": (-1, 1)})),
    OpCase("lfilter[time-varying]", F.lfilter,
           lambda b, g: dict(zip(("b", "a"), stable_ba(g, b, 2, FRAMES)), x=normal(g, b, TIME)), ("b", "a", "x"),
           silence=("x",), extreme=("x",),
           streaming=Streaming("zi", zeros_like_batch(4), {"x": (-1, HOP), "b": (-2, 1), "a": (-2, 1)})),
    OpCase("allpole", F.allpole,
           lambda b, g: dict(x=normal(g, b, TIME), a=_lpc_coefficients(g, b, 3)), ("x", "a"),
           silence=("x",), extreme=("x",),
           streaming=Streaming("state", zeros_like_batch(3), {"x": (-1, 1)})),
    OpCase("allpole[time-varying]", F.allpole,
           lambda b, g: dict(x=normal(g, b, TIME), a=_lpc_coefficients(g, b, 2, FRAMES)), ("x", "a"),
           silence=("x",), extreme=("x",),
           streaming=Streaming("state", zeros_like_batch(2), {"x": (-1, HOP), "a": (-2, 1)})),
    OpCase("sosfilt", F.sosfilt, lambda b, g: dict(sos=stable_sos(g, b, 2), x=normal(g, b, TIME)), ("sos", "x"),
           silence=("x",), extreme=("x",),
           streaming=Streaming("zi", zeros_like_batch(2, 2), {"x": (-1, 1)})),
    OpCase("sosfilt[time-varying]", F.sosfilt,
           lambda b, g: dict(sos=stable_sos(g, b, 2, TIME), x=normal(g, b, TIME)), ("sos", "x"),
           silence=("x",), extreme=("x",),
           # An empty block fails: sos (2, 0, 2, 6) with x (2, 0) raises "time-varying sections need 0
           # time steps or a number of frames dividing 0" (sosfilt.py rejects steps == 0 even when time == 0).
           streaming=None),
    OpCase("allpass_cascade", iir.allpass_cascade,
           lambda b, g: dict(x=normal(g, b, TIME), coefficients=uniform(g, -0.9, 0.9, b, 2)), ("x", "coefficients"),
           silence=("x",), extreme=("x",),
           streaming=Streaming("zi", zeros_like_batch(2, 1), {"x": (-1, 1)})),
    OpCase("allpass_cascade[time-varying]", iir.allpass_cascade,
           lambda b, g: dict(x=normal(g, b, TIME), coefficients=uniform(g, -0.9, 0.9, b, FRAMES, 2)),
           ("x", "coefficients"), silence=("x",), extreme=("x",),
           streaming=Streaming("zi", zeros_like_batch(2, 2), {"x": (-1, HOP), "coefficients": (-2, 1)})),
    OpCase("second_order_allpass_cascade", iir.second_order_allpass_cascade,
           lambda b, g: dict(x=normal(g, b, TIME), denominators=stable_ba(g, b, 2, 2)[1][..., 1:]),
           ("x", "denominators"), silence=("x",), extreme=("x",),
           streaming=Streaming("zi", zeros_like_batch(2, 2), {"x": (-1, 1)})),
    OpCase("phaser_exact", effects.phaser_exact,
           lambda b, g: dict(x=normal(g, b, TIME), break_frequency=uniform(g, 100.0, 3000.0, b, 2), sample_rate=SR),
           ("x", "break_frequency"), silence=("x",), extreme=("x",),
           streaming=Streaming("zi", zeros_like_batch(2, 1), {"x": (-1, 1)})),
    OpCase("phaser_exact[feedback]", effects.phaser_exact,
           lambda b, g: dict(x=normal(g, b, TIME), break_frequency=uniform(g, 100.0, 3000.0, b, 2), sample_rate=SR,
                             feedback=uniform(g, -0.7, 0.7, b)),
           ("x", "break_frequency", "feedback"), silence=("x",), extreme=("x",),
           streaming=Streaming("zi", zeros_like_batch(2), {"x": (-1, 1)})),
    OpCase("phaser", effects.phaser,
           lambda b, g: dict(x=normal(g, b, TIME),
                             break_frequency=uniform(g, 100.0, 3000.0, b, phaser_num_frames(TIME, 8, 4), 2),
                             sample_rate=SR, frame_length=8),
           ("x", "break_frequency"), silence=("x",), extreme=("x",)),
    OpCase("state_variable_filter", iir.state_variable_filter,
           lambda b, g: dict(x=normal(g, b, TIME), cutoff=uniform(g, 100.0, 3000.0, b), damping=uniform(g, 0.2, 2.0, b),
                             sample_rate=SR),
           ("x", "cutoff", "damping"), silence=("x",), extreme=("x",),
           streaming=Streaming("state", zeros_like_batch(2), {"x": (-1, 1)})),
    OpCase("state_variable_filter[time-varying]", iir.state_variable_filter,
           lambda b, g: dict(x=normal(g, b, TIME), cutoff=uniform(g, 100.0, 3000.0, b, FRAMES),
                             damping=uniform(g, 0.2, 2.0, b, FRAMES), sample_rate=SR,
                             bandpass_gain=normal(g, b, FRAMES)),
           ("x", "cutoff", "damping", "bandpass_gain"), silence=("x",), extreme=("x", "bandpass_gain"),
           streaming=Streaming("state", zeros_like_batch(2),
                               {"x": (-1, HOP), "cutoff": (-1, 1), "damping": (-1, 1), "bandpass_gain": (-1, 1)})),
    OpCase("state_space_filter", iir.state_space_filter,
           lambda b, g: dict(A=contraction(g, b, 3), B=normal(g, b, 3), C=normal(g, b, 3), D=normal(g, b),
                             u=normal(g, b, TIME)),
           ("A", "B", "C", "D", "u"), silence=("u",), extreme=("u",),
           streaming=Streaming("state", zeros_like_batch(3), {"u": (-1, 1)})),
    OpCase("state_space_filter[block]", iir.state_space_filter,
           lambda b, g: dict(A=contraction(g, b, 3), B=normal(g, b, 3), C=normal(g, b, 3), D=normal(g, b),
                             u=normal(g, b, TIME), method="block"),
           ("A", "B", "C", "D", "u"), silence=("u",), extreme=("u",),
           streaming=Streaming("state", zeros_like_batch(3), {"u": (-1, 1)})),
    # ---- LPC
    OpCase("autocorrelation", L.autocorrelation, lambda b, g: dict(x=normal(g, b, 10), max_lag=3), ("x",),
           silence=("x",), extreme=("x",), max_log_scale=4.0),     # squares: 1e8 ** 2 is near float32's range
    OpCase("autocorrelation[direct]", L.autocorrelation,
           lambda b, g: dict(x=normal(g, b, 10), max_lag=3, method="direct"), ("x",),
           silence=("x",), extreme=("x",), max_log_scale=4.0),
    OpCase("levinson_durbin", F.levinson_durbin, lambda b, g: dict(r=autocorrelation_of_noise(g, b, 3)), ("r",),
           silence=("r",), extreme=("r",)),
    OpCase("lpc", F.lpc, lambda b, g: dict(x=normal(g, b, 10), order=3), ("x",), silence=("x",),
           extreme=("x",), max_log_scale=4.0),
    OpCase("lpc_from_mel", L.lpc_from_mel,
           lambda b, g: dict(mel=normal(g, b, FRAMES, 6), order=3, sample_rate=SR, n_fft=32), ("mel",),
           extreme=("mel",), max_log_scale=1.0),     # mel is a natural log: exp(1e2) overflows
    OpCase("reflection_from_logits", L.reflection_from_logits, lambda b, g: dict(logits=normal(g, b, 3)),
           ("logits",), extreme=("logits",)),
    OpCase("reflection_to_lpc", L.reflection_to_lpc, lambda b, g: dict(k=uniform(g, -0.9, 0.9, b, 3)), ("k",),
           silence=("k",), extreme=("k",), max_log_scale=4.0),
    OpCase("lpc_to_reflection", L.lpc_to_reflection, lambda b, g: dict(a=_lpc_coefficients(g, b, 3)), ("a",),
           silence=("a",)),
    OpCase("is_stable", L.is_stable, lambda b, g: dict(a=normal(g, b, 3)), (), silence=("a",), extreme=("a",)),
    # Not claimed on silence: at a = 0 (four repeated roots at z = 0) backward raises LinAlgError
    # "torch.linalg.solve: ... the input matrix is singular" (documented: no gradient at repeated roots).
    OpCase("lpc_to_sos", L.lpc_to_sos, lambda b, g: dict(a=_lpc_coefficients(g, b, 4)), ("a",)),
    OpCase("sos_to_lpc", L.sos_to_lpc,
           lambda b, g: dict(denominators=stable_ba(g, b, 2, 2)[1]), ("denominators",),
           # gradcheck perturbs whole tensors: feed the op all-pole sections [a0, 0, 0, a0, a1, a2] built
           # from differentiable denominators (a perturbed zero numerator is rejected, rightly).
           call=lambda denominators: L.sos_to_lpc(torch.cat(
               [denominators[..., :1], torch.zeros_like(denominators[..., :2]), denominators], -1))),
    OpCase("lpc_synthesis", F.lpc_synthesis,
           lambda b, g: dict(excitation=normal(g, b, TIME), coefficients=_lpc_coefficients(g, b, 3)),
           ("excitation", "coefficients"), silence=("excitation",), extreme=("excitation",),
           streaming=Streaming("state", zeros_like_batch(3), {"excitation": (-1, 1)})),
    OpCase("lpc_synthesis[reflection]", F.lpc_synthesis,
           lambda b, g: dict(excitation=normal(g, b, TIME), coefficients=uniform(g, -0.9, 0.9, b, FRAMES, 3),
                             kind="reflection"),
           ("excitation", "coefficients"), silence=("excitation",), extreme=("excitation",),
           streaming=Streaming("state", zeros_like_batch(3),
                               {"excitation": (-1, HOP), "coefficients": (-2, 1)})),
    OpCase("lpc_inverse_filter", L.lpc_inverse_filter,
           lambda b, g: dict(signal=normal(g, b, TIME), coefficients=_lpc_coefficients(g, b, 3)),
           ("signal", "coefficients"), silence=("signal",), extreme=("signal", "coefficients"),
           streaming=Streaming("state", zeros_like_batch(3), {"signal": (-1, 1)})),
    OpCase("framewise_lpc_synthesis", L.framewise_lpc_synthesis,
           lambda b, g: dict(excitation=normal(g, b, TIME), coefficients=_lpc_coefficients(g, b, 2, FRAMES)),
           ("excitation", "coefficients"), silence=("excitation",), extreme=("excitation",)),
]
