r"""LPC polynomial <-> cascade of second-order sections (all-pole biquads).

The synthesis filter factors over the roots :math:`z_j` (poles) of
:math:`A(z) = 1 + \sum_{i=1}^p a_i z^{-i}`:

.. math:: \frac{1}{A(z)} = \prod_{s} \frac{1}{1 + \alpha_{s,1} z^{-1} + \alpha_{s,2} z^{-2}}.

The roots are the eigenvalues of the companion matrix (first row :math:`-a_1, \dots, -a_p`, ones
on the sub-diagonal). They are grouped into :math:`\lceil p/2 \rceil` sections:

- each complex-conjugate pair :math:`z, \bar z` (taken from its member with positive imaginary
  part) gives :math:`\alpha_1 = -2\,\mathrm{Re}\,z`, :math:`\alpha_2 = |z|^2`; pairs are ordered by
  increasing angle (pole frequency), i.e. formants from low to high;
- the real roots follow, sorted in decreasing order and paired neighbour with neighbour:
  :math:`\alpha_1 = -(z_1 + z_2)`, :math:`\alpha_2 = z_1 z_2`; with an odd number of real roots the
  last section is first order, :math:`\alpha_1 = -z`, :math:`\alpha_2 = 0`.

Sections use ``scipy.signal``'s ``sos`` layout ``[b0, b1, b2, a0, a1, a2] = [1, 0, 0, 1, alpha_1,
alpha_2]``, so ``scipy.signal.sosfilt(sos, x)`` equals ``lfilter([1], [1, *a], x)``. Yu & Fazekas
2023 parameterise the synthesis filter as such a cascade (each section kept inside the biquad
stability triangle); :func:`sos_to_lpc` multiplies sections back into direct form.

Where it is differentiable. :func:`sos_to_lpc` is a polynomial product, differentiable
everywhere. :func:`lpc_to_sos` is differentiable wherever the roots of :math:`A` are distinct
and none is about to change between real and complex (the eigenvalue derivative, and the
pairing, are then locally smooth); the gradient is undefined at repeated roots (it grows like
:math:`1/|z_i - z_j|`) and the grouping is a discrete choice (piecewise constant, no gradient
through which roots pair up). Whether a root is real is decided exactly as LAPACK returns it
(zero imaginary part); the root finder is ``torch.linalg.eigvals`` in the input's precision.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_tensor, checking_values


def lpc_to_sos(a: torch.Tensor) -> torch.Tensor:
    """Second-order sections ``(..., ceil(p / 2), 6)`` of ``1 / A(z)`` for LPC coefficients ``a`` ``(..., p)``.

    See the module docstring for the grouping and where the result is differentiable. Works on
    any (stable or unstable) polynomial; ``p = 0`` gives ``(..., 0, 6)``.
    """
    check_tensor("a", a, min_dim=1)
    if a.is_complex():
        raise ValueError(f"a: expected a real floating-point tensor, received dtype {a.dtype}")
    *lead, order = a.shape
    n_sections = (order + 1) // 2
    if order == 0:
        return a.new_zeros(*lead, 0, 6)
    companion = torch.cat([-a.unsqueeze(-2),
                           torch.eye(order - 1, order, dtype=a.dtype, device=a.device).expand(*lead, order - 1, order)],
                          dim=-2)
    roots = torch.linalg.eigvals(companion)                          # (..., p) complex
    re, im = roots.real.detach(), roots.imag.detach()
    upper, real = im > 0, im == 0
    # Sort key: upper half-plane roots by angle, then real roots in decreasing order, then the rest.
    angle = torch.atan2(im, re) / math.pi                            # (0, 1) in the upper half plane
    decreasing = 0.5 - torch.atan(re) / math.pi                      # (0, 1), decreasing in re
    key = torch.where(upper, angle, torch.where(real, 1.0 + decreasing, 2.0 + decreasing))
    order_index = torch.argsort(key, dim=-1, stable=True)
    roots = torch.gather(roots, -1, order_index)
    n_pairs = upper.sum(-1, keepdim=True)                            # (..., 1)
    j = torch.arange(n_sections, device=a.device)
    is_pair = j < n_pairs                                            # (..., n_sections)
    first = torch.where(is_pair, j, 2 * j - n_pairs).clamp(0, order - 1)
    second_position = 2 * j - n_pairs + 1
    has_second = (~is_pair) & (second_position < order - n_pairs)
    second = second_position.clamp(0, order - 1)
    z1, z2 = torch.gather(roots, -1, first), torch.gather(roots, -1, second)
    pair_a1, pair_a2 = -2.0 * z1.real, z1.real.square() + z1.imag.square()
    zero = torch.zeros_like(pair_a1)
    real_a1 = -(z1.real + torch.where(has_second, z2.real, zero))
    real_a2 = torch.where(has_second, z1.real * z2.real, zero)
    alpha1 = torch.where(is_pair, pair_a1, real_a1)
    alpha2 = torch.where(is_pair, pair_a2, real_a2)
    one = torch.ones_like(alpha1)
    return torch.stack([one, zero, zero, one, alpha1, alpha2], dim=-1)


def sos_to_lpc(sos: torch.Tensor, order: int | None = None) -> torch.Tensor:
    """Direct-form ``a_1 .. a_p`` of the product of all-pole sections ``sos`` ``(..., n, 6)``.

    Denominators are normalised by ``a0``; numerators must be ``[a0, 0, 0]`` (pure all-pole
    sections, as :func:`lpc_to_sos` returns), else ``ValueError``. The product has ``2 n``
    coefficients; ``order`` keeps the first ``order`` of them (e.g. ``p`` when ``p`` is odd and
    the last section is first order; the dropped ones must then be zero, which is not checked).
    Differentiable with respect to ``sos`` everywhere ``a0 != 0``.
    """
    check_tensor("sos", sos, min_dim=2)
    if sos.shape[-1] != 6:
        raise ValueError(f"sos: expected 6 values per section [b0, b1, b2, a0, a1, a2], received shape "
                         f"{tuple(sos.shape)}")
    n = sos.shape[-2]
    if order is not None and (not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 2 * n):
        raise ValueError(f"order: expected an integer in [0, {2 * n}] (2 per section), received {order!r}")
    if checking_values():
        b, a0 = sos[..., :3].detach(), sos[..., 3:4].detach()
        if bool((a0 == 0).any()):
            raise ValueError("sos: expected a nonzero a0 in every section, received 0")
        if bool((b[..., 1:] != 0).any()) or bool((b[..., :1] != a0).any()):
            raise ValueError("sos: expected all-pole sections with numerator [a0, 0, 0]; use scipy-style "
                             "sosfilt for general sections")
    den = sos[..., 3:] / sos[..., 3:4]                               # (..., n, 3), leading 1
    poly = sos.new_ones(*sos.shape[:-2], 1)                          # (..., 1)
    for s in range(n):                                               # loop over sections, not samples
        d = den[..., s, :]
        pad = torch.nn.functional.pad
        poly = pad(poly, (0, 2)) + d[..., 1:2] * pad(poly, (1, 1)) + d[..., 2:3] * pad(poly, (2, 0))
    coeffs = poly[..., 1:]
    return coeffs if order is None else coeffs[..., :order]
