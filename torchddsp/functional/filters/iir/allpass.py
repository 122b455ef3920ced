"""All-pass filters: first-order sections, second-order sections and cascades of them.

A first-order all-pass section with coefficient :math:`a` is

.. math:: A(z) = \\frac{a + z^{-1}}{1 + a z^{-1}}, \\qquad |a| < 1,

with its pole at :math:`z = -a` and :math:`|A(e^{j\\omega})| = 1` at every frequency. Its phase
falls from 0 at DC to :math:`-\\pi` at Nyquist and passes :math:`-\\pi/2` at the *break
frequency* :math:`f_b`. The bilinear transform (prewarped at :math:`f_b`) of the analog section
:math:`(\\omega_b - s)/(\\omega_b + s)` gives

.. math:: a = \\frac{\\tan(\\pi f_b / f_s) - 1}{\\tan(\\pi f_b / f_s) + 1}
            = \\tan\\Big(\\frac{\\pi f_b}{f_s} - \\frac{\\pi}{4}\\Big),

which lies in :math:`(-1, 1)` for every :math:`f_b \\in (0, f_s/2)`. A second-order all-pass
section reverses a stable denominator :math:`1 + a_1 z^{-1} + a_2 z^{-2}`:

.. math:: A_2(z) = \\frac{a_2 + a_1 z^{-1} + z^{-2}}{1 + a_1 z^{-1} + a_2 z^{-2}},
          \\qquad |a_2| < 1,\\ |a_1| < 1 + a_2.

Cascades run one ``lfilter`` call per section (exact and differentiable; never the expanded
high-order polynomial, whose direct form is ill-conditioned when poles cluster, as they do in a
phaser whose stages share a break frequency). Coefficients are fixed or time-varying, one set
per sample or per frame, with the ``lfilter`` rule: a coefficient tensor is time-varying when it
has one more dimension than ``x`` (plus the section axes).

Stable parameterisations from unconstrained (any real) values: ``break_frequency_from_unconstrained``
(log-spaced in :math:`[f_{min}, f_{max}] \\subset (0, f_s/2)`, hence :math:`|a| < 1`), and for
the coefficients directly the stability activations of ``biquad.py``:
``first_order_activation`` (:math:`a = \\rho \\tanh u`) for first-order sections and
``triangle_activation`` or ``pole_activation`` for second-order denominators. Each bound holds in
floating point too, including for saturated inputs such as :math:`\\pm 10^4`.

Used by Carson et al. (2023), "Differentiable grey-box modelling of phaser effects using
frame-based spectral processing" (review: Hayes et al. 2023, Table 2).
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_positive, check_steps, check_tensor, checking_values
from torchddsp.functional.filters.iir.lfilter import lfilter

# ------------------------------------------------------------------------------- controls


def as_tensor_argument(name: str, value, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return check_tensor(name, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a float or a floating-point tensor, received {type(value).__name__}")
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    return torch.tensor(float(value), dtype=dtype, device=device)


def check_frequency_range(name: str, frequency: torch.Tensor, sample_rate: float) -> None:
    """Raise ``ValueError`` unless every value of ``frequency`` lies in ``(0, sample_rate / 2)``."""
    values = frequency.detach()
    if values.numel() == 0 or not checking_values():
        return
    nyquist = sample_rate / 2
    if not bool(torch.isfinite(values).all()) or bool((values <= 0).any()) or bool((values >= nyquist).any()):
        raise ValueError(f"{name}: expected frequencies in (0, sample_rate / 2) = (0, {nyquist:g}) Hz, received "
                         f"values from {float(values.min()):g} to {float(values.max()):g} "
                         "(map unconstrained network outputs with the *_from_unconstrained functions)")


def log_frequency_from_unconstrained(name: str, raw: torch.Tensor, sample_rate: float, min_frequency: float,
                   max_frequency: float | None, names=("min_frequency", "max_frequency")) -> torch.Tensor:
    """:math:`f = f_{min} (f_{max} / f_{min})^{\\sigma(u)}`, with checks of the range (shared helper)."""
    check_tensor(name, raw)
    check_positive("sample_rate", sample_rate)
    check_positive(names[0], min_frequency)
    nyquist = sample_rate / 2
    if max_frequency is None:
        max_frequency = 0.49 * sample_rate
    check_positive(names[1], max_frequency)
    if not min_frequency < max_frequency < nyquist:
        raise ValueError(f"{names[0]}, {names[1]}: expected 0 < {names[0]} < {names[1]} < sample_rate / 2 "
                         f"= {nyquist:g} Hz, received {min_frequency!r} and {max_frequency!r}")
    span = math.log(max_frequency / min_frequency)
    return min_frequency * torch.exp(span * torch.sigmoid(raw))


def break_frequency_from_unconstrained(raw: torch.Tensor, sample_rate: float, min_frequency: float = 20.0,
                                       max_frequency: float | None = None) -> torch.Tensor:
    """Map any real ``raw`` to a break frequency in Hz, log-spaced in ``[min_frequency, max_frequency]``.

    .. math:: f_b = f_{min}\\,(f_{max}/f_{min})^{\\sigma(u)}

    ``max_frequency`` defaults to ``0.49 * sample_rate``; it must stay below Nyquist, so the
    all-pass coefficient satisfies :math:`|a| < 1` for every input, saturated ones included
    (``raw = +-1e4`` gives exactly the end points, with zero but finite gradient).
    """
    return log_frequency_from_unconstrained("raw", raw, sample_rate, min_frequency, max_frequency)


def allpass_coefficient_from_break_frequency(break_frequency, sample_rate: float) -> torch.Tensor:
    """First-order all-pass coefficient :math:`a = (t - 1)/(t + 1)`, :math:`t = \\tan(\\pi f_b / f_s)`.

    ``break_frequency`` (Hz, any shape) must lie in ``(0, sample_rate / 2)``; otherwise a
    ``ValueError`` names it. The section's phase is :math:`-\\pi/2` at ``break_frequency``.
    """
    check_positive("sample_rate", sample_rate)
    f = as_tensor_argument("break_frequency", break_frequency)
    check_frequency_range("break_frequency", f, sample_rate)
    t = torch.tan(math.pi * f / sample_rate)
    return (t - 1) / (t + 1)


# ------------------------------------------------------------------------------- coefficients


def first_order_allpass_coefficients(coefficient: torch.Tensor):
    """``(b, a)`` of :math:`(a + z^{-1})/(1 + a z^{-1})`, each ``(..., 2)``, for ``scipy``/``lfilter``."""
    check_tensor("coefficient", coefficient)
    one = torch.ones_like(coefficient)
    return torch.stack([coefficient, one], dim=-1), torch.stack([one, coefficient], dim=-1)


def second_order_allpass_coefficients(denominator: torch.Tensor):
    """``(b, a)`` of :math:`(a_2 + a_1 z^{-1} + z^{-2})/(1 + a_1 z^{-1} + a_2 z^{-2})`, each ``(..., 3)``.

    ``denominator`` is ``(..., 2)`` = :math:`(a_1, a_2)`.
    """
    check_tensor("denominator", denominator, min_dim=1)
    if denominator.shape[-1] != 2:
        raise ValueError(f"denominator: expected (a1, a2) on the last axis, received shape {tuple(denominator.shape)}")
    a1, a2 = denominator[..., 0], denominator[..., 1]
    one = torch.ones_like(a1)
    return torch.stack([a2, a1, one], dim=-1), torch.stack([one, a1, a2], dim=-1)


# ------------------------------------------------------------------------------- filtering


def _check_state(zi, x: torch.Tensor, stages: int, per_stage: int, what: str):
    if zi is None:
        return None
    check_tensor("zi", zi, min_dim=2)
    if zi.shape[-2:] != (stages, per_stage):
        raise ValueError(f"zi: expected shape (..., {stages}, {per_stage}) ({what}), received {tuple(zi.shape)}")
    return zi


def _run_cascade(x, sections, zi):
    y, finals = x, []
    for k, (b, a) in enumerate(sections):
        if zi is None:
            y = lfilter(b, a, y)
        else:
            y, zf = lfilter(b, a, y, zi[..., k, :])
            finals.append(zf)
    if zi is None:
        return y
    return y, torch.stack(finals, dim=-2)


def allpass_cascade(x: torch.Tensor, coefficients: torch.Tensor, zi: torch.Tensor | None = None):
    """Cascade of first-order all-pass sections :math:`\\prod_k (a_k + z^{-1})/(1 + a_k z^{-1})`.

    Args:
        x: signal ``(..., time)``.
        coefficients: ``(..., stages)`` fixed, or ``(..., steps, stages)`` time-varying
            (``coefficients.dim() == x.dim() + 1``) with ``steps`` equal to ``time`` (per sample)
            or dividing it (per frame, each set held for ``time / steps`` samples). Every
            :math:`|a_k|` must be below 1 (a ``ValueError`` otherwise).
        zi: optional per-section state ``(..., stages, K)`` in ``lfilter``'s layout: ``K = 1``
            (transposed direct form II) for fixed coefficients, ``K = 2`` (last input, last
            output) for time-varying ones. With ``zi`` the call returns ``(y, zf)``.

    Each section is one ``lfilter`` call (time-varying sections use direct form I; with
    :math:`|a_k[n]| \\le a_{max} < 1` every section is BIBO-stable for any coefficient sequence).
    Differentiable with respect to ``x``, ``coefficients`` and ``zi``.
    """
    check_tensor("x", x, min_dim=1)
    check_tensor("coefficients", coefficients, min_dim=1)
    varying = check_steps("coefficients", coefficients, x, "stages")
    c = coefficients.detach()
    if c.numel() and checking_values() and (bool((c.abs() >= 1).any())
                                                            or not bool(torch.isfinite(c).all())):
        raise ValueError(f"coefficients: expected |a| < 1 for a stable all-pass, received max |a| = "
                         f"{float(coefficients.detach().abs().max()):g}")
    stages = coefficients.shape[-1]
    zi = _check_state(zi, x, stages, 2 if varying else 1,
                      "last input and output per section" if varying else "transposed direct form II state per section")
    sections = [first_order_allpass_coefficients(coefficients[..., k]) for k in range(stages)]
    return _run_cascade(x, sections, zi)


def second_order_allpass_cascade(x: torch.Tensor, denominators: torch.Tensor, zi: torch.Tensor | None = None):
    """Cascade of second-order all-pass sections built from stable denominators.

    Args:
        x: signal ``(..., time)``.
        denominators: ``(..., stages, 2)`` = :math:`(a_1, a_2)` per section, fixed, or
            ``(..., steps, stages, 2)`` time-varying (``denominators.dim() == x.dim() + 2``;
            ``steps`` equal to ``time`` or dividing it). Each must satisfy the stability
            triangle :math:`|a_2| < 1`, :math:`|a_1| < 1 + a_2` (``ValueError`` otherwise).
        zi: optional ``(..., stages, K)``: ``K = 2`` (transposed direct form II) fixed,
            ``K = 4`` (last two inputs, last two outputs) time-varying. Returns ``(y, zf)`` then.

    Section :math:`k` is :math:`(a_{2,k} + a_{1,k} z^{-1} + z^{-2})/(1 + a_{1,k} z^{-1} + a_{2,k} z^{-2})`.
    """
    check_tensor("x", x, min_dim=1)
    check_tensor("denominators", denominators, min_dim=2)
    if denominators.shape[-1] != 2:
        raise ValueError(f"denominators: expected (a1, a2) on the last axis, "
                         f"received shape {tuple(denominators.shape)}")
    varying = check_steps("denominators", denominators, x, "stages, 2")
    d = denominators.detach()
    if d.numel() and checking_values():
        a1, a2 = d[..., 0], d[..., 1]
        if not bool(torch.isfinite(d).all()) or bool((a2.abs() >= 1).any()) or bool((a1.abs() >= 1 + a2).any()):
            raise ValueError("denominators: expected stable denominators (|a2| < 1 and |a1| < 1 + a2), received "
                             "values outside the stability triangle "
                             "(map unconstrained values with biquad.triangle_activation)")
    stages = denominators.shape[-2]
    zi = _check_state(zi, x, stages, 4 if varying else 2,
                      "two last inputs then two last outputs per section" if varying
                      else "transposed direct form II state per section")
    sections = [second_order_allpass_coefficients(denominators[..., k, :]) for k in range(stages)]
    return _run_cascade(x, sections, zi)
