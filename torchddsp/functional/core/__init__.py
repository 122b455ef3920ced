"""Core signal utilities shared by every family of ops (windows, resampling, ...)."""

from .resample import resample
from .windows import WINDOWS, get_window

__all__ = ["WINDOWS", "get_window", "resample"]
