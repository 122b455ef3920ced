"""Synthesisers built from sources and filters: filtered noise and the harmonic-plus-noise synth of Engel et al."""

from torchddsp.processors.synths.filtered_noise import FilteredNoise
from torchddsp.processors.synths.harmonic_plus_noise import HarmonicPlusNoise

__all__ = ["FilteredNoise", "HarmonicPlusNoise"]
