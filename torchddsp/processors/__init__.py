"""Processors: ``Processor`` modules that map unconstrained inputs to valid controls
(``get_controls``), render audio (``render``, block by block with ``state``) and declare their
controls (``controls()``); see ``processors.base`` for the contract."""

from .allpass_cascade import AllpassCascade
from .base import Control, Processor
from .complex_cepstrum_filter import ComplexCepstrumFilter
from .damped_sinusoid_bank import DampedSinusoidBank
from .filtered_noise import FilteredNoise
from .frequency_filter import FrequencyFilter
from .harmonic import Harmonic
from .harmonic_plus_noise import HarmonicPlusNoise
from .lpc_synthesis_filter import LPCSynthesisFilter
from .parametric_eq import ParametricEQ
from .phaser import Phaser
from .reverb import Reverb
from .sawtooth_square import SawtoothSquare
from .second_order_allpass_cascade import SecondOrderAllpassCascade
from .sinc_filter import SincFilter
from .sinusoidal import Sinusoidal
from .state_space_filter import StateSpaceFilter
from .state_variable_filter import StateVariableFilter
from .time_varying_biquads import TimeVaryingBiquads
from .time_varying_fir import TimeVaryingFIR

__all__ = ["AllpassCascade", "ComplexCepstrumFilter", "Control", "DampedSinusoidBank", "FilteredNoise",
           "FrequencyFilter", "Harmonic", "HarmonicPlusNoise", "LPCSynthesisFilter", "ParametricEQ", "Phaser",
           "Processor", "Reverb", "SawtoothSquare", "SecondOrderAllpassCascade", "SincFilter", "Sinusoidal",
           "StateSpaceFilter", "StateVariableFilter", "TimeVaryingBiquads", "TimeVaryingFIR"]
