"""Stability-guaranteeing parameterisations of first- and second-order filters (review Table 2).

Each function maps *any* real tensor -- e.g. the raw output of a network -- to the coefficients
of a filter whose poles lie strictly inside the circle of radius ``max_radius <= 1``, so the
recursion cannot diverge whatever the network predicts (Nercessian et al. 2021; Yu & Fazekas
2023; Kuznetsov et al. 2020). Numerators are unconstrained (zeros do not affect stability).
Coefficients come back as ``(b, a)`` with ``a[..., 0] = 1``, ready for ``lfilter``, or as
``sos`` rows ``(..., 6)`` via :func:`to_sos` for ``sosfilt`` / ``sosfreqz``.

Stability regions (poles of ``1 + a_1 z^{-1}`` and ``1 + a_1 z^{-1} + a_2 z^{-2}``):

- first order: ``|a_1| < 1``; here ``a_1 = rho tanh(u)``, ``rho = max_radius``;
- second order ("stability triangle"): ``|a_2| < 1`` and ``|a_1| < 1 + a_2``. The triangle
  activation (Nercessian et al. 2021; Yu & Fazekas 2023)

  .. math:: a_1' = 2 \\tanh u_1, \\qquad a_2' = \\tfrac{1}{2}\\big((2 - |a_1'|) \\tanh u_2 + |a_1'|\\big)

  covers the open triangle exactly (``|a_1'| < 2``, ``|a_1'| - 1 < a_2' < 1``); scaling
  ``a_1 = rho a_1'``, ``a_2 = rho^2 a_2'`` scales the poles by ``rho``, so the image is every
  real biquad with poles of radius ``< rho``;
- conjugate pole pair ``p`` (and zero pair ``q``): ``a = [1, -2 Re p, |p|^2]``, stable iff
  ``|p| < 1``. Cartesian form: ``p <- rho p tanh|p| / |p|`` (Nercessian et al. 2021); polar form:
  ``|p| = rho sigmoid(u_r)``, angle free. Two distinct real poles are outside this family.

``max_radius`` (default ``0.999``) is the margin that keeps the guarantee *strict* in floating
point: ``tanh`` and ``sigmoid`` saturate to exactly 1 for large inputs, which with
``max_radius = 1`` (the activations as published) would put poles on the unit circle. It also
bounds the gain (``<= 1 / (1 - rho)^order``) and the decay time (``~ 1 / (1 - rho)`` samples:
21 ms at 48 kHz for the default; raise it for long resonances). Near a double real pole (the
corners ``a_1 = +-2 rho``, ``a_2 = rho^2`` of the triangle) the distance to instability in
coefficient space is only ``(1 - rho)^2`` and the poles move by the square root of a rounding
error, so in float32 keep ``1 - rho >= ~1e-3``; float64 allows ``1 - rho`` down to ``~1e-6``.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import broadcast_or_raise, check_choice, check_tensor

DEFAULT_MAX_RADIUS = 0.999


def _check_radius(max_radius: float) -> float:
    if (isinstance(max_radius, bool) or not isinstance(max_radius, (int, float)) or not math.isfinite(max_radius)
            or not 0 < max_radius <= 1):
        raise ValueError(f"max_radius: expected a number in (0, 1], received {max_radius!r}")
    return float(max_radius)


def _check_real(name: str, value, last: int | None = None) -> torch.Tensor:
    check_tensor(name, value, min_dim=1 if last is not None else 0)
    if value.is_complex():
        raise ValueError(f"{name}: expected a real tensor, received dtype {value.dtype}")
    if last is not None and value.shape[-1] != last:
        raise ValueError(f"{name}: expected {last} value(s) on the last axis, received shape {tuple(value.shape)}")
    return value


def first_order_activation(a1_logit: torch.Tensor, *, max_radius: float = DEFAULT_MAX_RADIUS) -> torch.Tensor:
    """``a_1 = max_radius * tanh(a1_logit)``: the pole ``-a_1`` of ``1 + a_1 z^{-1}`` has ``|a_1| < max_radius``."""
    _check_real("a1_logit", a1_logit)
    return _check_radius(max_radius) * torch.tanh(a1_logit)


def triangle_activation(a1_logit: torch.Tensor, a2_logit: torch.Tensor, *,
                        max_radius: float = DEFAULT_MAX_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """Map any ``(a1_logit, a2_logit)`` into the stability triangle (module docstring).

    Returns ``(a_1, a_2)`` (broadcast shapes) such that both roots of ``z^2 + a_1 z + a_2`` have
    modulus ``< max_radius``; with ``max_radius = 1`` this is the published activation
    ``a_1 = 2 tanh u_1``, ``a_2 = ((2 - |a_1|) tanh u_2 + |a_1|) / 2``.
    """
    _check_real("a1_logit", a1_logit)
    _check_real("a2_logit", a2_logit)
    rho = _check_radius(max_radius)
    a1 = 2.0 * torch.tanh(a1_logit)
    magnitude = a1.abs()
    a2 = 0.5 * ((2.0 - magnitude) * torch.tanh(a2_logit) + magnitude)
    return rho * a1, (rho * rho) * a2


def _squash_complex(real: torch.Tensor, imag: torch.Tensor, radius: float):
    """``radius * p * tanh(|p|) / |p|`` with a smooth value and gradient at ``p = 0``."""
    squared = real * real + imag * imag
    small = squared < 1e-8
    safe = torch.where(small, torch.ones_like(squared), squared)
    modulus = torch.sqrt(safe)
    scale = torch.where(small, 1.0 - squared / 3.0, torch.tanh(modulus) / modulus)   # tanh(s)/s = 1 - s^2/3 + ...
    return radius * real * scale, radius * imag * scale


def pole_activation(real: torch.Tensor, imag: torch.Tensor, *,
                    max_radius: float = DEFAULT_MAX_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """Squash a complex number: ``p <- max_radius * p * tanh(|p|) / |p|`` (Nercessian et al. 2021).

    The angle is kept and the modulus becomes ``max_radius * tanh(|p|) < max_radius``.
    Returns ``(real, imag)`` of the squashed ``p``.
    """
    _check_real("real", real)
    _check_real("imag", imag)
    return _squash_complex(real, imag, _check_radius(max_radius))


def first_order_direct(b: torch.Tensor, a_logits: torch.Tensor, *,
                       max_radius: float = DEFAULT_MAX_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """Stable first-order filter ``(b_0 + b_1 z^{-1}) / (1 + a_1 z^{-1})`` (Kuznetsov et al. 2020).

    Args:
        b: numerator ``(..., 2)``, passed through unchanged.
        a_logits: ``(..., 1)`` any real values; ``a_1 = max_radius * tanh(a_logits)``.
        max_radius: pole radius bound in ``(0, 1]``.

    Returns:
        ``(b (..., 2), a (..., 2))`` with ``a = [1, a_1]``, ``|a_1| < max_radius``.
    """
    _check_real("b", b, 2)
    _check_real("a_logits", a_logits, 1)
    a1 = first_order_activation(a_logits, max_radius=max_radius)
    return b, torch.cat([torch.ones_like(a1), a1], dim=-1)


def second_order_direct(b: torch.Tensor, a_logits: torch.Tensor, *,
                        max_radius: float = DEFAULT_MAX_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """Stable biquad in direct form via the triangle activation (Nercessian et al. 2021, Table 2).

    Args:
        b: numerator ``(..., 3)``, passed through unchanged.
        a_logits: ``(..., 2)`` any real values ``(u_1, u_2)``, mapped by :func:`triangle_activation`.
        max_radius: pole radius bound in ``(0, 1]``.

    Returns:
        ``(b (..., 3), a (..., 3))`` with ``a = [1, a_1, a_2]`` and both poles of radius
        ``< max_radius`` (real or complex-conjugate).
    """
    _check_real("b", b, 3)
    _check_real("a_logits", a_logits, 2)
    a1, a2 = triangle_activation(a_logits[..., 0], a_logits[..., 1], max_radius=max_radius)
    a = torch.stack([torch.ones_like(a1), a1, a2], dim=-1)
    return b, a


ZERO_ACTIVATIONS = ("free", "squash")
FORMS = ("cartesian", "polar")


def _pair(x: torch.Tensor, form: str, squash: bool, radius: float):
    """Real quadratic ``[1, -2 Re p, |p|^2]`` from the raw pair ``x`` ``(..., 2)``."""
    if form == "cartesian":
        real, imag = x[..., 0], x[..., 1]
        if squash:
            real, imag = _squash_complex(real, imag, radius)
        c1, c2 = -2.0 * real, real * real + imag * imag
    else:
        modulus = radius * torch.sigmoid(x[..., 0]) if squash else x[..., 0]
        c1, c2 = -2.0 * modulus * torch.cos(x[..., 1]), modulus * modulus
    return torch.stack([torch.ones_like(c1), c1, c2], dim=-1)


def conjugate_pole_zero(gain: torch.Tensor, zero: torch.Tensor, pole: torch.Tensor, *, form: str = "cartesian",
                        zero_activation: str = "free",
                        max_radius: float = DEFAULT_MAX_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """Biquad from a conjugate pair of zeros ``q`` and of poles ``p`` (Nercessian et al. 2021):

    .. math:: H(z) = g\\,\\frac{(1 - q z^{-1})(1 - \\bar q z^{-1})}{(1 - p z^{-1})(1 - \\bar p z^{-1})}
             = g\\,\\frac{1 - 2\\,\\mathrm{Re}\\,q\\, z^{-1} + |q|^2 z^{-2}}{1 - 2\\,\\mathrm{Re}\\,p\\, z^{-1} + |p|^2 z^{-2}}.

    Args:
        gain: ``(...)`` any real ``g``.
        zero, pole: ``(..., 2)`` raw values. ``form="cartesian"``: ``(Re, Im)``, the pole squashed
            by :func:`pole_activation`. ``form="polar"``: ``(radius_logit, angle)``, the pole radius
            ``max_radius * sigmoid(radius_logit)``, the angle (radians) free.
        form: ``"cartesian"`` or ``"polar"``.
        zero_activation: ``"free"`` (zeros anywhere: in polar form the raw radius is used as is,
            a negative radius being the opposite angle) or ``"squash"`` (zeros in the closed unit
            disc -- radius ``tanh|q|`` or ``sigmoid`` -- i.e. a minimum-phase numerator).
        max_radius: pole radius bound in ``(0, 1]``.

    Returns:
        ``(b (..., 3), a (..., 3))`` with ``a[..., 0] = 1`` and poles of radius ``< max_radius``.
    """
    check_choice("form", form, FORMS)
    check_choice("zero_activation", zero_activation, ZERO_ACTIVATIONS)
    _check_real("gain", gain)
    _check_real("zero", zero, 2)
    _check_real("pole", pole, 2)
    rho = _check_radius(max_radius)
    b = gain.unsqueeze(-1) * _pair(zero, form, zero_activation == "squash", 1.0)
    a = _pair(pole, form, True, rho)
    return b, a


def to_sos(b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Second-order-section rows ``[b0, b1, b2, a0, a1, a2]`` ``(..., 6)`` from ``b``, ``a`` of at most 3 taps.

    Shorter coefficient vectors (first-order filters) are zero-padded; leading dimensions broadcast.
    """
    for name, c in (("b", b), ("a", a)):
        _check_real(name, c)
        if c.dim() < 1 or not 1 <= c.shape[-1] <= 3:
            raise ValueError(f"{name}: expected 1 to 3 coefficients on the last axis, received shape {tuple(c.shape)}")
    lead = broadcast_or_raise("b, a", b.shape[:-1], a.shape[:-1])
    dtype = torch.promote_types(b.dtype, a.dtype)
    b = torch.nn.functional.pad(b.to(dtype), (0, 3 - b.shape[-1])).expand(*lead, 3)
    a = torch.nn.functional.pad(a.to(dtype), (0, 3 - a.shape[-1])).expand(*lead, 3)
    return torch.cat([b, a], dim=-1)
