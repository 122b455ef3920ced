"""Processors: ``Processor`` modules that map unconstrained inputs to valid controls
(``get_controls``), render audio (``render``, block by block with ``state``) and declare their
controls (``controls()``); see ``processors.base`` for the contract."""

from .base import Control, Processor
from .filtered_noise import FilteredNoise
from .harmonic import Harmonic
from .harmonic_plus_noise import HarmonicPlusNoise
from .lpc_synthesis_filter import LPCSynthesisFilter
from .parametric_eq import ParametricEQ
from .reverb import Reverb
from .sinusoidal import Sinusoidal
from .time_varying_biquads import TimeVaryingBiquads

__all__ = ["Control", "FilteredNoise", "Harmonic", "HarmonicPlusNoise", "LPCSynthesisFilter", "ParametricEQ",
           "Processor", "Reverb", "Sinusoidal", "TimeVaryingBiquads"]
