"""White noise sources, reproducible from a seed or a ``torch.Generator``.

Two distributions, each drawn independently per sample (so the power spectrum is flat):

- ``"uniform"``: :math:`u[n] \\sim \\mathcal{U}[-1, 1)`, variance :math:`1/3`. This is the
  excitation of the filtered-noise synthesiser of Engel et al., "DDSP: Differentiable Digital
  Signal Processing", ICLR 2020.
- ``"gaussian"``: :math:`u[n] \\sim \\mathcal{N}(0, 1)`, variance :math:`1`.

Reproducibility. With ``seed`` the samples are drawn on the CPU from a fresh generator seeded
with it and then moved to ``device``: the same seed gives the same numbers on every device (for a
given dtype). With ``generator`` the samples are drawn on the generator's device from its current
state (which advances), then moved to ``device``. With neither, the global RNG of ``device`` is
used (fastest on accelerators, not reproducible across devices). Noise carries no gradient.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from torchddsp.checks import check_choice

NOISE_DISTRIBUTIONS = ("uniform", "gaussian")


def _as_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if (not isinstance(shape, (tuple, list))
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise ValueError(f"shape: expected an int or a sequence of ints >= 0, received {shape!r}")
    return tuple(shape)


def white_noise(shape: int | Sequence[int], *, distribution: str = "uniform", seed: int | None = None,
                generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
                device: torch.device | str | None = None) -> torch.Tensor:
    """White noise of the given ``shape`` (e.g. ``(batch, time)``).

    Args:
        shape: output shape, any number of dimensions (sizes >= 0).
        distribution: ``"uniform"`` (in ``[-1, 1)``, variance 1/3) or ``"gaussian"`` (zero mean,
            unit variance).
        seed: integer seed; the same seed gives the same samples on every device.
        generator: a ``torch.Generator`` to draw from (mutually exclusive with ``seed``).
        dtype: a floating dtype (default: ``torch.get_default_dtype()``).
        device: output device (default: the CPU, or the generator's device).

    Returns:
        A tensor of ``shape`` that does not require grad.
    """
    shape = _as_shape(shape)
    check_choice("distribution", distribution, NOISE_DISTRIBUTIONS)
    if seed is not None and generator is not None:
        raise ValueError("seed and generator: expected at most one of them, received both")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not -2 ** 63 <= seed < 2 ** 64):
        raise ValueError(f"seed: expected an integer in [-2**63, 2**64) (a torch.Generator seed), received {seed!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, received {type(generator).__name__}")
    dtype = dtype or torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise ValueError(f"dtype: expected a floating-point dtype, received {dtype}")
    if seed is not None:
        generator = torch.Generator(device="cpu")
        generator.manual_seed(seed)
    draw_device = generator.device if generator is not None else torch.device(device or "cpu")
    out = torch.empty(shape, dtype=dtype, device=draw_device)
    if distribution == "uniform":
        out.uniform_(-1.0, 1.0, generator=generator)
    else:
        out.normal_(0.0, 1.0, generator=generator)
    if device is not None:
        out = out.to(device)
    return out


def white_noise_like(x: torch.Tensor, *, distribution: str = "uniform", seed: int | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """White noise with the shape, dtype and device of ``x`` (see :func:`white_noise`)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x: expected a torch.Tensor, received {type(x).__name__}")
    dtype = x.dtype if x.is_floating_point() else None
    return white_noise(x.shape, distribution=distribution, seed=seed, generator=generator, dtype=dtype,
                       device=x.device)


# splitmix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014)
# in int64 arithmetic: products wrap modulo 2^64, and right shifts are made logical with a mask.
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MIX2 = 0x94D049BB133111EB - (1 << 64)


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _splitmix64(x: torch.Tensor) -> torch.Tensor:
    x = x * _GOLDEN
    x = (x ^ _shift_right(x, 30)) * _MIX1
    x = (x ^ _shift_right(x, 27)) * _MIX2
    return x ^ _shift_right(x, 31)


def indexed_noise(shape: int | Sequence[int], seed: int | torch.Tensor, *, start: int | torch.Tensor = 0,
                  dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Uniform white noise in ``[-1, 1)`` whose sample ``n`` of row ``r`` is a hash of ``(seed, r, start + n)``.

    ``shape`` is ``(..., time)``; the rows are the leading dimensions flattened. Because every
    sample is a function of its position (a counter-based generator, like Philox), any block
    of a long noise signal can be drawn on its own: ``indexed_noise((B, n), s, start=t)`` equals
    ``indexed_noise((B, t + n), s)[..., t:]``. This is what lets a noise synthesiser stream block
    by block with the output of one call on the whole signal. The hash is splitmix64 of
    ``seed``, row and position combined; the top 24 (float32) or 53 (float64) bits become
    the uniform value. Same numbers on every device. Carries no gradient.

    Args:
        shape: ``(..., time)``, sizes >= 0.
        seed: an int, or an int64 tensor of one value.
        start: the position of the first sample (an int or an int64 tensor of one value), >= 0.
        dtype: float32 (default: ``torch.get_default_dtype()``) or float64.
        device: output device (default: the CPU).
    """
    shape = _as_shape(shape)
    if not shape:
        raise ValueError("shape: expected at least one dimension (..., time), received ()")
    dtype = dtype or torch.get_default_dtype()
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype: expected torch.float32 or torch.float64, received {dtype}")
    seed = torch.as_tensor(seed, dtype=torch.int64, device=device).reshape(())
    start = torch.as_tensor(start, dtype=torch.int64, device=seed.device).reshape(())
    *lead, time = shape
    rows = math.prod(lead)
    position = start + torch.arange(time, dtype=torch.int64, device=seed.device)
    row = torch.arange(rows, dtype=torch.int64, device=seed.device)[:, None]
    key = _splitmix64(_splitmix64(seed ^ (row << 40)) ^ position)
    bits = 24 if dtype == torch.float32 else 53
    unit = _shift_right(key, 64 - bits).to(torch.float64) * 2.0 ** -bits          # [0, 1)
    return (2.0 * unit - 1.0).to(dtype).reshape(shape)
