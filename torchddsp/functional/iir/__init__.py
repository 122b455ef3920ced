"""Recursive (IIR) filters: exact, differentiable, with ``scipy.signal`` names and semantics."""

from .allpole import allpole
from .lfilter import lfilter

__all__ = ["allpole", "lfilter"]
