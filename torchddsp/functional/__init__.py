"""Pure differentiable DSP ops: tensors in, tensors out, leading dimensions broadcast.

Grouped by what they make (``docs/architecture.md``): ``controls`` (scalings), ``core`` (framing,
upsampling, phase, convolution, noise, windows, resampling), ``spectral`` (STFT, mel),
``oscillators``, ``filters`` (``iir``, ``fir``, ``lpc``) and ``effects`` (reverb, phaser). The
most used names are re-exported here.
"""

from torchddsp.functional import controls, core, effects, filters, oscillators, spectral
from torchddsp.functional.controls import (
                                           amplitude_to_db,
                                           db_to_amplitude,
                                           exp_sigmoid,
                                           hz_to_midi,
                                           midi_to_hz,
                                           normalize_distribution,
                                           unit_to_hz,
)
from torchddsp.functional.core import (
                                           accumulate_phase,
                                           advance_phase,
                                           cola_constant,
                                           fft_convolve,
                                           frame,
                                           get_window,
                                           indexed_noise,
                                           overlap_add,
                                           resample,
                                           upsample,
                                           white_noise,
)
from torchddsp.functional.effects import convolution_reverb, exponential_decay_ir
from torchddsp.functional.filters.fir import (
                                           complex_cepstrum_ir,
                                           frequency_filter,
                                           sinc_highpass,
                                           sinc_lowpass,
                                           time_varying_fir,
                                           window_design_ir,
)
from torchddsp.functional.filters.iir import allpole, freqz, lfilter, sosfilt, sosfreqz
from torchddsp.functional.filters.lpc import levinson_durbin, lpc, lpc_synthesis
from torchddsp.functional.oscillators import (
                                           damped_sinusoid_bank,
                                           harmonic_bank,
                                           harmonic_oscillator,
                                           oscillator_bank,
                                           sawtooth_square,
)
from torchddsp.functional.spectral import istft, mel_filterbank, stft, stft_magnitude

__all__ = [
    "accumulate_phase", "advance_phase", "allpole", "amplitude_to_db", "cola_constant", "complex_cepstrum_ir",
    "controls", "convolution_reverb", "core", "damped_sinusoid_bank", "db_to_amplitude", "effects", "exp_sigmoid",
    "exponential_decay_ir", "fft_convolve", "filters", "frame", "frequency_filter", "freqz", "get_window",
    "harmonic_bank", "harmonic_oscillator", "hz_to_midi", "indexed_noise", "istft", "levinson_durbin", "lfilter",
    "lpc", "lpc_synthesis", "mel_filterbank", "midi_to_hz", "normalize_distribution", "oscillator_bank",
    "oscillators", "overlap_add", "resample", "sawtooth_square", "sinc_highpass", "sinc_lowpass", "sosfilt",
    "sosfreqz", "spectral", "stft", "stft_magnitude", "time_varying_fir", "unit_to_hz", "upsample", "white_noise",
    "window_design_ir",
]
