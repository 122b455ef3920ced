"""Finite impulse response filters: design (window method, windowed sinc, complex cepstrum) and
time-varying (framewise) filtering by overlap-add."""

from torchddsp.functional.filters.fir.cepstrum import complex_cepstrum_ir
from torchddsp.functional.filters.fir.sinc import sinc_highpass, sinc_highpass_ir, sinc_lowpass, sinc_lowpass_ir
from torchddsp.functional.filters.fir.time_varying import time_varying_fir
from torchddsp.functional.filters.fir.window_design import (
    design_window,
    frequency_filter,
    window_design_ir,
    window_design_response,
)

__all__ = [
    "complex_cepstrum_ir",
    "design_window",
    "frequency_filter",
    "sinc_highpass",
    "sinc_highpass_ir",
    "sinc_lowpass",
    "sinc_lowpass_ir",
    "time_varying_fir",
    "window_design_ir",
    "window_design_response",
]
