"""State-variable filter (SVF): the topology-preserving (TPT) form discretised with the bilinear transform.

Kuznetsov et al. (2020), "Differentiable IIR filters for machine learning applications"
(review: Hayes et al. 2023, Table 2), after Zavalishin's TPT SVF. Controls: cutoff
:math:`f_c` (Hz), damping :math:`R > 0` (:math:`Q = 1/(2R)`; :math:`R = 1/\\sqrt2` is
Butterworth) and band-mix gains :math:`c_{LP}, c_{BP}, c_{HP}`. With
:math:`g = \\tan(\\pi f_c / f_s)` and integrator states :math:`s_1, s_2`, per sample:

.. math::

    y_{HP} &= \\frac{x - (2R + g)\\,s_1 - s_2}{1 + 2Rg + g^2}, \\quad
    y_{BP} = g\\,y_{HP} + s_1, \\quad y_{LP} = g\\,y_{BP} + s_2, \\\\
    s_1 &\\leftarrow 2 y_{BP} - s_1, \\quad s_2 \\leftarrow 2 y_{LP} - s_2, \\quad
    y = c_{LP}\\,y_{LP} + c_{BP}\\,y_{BP} + c_{HP}\\,y_{HP}.

For fixed controls this is exactly the biquad (bilinear transform of
:math:`(c_{HP}s^2 + c_{BP}s + c_{LP})/(s^2 + 2Rs + 1)` with :math:`s \\to
\\frac{1}{g}\\frac{1 - z^{-1}}{1 + z^{-1}}`):

.. math::

    b &= \\big(c_{HP} + g\\,c_{BP} + g^2 c_{LP},\\ 2(g^2 c_{LP} - c_{HP}),\\
          c_{HP} - g\\,c_{BP} + g^2 c_{LP}\\big) / a_0, \\\\
    a &= \\big(1,\\ 2(g^2 - 1) / a_0,\\ (1 - 2Rg + g^2) / a_0\\big), \\qquad a_0 = 1 + 2Rg + g^2,

run with ``lfilter``. Both poles lie strictly inside the unit circle for every
:math:`R > 0` and :math:`f_c \\in (0, f_s/2)` (:math:`|a_2| < 1` because :math:`Rg > 0`,
:math:`|a_1| < 1 + a_2` because :math:`g > 0`).

Time-varying controls (one value per frame) are evaluated exactly as the TPT state equations
with frame-held controls, not as a direct-form biquad with switched coefficients: the TPT state
matrix satisfies :math:`\\|A\\|_2 \\le 1` for every :math:`g, R > 0` (it is the Cayley transform of
a dissipative matrix), so the filter stays bounded under arbitrary modulation, whereas a
direct-form biquad switched between stable settings can diverge. Each frame is still filtered by
its biquad through ``lfilter``; the state is handed from frame to frame exactly (see
``state_space.py``).
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import broadcast_or_raise, check_positive, check_tensor, checking_values
from torchddsp.functional.filters.iir.allpass import (
    as_tensor_argument,
    check_frequency_range,
    log_frequency_from_unconstrained,
)
from torchddsp.functional.filters.iir.state_space import framewise_state_space


def svf_controls_from_unconstrained(cutoff_raw: torch.Tensor, damping_raw: torch.Tensor, sample_rate: float, *,
                                    min_cutoff: float = 20.0, max_cutoff: float | None = None,
                                    min_damping: float = 0.02, max_damping: float = 25.0):
    """Map any real values to valid SVF controls ``(cutoff, damping)``.

    .. math:: f_c = f_{min}(f_{max}/f_{min})^{\\sigma(u)}, \\qquad R = R_{min}(R_{max}/R_{min})^{\\sigma(v)}

    ``max_cutoff`` defaults to ``0.49 * sample_rate`` (it must be below Nyquist); the default
    damping range :math:`[0.02, 25]` has its geometric mean at :math:`R = 1/\\sqrt2`
    (Butterworth, the initialisation of Kuznetsov et al.) for ``damping_raw = 0``. Every input,
    saturated ones (``+-1e4``) included, gives :math:`f_c \\in (0, f_s/2)` and :math:`R > 0`, hence
    poles strictly inside the unit circle (at least :math:`\\approx \\pi f_{min} / (f_s R_{max})`
    from it).
    """
    cutoff = log_frequency_from_unconstrained("cutoff_raw", cutoff_raw, sample_rate, min_cutoff, max_cutoff,
                                              ("min_cutoff", "max_cutoff"))
    check_tensor("damping_raw", damping_raw)
    check_positive("min_damping", min_damping)
    check_positive("max_damping", max_damping)
    if not min_damping < max_damping:
        raise ValueError(f"min_damping, max_damping: expected min_damping < max_damping, received "
                         f"{min_damping!r} and {max_damping!r}")
    damping = min_damping * torch.exp(math.log(max_damping / min_damping) * torch.sigmoid(damping_raw))
    return cutoff, damping


def _controls(cutoff, damping, sample_rate, lowpass_gain, bandpass_gain, highpass_gain):
    check_positive("sample_rate", sample_rate)
    like = next((v for v in (cutoff, damping, lowpass_gain, bandpass_gain, highpass_gain)
                 if isinstance(v, torch.Tensor)), None)
    cutoff = as_tensor_argument("cutoff", cutoff, like)
    damping = as_tensor_argument("damping", damping, like)
    check_frequency_range("cutoff", cutoff, sample_rate)
    d = damping.detach()
    if d.numel() and checking_values() and (not bool(torch.isfinite(d).all())
                                                            or bool((d <= 0).any())):
        raise ValueError(f"damping: expected finite values > 0, received values from {float(d.min()):g} to "
                         f"{float(d.max()):g} (map unconstrained outputs with svf_controls_from_unconstrained)")
    gains = [as_tensor_argument(name, value, like) for name, value in
             (("lowpass_gain", lowpass_gain), ("bandpass_gain", bandpass_gain), ("highpass_gain", highpass_gain))]
    g = torch.tan(math.pi * cutoff / sample_rate)
    return g, damping, gains


def svf_coefficients(cutoff, damping, sample_rate: float, lowpass_gain=1.0, bandpass_gain=0.0, highpass_gain=0.0):
    """Equivalent biquad ``(b, a)`` of the SVF, each ``(..., 3)`` (broadcast shape of the controls).

    ``cutoff`` (Hz) must lie in ``(0, sample_rate / 2)`` and ``damping`` be ``> 0``; a
    ``ValueError`` names the offending argument otherwise. Gains are any real values.
    Differentiable with respect to every control.
    """
    g, r, (c_lp, c_bp, c_hp) = _controls(cutoff, damping, sample_rate, lowpass_gain, bandpass_gain, highpass_gain)
    g, r, c_lp, c_bp, c_hp = torch.broadcast_tensors(g, r, c_lp, c_bp, c_hp)
    g2 = g * g
    a0 = 1 + 2 * r * g + g2
    b = torch.stack([c_hp + g * c_bp + g2 * c_lp, 2 * (g2 * c_lp - c_hp), c_hp - g * c_bp + g2 * c_lp], dim=-1)
    a = torch.stack([torch.ones_like(a0), 2 * (g2 - 1) / a0, (1 - 2 * r * g + g2) / a0], dim=-1)
    return b / a0[..., None], a


def svf_state_space(cutoff, damping, sample_rate: float, lowpass_gain=1.0, bandpass_gain=0.0, highpass_gain=0.0):
    """The TPT SVF as a state-space system ``(A, B, C, D)`` on the states :math:`(s_1, s_2)`.

    With :math:`d = 1 + 2Rg + g^2`:
    :math:`A = \\frac1d\\begin{pmatrix}1 - 2Rg - g^2 & -2g\\\\ 2g & 1 + 2Rg - g^2\\end{pmatrix}`,
    :math:`B = \\frac{2g}{d}(1, g)`,
    :math:`C = \\frac1d\\big(c_{BP} + g c_{LP} - (2R + g) c_{HP},\\ (1 + 2Rg) c_{LP} - g c_{BP} - c_{HP}\\big)`,
    :math:`D = (c_{HP} + g c_{BP} + g^2 c_{LP})/d`. Shapes ``(..., 2, 2)``, ``(..., 2)``,
    ``(..., 2)``, ``(...)``. :math:`\\|A\\|_2 \\le 1` for all valid controls.
    """
    g, r, (c_lp, c_bp, c_hp) = _controls(cutoff, damping, sample_rate, lowpass_gain, bandpass_gain, highpass_gain)
    g, r, c_lp, c_bp, c_hp = torch.broadcast_tensors(g, r, c_lp, c_bp, c_hp)
    g2, rg = g * g, r * g
    d = 1 + 2 * rg + g2
    A = torch.stack([torch.stack([1 - 2 * rg - g2, -2 * g], -1), torch.stack([2 * g, 1 + 2 * rg - g2], -1)], -2)
    A = A / d[..., None, None]
    B = torch.stack([2 * g, 2 * g2], -1) / d[..., None]
    C = torch.stack([c_bp + g * c_lp - (2 * r + g) * c_hp, (1 + 2 * rg) * c_lp - g * c_bp - c_hp], -1) / d[..., None]
    D = (c_hp + g * c_bp + g2 * c_lp) / d
    return A, B, C, D


def state_variable_filter(x: torch.Tensor, cutoff, damping, sample_rate: float, lowpass_gain=1.0,
                          bandpass_gain=0.0, highpass_gain=0.0, state: torch.Tensor | None = None):
    """Filter ``x`` ``(..., time)`` with the TPT state-variable filter (see the module docstring).

    Args:
        x: signal ``(..., time)``.
        cutoff: Hz in ``(0, sample_rate / 2)``; a number or tensor.
        damping: :math:`R > 0`; a number or tensor.
        sample_rate: Hz.
        lowpass_gain, bandpass_gain, highpass_gain: band-mix gains, any real values
            (default: low-pass output). :math:`c_{LP} = c_{HP} = 1, c_{BP} = 0` is a notch,
            :math:`c_{BP} = 2R` a unit-peak band-pass.
        state: optional TPT state :math:`(s_1, s_2)` ``(..., 2)``; the call then returns
            ``(y, final_state)`` and block-by-block calls equal one call.

    A control tensor with as many dimensions as ``x`` is time-varying: its last axis has one
    value per frame (``frames`` dividing ``time``, or ``frames == time`` for per-sample
    control), held for ``time / frames`` samples; time-varying controls must agree on
    ``frames`` (or have 1). Lower-dimensional controls are fixed and broadcast with
    ``x.shape[:-1]``. Differentiable with respect to ``x``, every control and ``state``.
    """
    check_tensor("x", x, min_dim=1)
    time = x.shape[-1]
    named = {"cutoff": cutoff, "damping": damping, "lowpass_gain": lowpass_gain,
             "bandpass_gain": bandpass_gain, "highpass_gain": highpass_gain}
    named = {k: as_tensor_argument(k, v, x) for k, v in named.items()}      # numbers take x's dtype and device
    cutoff, damping, lowpass_gain, bandpass_gain, highpass_gain = named.values()
    frame_counts = {}
    for name, value in named.items():
        if isinstance(value, torch.Tensor):
            if value.dim() > x.dim():
                raise ValueError(f"{name}: expected at most {x.dim()} dimensions (x has {x.dim()}; the last is "
                                 f"then the frame axis), received shape {tuple(value.shape)}")
            if value.dim() == x.dim():
                frame_counts[name] = value.shape[-1]
    counts = set(frame_counts.values()) - {1}
    if len(counts) > 1:
        raise ValueError(f"{', '.join(frame_counts)}: time-varying controls need the same number of frames, "
                         f"received {frame_counts}")
    frames = counts.pop() if counts else 1
    if frame_counts and (frames == 0 or time % frames != 0):
        raise ValueError(f"{', '.join(frame_counts)}: expected a number of frames dividing time = {time}, "
                         f"received {frames}")
    varying = bool(frame_counts)
    if not varying:
        # Fixed controls: the equivalent biquad through lfilter, or the state-space core for a given state.
        b, a = svf_coefficients(cutoff, damping, sample_rate, lowpass_gain, bandpass_gain, highpass_gain)
        if state is None:
            from torchddsp.functional.filters.iir.lfilter import lfilter
            return lfilter(b, a, x)
        named = {k: v.unsqueeze(-1) for k, v in named.items()}
    else:   # fixed controls get a frame axis of size 1
        named = {k: (v if v.dim() == x.dim() else v.unsqueeze(-1)) for k, v in named.items()}
    A, B, C, D = svf_state_space(named["cutoff"], named["damping"], sample_rate, named["lowpass_gain"],
                                 named["bandpass_gain"], named["highpass_gain"])
    b, a = svf_coefficients(named["cutoff"], named["damping"], sample_rate, named["lowpass_gain"],
                            named["bandpass_gain"], named["highpass_gain"])
    shapes = [D.shape[:-1], x.shape[:-1]]
    if state is not None:
        check_tensor("state", state, min_dim=1)
        if state.shape[-1] != 2:
            raise ValueError(f"state: expected the TPT state (s1, s2) on the last axis, received shape "
                             f"{tuple(state.shape)}")
        shapes.append(state.shape[:-1])
    lead = broadcast_or_raise("x, controls, state", *shapes)
    dtype = torch.promote_types(x.dtype, A.dtype)
    if state is not None:
        dtype = torch.promote_types(dtype, state.dtype)
    nf = D.shape[-1]
    A, B, C, D = (A.to(dtype).expand(*lead, nf, 2, 2), B.to(dtype).expand(*lead, nf, 2),
                  C.to(dtype).expand(*lead, nf, 2), D.to(dtype).expand(*lead, nf))
    b, a = b.to(dtype).expand(*lead, nf, 3), a.to(dtype).expand(*lead, nf, 3)
    u = x.to(dtype).expand(*lead, time)
    x0 = state.to(dtype).expand(*lead, 2) if state is not None else None
    if time == 0:
        y = u + 0 * (b.sum() + a.sum())
        return y if x0 is None else (y, x0)
    return framewise_state_space(A, B, C, D, u, x0, tf=(b, a))
