"""Oscillators: harmonic bank, free sinusoids, band-limited sawtooth/square, damped sinusoids."""

from torchddsp.processors.oscillators.damped_sinusoid_bank import DampedSinusoidBank
from torchddsp.processors.oscillators.harmonic import Harmonic
from torchddsp.processors.oscillators.sawtooth_square import SawtoothSquare
from torchddsp.processors.oscillators.sinusoidal import Sinusoidal

__all__ = ["DampedSinusoidBank", "Harmonic", "SawtoothSquare", "Sinusoidal"]
