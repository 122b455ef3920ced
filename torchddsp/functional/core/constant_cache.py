"""A cache for constant tensors (filterbanks, response matrices) built from Python arguments.

``functools.lru_cache`` alone is unsafe under ``torch.compile`` and ``torch.export``: a tensor
built while they trace is a fake tensor, and once cached it would be returned to later eager
calls (wrong values, or an error). :func:`constant_cache` caches in eager mode and builds afresh
while tracing (the traced graph then holds the tensor as a constant, computed once).
"""

from __future__ import annotations

import functools
from typing import Callable

import torch

__all__ = ["constant_cache"]


def constant_cache(maxsize: int) -> Callable:
    """Decorator: ``functools.lru_cache(maxsize)`` of a function of hashable arguments returning
    tensors, bypassed while ``torch.compile`` or ``torch.export`` trace."""
    def decorate(build: Callable) -> Callable:
        cached = functools.lru_cache(maxsize=maxsize)(build)

        @functools.wraps(build)
        def call(*args):
            return build(*args) if torch.compiler.is_compiling() else cached(*args)

        call.cache_clear = cached.cache_clear
        return call
    return decorate
