"""Linear-phase FIR design by the window method, from frequency-sampled magnitudes.

Engel et al., "DDSP: Differentiable Digital Signal Processing", ICLR 2020 (review: Hayes et al.
2023, §3.1.2). A network outputs, per frame ``m``, a real amplitude response sampled at ``K``
frequencies equally spaced from 0 to Nyquist, :math:`M_m[k]` at :math:`f_k = k f_s / (2(K-1))`.

1. Zero-phase impulse response by the inverse real DFT of size :math:`N = 2(K - 1)`:

   .. math:: g_m[n] = \\frac{1}{N}\\Big(M_m[0] + (-1)^n M_m[K-1]
             + 2\\sum_{k=1}^{K-2} M_m[k] \\cos\\frac{2\\pi k n}{N}\\Big),

   real and even, :math:`g_m[n] = g_m[-n]` (indices modulo :math:`N`).
2. Window and shift to causal form, centred on tap :math:`c = \\lfloor L/2 \\rfloor` for a
   window of :math:`L \\le N` taps:

   .. math:: h_m[t] = w[t]\\, g_m[t - c], \\qquad t = 0, \\dots, L - 1.

The window is symmetric about :math:`c`: a named window is the symmetric window of
:math:`2c + 1` points, cut to :math:`L` (for even :math:`L` its first sample is set to zero, so
the response stays exactly linear-phase; for ``"hann"`` it already is zero, and the window equals
the periodic Hann window of length :math:`L`). :math:`h_m` is symmetric about :math:`c`: a
linear-phase filter that delays by :math:`c` samples. Its frequency response is
:math:`H_m(\\omega) = e^{-i\\omega c} G_m(\\omega)` with the real zero-phase response

.. math:: G_m(\\omega) = w[c]\\,g_m[0] + 2\\sum_{k \\ge 1} w[c + k]\\, g_m[k] \\cos(\\omega k),

which is linear in :math:`M_m`: :func:`window_design_response` evaluates it on an FFT grid as one
small matrix product, and :func:`frequency_filter` filters with it without ever forming the
impulse responses (identical, up to rounding, to :func:`window_design_ir` followed by
:func:`~torchddsp.functional.filters.fir.time_varying.time_varying_fir`).
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_positive_int, check_tensor
from torchddsp.functional.core.constant_cache import constant_cache
from torchddsp.functional.core.windows import get_window
from torchddsp.functional.filters.fir.time_varying import block_fft_size, block_filter


def _check_magnitudes(magnitudes: torch.Tensor) -> int:
    check_tensor("magnitudes", magnitudes, min_dim=2)
    if magnitudes.is_complex():
        raise ValueError(f"magnitudes: expected a real tensor, received dtype {magnitudes.dtype}")
    n_bands = magnitudes.shape[-1]
    if n_bands < 2:
        raise ValueError(f"magnitudes: expected at least 2 frequency bands (DC and Nyquist) in the last "
                         f"dimension, received shape {tuple(magnitudes.shape)}")
    return n_bands


def _window_size(window_size, n_bands: int) -> int:
    ir_size = 2 * (n_bands - 1)
    if window_size is None:
        return ir_size
    check_positive_int("window_size", window_size)
    if window_size > ir_size:
        raise ValueError(f"window_size: expected at most 2 * (n_bands - 1) = {ir_size} (the length of the "
                         f"zero-phase impulse response of {n_bands} bands), received {window_size}")
    return window_size


def design_window(window, window_size: int, *, dtype=None, device=None) -> torch.Tensor:
    """The window ``(window_size,)`` applied by the window design, symmetric about ``window_size // 2``.

    ``window`` is a name of :func:`torchddsp.functional.core.windows.get_window` (scipy's names:
    ``"hann"``, ``"hamming"``, ``"blackman"``, ``"bartlett"``, ``"boxcar"`` and their aliases) or a
    tensor of ``window_size`` samples that is already symmetric about ``window_size // 2`` (and,
    for an even size, starts with 0).
    """
    check_positive_int("window_size", window_size)
    centre = window_size // 2
    if isinstance(window, torch.Tensor):
        check_tensor("window", window, min_dim=1)
        if window.shape != (window_size,):
            raise ValueError(f"window: expected shape ({window_size},), received {tuple(window.shape)}")
        w = window.to(dtype=dtype or window.dtype, device=device or window.device)
        body = w[1:] if window_size % 2 == 0 else w
        scale = float(w.detach().abs().max()) or 1.0
        asymmetric = float((body - body.flip(-1)).detach().abs().max()) > 1e-6 * scale
        if asymmetric or (window_size % 2 == 0 and float(w[0].detach().abs()) > 1e-6 * scale):
            raise ValueError(f"window: expected a window symmetric about sample {centre} (and starting with 0 "
                             f"for an even size), received an asymmetric one")
        return w
    w = get_window(window, 2 * centre + 1, fftbins=False, dtype=torch.float64)
    w = w[:window_size].clone()
    if window_size % 2 == 0:
        w[0] = 0.0
    return w.to(dtype=dtype or torch.get_default_dtype(), device=device)


def window_design_ir(magnitudes: torch.Tensor, window_size: int | None = None,
                     window: str | torch.Tensor = "hann") -> torch.Tensor:
    """Causal linear-phase impulse responses ``(..., frames, window_size)`` from ``magnitudes``.

    ``magnitudes`` ``(..., frames, n_bands)`` is the real amplitude response at ``n_bands``
    frequencies from 0 to Nyquist (``n_bands >= 2``; negative values are allowed and flip the
    sign of a band). ``window_size`` ``L`` defaults to ``2 * (n_bands - 1)`` and must not exceed
    it. The response is centred on tap ``L // 2`` (a delay of ``L // 2`` samples); see the module
    docstring for the equation. Differentiable with respect to ``magnitudes`` (and a tensor window).
    """
    n_bands = _check_magnitudes(magnitudes)
    size = _window_size(window_size, n_bands)
    ir_size = 2 * (n_bands - 1)
    centre = size // 2
    zero_phase = torch.fft.irfft(magnitudes, ir_size)
    causal = torch.cat([zero_phase[..., ir_size - centre:], zero_phase[..., :size - centre]], dim=-1)
    return causal * design_window(window, size, dtype=causal.dtype, device=causal.device)


def _response_matrix_from_window(w: torch.Tensor, n_bands: int, n_fft: int) -> torch.Tensor:
    """``(n_bands, n_fft // 2 + 1)`` matrix ``A`` with ``G = M @ A`` (computed in ``w``'s dtype)."""
    size = w.shape[-1]
    centre = size // 2
    ir_size = 2 * (n_bands - 1)
    lags = torch.arange(size - centre, dtype=w.dtype, device=w.device)   # k = 0 .. L - 1 - c
    bands = torch.arange(n_bands, dtype=w.dtype, device=w.device)
    bins = torch.arange(n_fft // 2 + 1, dtype=w.dtype, device=w.device)
    band_weight = torch.full_like(bands, 2.0 / ir_size)
    band_weight[0] = band_weight[-1] = 1.0 / ir_size
    lag_weight = 2.0 * w[centre:]                                         # w[c + k], doubled for k >= 1
    lag_weight = torch.cat([lag_weight[:1] / 2, lag_weight[1:]])
    band_to_lag = torch.cos(2 * math.pi * bands[:, None] * lags[None, :] / ir_size) * band_weight[:, None]
    lag_to_bin = torch.cos(2 * math.pi * lags[:, None] * bins[None, :] / n_fft)
    return (band_to_lag * lag_weight) @ lag_to_bin


@constant_cache(32)
def _named_response_matrix(n_bands: int, size: int, window: str, n_fft: int, dtype, device) -> torch.Tensor:
    w = design_window(window, size, dtype=torch.float64)
    return _response_matrix_from_window(w, n_bands, n_fft).to(dtype=dtype, device=device)


def _response_matrix(magnitudes: torch.Tensor, n_bands: int, n_fft: int, size: int, window) -> torch.Tensor:
    if isinstance(window, torch.Tensor):
        w = design_window(window, size, dtype=torch.promote_types(window.dtype, magnitudes.dtype),
                          device=magnitudes.device)
        return _response_matrix_from_window(w, n_bands, n_fft).to(magnitudes.dtype)
    if not isinstance(window, str):
        raise ValueError(f"window: expected a window name or a tensor, received {type(window).__name__}")
    return _named_response_matrix(n_bands, size, window, n_fft, magnitudes.dtype, magnitudes.device)


def window_design_response(magnitudes: torch.Tensor, n_fft: int, window_size: int | None = None,
                           window: str | torch.Tensor = "hann") -> torch.Tensor:
    """Real zero-phase response ``(..., frames, n_fft // 2 + 1)`` of the window-design filter.

    :math:`G_m(2\\pi j / n_{fft})` for ``j = 0 .. n_fft // 2``: the DFT of size ``n_fft`` of the
    causal impulse response :func:`window_design_ir` is ``G * exp(-2j*pi*j*(L // 2) / n_fft)``.
    Computed as one matrix product ``magnitudes @ A`` (``A`` is cached for named windows).
    """
    n_bands = _check_magnitudes(magnitudes)
    check_positive_int("n_fft", n_fft)
    size = _window_size(window_size, n_bands)
    return magnitudes @ _response_matrix(magnitudes, n_bands, n_fft, size, window)


def frequency_filter(signal: torch.Tensor, magnitudes: torch.Tensor, hop_size: int, *,
                     window_size: int | None = None, window: str | torch.Tensor = "hann",
                     compensate_delay: bool = True, state: torch.Tensor | None = None):
    """Filter ``signal`` ``(..., time)`` with window-design filters from ``magnitudes``, frame by frame.

    Equal to ``time_varying_fir(signal, window_design_ir(magnitudes, window_size, window),
    hop_size, delay=...)`` (block ``m`` of ``hop_size`` samples is convolved with frame ``m``'s
    whole impulse response and the tails are overlap-added), but computed in the frequency domain
    from the zero-phase response (:func:`window_design_response`), which is faster and never forms
    the impulse responses.

    Args:
        signal: ``(..., time)``.
        magnitudes: ``(..., frames, n_bands)``, ``frames == ceil(time / hop_size)``; leading
            dimensions broadcast against ``signal``'s.
        hop_size: samples per frame.
        window_size, window: as in :func:`window_design_ir`.
        compensate_delay: ``True`` removes the filters' ``window_size // 2``-sample delay (the
            output is aligned with the input, a zero-phase filter; as magenta's ``frequency_filter``);
            ``False`` returns the causal filter's output (needed for streaming).
        state: streaming state as in ``time_varying_fir`` (causal only, ``compensate_delay=False``).

    Returns:
        ``(..., time)``, or ``(output, tail)`` when ``state`` is given. Differentiable with respect to the
        signal and the magnitudes.
    """
    check_tensor("signal", signal, min_dim=1)
    check_positive_int("hop_size", hop_size)
    if signal.is_complex():
        raise ValueError(f"signal: expected a real tensor, received dtype {signal.dtype}")
    n_bands = _check_magnitudes(magnitudes)
    size = _window_size(window_size, n_bands)
    magnitudes = magnitudes.to(torch.promote_types(signal.dtype, magnitudes.dtype))
    matrix = _response_matrix(magnitudes, n_bands, block_fft_size(hop_size, size), size, window)
    return block_filter(signal, (magnitudes, matrix), hop_size, size,
                        delay=size // 2 if compensate_delay else 0,
                        state=state)
