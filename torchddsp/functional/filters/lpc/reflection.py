r"""Reflection (PARCOR) coefficients and direct-form LPC coefficients, both directions.

Same polynomial convention as ``levinson.py``: :math:`A(z) = 1 + \sum_{i=1}^p a_i z^{-i}`,
synthesis filter :math:`1/A(z)`.

Step-up (reflection -> direct form), review Eq. 5 (Hayes et al. 2023, sec. 3.1.1.3), with
:math:`a^{(i)}` the coefficients of the order-:math:`i` filter:

.. math:: a^{(i)}_i = k_i, \qquad a^{(i)}_m = a^{(i-1)}_m + k_i\, a^{(i-1)}_{i-m} \quad (m < i).

Step-down (direct form -> reflection), its inverse, for :math:`i = p, \dots, 1`:

.. math:: k_i = a^{(i)}_i, \qquad a^{(i-1)}_m = \frac{a^{(i)}_m - k_i\, a^{(i)}_{i-m}}{1 - k_i^2}.

Stability (Schur-Cohn): :math:`1/A(z)` is stable, i.e. every root of :math:`A` lies strictly
inside the unit circle, exactly when every :math:`|k_i| < 1`. Predicting reflection
coefficients through a bounded activation therefore guarantees stable filters (Subramani et al.
2022; Mv & Ghosh 2020): :func:`reflection_from_logits` maps any real number into
:math:`(-c, c)`, :math:`c < 1`.

Both conversions are a loop over the order (not over samples) of batched tensor operations,
differentiable everywhere for the step-up and wherever no :math:`|k_i| = 1` for the step-down.
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_tensor


def reflection_from_logits(logits: torch.Tensor, max_magnitude: float = 0.999) -> torch.Tensor:
    """Map unconstrained ``logits`` (any shape) to reflection coefficients ``max_magnitude * tanh(logits)``.

    ``max_magnitude`` must lie in ``(0, 1)``. It is below 1 for two reasons: ``tanh`` rounds to
    exactly 1 for large inputs (about 9 in float32, 19 in float64), which would put a pole on the
    unit circle; and the power gain of the synthesis filter is ``1 / prod_i (1 - k_i^2)``, which
    already reaches ``500**p`` at the default 0.999 (``p = 16``: about 1.5e43, beyond float32
    range for squared outputs or gradients). Lower it (e.g. 0.99) for float32 training of high
    orders. The map is smooth and elementwise, so it is differentiable for every input.
    """
    check_tensor("logits", logits)
    if logits.is_complex():
        raise ValueError(f"logits: expected a real floating-point tensor, received dtype {logits.dtype}")
    if isinstance(max_magnitude, bool) or not isinstance(max_magnitude, (int, float)) or not 0 < max_magnitude < 1:
        raise ValueError(f"max_magnitude: expected a number in (0, 1), received {max_magnitude!r}")
    return max_magnitude * torch.tanh(logits)


def _check_coefficients(name: str, value: torch.Tensor) -> torch.Tensor:
    check_tensor(name, value, min_dim=1)
    if value.is_complex():
        raise ValueError(f"{name}: expected a real floating-point tensor, received dtype {value.dtype}")
    return value


def reflection_to_lpc(k: torch.Tensor) -> torch.Tensor:
    """Direct-form coefficients ``a_1 .. a_p`` ``(..., p)`` from reflection coefficients ``k`` ``(..., p)``.

    The step-up recursion (review Eq. 5, module docstring). Differentiable with respect to
    ``k``; any real ``k`` is accepted, and ``1 / A(z)`` is stable exactly when every ``|k_i| < 1``.
    """
    _check_coefficients("k", k)
    a = k.new_zeros(*k.shape[:-1], 0)
    for i in range(k.shape[-1]):                   # loop over the order, not over samples
        ki = k[..., i:i + 1]
        a = torch.cat([a + ki * a.flip(-1), ki], dim=-1)
    return a


def lpc_to_reflection(a: torch.Tensor) -> torch.Tensor:
    """Reflection coefficients ``k_1 .. k_p`` ``(..., p)`` from direct-form ``a_1 .. a_p`` ``(..., p)``.

    The step-down recursion (module docstring), the inverse of :func:`reflection_to_lpc`.
    Exact and differentiable for every polynomial with no ``|k_i| = 1``, stable or not (an
    unstable one gives some ``|k_i| > 1``). Where some ``|k_i| = 1`` (a marginally stable
    polynomial) the lower-order coefficients are undefined and come out as NaN or inf; test
    stability with :func:`is_stable`, which never produces NaN.
    """
    _check_coefficients("a", a)
    ks = []
    cur = a
    for _ in range(a.shape[-1]):                   # loop over the order, not over samples
        ki = cur[..., -1:]
        head = cur[..., :-1]
        ks.append(ki)
        cur = (head - ki * head.flip(-1)) / (1.0 - ki * ki)
    if not ks:
        return a.new_zeros(a.shape)
    return torch.cat(ks[::-1], dim=-1)


def is_stable(a: torch.Tensor) -> torch.Tensor:
    """Boolean ``(...)``: is ``1 / A(z)`` stable, i.e. every root of ``A`` strictly inside the unit circle.

    Runs the step-down recursion without gradients and checks every ``|k_i| < 1`` (Schur-Cohn).
    Order 0 (``a`` of shape ``(..., 0)``) is stable.
    """
    _check_coefficients("a", a)
    with torch.no_grad():
        stable = torch.ones(a.shape[:-1], dtype=torch.bool, device=a.device)
        cur = a
        for _ in range(a.shape[-1]):
            ki = cur[..., -1:]
            inside = ki.abs() < 1                  # False for NaN as well
            stable = stable & inside[..., 0]
            head = cur[..., :-1]
            denom = torch.where(inside, 1.0 - ki * ki, torch.ones_like(ki))
            cur = torch.where(inside, (head - ki * head.flip(-1)) / denom, torch.zeros_like(head))
    return stable
