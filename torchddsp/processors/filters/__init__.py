"""Filters that process a signal: IIR (EQ, biquads, SVF, state space, all-pass), FIR (sinc, cepstrum,
window design, time-varying) and LPC synthesis."""

from torchddsp.processors.filters.allpass_cascade import AllpassCascade
from torchddsp.processors.filters.complex_cepstrum_filter import ComplexCepstrumFilter
from torchddsp.processors.filters.frequency_filter import FrequencyFilter
from torchddsp.processors.filters.lpc_synthesis_filter import LPCSynthesisFilter
from torchddsp.processors.filters.parametric_eq import ParametricEQ
from torchddsp.processors.filters.second_order_allpass_cascade import SecondOrderAllpassCascade
from torchddsp.processors.filters.sinc_filter import SincFilter
from torchddsp.processors.filters.state_space_filter import StateSpaceFilter
from torchddsp.processors.filters.state_variable_filter import StateVariableFilter
from torchddsp.processors.filters.time_varying_biquads import TimeVaryingBiquads
from torchddsp.processors.filters.time_varying_fir import TimeVaryingFIR

__all__ = [
    "AllpassCascade",
    "ComplexCepstrumFilter",
    "FrequencyFilter",
    "LPCSynthesisFilter",
    "ParametricEQ",
    "SecondOrderAllpassCascade",
    "SincFilter",
    "StateSpaceFilter",
    "StateVariableFilter",
    "TimeVaryingBiquads",
    "TimeVaryingFIR",
]
