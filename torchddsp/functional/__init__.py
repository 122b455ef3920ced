"""Pure, stateless differentiable DSP ops: tensors in, tensors out.

Submodules hold one concept each (``harmonic``, ``phase``, ``fir``, ``iir``, ...); the most used
names are re-exported here.
"""

from .band_limited import sawtooth_square
from .convolution import fft_convolve
from .damped_sinusoid import damped_sinusoid_bank
from .fir import (complex_cepstrum_ir, frequency_filter, sinc_highpass, sinc_lowpass, time_varying_fir,
                  window_design_ir)
from .framing import cola_constant, frame, overlap_add
from .harmonic import harmonic_bank, harmonic_oscillator
from .iir import allpole, freqz, lfilter, sosfilt, sosfreqz
from .lpc import levinson_durbin, lpc, lpc_synthesis
from .noise import indexed_noise, white_noise
from .phase import accumulate_phase, advance_phase
from .reverb import convolution_reverb, exponential_decay_ir
from .scaling import (amplitude_to_db, db_to_amplitude, exp_sigmoid, hz_to_midi, midi_to_hz, normalize_distribution,
                      unit_to_hz)
from .sinusoidal import oscillator_bank
from .spectral import istft, mel_filterbank, stft, stft_magnitude
from .core import get_window, resample
from .upsample import upsample

__all__ = [
    "accumulate_phase", "advance_phase", "allpole", "amplitude_to_db", "cola_constant", "complex_cepstrum_ir", "convolution_reverb",
    "damped_sinusoid_bank", "db_to_amplitude", "exp_sigmoid", "exponential_decay_ir", "fft_convolve", "frame",
    "frequency_filter", "freqz", "get_window", "harmonic_bank", "harmonic_oscillator", "hz_to_midi", "indexed_noise",
    "istft", "levinson_durbin", "lfilter", "lpc", "mel_filterbank", "resample", "stft", "stft_magnitude",
    "lpc_synthesis", "midi_to_hz",
    "normalize_distribution", "oscillator_bank", "overlap_add", "sawtooth_square", "sinc_highpass", "sinc_lowpass", "sosfilt", "sosfreqz",
    "time_varying_fir", "unit_to_hz", "upsample", "white_noise", "window_design_ir",
]
