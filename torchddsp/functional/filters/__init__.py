"""Filters, by technique: ``iir`` (recursive, exact gradients), ``fir`` (window design, sinc,
cepstrum, time-varying) and ``lpc`` (linear prediction and source-filter synthesis)."""

from torchddsp.functional.filters import fir, iir, lpc

__all__ = ["fir", "iir", "lpc"]
