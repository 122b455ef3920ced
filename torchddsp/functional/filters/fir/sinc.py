"""Windowed-sinc low-pass and high-pass FIR filters with a time-varying cutoff.

Wang & Yamagishi, "Neural source-filter-based waveform model for statistical parametric speech
synthesis" (ICASSP 2019) and its harmonic-plus-noise follow-up filter a harmonic and a noise
source with a pair of windowed-sinc filters whose cutoff :math:`f_c[m]` is predicted per frame
(review: Hayes et al. 2023, §3.1.2). With :math:`\\nu_m = 2\\min(f_c[m], f_s/2) / f_s \\in [0, 1]`
(the cutoff as a fraction of Nyquist), ``L`` odd taps, centre :math:`c = (L - 1)/2` and a
symmetric window :math:`w`:

.. math::

    h^{LP}_m[n] = w[n]\\,\\nu_m\\,\\mathrm{sinc}(\\nu_m (n - c)), \\qquad
    h^{HP}_m[n] = w[n]\\,\\big(\\delta[n - c] - \\nu_m\\,\\mathrm{sinc}(\\nu_m (n - c))\\big),

with :math:`\\mathrm{sinc}(x) = \\sin(\\pi x)/(\\pi x)`. These are ``scipy.signal.firwin(L, f_c,
window=w, scale=False, fs=f_s)`` (and ``pass_zero=False`` for the high-pass). With
``normalize=True`` the low-pass is scaled to unit gain at DC,
:math:`h^{LP}_m = s_m / \\sum_n s_m[n]` with :math:`s_m[n] = w[n]\\,\\mathrm{sinc}(\\nu_m(n - c))`
(``firwin(..., scale=True)``; well defined down to :math:`f_c = 0`, where it is the normalised
window), and the high-pass is :math:`\\delta[n - c] - h^{LP}_m`, with exactly zero gain at DC.

Cutoffs at or above Nyquist give, as the ideal discrete-time filters do, the identity
(delayed by ``c``) for the low-pass and zero for the high-pass; there the response no longer
depends on the cutoff, so its gradient is zero. Negative cutoffs are rejected. The filters are
linear-phase with a delay of ``c`` samples; the ``sinc_lowpass``/``sinc_highpass`` helpers remove
it by default (``compensate_delay``). Differentiable with respect to the cutoff.
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor, checking_values
from torchddsp.functional.filters.fir.time_varying import time_varying_fir
from torchddsp.functional.filters.fir.window_design import design_window


def _check_cutoff(cutoff: torch.Tensor, sample_rate: float, taps: int) -> None:
    check_tensor("cutoff", cutoff, min_dim=2)
    if cutoff.is_complex():
        raise ValueError(f"cutoff: expected a real tensor, received dtype {cutoff.dtype}")
    if cutoff.shape[-1] != 1:
        raise ValueError(f"cutoff: expected shape (..., frames, 1) (one control channel), received "
                         f"{tuple(cutoff.shape)}")
    check_positive("sample_rate", sample_rate)
    check_positive_int("taps", taps)
    if taps % 2 == 0:
        raise ValueError(f"taps: expected an odd number (a type I linear-phase filter with an integer centre), "
                         f"received {taps}")
    if cutoff.numel() and checking_values() and bool((cutoff.detach() < 0).any()):
        raise ValueError(f"cutoff: expected frequencies >= 0 Hz, received a minimum of {float(cutoff.min()):.6g}")


def _sinc_terms(cutoff, sample_rate, taps, window):
    nu = 2.0 * torch.clamp(cutoff, max=sample_rate / 2.0) / sample_rate        # (..., frames, 1), in [0, 1]
    centre = taps // 2
    lags = torch.arange(taps, dtype=cutoff.dtype, device=cutoff.device) - centre
    w = design_window(window, taps, dtype=cutoff.dtype, device=cutoff.device)
    return nu, torch.sinc(nu * lags), w, centre


def sinc_lowpass_ir(cutoff: torch.Tensor, sample_rate: float, taps: int = 63, window: str | torch.Tensor = "hamming",
                    normalize: bool = False) -> torch.Tensor:
    """Windowed-sinc low-pass impulse responses ``(..., frames, taps)``, one per frame.

    Args:
        cutoff: ``(..., frames, 1)`` cutoff frequencies in Hz, ``>= 0`` (at or above Nyquist: pass all).
        sample_rate: in Hz.
        taps: odd filter length; the filter is centred on tap ``taps // 2``.
        window: ``"hamming"`` (default, as ``firwin``), ``"hann"``, ``"blackman"``, ``"boxcar"`` or
            a symmetric tensor of ``taps`` samples.
        normalize: scale each filter to unit gain at DC.
    """
    _check_cutoff(cutoff, sample_rate, taps)
    nu, s, w, _ = _sinc_terms(cutoff, sample_rate, taps, window)
    if normalize:
        s = s * w
        return s / s.sum(-1, keepdim=True)
    return nu * s * w


def sinc_highpass_ir(cutoff: torch.Tensor, sample_rate: float, taps: int = 63, window: str | torch.Tensor = "hamming",
                     normalize: bool = False) -> torch.Tensor:
    """Windowed-sinc high-pass impulse responses ``(..., frames, taps)`` (spectral inversion of the low-pass).

    Arguments as :func:`sinc_lowpass_ir`; at or above Nyquist the filter is zero. With
    ``normalize`` it is ``delta - (normalised low-pass)``, with zero gain at DC.
    """
    _check_cutoff(cutoff, sample_rate, taps)
    nu, s, w, centre = _sinc_terms(cutoff, sample_rate, taps, window)
    if normalize:
        s = s * w
        low = s / s.sum(-1, keepdim=True)
        return _delta_minus(low, centre, 1.0)
    return _delta_minus(nu * s * w, centre, w[centre])


def _delta_minus(low: torch.Tensor, centre: int, at_centre) -> torch.Tensor:
    """``at_centre * delta[n - centre] - low[n]``."""
    delta = (torch.arange(low.shape[-1], device=low.device) == centre).to(low.dtype)
    return delta * at_centre - low


def _apply(kind, signal, cutoff, sample_rate, hop_size, taps, window, normalize, compensate_delay):
    check_tensor("signal", signal, min_dim=1)
    design = sinc_lowpass_ir if kind == "low" else sinc_highpass_ir
    irs = design(cutoff, sample_rate, taps, window, normalize)
    return time_varying_fir(signal, irs, hop_size, delay=taps // 2 if compensate_delay else 0)


def sinc_lowpass(signal: torch.Tensor, cutoff: torch.Tensor, sample_rate: float, hop_size: int, *,
                 taps: int = 63, window: str | torch.Tensor = "hamming", normalize: bool = False,
                 compensate_delay: bool = True) -> torch.Tensor:
    """Low-pass ``signal`` ``(..., time)`` with a framewise cutoff ``(..., frames, 1)`` in Hz.

    ``frames == ceil(time / hop_size)``; block ``m`` of ``hop_size`` samples is filtered by
    frame ``m``'s :func:`sinc_lowpass_ir` with overlap-add (see ``time_varying_fir``).
    ``compensate_delay`` removes the ``taps // 2``-sample delay (zero-phase alignment).
    Returns ``(..., time)``.
    """
    return _apply("low", signal, cutoff, sample_rate, hop_size, taps, window, normalize, compensate_delay)


def sinc_highpass(signal: torch.Tensor, cutoff: torch.Tensor, sample_rate: float, hop_size: int, *,
                  taps: int = 63, window: str | torch.Tensor = "hamming", normalize: bool = False,
                  compensate_delay: bool = True) -> torch.Tensor:
    """High-pass ``signal`` ``(..., time)`` with a framewise cutoff; as :func:`sinc_lowpass`."""
    return _apply("high", signal, cutoff, sample_rate, hop_size, taps, window, normalize, compensate_delay)
