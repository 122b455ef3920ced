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

from typing import Sequence

import torch

from .._checks import check_choice

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
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(f"seed: expected an int, received {seed!r}")
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
