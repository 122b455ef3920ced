"""Processors: ``Processor`` modules that map unconstrained inputs to valid controls
(``get_controls``), render audio (``render``, block by block with ``state``) and declare their
controls (``controls()``); see ``processors.base`` for the contract."""

from torchddsp.processors.base import Control, FrameLookahead, Processor
from torchddsp.processors.effects import Phaser, Reverb
from torchddsp.processors.filters import (
    AllpassCascade,
    ComplexCepstrumFilter,
    FrequencyFilter,
    LPCSynthesisFilter,
    ParametricEQ,
    SecondOrderAllpassCascade,
    SincFilter,
    StateSpaceFilter,
    StateVariableFilter,
    TimeVaryingBiquads,
    TimeVaryingFIR,
)
from torchddsp.processors.oscillators import DampedSinusoidBank, Harmonic, SawtoothSquare, Sinusoidal
from torchddsp.processors.synths import FilteredNoise, HarmonicPlusNoise

__all__ = [
    "AllpassCascade",
    "ComplexCepstrumFilter",
    "Control",
    "DampedSinusoidBank",
    "FilteredNoise",
    "FrameLookahead",
    "FrequencyFilter",
    "Harmonic",
    "HarmonicPlusNoise",
    "LPCSynthesisFilter",
    "ParametricEQ",
    "Phaser",
    "Processor",
    "Reverb",
    "SawtoothSquare",
    "SecondOrderAllpassCascade",
    "SincFilter",
    "Sinusoidal",
    "StateSpaceFilter",
    "StateVariableFilter",
    "TimeVaryingBiquads",
    "TimeVaryingFIR",
]
