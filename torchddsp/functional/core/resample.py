r"""Sample-rate conversion: the one resampler of the library (data preparation, inference, CREPE).

Polyphase resampling by the rational factor :math:`L/M = f_{new}/f_{orig}` (in lowest terms, the
denominator limited to 1000, so odd rate pairs use the nearest such ratio): upsample by :math:`L`
(zero insertion), filter with a linear-phase low-pass FIR at :math:`\min(1/L, 1/M)` of the upsampled
Nyquist (Kaiser window, :math:`\beta = 5`, :math:`20\max(L, M) + 1` taps), keep every :math:`M`-th
sample, delay-compensated, ``ceil(time * L / M)`` output samples:

.. math:: y[n] = L \sum_k h[k]\, x_{\uparrow L}[nM + c - k]

It is ``scipy.signal.resample_poly(x, L, M, axis=-1)`` (scipy computes it, in float64 on the
CPU). It is not differentiable: an input that requires grad is refused rather than silently
detached.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from torchddsp.checks import check_positive, check_tensor

__all__ = ["resample", "resampling_ratio"]


def resampling_ratio(orig_freq: float, new_freq: float) -> tuple[int, int]:
    """``(up, down)``: :math:`new/orig` in lowest terms, denominator at most 1000 (nearest such ratio)."""
    check_positive("orig_freq", orig_freq)
    check_positive("new_freq", new_freq)
    ratio = (Fraction(new_freq) / Fraction(orig_freq)).limit_denominator(1000)
    if ratio == 0:
        raise ValueError(f"new_freq: expected a rate at least orig_freq / 1000 = {orig_freq / 1000}, "
                         f"received {new_freq!r}")
    return ratio.numerator, ratio.denominator


def resample(x: torch.Tensor | np.ndarray, orig_freq: float, new_freq: float) -> torch.Tensor | np.ndarray:
    """Resample ``x`` ``(..., time)`` from ``orig_freq`` to ``new_freq`` Hz (see the module docstring).

    Args:
        x: real floating tensor ``(..., time)`` on any device that does not require grad, or a
            NumPy array (data preparation works on arrays).
        orig_freq, new_freq: sample rates in Hz, > 0 (only their ratio matters).

    Returns ``(..., ceil(time * up / down))`` of the same kind, dtype and device as ``x`` (``x``
    itself when the ratio is 1).
    """
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating) or x.ndim < 1:
            raise ValueError(f"x: expected a real floating array (..., time), received dtype {x.dtype}, "
                             f"shape {x.shape}")
        data = x
    else:
        check_tensor("x", x, min_dim=1)
        if x.is_complex():
            raise ValueError(f"x: expected a real floating-point tensor, received dtype {x.dtype}")
        if x.requires_grad:
            raise ValueError("x: expected a tensor that does not require grad (resampling is not "
                             "differentiable), received one that does; detach it first")
        data = x.cpu().to(torch.float64).numpy()
    up, down = resampling_ratio(orig_freq, new_freq)
    if up == down:
        return x
    from scipy.signal import resample_poly

    y = resample_poly(data.astype(np.float64, copy=False), up, down, axis=-1)
    if isinstance(x, np.ndarray):
        return y.astype(x.dtype, copy=False)
    return torch.from_numpy(np.ascontiguousarray(y)).to(dtype=x.dtype, device=x.device)
