r"""Autocorrelation and the Levinson-Durbin recursion (linear prediction analysis).

Polynomial convention (the one ``allpole``, ``lfilter`` and ``scipy.signal`` use): the
prediction-error (inverse) filter is

.. math:: A(z) = 1 + \sum_{i=1}^{p} a_i z^{-i}, \qquad e[n] = x[n] + \sum_{i=1}^{p} a_i\, x[n-i],

and the synthesis filter is :math:`1 / A(z)`, i.e. :math:`y[n] = e[n] - \sum_i a_i y[n-i]`.
The predictor coefficients of review Eq. 4 (Hayes et al. 2023, sec. 3.1.1.3),
:math:`y[n] = e[n] + \sum_m a_m y[n-m]`, are the negatives of these.

Biased autocorrelation of a frame :math:`x[0..N-1]`:

.. math:: r[l] = \frac{1}{N} \sum_{n=0}^{N-1-l} x[n]\, x[n+l], \qquad l = 0, \dots, L.

The biased estimate makes the Toeplitz matrix :math:`R_{ij} = r[|i-j|]` positive semi-definite,
so the LPC filter fitted to it is minimum phase (all :math:`|k_i| \le 1`).

Levinson-Durbin solves the normal equations :math:`R\,a = -[r_1, \dots, r_p]^T` in
:math:`O(p^2)`: with :math:`E_0 = r_0`, for :math:`i = 1 .. p`,

.. math::

    k_i = -\frac{r_i + \sum_{j=1}^{i-1} a^{(i-1)}_j r_{i-j}}{E_{i-1}}, \qquad
    a^{(i)}_j = a^{(i-1)}_j + k_i\, a^{(i-1)}_{i-j}, \quad a^{(i)}_i = k_i, \qquad
    E_i = E_{i-1} (1 - k_i^2).

The update of :math:`a` is review Eq. 5 (the step-up recursion of ``reflection.py``); the
:math:`k_i` are the reflection (PARCOR) coefficients and :math:`E_p` is the prediction error
power, :math:`E_p = r_0 \prod_i (1 - k_i^2)`.

Zero energy (silence). A stage whose incoming error is not positive (:math:`E_{i-1} \le 0`:
an all-zero frame, or a rounding-level negative error after an exactly predictable signal)
has no defined :math:`k_i`; it is set to :math:`k_i = 0` (the predictor stops growing) and
its gradient is zero. Silence therefore gives :math:`a = 0`, :math:`k = 0`, :math:`E = 0` and
finite gradients; every other input is untouched. For ill-conditioned frames (very high
prediction gain, especially in float32) ``white_noise`` adds the classic white-noise
correction :math:`r_0 \leftarrow r_0 (1 + \lambda)` (a noise floor :math:`10\log_{10}\lambda`
dB below the signal, e.g. ``1e-4`` for -40 dB); it is 0 by default so results match the normal
equations exactly.

References: Levinson 1947; Durbin 1960; Makhoul, "Linear prediction: a tutorial review", 1975.
Differentiable use: Subramani et al. 2022; Juvela et al. 2019 (via Hayes et al. 2023).
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_choice, check_nonnegative_int, check_tensor

AUTOCORRELATION_METHODS = ("fft", "direct")


def _check_white_noise(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"white_noise: expected a finite number >= 0, received {value!r}")
    return float(value)


def autocorrelation(x: torch.Tensor, max_lag: int, method: str = "fft") -> torch.Tensor:
    """Biased autocorrelation ``r[0..max_lag]`` of ``x`` ``(..., time)`` along its last axis.

    Returns ``(..., max_lag + 1)`` with ``r[l] = sum_{n} x[n] x[n + l] / time`` (zero for
    ``l >= time``). ``method="fft"`` zero-pads to a power of two of at least
    ``time + max_lag`` (no circular wrap-around), ``"direct"`` sums one shifted product per lag;
    both are exact and differentiable. ``time`` must be >= 1.
    """
    check_tensor("x", x, min_dim=1)
    if x.is_complex():
        raise ValueError(f"x: expected a real floating-point tensor, received dtype {x.dtype}")
    check_nonnegative_int("max_lag", max_lag)
    check_choice("method", method, AUTOCORRELATION_METHODS)
    time = x.shape[-1]
    if time == 0:
        raise ValueError(f"x: expected at least one sample on the last axis, received shape {tuple(x.shape)}")
    lags = min(max_lag, time - 1)
    if method == "direct":
        r = torch.stack([(x[..., :time - lag] * x[..., lag:]).sum(-1) for lag in range(lags + 1)], dim=-1)
    else:
        n_fft = 1 << max(0, (time + lags - 1).bit_length())
        spectrum = torch.fft.rfft(x, n=n_fft)
        power = spectrum.real.square() + spectrum.imag.square()
        r = torch.fft.irfft(power, n=n_fft)[..., :lags + 1]
    r = r / time
    if lags < max_lag:
        r = torch.nn.functional.pad(r, (0, max_lag - lags))
    return r


def levinson_durbin(r: torch.Tensor, order: int | None = None, *, white_noise: float = 0.0):
    """Solve the LPC normal equations for autocorrelations ``r`` ``(..., L + 1)`` (module docstring).

    Args:
        r: autocorrelation ``r[0], r[1], ...`` on the last axis; any leading (batch/frame) shape.
        order: the predictor order ``p`` (default ``L``); requires ``p <= L``.
        white_noise: white-noise correction ``lambda >= 0``, ``r[0] -> r[0] (1 + lambda)``.

    Returns:
        ``(a, k, error)``: LPC coefficients ``a_1 .. a_p`` ``(..., p)`` (``A(z) = 1 + sum a_i z^-i``,
        ready for ``allpole``), reflection coefficients ``k_1 .. k_p`` ``(..., p)`` and the
        prediction error power ``E_p`` ``(...)``.

    Differentiable with respect to ``r`` (a loop over the order, not over samples). For a valid
    (positive definite) autocorrelation every ``|k_i| < 1`` and ``1 / A(z)`` is stable.
    """
    check_tensor("r", r, min_dim=1)
    if r.is_complex():
        raise ValueError(f"r: expected a real floating-point tensor, received dtype {r.dtype}")
    lags = r.shape[-1] - 1
    if lags < 0:
        raise ValueError(f"r: expected at least r[0] on the last axis, received shape {tuple(r.shape)}")
    order = lags if order is None else check_nonnegative_int("order", order)
    if order > lags:
        raise ValueError(f"order: expected at most {lags} (r holds lags 0..{lags}), received {order}")
    white_noise = _check_white_noise(white_noise)
    error = r[..., 0] * (1.0 + white_noise) if white_noise else r[..., 0]
    a = r.new_zeros(*r.shape[:-1], 0)
    ks = []
    for i in range(1, order + 1):                  # loop over the order, not over samples
        acc = r[..., i] + (a * r[..., 1:i].flip(-1)).sum(-1)
        ok = error > 0
        k = torch.where(ok, -acc / torch.where(ok, error, torch.ones_like(error)), torch.zeros_like(acc))
        a = torch.cat([a + k[..., None] * a.flip(-1), k[..., None]], dim=-1)
        error = error * (1.0 - k * k)
        ks.append(k)
    k = torch.stack(ks, dim=-1) if ks else r.new_zeros(*r.shape[:-1], 0)
    return a, k, error


def lpc(x: torch.Tensor, order: int, *, method: str = "fft", white_noise: float = 0.0):
    """Autocorrelation-method LPC of frames ``x`` ``(..., frame_length)``.

    ``autocorrelation`` then ``levinson_durbin``; window the frames first (e.g. with
    ``torchddsp.functional.core.framing.frame`` and a Hann window) as usual. Returns
    ``(a, k, error)`` as :func:`levinson_durbin`, with ``error`` the residual power per sample
    (the autocorrelation is biased, i.e. divided by ``frame_length``).
    """
    check_nonnegative_int("order", order)
    return levinson_durbin(autocorrelation(x, order, method=method), order, white_noise=white_noise)
