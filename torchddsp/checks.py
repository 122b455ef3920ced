"""Input checks shared by every op.

Each check raises a ``ValueError`` that names the argument, what was expected and what was
received, so a user can fix the call without reading our source.
"""

from __future__ import annotations

import math

import torch


def checking_values() -> bool:
    """Whether checks on tensor *values* run: in eager mode, not while ``torch.compile`` or
    ``torch.export`` trace. A check on values (``bool((x < 0).any())``) is a data-dependent branch
    that a tracer cannot follow; the same code run eagerly checks them."""
    return not torch.compiler.is_compiling()


def check_tensor(name: str, value, *, min_dim: int = 0, floating: bool = True) -> torch.Tensor:
    """Require ``value`` to be a tensor with at least ``min_dim`` dimensions."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, received {type(value).__name__}")
    if value.dim() < min_dim:
        raise ValueError(
            f"{name}: expected at least {min_dim} dimension(s), received shape {tuple(value.shape)}"
        )
    if floating and not (value.is_floating_point() or value.is_complex()):
        raise ValueError(f"{name}: expected a floating-point tensor, received dtype {value.dtype}")
    return value


def check_positive(name: str, value: float) -> float:
    """Require a finite number > 0 (sample rates, durations, sizes)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, received {value!r}")
    return value


def check_nonnegative(name: str, value: float) -> float:
    """Require a finite number >= 0 (weights, floors, offsets)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, received {value!r}")
    return float(value)


def check_positive_int(name: str, value: int) -> int:
    """Require an integer >= 1 (FFT sizes, hop sizes, numbers of frames)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, received {value!r}")
    return value


def check_nonnegative_int(name: str, value: int) -> int:
    """Require an integer >= 0 (orders, lags, lengths where 0 means none or a default)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name}: expected an integer >= 0, received {value!r}")
    return value


def check_choice(name: str, value, choices) -> None:
    """Require ``value`` to be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices)}, received {value!r}")


def check_same_size(name_a: str, size_a: int, name_b: str, size_b: int, what: str) -> None:
    """Require two sizes to agree, e.g. the frame axes of two control tensors."""
    if size_a != size_b:
        raise ValueError(f"{name_a} and {name_b}: expected the same {what}, received {size_a} and {size_b}")


def check_steps(name: str, value: torch.Tensor, x: torch.Tensor, core: str) -> bool:
    """Check coefficients ``(..., *core)`` (fixed) or ``(..., steps, *core)`` (time-varying) for ``x`` ``(..., time)``.

    ``core`` names the per-step shape in messages (e.g. ``"stages"`` or ``"stages, 2"``); its
    number of axes is the number of comma-separated names. Time-varying coefficients have one
    more dimension than ``x`` plus the core, and their ``steps`` equal ``time`` or divide it.
    Returns whether they are time-varying.
    """
    core_dims = len(core.split(","))
    if value.dim() > x.dim() + core_dims:
        raise ValueError(f"{name}: expected (..., {core}) or (..., steps, {core}) with at most "
                         f"{x.dim() + core_dims} dimensions (x has {x.dim()}), received shape {tuple(value.shape)}")
    varying = value.dim() == x.dim() + core_dims
    if varying and x.shape[-1] % max(value.shape[-core_dims - 1], 1) != 0:
        raise ValueError(f"{name}: time-varying {name} need {x.shape[-1]} steps or a number of frames dividing it, "
                         f"received shape {tuple(value.shape)}")
    return varying


def broadcast_or_raise(names: str, *shapes) -> torch.Size:
    """``torch.broadcast_shapes(*shapes)``, or a ``ValueError`` naming the arguments and their shapes."""
    try:
        return torch.broadcast_shapes(*shapes)
    except RuntimeError:
        raise ValueError(f"{names}: leading dimensions {[tuple(s) for s in shapes]} do not broadcast") from None


def dataclass_from_dict(cls, values: dict, section: str):
    """Build dataclass ``cls`` from ``values``, naming ``section`` and the valid keys on a typo."""
    from dataclasses import fields

    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{section}: unknown keys {unknown}; expected some of {sorted(known)}")
    return cls(**values)
