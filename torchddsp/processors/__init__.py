"""Processors: ``nn.Module`` wrappers that map unconstrained inputs to valid controls
(``get_controls``) and render audio (``render``); ``forward`` does both."""

from .filtered_noise import FilteredNoise
from .filters import LPCSynthesisFilter, ParametricEQ, TimeVaryingBiquads
from .harmonic import Harmonic
from .harmonic_plus_noise import HarmonicPlusNoise
from .reverb import Reverb
from .sinusoidal import Sinusoidal

__all__ = ["FilteredNoise", "Harmonic", "HarmonicPlusNoise", "LPCSynthesisFilter", "ParametricEQ", "Reverb",
           "Sinusoidal", "TimeVaryingBiquads"]
