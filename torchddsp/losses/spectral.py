r"""Single-resolution spectral losses on STFT magnitudes.

Notation. ``input`` is the prediction :math:`\hat y`, ``target`` the ground truth :math:`y`, both
``(..., time)``. :math:`X = |\mathrm{STFT}(\hat y)|` and :math:`Y = |\mathrm{STFT}(y)|` are their
magnitude spectrograms, computed *per item* of the leading dimensions, with :math:`N` bins
(frequencies x frames) per item.

Magnitude (power 1, safe at zero). Every magnitude in this module is

.. math:: |Z| := \sqrt{\max(\mathrm{Re}(Z)^2 + \mathrm{Im}(Z)^2,\ \epsilon)},

i.e. the power spectrum is floored at ``eps`` (default ``1e-8``, so magnitudes are floored at
``1e-4``) before the square root, exactly as auraloss and Parallel WaveGAN do. The gradient is
the one of this formula: zero where the power is below ``eps`` (never NaN or inf, also for
all-zero signals), :math:`\mathrm{Re}(Z)/|Z|` and :math:`\mathrm{Im}(Z)/|Z|` elsewhere.

Terms (each per item, then reduced over items):

* spectral convergence (Arık et al. 2019):
  :math:`\mathcal L_{sc} = \| Y - X \|_F / \| Y \|_F`;
* log-magnitude distance (Arık et al. 2019; Engel et al. 2020), an L1 distance, mean over bins:
  :math:`\mathcal L_{log} = \frac1N \sum |\log(X + \delta) - \log(Y + \delta)|` with ``log_eps``
  :math:`\delta \ge 0` (default 0: the magnitude floor alone keeps the log finite, which is the
  auraloss definition);
* linear-magnitude distance (Engel et al. 2020), L1, mean over bins:
  :math:`\mathcal L_{lin} = \frac1N \sum |X - Y|`.

:func:`stft_loss` combines them, :math:`w_{sc}\mathcal L_{sc} + w_{log}\mathcal L_{log} +
w_{lin}\mathcal L_{lin}`, as in Parallel WaveGAN (Yamamoto et al. 2020) and DDSP (Engel et al.
2020). Its default ``implementation="fused"`` computes all terms from one pass over the STFTs and
has an analytic backward (inverse real FFT, overlap-add, padding adjoint) that is several times
cheaper than back-propagating through the framing; ``implementation="autograd"`` computes the
same values with :func:`torchddsp.functional.spectral.stft` and autograd (use it for second-order gradients).
The STFT itself, and :func:`stft_magnitude`, live in :mod:`torchddsp.functional.spectral.stft`.

Reductions: ``"none"`` returns one loss per item (the broadcast leading shape), ``"mean"`` and
``"sum"`` reduce those over items. With ``sc_pooling="batch"`` the spectral convergence instead
pools numerator and denominator over every item before the ratio (what auraloss and Parallel
WaveGAN's reference code compute for a batch); it then counts once per item in ``"mean"``/``"sum"``
and ``reduction="none"`` is refused.
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_choice, check_nonnegative, check_tensor
from torchddsp.functional.spectral.stft import STFTConfig, WindowSpec, check_eps, power_spectrum, stft_magnitude
from torchddsp.losses.reduction import REDUCTIONS, check_signal_pair, reduce_items

_IMPLEMENTATIONS = ("fused", "autograd")
_SC_POOLINGS = ("item", "batch")

__all__ = [
    "spectral_convergence", "log_magnitude_distance", "linear_magnitude_distance",
    "stft_loss", "STFTMagnitude", "SpectralConvergence", "LogMagnitudeDistance",
    "LinearMagnitudeDistance", "STFTLoss",
    # building blocks of the multi-resolution and mel losses
    "check_term_weights", "check_spectral_options", "spectral_terms", "finish_spectral_loss",
]


# ----------------------------------------------------------------------------- argument checks

def check_term_weights(w_sc, w_log_mag, w_lin_mag) -> tuple[float, float, float]:
    """The three term weights: each >= 0, not all 0."""
    weights = (check_nonnegative("w_sc", w_sc), check_nonnegative("w_log_mag", w_log_mag),
               check_nonnegative("w_lin_mag", w_lin_mag))
    if not any(weights):
        raise ValueError("w_sc, w_log_mag, w_lin_mag: expected at least one weight > 0, received all zero")
    return weights


def _check_magnitude_pair(input_mag, target_mag) -> None:
    check_tensor("input_mag", input_mag, min_dim=2)
    check_tensor("target_mag", target_mag, min_dim=2)
    if input_mag.shape[-2:] != target_mag.shape[-2:]:
        raise ValueError(f"target_mag: expected the same (freq, frames) shape as input_mag "
                         f"{tuple(input_mag.shape[-2:])}, received {tuple(target_mag.shape[-2:])}")
    try:
        torch.broadcast_shapes(input_mag.shape, target_mag.shape)
    except RuntimeError:
        raise ValueError(f"input_mag and target_mag: expected broadcastable leading shapes, received "
                         f"{tuple(input_mag.shape)} and {tuple(target_mag.shape)}") from None


# ----------------------------------------------------------------------------- terms on magnitudes

def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt with gradient 0 (not inf) at 0, so a perfect match gives finite gradients; NaN stays NaN."""
    nonzero = v != 0
    return torch.where(nonzero, torch.sqrt(torch.where(nonzero, v, torch.ones_like(v))), torch.zeros_like(v))


def spectral_convergence(input_mag: torch.Tensor, target_mag: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Spectral convergence :math:`\| Y - X \|_F / \| Y \|_F` per item (Arık et al. 2019).

    Args:
        input_mag: predicted magnitudes :math:`X` ``(..., freq, frames)``.
        target_mag: target magnitudes :math:`Y`, same last two dims, broadcastable leading dims.
            Its norm must be > 0 per item (magnitudes from :func:`stft_magnitude` always are).
        reduction: ``"mean"`` | ``"sum"`` over items, or ``"none"`` for shape ``(...)``.

    A perfect match has a finite (zero) gradient.
    """
    _check_magnitude_pair(input_mag, target_mag)
    check_choice("reduction", reduction, REDUCTIONS)
    num = _safe_sqrt((target_mag - input_mag).square().sum((-2, -1)))
    den = target_mag.square().sum((-2, -1)).sqrt()
    return reduce_items(num / den, reduction)


def log_magnitude_distance(input_mag: torch.Tensor, target_mag: torch.Tensor, log_eps: float = 0.0,
                           reduction: str = "mean") -> torch.Tensor:
    r"""Mean L1 distance of log magnitudes :math:`\frac1N\sum|\log(X+\delta)-\log(Y+\delta)|` per item.

    Args:
        input_mag, target_mag: magnitudes ``(..., freq, frames)``, > 0 where ``log_eps`` is 0 (those
            from :func:`stft_magnitude` are floored at ``sqrt(eps)``).
        log_eps: :math:`\delta \ge 0` added inside the log (default 0, as auraloss).
        reduction: ``"mean"`` | ``"sum"`` over items, or ``"none"``.

    Arık et al. 2019; Engel et al. 2020.
    """
    _check_magnitude_pair(input_mag, target_mag)
    check_choice("reduction", reduction, REDUCTIONS)
    log_eps = check_nonnegative("log_eps", log_eps)
    d = torch.log(input_mag + log_eps) - torch.log(target_mag + log_eps)
    return reduce_items(d.abs().mean((-2, -1)), reduction)


def linear_magnitude_distance(input_mag: torch.Tensor, target_mag: torch.Tensor,
                              reduction: str = "mean") -> torch.Tensor:
    r"""Mean L1 distance of magnitudes :math:`\frac1N\sum|X - Y|` per item (Engel et al. 2020).

    Args:
        input_mag, target_mag: magnitudes ``(..., freq, frames)``.
        reduction: ``"mean"`` | ``"sum"`` over items, or ``"none"``.
    """
    _check_magnitude_pair(input_mag, target_mag)
    check_choice("reduction", reduction, REDUCTIONS)
    return reduce_items((input_mag - target_mag).abs().mean((-2, -1)), reduction)


# ----------------------------------------------------------------------------- fused statistics

# Column order of the per-item statistics returned by the fused and autograd kernels.
_SC_NUM, _SC_DEN, _LIN, _LOG = range(4)


class _SpectralStatsFn(torch.autograd.Function):
    """Per-item sums ``[sum (X-Y)^2, sum Y^2, sum |X-Y|, sum |log(X+d) - log(Y+d)|]`` of (mel) magnitudes.

    ``x``, ``y``: ``(B, time)``. ``fb``: optional ``(n_mels, freq)`` filterbank applied to the
    magnitudes first. ``need``: which of (sc, lin, log) to compute; unused columns are zero.
    The backward is analytic: per-bin coefficients, one complex multiply, then the STFT adjoint.
    """

    @staticmethod
    def forward(ctx, x, y, window, fb, cfg, eps, log_eps, need):
        need_sc, need_lin, need_log = need
        grad_x, grad_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        zx = cfg.transform(x, window)
        zy = cfg.transform(y, window)
        px, py = power_spectrum(zx), power_spectrum(zy)
        mask_x = px >= eps if grad_x else None
        mask_y = py >= eps if grad_y else None
        mx = px.clamp_min_(eps).sqrt_()
        my = py.clamp_min_(eps).sqrt_()
        if fb is not None:
            ax, ay = torch.matmul(mx, fb.t()), torch.matmul(my, fb.t())
        else:
            ax, ay = mx, my
        zeros = ax.new_zeros(ax.shape[0])
        d = ax - ay if (need_sc or need_lin) else None
        ld = None
        sc_num = d.square().sum((-2, -1)) if need_sc else zeros
        sc_den = ay.square().sum((-2, -1)) if need_sc else zeros
        lin = d.abs().sum((-2, -1)) if need_lin else zeros
        if need_log:
            # one log of the ratio instead of a difference of two logs (same value to rounding)
            ld = torch.div(ax + log_eps, ay + log_eps).log_() if log_eps else torch.div(ax, ay).log_()
            logd = ld.abs().sum((-2, -1))
        else:
            logd = zeros
        if grad_x or grad_y:
            ctx.save_for_backward(zx if grad_x else None, zy if grad_y else None, mx if grad_x else None,
                                  my if grad_y else None,
                                  ax if fb is not None and grad_x else None, ay if fb is not None and grad_y else None,
                                  mask_x, mask_y, d, ld, window, fb)
            ctx.cfg, ctx.time, ctx.log_eps, ctx.need = cfg, x.shape[-1], log_eps, need
        return torch.stack([sc_num, sc_den, lin, logd], dim=-1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        zx, zy, mx, my, ax, ay, mask_x, mask_y, d, ld, window, fb = ctx.saved_tensors
        need_sc, need_lin, need_log = ctx.need
        cfg, log_eps = ctx.cfg, ctx.log_eps
        if fb is None:
            ax, ay = mx, my                                # None where that side needs no gradient
        g = grad.to(window.dtype)[:, :, None, None]      # (B, 4, 1, 1)

        # dL/d(ax) = common + log_x ; dL/d(ay) = -common - log_y (+ 2 g_den ay)
        common = None
        if need_sc:
            common = d * (2 * g[:, _SC_NUM])
        if need_lin:
            t = torch.sign(d).mul_(g[:, _LIN])
            common = t if common is None else common.add_(t)
        sign_log = torch.sign(ld).mul_(g[:, _LOG]) if need_log else None

        def to_signal(grad_a, mag, mask, z):
            grad_m = torch.matmul(grad_a, fb) if fb is not None else grad_a
            coef = grad_m.div_(mag).mul_(mask)
            return cfg.adjoint(z * coef, window, ctx.time)

        gx = gy = None
        if ctx.needs_input_grad[0]:
            if common is None:
                ga = torch.zeros_like(ax)
            else:
                ga = common.clone() if ctx.needs_input_grad[1] else common
            if need_log:
                ga.add_(sign_log / (ax + log_eps) if log_eps else sign_log / ax)
            gx = to_signal(ga, mx, mask_x, zx)
        if ctx.needs_input_grad[1]:
            ga = -common if common is not None else torch.zeros_like(ay)
            if need_log:
                ga.sub_(sign_log / (ay + log_eps) if log_eps else sign_log / ay)
            if need_sc:
                ga.add_(ay * (2 * g[:, _SC_DEN]))
            gy = to_signal(ga, my, mask_y, zy)
        return gx, gy, None, None, None, None, None, None


def _stats_autograd(x, y, window, fb, cfg, eps, log_eps, need):
    """Reference path for :class:`_SpectralStatsFn`: the STFT and autograd (supports double backward)."""
    need_sc, need_lin, need_log = need

    def mag(s):
        r = torch.view_as_real(cfg.transform(s, window))
        m = (r[..., 0].square() + r[..., 1].square()).clamp_min(eps).sqrt()
        return torch.matmul(m, fb.t()) if fb is not None else m

    ax, ay = mag(x), mag(y)
    zeros = ax.new_zeros(ax.shape[0])
    d = ax - ay
    cols = [d.square().sum((-2, -1)) if need_sc else zeros,
            ay.square().sum((-2, -1)) if need_sc else zeros,
            d.abs().sum((-2, -1)) if need_lin else zeros,
            (torch.log(ax + log_eps) - torch.log(ay + log_eps)).abs().sum((-2, -1)) if need_log else zeros]
    return torch.stack(cols, dim=-1)


def spectral_terms(x, y, cfg: STFTConfig, fb, weights, eps, log_eps, implementation):
    """One resolution of a spectral loss on flattened signals ``x``, ``y`` ``(B, time)``: the per-item
    ``(B,)`` weighted log and linear terms and the spectral convergence's squared numerator and
    denominator ``(B,)`` each (pooled per item or over the batch by :func:`finish_spectral_loss`).
    ``fb``: an optional ``(n_mels, freq)`` filterbank applied to the magnitudes first."""
    w_sc, w_log, w_lin = weights
    need = (w_sc > 0, w_lin > 0, w_log > 0)
    window = cfg.window_tensor(x.dtype, x.device)
    if fb is not None:
        fb = fb.to(dtype=x.dtype, device=x.device)
    kernel = _SpectralStatsFn.apply if implementation == "fused" else _stats_autograd
    stats = kernel(x, y, window, fb, cfg, eps, log_eps, need)
    n_bins = cfg.num_frames(x.shape[-1]) * (fb.shape[0] if fb is not None else cfg.n_fft // 2 + 1)
    per_item = x.new_zeros(x.shape[0])
    if w_lin:
        per_item = per_item + w_lin / n_bins * stats[:, _LIN]
    if w_log:
        per_item = per_item + w_log / n_bins * stats[:, _LOG]
    return per_item, stats[:, _SC_NUM], stats[:, _SC_DEN]


def finish_spectral_loss(per_item, sc_num, sc_den, w_sc, sc_pooling, reduction, lead):
    """Add the spectral-convergence term (per item or pooled) and reduce over items."""
    if w_sc:
        if sc_pooling == "item":
            per_item = per_item + w_sc * _safe_sqrt(sc_num) / sc_den.sqrt()
        else:
            pooled = _safe_sqrt(sc_num.sum()) / sc_den.sum().sqrt()
            per_item = per_item + w_sc * pooled
    if reduction == "none":
        return per_item.reshape(lead)
    return reduce_items(per_item, reduction)


def check_spectral_options(reduction, sc_pooling, implementation, w_sc, eps, log_eps):
    """Validate the options shared by the spectral losses; returns ``(eps, log_eps)`` as floats."""
    check_choice("reduction", reduction, REDUCTIONS)
    check_choice("sc_pooling", sc_pooling, _SC_POOLINGS)
    check_choice("implementation", implementation, _IMPLEMENTATIONS)
    if sc_pooling == "batch" and reduction == "none" and w_sc:
        raise ValueError("reduction: expected 'mean' or 'sum' with sc_pooling='batch' (the pooled spectral "
                         "convergence is one number for the whole batch), received 'none'")
    return check_eps(eps), check_nonnegative("log_eps", log_eps)


def stft_loss(input: torch.Tensor, target: torch.Tensor, n_fft: int = 1024, hop_length: int | None = None,
              win_length: int | None = None, window: WindowSpec = "hann", *, w_sc: float = 0.0,
              w_log_mag: float = 1.0, w_lin_mag: float = 1.0, eps: float = 1e-8, log_eps: float = 0.0,
              center: bool = True, pad_mode: str = "reflect", reduction: str = "mean",
              sc_pooling: str = "item", implementation: str = "fused") -> torch.Tensor:
    r"""Single-resolution STFT loss :math:`w_{sc}\mathcal L_{sc} + w_{log}\mathcal L_{log} + w_{lin}\mathcal L_{lin}`.

    The terms are defined in the module docstring: spectral convergence (Arık et al. 2019), mean
    L1 log-magnitude and mean L1 linear-magnitude distances (Engel et al. 2020) of magnitudes
    :math:`\sqrt{\max(|STFT|^2, \epsilon)}` (power 1). Defaults follow DDSP (log + linear, no
    spectral convergence); Parallel WaveGAN's single-resolution loss (Yamamoto et al. 2020) is
    ``w_sc=1, w_log_mag=1, w_lin_mag=0``.

    Args:
        input: prediction ``(..., time)``; target: ground truth ``(..., time)``; leading dims
            broadcast, ``time`` must match; float32/float64, same device.
        n_fft, hop_length, win_length, window, center, pad_mode: as :func:`stft_magnitude`.
        w_sc, w_log_mag, w_lin_mag: term weights >= 0 (0 drops the term and its cost), not all 0.
        eps: power floor > 0; log_eps: :math:`\delta \ge 0` inside the log.
        reduction: ``"mean"`` (default) | ``"sum"`` over items, or ``"none"`` (shape ``(...)``).
        sc_pooling: ``"item"`` (default, per-item ratio) or ``"batch"`` (ratio of norms over the
            whole batch, as auraloss).
        implementation: ``"fused"`` (analytic backward, fast) or ``"autograd"`` (the STFT and autograd,
            supports double backward).

    Safe on silence: an all-zero input and/or target gives a finite value and gradient.
    """
    weights = check_term_weights(w_sc, w_log_mag, w_lin_mag)
    eps, log_eps = check_spectral_options(reduction, sc_pooling, implementation, w_sc, eps, log_eps)
    cfg = STFTConfig(n_fft, hop_length, win_length, window, center, pad_mode)
    x, y, lead = check_signal_pair(input, target)
    cfg.check_length("input", x.shape[-1])
    per_item, num, den = spectral_terms(x, y, cfg, None, weights, eps, log_eps, implementation)
    return finish_spectral_loss(per_item, num, den, weights[0], sc_pooling, reduction, lead)


# ----------------------------------------------------------------------------- modules

class STFTMagnitude(torch.nn.Module):
    """Module form of :func:`stft_magnitude` (``(..., time)`` -> ``(..., freq, frames)``)."""

    def __init__(self, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
                 window: WindowSpec = "hann", *, center: bool = True, pad_mode: str = "reflect",
                 eps: float = 1e-8):
        super().__init__()
        STFTConfig(n_fft, hop_length, win_length, window, center, pad_mode)   # validate early
        check_eps(eps)
        self.kwargs = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                           center=center, pad_mode=pad_mode, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stft_magnitude(x, **self.kwargs)


class SpectralConvergence(torch.nn.Module):
    """Module form of :func:`spectral_convergence` (on magnitudes)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_choice("reduction", reduction, REDUCTIONS)
        self.reduction = reduction

    def forward(self, input_mag: torch.Tensor, target_mag: torch.Tensor) -> torch.Tensor:
        return spectral_convergence(input_mag, target_mag, self.reduction)


class LogMagnitudeDistance(torch.nn.Module):
    """Module form of :func:`log_magnitude_distance` (on magnitudes)."""

    def __init__(self, log_eps: float = 0.0, reduction: str = "mean"):
        super().__init__()
        check_choice("reduction", reduction, REDUCTIONS)
        self.log_eps = check_nonnegative("log_eps", log_eps)
        self.reduction = reduction

    def forward(self, input_mag: torch.Tensor, target_mag: torch.Tensor) -> torch.Tensor:
        return log_magnitude_distance(input_mag, target_mag, self.log_eps, self.reduction)


class LinearMagnitudeDistance(torch.nn.Module):
    """Module form of :func:`linear_magnitude_distance` (on magnitudes)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_choice("reduction", reduction, REDUCTIONS)
        self.reduction = reduction

    def forward(self, input_mag: torch.Tensor, target_mag: torch.Tensor) -> torch.Tensor:
        return linear_magnitude_distance(input_mag, target_mag, self.reduction)


class STFTLoss(torch.nn.Module):
    """Module form of :func:`stft_loss`; arguments are validated at construction."""

    def __init__(self, n_fft: int = 1024, hop_length: int | None = None, win_length: int | None = None,
                 window: WindowSpec = "hann", *, w_sc: float = 0.0, w_log_mag: float = 1.0,
                 w_lin_mag: float = 1.0, eps: float = 1e-8, log_eps: float = 0.0, center: bool = True,
                 pad_mode: str = "reflect", reduction: str = "mean", sc_pooling: str = "item",
                 implementation: str = "fused"):
        super().__init__()
        check_term_weights(w_sc, w_log_mag, w_lin_mag)
        check_spectral_options(reduction, sc_pooling, implementation, w_sc, eps, log_eps)
        STFTConfig(n_fft, hop_length, win_length, window, center, pad_mode)
        self.kwargs = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                           w_sc=w_sc, w_log_mag=w_log_mag, w_lin_mag=w_lin_mag, eps=eps, log_eps=log_eps,
                           center=center, pad_mode=pad_mode, reduction=reduction, sc_pooling=sc_pooling,
                           implementation=implementation)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return stft_loss(input, target, **self.kwargs)
