"""Oscillators: the harmonic bank (review Eq. 9), free sinusoids (Eq. 8), band-limited
sawtooth/square, and the damped complex-sinusoid surrogate (Eq. 12)."""

from torchddsp.functional.oscillators.band_limited import sawtooth_square
from torchddsp.functional.oscillators.damped_sinusoid import damped_sinusoid_bank
from torchddsp.functional.oscillators.harmonic import harmonic_bank, harmonic_oscillator
from torchddsp.functional.oscillators.sinusoidal import oscillator_bank

__all__ = ["damped_sinusoid_bank", "harmonic_bank", "harmonic_oscillator", "oscillator_bank", "sawtooth_square"]
