"""Frequency sampling of IIR filters (review §3.1.1.2; Nercessian 2020; Masuda & Saito 2021).

The response of ``B(z) / A(z)`` on the unit circle,

.. math:: H(e^{j\\omega}) = \\frac{\\sum_{k=0}^{M} b_k e^{-j\\omega k}}{\\sum_{k=0}^{N} a_k e^{-j\\omega k}},

is differentiable in the coefficients (and in ``\\omega``), so a loss can be put on it directly,
or a signal filtered by multiplying spectra, without back-propagation through a recursion.

- :func:`freqz` / :func:`sosfreqz`: ``scipy.signal.freqz`` / ``sosfreqz`` semantics. With
  ``worN`` an integer ``K``, the response at ``K`` uniformly spaced frequencies comes from real
  FFTs of the zero-padded coefficients; with ``worN`` a tensor of frequencies (in the units of
  ``fs``) of shape ``(..., K)`` it is evaluated exactly there, e.g. at the harmonics of an
  additive synthesiser, frame by frame (Masuda & Saito 2021).
- :func:`frequency_sampled_filter`: filtering by spectral multiplication with the response
  sampled at the ``n_fft`` DFT frequencies (Nercessian et al. 2021). This applies the
  length-``n_fft`` FIR whose DFT is the sampled response, i.e. the time-aliased impulse response

  .. math:: \\tilde h[n] = \\sum_{m \\ge 0} h[n + m\\, n_{\\mathrm{fft}}], \\quad 0 \\le n < n_{\\mathrm{fft}},

  by circular convolution. For an input of ``T <= n_fft`` samples the error against exact
  filtering (``lfilter``) is bounded by

  .. math:: |\\tilde y[n] - y[n]| \\le \\max_k |x[k]| \\sum_{j \\ge n_{\\mathrm{fft}} - T + 1} |h[j]|,

  which for poles of radius at most ``r`` decays like ``r^{n_fft - T}``: the trade-off between
  accuracy and cost is the choice of ``n_fft`` relative to the decay time of the impulse
  response.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import broadcast_or_raise, check_positive, check_positive_int, check_tensor, checking_values
from torchddsp.functional.filters.iir.sosfilt import check_sos

TWO_PI = 2.0 * math.pi


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _fold(coeffs: torch.Tensor, n_fft: int) -> torch.Tensor:
    """Sum ``coeffs`` over blocks of ``n_fft`` (time aliasing): exact at the ``n_fft`` DFT frequencies."""
    length = coeffs.shape[-1]
    if length <= n_fft:
        return coeffs
    blocks = -(-length // n_fft)
    padded = torch.nn.functional.pad(coeffs, (0, blocks * n_fft - length))
    return padded.reshape(*coeffs.shape[:-1], blocks, n_fft).sum(-2)


def _polynomial_at(coeffs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``sum_k c_k exp(-j w k)`` for real ``coeffs`` ``(..., n)`` and ``w`` ``(..., K)`` in rad/sample."""
    k = torch.arange(coeffs.shape[-1], dtype=w.dtype, device=w.device)
    phase = w.unsqueeze(-1) * k                                             # (..., K, n)
    c = coeffs.unsqueeze(-2)
    return torch.complex((c * torch.cos(phase)).sum(-1), -(c * torch.sin(phase)).sum(-1))


def _check_coefficients(b: torch.Tensor, a: torch.Tensor | None):
    check_tensor("b", b, min_dim=1)
    if b.shape[-1] == 0:
        raise ValueError(f"b: expected at least one coefficient, received shape {tuple(b.shape)}")
    if b.is_complex():
        raise ValueError(f"b: expected real coefficients, received dtype {b.dtype}")
    if a is None:
        a = torch.ones(1, dtype=b.dtype, device=b.device)
    check_tensor("a", a, min_dim=1)
    if a.shape[-1] == 0:
        raise ValueError(f"a: expected at least one coefficient, received shape {tuple(a.shape)}")
    if a.is_complex():
        raise ValueError(f"a: expected real coefficients, received dtype {a.dtype}")
    if checking_values() and bool((a[..., 0] == 0).any()):
        raise ValueError("a: expected a[..., 0] != 0 (the recursion divides by it), received a zero leading "
                         "coefficient")
    broadcast_or_raise("b, a", b.shape[:-1], a.shape[:-1])
    dtype = torch.promote_types(b.dtype, a.dtype)
    return b.to(dtype), a.to(dtype)


def _check_worN(worN, fs):
    if isinstance(worN, torch.Tensor):
        check_tensor("worN", worN, min_dim=1)
        if worN.is_complex():
            raise ValueError(f"worN: expected real frequencies, received dtype {worN.dtype}")
        return worN
    if isinstance(worN, bool) or not isinstance(worN, int) or worN < 0:
        raise ValueError(f"worN: expected an integer >= 0 (number of frequencies) or a tensor of "
                         f"frequencies, received {worN!r}")
    return worN


def _fft(coeffs: torch.Tensor, n_fft: int, real: bool) -> torch.Tensor:
    """(Real) FFT of the folded coefficients; an empty batch gives an empty result (MKL rejects it)."""
    folded = _fold(coeffs, n_fft)
    if folded.numel() == 0:
        bins = n_fft // 2 + 1 if real else n_fft
        return torch.zeros(*coeffs.shape[:-1], bins, dtype=_complex_dtype(coeffs.dtype), device=coeffs.device)
    return torch.fft.rfft(folded, n=n_fft) if real else torch.fft.fft(folded, n=n_fft)


def _dft_response(b: torch.Tensor, a: torch.Tensor, n_fft: int, count: int) -> torch.Tensor:
    """``B / A`` at ``2 pi k / n_fft`` for ``k < count`` (``count <= n_fft // 2 + 1``) via real FFTs."""
    num = _fft(b, n_fft, True)[..., :count]
    if a.shape[-1] == 1:
        return num / a
    return num / _fft(a, n_fft, True)[..., :count]


def freqz(b: torch.Tensor, a: torch.Tensor | None = None, worN=512, whole: bool = False,
          fs: float = TWO_PI, include_nyquist: bool = False):
    """Frequency response of ``B(z) / A(z)``, as ``scipy.signal.freqz``, differentiable.

    Args:
        b: numerator ``(..., M+1)``.
        a: denominator ``(..., N+1)`` (``None``: 1); leading dimensions broadcast with ``b``'s.
        worN: an integer ``K`` (``K`` frequencies uniformly spaced over ``[0, fs/2)``, or
            ``[0, fs)`` with ``whole=True``, or ``[0, fs/2]`` with ``include_nyquist=True``), or
            a real tensor ``(..., K)`` of frequencies in the units of ``fs`` (Hz when ``fs`` is a
            sample rate; rad/sample with the default ``fs = 2 pi``), whose leading dimensions
            broadcast with the coefficients', e.g. per-frame harmonics ``(..., frames, K)`` with
            per-frame coefficients ``(..., frames, 3)``.
        whole, include_nyquist: as in SciPy (only used when ``worN`` is an integer).
        fs: sample rate (a number > 0).

    Returns:
        ``(w, h)``: the frequencies (in the units of ``fs``; ``worN`` itself when it is a
        tensor) and the complex response ``(..., K)``. Differentiable with respect to ``b``,
        ``a`` and (tensor) ``worN``.
    """
    b, a = _check_coefficients(b, a)
    worN = _check_worN(worN, fs)
    check_positive("fs", fs)
    if isinstance(worN, torch.Tensor):
        dtype = torch.promote_types(b.dtype, worN.dtype)
        b, a = b.to(dtype), a.to(dtype)
        w = worN.to(dtype) * (TWO_PI / fs)
        return worN, _polynomial_at(b, w) / _polynomial_at(a, w)

    count = worN
    last = TWO_PI if whole else math.pi
    endpoint = include_nyquist and not whole
    step = last / max(count - 1, 1) if endpoint else last / max(count, 1)
    w = torch.arange(count, dtype=b.dtype, device=b.device) * step
    n_fft = count if whole else 2 * (count - 1) if include_nyquist else 2 * count
    if n_fft < 1:                                   # 0 or 1 point with include_nyquist: evaluate directly
        h = _polynomial_at(b, w) / _polynomial_at(a, w)
    elif whole:
        h = _fft(b, n_fft, False) / _fft(a, n_fft, False)
    else:
        h = _dft_response(b, a, n_fft, count)
    return w * (fs / TWO_PI), h


def sosfreqz(sos: torch.Tensor, worN=512, whole: bool = False, fs: float = TWO_PI,
             include_nyquist: bool = False):
    """Frequency response of a cascade of biquads, as ``scipy.signal.sosfreqz``, differentiable.

    Args:
        sos: ``(..., n_sections, 6)``, rows ``[b0, b1, b2, a0, a1, a2]``.
        worN, whole, fs, include_nyquist: as :func:`freqz`. A tensor ``worN`` ``(..., K)``
            broadcasts with ``sos.shape[:-2]`` (e.g. per-frame sections ``(..., frames,
            n_sections, 6)`` with per-frame frequencies ``(..., frames, K)``).

    Returns:
        ``(w, h)`` with ``h`` ``(..., K)``: the product of the sections' responses.
    """
    check_sos(sos)
    worN = _check_worN(worN, fs)
    per_section = worN.unsqueeze(-2) if isinstance(worN, torch.Tensor) else worN
    w, h = freqz(sos[..., :3], sos[..., 3:], per_section, whole=whole, fs=fs, include_nyquist=include_nyquist)
    response = None
    for s in range(h.shape[-2]):                    # product over sections (complex prod without torch.prod)
        response = h[..., s, :] if response is None else response * h[..., s, :]
    if response is None:
        response = torch.ones(h.shape[:-2] + h.shape[-1:], dtype=h.dtype, device=h.device)
    return (worN if isinstance(worN, torch.Tensor) else w), response


def frequency_sampled_filter(x: torch.Tensor, b: torch.Tensor | None = None, a: torch.Tensor | None = None, *,
                             sos: torch.Tensor | None = None, n_fft: int) -> torch.Tensor:
    """Filter ``x`` by multiplying its DFT with the filter's response sampled at ``n_fft`` points.

    .. math:: \\tilde y = \\mathrm{IDFT}_{n_{\\mathrm{fft}}}\\big(X[k]\\, H(e^{j 2\\pi k / n_{\\mathrm{fft}}})\\big)[0:T]

    i.e. circular convolution of the zero-padded input with the time-aliased impulse response
    (see the module docstring for the error bound). The result approaches ``lfilter(b, a, x)``
    as ``n_fft`` grows relative to the decay time of the impulse response; it is exact for an
    FIR filter when ``n_fft >= T + M``. Fixed (time-invariant) coefficients only.

    Args:
        x: signal ``(..., T)``.
        b, a: numerator ``(..., M+1)`` and denominator ``(..., N+1)`` (``a=None``: FIR), or
        sos: ``(..., n_sections, 6)`` instead of ``b`` and ``a``. Leading dimensions broadcast
            with ``x``'s.
        n_fft: DFT size, an integer ``>= T`` (the trade-off between accuracy and cost).

    Returns:
        ``(..., T)``. Differentiable with respect to ``x`` and the coefficients.
    """
    check_tensor("x", x, min_dim=1)
    if x.is_complex():
        raise ValueError(f"x: expected a real signal, received dtype {x.dtype}")
    check_positive_int("n_fft", n_fft)
    time = x.shape[-1]
    if n_fft < time:
        raise ValueError(f"n_fft: expected an integer >= the signal length {time} (the filter is a "
                         f"circular convolution of length n_fft), received {n_fft}")
    count = n_fft // 2 + 1
    if sos is not None:
        if b is not None or a is not None:
            raise ValueError("sos: give either b (and a) or sos, received both")
        check_sos(sos)
        response = _dft_response(sos[..., :3], sos[..., 3:], n_fft, count)      # (..., n_sections, count)
        h = None
        for s in range(response.shape[-2]):
            h = response[..., s, :] if h is None else h * response[..., s, :]
        if h is None:
            h = torch.ones(response.shape[:-2] + (count,), dtype=response.dtype, device=response.device)
    else:
        if b is None:
            raise ValueError("b: expected the numerator coefficients (or sos=...), received None")
        b, a = _check_coefficients(b, a)
        h = _dft_response(b, a, n_fft, count)
    lead = broadcast_or_raise("x and the coefficients", x.shape[:-1], h.shape[:-1])
    dtype = torch.promote_types(x.dtype, h.real.dtype)
    if x.numel() == 0 or h.numel() == 0:            # empty batch or signal (MKL rejects empty FFTs)
        return x.to(dtype).new_zeros(*lead, time) + 0 * x.to(dtype).sum() + 0 * h.real.to(dtype).sum()
    spectrum = torch.fft.rfft(x.to(dtype), n=n_fft) * h.to(_complex_dtype(dtype))
    return torch.fft.irfft(spectrum, n=n_fft)[..., :time].expand(*lead, time)
