"""Parametric equaliser biquads from (frequency, gain, Q): the Audio EQ Cookbook designs.

Robert Bristow-Johnson's cookbook designs are bilinear transforms (with the centre/corner
frequency pre-warped) of second-order analogue prototypes. With

.. math:: \\omega_0 = 2\\pi f_0 / f_s,\\quad c = \\cos\\omega_0,\\quad \\alpha = \\frac{\\sin\\omega_0}{2Q},
          \\quad A = 10^{G/40},

the sections ``[b0, b1, b2, a0, a1, a2]`` (before division by ``a0``) are

============ ============================================= ====================================================
type         numerator ``b``                               denominator ``a``
============ ============================================= ====================================================
lowpass      ``(1-c)/2, 1-c, (1-c)/2``                       ``1+alpha, -2c, 1-alpha``
highpass     ``(1+c)/2, -(1+c), (1+c)/2``                    ``1+alpha, -2c, 1-alpha``
bandpass     ``alpha, 0, -alpha`` (0 dB peak)                ``1+alpha, -2c, 1-alpha``
notch        ``1, -2c, 1``                                   ``1+alpha, -2c, 1-alpha``
allpass      ``1-alpha, -2c, 1+alpha``                       ``1+alpha, -2c, 1-alpha``
peak         ``1+alpha A, -2c, 1-alpha A``                   ``1+alpha/A, -2c, 1-alpha/A``
lowshelf     ``A[(A+1)-(A-1)c+2 sqrt(A) alpha,``             ``(A+1)+(A-1)c+2 sqrt(A) alpha,``
             ``2((A-1)-(A+1)c), (A+1)-(A-1)c-2 sqrt(A) alpha]`` ``-2((A-1)+(A+1)c), (A+1)+(A-1)c-2 sqrt(A) alpha``
highshelf    ``A[(A+1)+(A-1)c+2 sqrt(A) alpha,``             ``(A+1)-(A-1)c+2 sqrt(A) alpha,``
             ``-2((A-1)+(A+1)c), (A+1)+(A-1)c-2 sqrt(A) alpha]`` ``2((A-1)-(A+1)c), (A+1)-(A-1)c-2 sqrt(A) alpha``
============ ============================================= ====================================================

Every design is stable for ``0 < f_0 < f_s / 2`` and ``Q > 0`` (the analogue prototypes have
their poles in the left half-plane, which the bilinear transform maps inside the unit circle).
The peak filter has gain ``G`` dB at ``f_0``; the low (high) shelf has gain ``G`` dB at DC
(Nyquist) and 0 dB at the other end; ``Q = 1/sqrt(2)`` gives the Butterworth low/high-pass.
Shelves use ``Q`` directly (``Q = 1/sqrt(2)`` is the cookbook's shelf slope ``S = 1``).
Nercessian (2020) trains cascades of such shelving and peak filters by frequency sampling.

Parameters may be batched and per frame: ``frequency`` ``(..., frames)`` gives sections
``(..., frames, 6)`` and, for a cascade, :func:`parametric_eq` with ``(..., frames, n_bands)``
gives ``(..., frames, n_bands, 6)``, which ``sosfilt`` treats as time-varying.

User-supplied values outside the domain raise ``ValueError`` naming the argument (nothing is
clamped); to drive the designs from a network use :func:`eq_controls_from_logits`, whose
smooth activations can only produce valid values.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from torchddsp.checks import broadcast_or_raise, check_choice, check_positive, checking_values

FILTER_TYPES = ("lowpass", "highpass", "bandpass", "notch", "allpass", "peak", "lowshelf", "highshelf")
GAIN_TYPES = ("peak", "lowshelf", "highshelf")
MAX_GAIN_DB = 200.0   # |gain| above this overflows float32 in the shelf formulas (A^2 ~ 10^(G/20))


def _tensors(named: dict, reference=None):
    """Convert numbers to tensors of a common floating dtype and device; keep tensors (cast to that dtype)."""
    tensors = [v for v in named.values() if isinstance(v, torch.Tensor)]
    for name, value in named.items():
        if isinstance(value, torch.Tensor):
            if value.is_complex() or not value.is_floating_point():
                raise ValueError(f"{name}: expected a real floating-point tensor, received dtype {value.dtype}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: expected a number or a torch.Tensor, received {type(value).__name__}")
    dtype = torch.get_default_dtype()
    device = None
    if tensors:
        dtype = tensors[0].dtype
        device = tensors[0].device
        for t in tensors[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
    return {name: (value.to(dtype) if isinstance(value, torch.Tensor)
                   else torch.tensor(float(value), dtype=dtype, device=device))
            for name, value in named.items()}


def _describe(value: torch.Tensor) -> str:
    v = value.detach()
    if v.numel() == 1:
        return f"{v.item()!r}"
    finite = v[torch.isfinite(v)]
    extra = "" if finite.numel() == v.numel() else f", {v.numel() - finite.numel()} non-finite"
    if finite.numel() == 0:
        return f"shape {tuple(v.shape)} with no finite value"
    return f"values in [{finite.min().item():.6g}, {finite.max().item():.6g}]{extra} (shape {tuple(v.shape)})"


def _check_frequency(frequency: torch.Tensor, sample_rate: float, name: str = "frequency") -> None:
    v = frequency.detach()
    if not checking_values():
        return
    if not bool((torch.isfinite(v) & (v > 0) & (v < sample_rate / 2)).all()):
        raise ValueError(f"{name}: expected frequencies in Hz strictly between 0 and the Nyquist frequency "
                         f"{sample_rate / 2:g} (sample_rate={sample_rate:g}), received {_describe(v)}")


def _check_q(q: torch.Tensor, name: str = "q") -> None:
    v = q.detach()
    if not checking_values():
        return
    if not bool((torch.isfinite(v) & (v > 0)).all()):
        raise ValueError(f"{name}: expected finite Q factors > 0, received {_describe(v)}")


def _check_gain(gain_db: torch.Tensor, name: str = "gain_db") -> None:
    v = gain_db.detach()
    if not checking_values():
        return
    if not bool((torch.isfinite(v) & (v.abs() <= MAX_GAIN_DB)).all()):
        raise ValueError(f"{name}: expected gains in dB with |gain_db| <= {MAX_GAIN_DB:g}, received {_describe(v)}")


def _section(filter_type: str, frequency: torch.Tensor, gain_db: torch.Tensor | None, q: torch.Tensor,
             sample_rate: float) -> torch.Tensor:
    """One cookbook design (inputs already checked and broadcastable) -> ``(..., 6)`` with ``a0 = 1``."""
    w0 = (2.0 * math.pi / sample_rate) * frequency
    half = 0.5 * w0
    c = torch.cos(w0)
    one_minus_c = 2.0 * torch.sin(half) ** 2          # accurate at low frequencies
    one_plus_c = 2.0 * torch.cos(half) ** 2
    alpha = torch.sin(w0) / (2.0 * q)
    one = torch.ones_like(alpha)
    if filter_type in GAIN_TYPES:
        amp = torch.pow(10.0, gain_db / 40.0)
    if filter_type == "lowpass":
        b = [0.5 * one_minus_c, one_minus_c, 0.5 * one_minus_c]
    elif filter_type == "highpass":
        b = [0.5 * one_plus_c, -one_plus_c, 0.5 * one_plus_c]
    elif filter_type == "bandpass":
        b = [alpha, torch.zeros_like(alpha), -alpha]
    elif filter_type == "notch":
        b = [one, -2.0 * c, one]
    elif filter_type == "allpass":
        b = [one - alpha, -2.0 * c, one + alpha]
    elif filter_type == "peak":
        b = [one + alpha * amp, -2.0 * c, one - alpha * amp]
        a = [one + alpha / amp, -2.0 * c, one - alpha / amp]
    else:
        root = 2.0 * torch.sqrt(amp) * alpha
        sign = 1.0 if filter_type == "lowshelf" else -1.0
        p, m = amp + 1.0, amp - 1.0
        b = [amp * (p - sign * m * c + root), sign * 2.0 * amp * (m - sign * p * c), amp * (p - sign * m * c - root)]
        a = [p + sign * m * c + root, -sign * 2.0 * (m + sign * p * c), p + sign * m * c - root]
    if filter_type not in GAIN_TYPES:
        a = [one + alpha, -2.0 * c, one - alpha]
    a0 = a[0]
    rows = [coef / a0 for coef in b] + [one, a[1] / a0, a[2] / a0]
    return torch.stack(torch.broadcast_tensors(*rows), dim=-1)


def biquad_design(filter_type: str, frequency, gain_db, q, sample_rate: float) -> torch.Tensor:
    """One cookbook biquad (see the module docstring for the equations).

    Args:
        filter_type: one of ``FILTER_TYPES``.
        frequency: centre / corner frequency in Hz, ``0 < frequency < sample_rate / 2``; a number
            or a tensor ``(...)`` (e.g. ``(..., frames)`` for time-varying sections).
        gain_db: gain in dB (``|gain_db| <= 200``) for ``peak``, ``lowshelf``, ``highshelf``; ignored
            (may be ``None``) for the other types.
        q: quality factor ``> 0`` (a number or a tensor).
        sample_rate: in Hz.

    Returns:
        ``(..., 6)`` rows ``[b0, b1, b2, 1, a1, a2]`` (the broadcast shape of the parameters),
        differentiable with respect to ``frequency``, ``gain_db`` and ``q``.
    """
    check_choice("filter_type", filter_type, FILTER_TYPES)
    check_positive("sample_rate", sample_rate)
    uses_gain = filter_type in GAIN_TYPES
    if uses_gain and gain_db is None:
        raise ValueError(f"gain_db: the {filter_type!r} filter needs a gain in dB, received None")
    named = {"frequency": frequency, "q": q}
    if uses_gain:
        named["gain_db"] = gain_db
    values = _tensors(named)
    _check_frequency(values["frequency"], sample_rate)
    _check_q(values["q"])
    if uses_gain:
        _check_gain(values["gain_db"])
    broadcast_or_raise(', '.join(values), *(v.shape for v in values.values()))
    return _section(filter_type, values["frequency"], values.get("gain_db"), values["q"], float(sample_rate))


def lowpass_biquad(frequency, q, sample_rate: float) -> torch.Tensor:
    """Second-order low-pass, -3 dB at ``frequency`` when ``q = 1/sqrt(2)`` (then a Butterworth); ``(..., 6)``."""
    return biquad_design("lowpass", frequency, None, q, sample_rate)


def highpass_biquad(frequency, q, sample_rate: float) -> torch.Tensor:
    """Second-order high-pass (``q = 1/sqrt(2)``: Butterworth); ``(..., 6)``."""
    return biquad_design("highpass", frequency, None, q, sample_rate)


def bandpass_biquad(frequency, q, sample_rate: float) -> torch.Tensor:
    """Band-pass with 0 dB gain at ``frequency``; ``(..., 6)``."""
    return biquad_design("bandpass", frequency, None, q, sample_rate)


def notch_biquad(frequency, q, sample_rate: float) -> torch.Tensor:
    """Notch (zeros on the unit circle at ``frequency``), 0 dB at DC and Nyquist; ``(..., 6)``."""
    return biquad_design("notch", frequency, None, q, sample_rate)


def allpass_biquad(frequency, q, sample_rate: float) -> torch.Tensor:
    """All-pass, phase ``-pi`` at ``frequency``, unit magnitude everywhere; ``(..., 6)``."""
    return biquad_design("allpass", frequency, None, q, sample_rate)


def peak_biquad(frequency, gain_db, q, sample_rate: float) -> torch.Tensor:
    """Peaking EQ: ``gain_db`` at ``frequency``, 0 dB at DC and Nyquist; ``(..., 6)``."""
    return biquad_design("peak", frequency, gain_db, q, sample_rate)


def lowshelf_biquad(frequency, gain_db, q, sample_rate: float) -> torch.Tensor:
    """Low shelf: ``gain_db`` at DC, 0 dB at Nyquist, ``gain_db / 2`` at ``frequency``; ``(..., 6)``."""
    return biquad_design("lowshelf", frequency, gain_db, q, sample_rate)


def highshelf_biquad(frequency, gain_db, q, sample_rate: float) -> torch.Tensor:
    """High shelf: 0 dB at DC, ``gain_db`` at Nyquist, ``gain_db / 2`` at ``frequency``; ``(..., 6)``."""
    return biquad_design("highshelf", frequency, gain_db, q, sample_rate)


def parametric_eq(filter_types: Sequence[str], frequency, gain_db, q, sample_rate: float) -> torch.Tensor:
    """Cascade of cookbook biquads, one per band, as second-order sections.

    Args:
        filter_types: ``n_bands`` names from ``FILTER_TYPES`` (e.g. ``["lowshelf", "peak", "highshelf"]``).
        frequency, gain_db, q: tensors ``(..., n_bands)`` (or numbers, shared by every band);
            ``gain_db`` is ignored for bands without a gain (it may be ``None`` when no band has one).
            Per-frame parameters ``(..., frames, n_bands)`` give time-varying sections.
        sample_rate: in Hz.

    Returns:
        ``sos`` ``(..., n_bands, 6)`` for ``sosfilt`` / ``sosfreqz``. Differentiable.
    """
    if isinstance(filter_types, str) or not isinstance(filter_types, Sequence) or len(filter_types) == 0:
        raise ValueError(f"filter_types: expected a non-empty sequence of names from {list(FILTER_TYPES)}, "
                         f"received {filter_types!r}")
    for kind in filter_types:
        check_choice("filter_types", kind, FILTER_TYPES)
    check_positive("sample_rate", sample_rate)
    bands = len(filter_types)
    uses_gain = any(kind in GAIN_TYPES for kind in filter_types)
    if uses_gain and gain_db is None:
        raise ValueError("gain_db: a peak or shelf band needs gains in dB, received None")
    named = {"frequency": frequency, "q": q}
    if uses_gain:
        named["gain_db"] = gain_db
    values = _tensors(named)
    for name, value in values.items():
        if value.dim() == 0:
            values[name] = value.expand(bands)
        elif value.shape[-1] not in (1, bands):
            raise ValueError(f"{name}: expected {bands} values (one per band) on the last axis, "
                             f"received shape {tuple(value.shape)}")
    _check_frequency(values["frequency"], sample_rate)
    _check_q(values["q"])
    if uses_gain:
        gains = values["gain_db"]
        with_gain = [i for i, kind in enumerate(filter_types) if kind in GAIN_TYPES]
        _check_gain(gains if gains.shape[-1] == 1 else gains[..., with_gain])
    lead = broadcast_or_raise(', '.join(values), *(v.shape[:-1] for v in values.values()))

    def band(name, i):
        value = values.get(name)
        return None if value is None else value[..., i if value.shape[-1] > 1 else 0]

    sections = [_section(kind, band("frequency", i), band("gain_db", i), band("q", i), float(sample_rate))
                .expand(*lead, 6) for i, kind in enumerate(filter_types)]
    return torch.stack(sections, dim=-2)


def eq_controls_from_logits(frequency_logits: torch.Tensor, gain_logits: torch.Tensor | None,
                            q_logits: torch.Tensor, sample_rate: float, *, min_frequency: float = 20.0,
                            max_frequency: float | None = None, max_gain_db: float = 24.0,
                            min_q: float = 0.1, max_q: float = 10.0):
    """Map unconstrained network outputs to valid EQ controls with smooth, bounded activations.

    .. math::

        f = f_{\\min} (f_{\\max} / f_{\\min})^{\\sigma(u_f)}, \\qquad
        G = G_{\\max} \\tanh(u_G), \\qquad
        Q = Q_{\\min} (Q_{\\max} / Q_{\\min})^{\\sigma(u_Q)}

    (log-scaled frequency and Q, as bounded versions of Nercessian et al. 2021's
    ``Q <- Q_max / (1 + e^Q)``). Every output is valid for :func:`biquad_design` whatever the
    logits, including huge ones: ``f`` stays in ``[min_frequency, max_frequency]`` inside
    ``(0, sample_rate / 2)``, ``Q`` in ``[min_q, max_q]``.

    Args:
        frequency_logits, gain_logits, q_logits: real tensors of any shape (``gain_logits`` may be
            ``None``, giving ``None``).
        sample_rate: in Hz.
        min_frequency, max_frequency: bounds in Hz, ``0 < min < max < sample_rate / 2``
            (default ``max_frequency = 0.49 * sample_rate``).
        max_gain_db: gain bound in dB, in ``(0, 200]``.
        min_q, max_q: ``0 < min_q < max_q``.

    Returns:
        ``(frequency, gain_db, q)``, differentiable with respect to the logits.
    """
    check_positive("sample_rate", sample_rate)
    nyquist = sample_rate / 2
    if max_frequency is None:
        max_frequency = 0.49 * sample_rate
    check_positive("min_frequency", min_frequency)
    check_positive("max_frequency", max_frequency)
    if not max_frequency < nyquist:
        raise ValueError(f"max_frequency: expected a value below the Nyquist frequency {nyquist:g}, "
                         f"received {max_frequency!r}")
    if not min_frequency < max_frequency:
        raise ValueError(f"min_frequency: expected a value below max_frequency={max_frequency:g}, "
                         f"received {min_frequency!r}")
    check_positive("max_gain_db", max_gain_db)
    if max_gain_db > MAX_GAIN_DB:
        raise ValueError(f"max_gain_db: expected a value <= {MAX_GAIN_DB:g}, received {max_gain_db!r}")
    check_positive("min_q", min_q)
    check_positive("max_q", max_q)
    if not min_q < max_q:
        raise ValueError(f"min_q: expected a value below max_q={max_q:g}, received {min_q!r}")
    logits = {"frequency_logits": frequency_logits, "q_logits": q_logits}
    if gain_logits is not None:
        logits["gain_logits"] = gain_logits
    for name, value in logits.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ValueError(f"{name}: expected a real floating-point tensor, received "
                             f"{type(value).__name__ if not isinstance(value, torch.Tensor) else value.dtype}")
    frequency = min_frequency * torch.exp(torch.sigmoid(frequency_logits) * math.log(max_frequency / min_frequency))
    q = min_q * torch.exp(torch.sigmoid(q_logits) * math.log(max_q / min_q))
    gain_db = None if gain_logits is None else max_gain_db * torch.tanh(gain_logits)
    return frequency, gain_db, q
