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
cheaper than back-propagating through ``torch.stft``; ``implementation="autograd"`` computes the
same values with ``torch.stft`` and autograd (use it for second-order gradients).

Reductions: ``"none"`` returns one loss per item (the broadcast leading shape), ``"mean"`` and
``"sum"`` reduce those over items. With ``sc_pooling="batch"`` the spectral convergence instead
pools numerator and denominator over every item before the ratio (what auraloss and Parallel
WaveGAN's reference code compute for a batch); it then counts once per item in ``"mean"``/``"sum"``
and ``reduction="none"`` is refused.
"""

from __future__ import annotations

import functools
from typing import Callable, Union

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_nonnegative, check_positive_int, check_tensor

WindowSpec = Union[str, torch.Tensor, Callable[..., torch.Tensor]]

_WINDOW_FACTORIES = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "bartlett": torch.bartlett_window,
    "rectangular": lambda n, dtype=None, device=None: torch.ones(n, dtype=dtype, device=device),
}
_REDUCTIONS = ("none", "mean", "sum")
_PAD_MODES = ("reflect", "constant")
_IMPLEMENTATIONS = ("fused", "autograd")
_SC_POOLINGS = ("item", "batch")

__all__ = [
    "stft_magnitude", "spectral_convergence", "log_magnitude_distance", "linear_magnitude_distance",
    "stft_loss", "STFTMagnitude", "SpectralConvergence", "LogMagnitudeDistance",
    "LinearMagnitudeDistance", "STFTLoss",
]


# ----------------------------------------------------------------------------- argument checks

def _check_eps(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"eps: expected a finite number > 0 (floor on the power spectrum), received {value!r}")
    return float(value)


def _check_weights(w_sc, w_log_mag, w_lin_mag) -> tuple[float, float, float]:
    weights = (check_nonnegative("w_sc", w_sc), check_nonnegative("w_log_mag", w_log_mag),
               check_nonnegative("w_lin_mag", w_lin_mag))
    if not any(weights):
        raise ValueError("w_sc, w_log_mag, w_lin_mag: expected at least one weight > 0, received all zero")
    return weights


def _check_signal_pair(input, target) -> tuple[torch.Tensor, torch.Tensor, torch.Size]:
    """Validate ``input``/``target`` ``(..., time)`` and broadcast their leading dimensions.

    Returns both flattened to ``(items, time)`` in a common floating dtype, and the leading shape.
    """
    check_tensor("input", input, min_dim=1)
    check_tensor("target", target, min_dim=1)
    for name, t in (("input", input), ("target", target)):
        if t.is_complex():
            raise ValueError(f"{name}: expected a real floating-point tensor, received dtype {t.dtype}")
    if input.shape[-1] != target.shape[-1]:
        raise ValueError(f"target: expected the same number of samples (last axis) as input, "
                         f"received {target.shape[-1]} and input has {input.shape[-1]}")
    if input.device != target.device:
        raise ValueError(f"target: expected a tensor on input's device {input.device}, received {target.device}")
    try:
        lead = torch.broadcast_shapes(input.shape[:-1], target.shape[:-1])
    except RuntimeError:
        raise ValueError(f"input and target: expected broadcastable leading (batch) shapes, received "
                         f"{tuple(input.shape[:-1])} and {tuple(target.shape[:-1])}") from None
    dtype = torch.promote_types(input.dtype, target.dtype)
    time = input.shape[-1]
    x = input.to(dtype).expand(*lead, time).reshape(-1, time)
    y = target.to(dtype).expand(*lead, time).reshape(-1, time)
    return x, y, lead


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


class _StftConfig:
    """Resolved, validated STFT arguments (torch.stft names and defaults except the window)."""

    __slots__ = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode")

    def __init__(self, n_fft, hop_length, win_length, window, center, pad_mode):
        self.n_fft = check_positive_int("n_fft", n_fft)
        self.hop_length = n_fft // 4 if hop_length is None else check_positive_int("hop_length", hop_length)
        if self.hop_length < 1:
            raise ValueError(f"hop_length: expected an integer >= 1, received the default n_fft // 4 = "
                             f"{self.hop_length} for n_fft={n_fft}; pass hop_length explicitly")
        self.win_length = n_fft if win_length is None else check_positive_int("win_length", win_length)
        if self.win_length > n_fft:
            raise ValueError(f"win_length: expected at most n_fft={n_fft}, received {self.win_length}")
        if isinstance(window, torch.Tensor):
            if window.dim() != 1 or window.shape[0] != self.win_length:
                raise ValueError(f"window: expected a 1-D tensor of win_length={self.win_length} samples, "
                                 f"received shape {tuple(window.shape)}")
            if window.is_complex() or not window.is_floating_point():
                raise ValueError(f"window: expected a real floating-point tensor, received dtype {window.dtype}")
        elif isinstance(window, str):
            check_choice("window", window, _WINDOW_FACTORIES)
        elif not callable(window):
            raise ValueError(f"window: expected a name in {sorted(_WINDOW_FACTORIES)}, a tensor or a callable, "
                             f"received {type(window).__name__}")
        self.window = window
        if not isinstance(center, bool):
            raise ValueError(f"center: expected a bool, received {center!r}")
        self.center = center
        check_choice("pad_mode", pad_mode, _PAD_MODES)
        self.pad_mode = pad_mode

    def check_length(self, name: str, time: int) -> None:
        if self.center and self.pad_mode == "reflect":
            if time <= self.n_fft // 2:
                raise ValueError(f"{name}: expected more than n_fft // 2 = {self.n_fft // 2} samples for a "
                                 f"centred STFT with reflect padding (n_fft={self.n_fft}), received {time}; "
                                 f"use a smaller n_fft or pad_mode='constant'")
        elif not self.center and time < self.n_fft:
            raise ValueError(f"{name}: expected at least n_fft={self.n_fft} samples with center=False, "
                             f"received {time}")

    def full_window(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """The analysis window zero-padded (centred) to ``n_fft`` samples, as torch.stft does."""
        if isinstance(self.window, str):
            return _cached_window(self.window, self.win_length, self.n_fft, dtype, torch.device(device))
        if isinstance(self.window, torch.Tensor):
            w = self.window.to(dtype=dtype, device=device)
        else:
            w = torch.as_tensor(self.window(self.win_length), dtype=dtype, device=device)
            if w.shape != (self.win_length,):
                raise ValueError(f"window: expected the callable to return {self.win_length} samples, "
                                 f"received shape {tuple(w.shape)}")
        left = (self.n_fft - self.win_length) // 2
        return F.pad(w, (left, self.n_fft - self.win_length - left))

    def frames(self, time: int) -> int:
        padded = time + 2 * (self.n_fft // 2) if self.center else time
        return 1 + (padded - self.n_fft) // self.hop_length


@functools.lru_cache(maxsize=128)
def _cached_window(name: str, win_length: int, n_fft: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Periodic windows (torch's default, as for torch.stft), cached per (size, dtype, device).
    w = _WINDOW_FACTORIES[name](win_length, dtype=dtype, device=device)
    left = (n_fft - win_length) // 2
    return F.pad(w, (left, n_fft - win_length - left))


# ----------------------------------------------------------------------------- STFT kernels

def _spectrum(s: torch.Tensor, cfg: _StftConfig, window: torch.Tensor) -> torch.Tensor:
    """One-sided STFT of ``s`` ``(B, time)`` laid out ``(B, frames, freq)`` (torch.stft's transpose)."""
    if cfg.center:
        h = cfg.n_fft // 2
        if cfg.pad_mode == "reflect":
            s = F.pad(s.unsqueeze(1), (h, h), mode="reflect").squeeze(1)
        else:
            s = F.pad(s, (h, h))
    frames = s.unfold(-1, cfg.n_fft, cfg.hop_length)
    return torch.fft.rfft(frames * window, dim=-1)


def _power(z: torch.Tensor) -> torch.Tensor:
    """``Re(z)^2 + Im(z)^2`` in two passes (cheaper than complex abs or a reduction over (re, im))."""
    r = torch.view_as_real(z)
    re, im = r[..., 0], r[..., 1]
    return torch.addcmul(re * re, im, im)


def _bin_weights(n_fft: int, dtype, device) -> torch.Tensor:
    """Scale per rfft bin so that ``irfft(norm="forward")`` applies the adjoint of ``rfft``.

    irfft counts every bin except DC (and Nyquist for even n_fft) twice.
    """
    k = n_fft // 2 + 1
    w = torch.full((k,), 0.5, dtype=dtype, device=device)
    w[0] = 1.0
    if n_fft % 2 == 0:
        w[-1] = 1.0
    return w


def _spectrum_adjoint(grad_spec: torch.Tensor, cfg: _StftConfig, window: torch.Tensor, time: int) -> torch.Tensor:
    """Gradient w.r.t. the signal given ``dL/dRe + i dL/dIm`` of its spectrum ``(B, frames, freq)``.

    Adjoint of :func:`_spectrum`: real inverse FFT (with halved non-edge bins), windowing,
    overlap-add of the frames, then the adjoint of the centre padding.
    """
    n, hop = cfg.n_fft, cfg.hop_length
    g = torch.fft.irfft(grad_spec, n, dim=-1, norm="forward")
    g.mul_(window)
    b, n_frames, _ = g.shape
    covered = (n_frames - 1) * hop + n
    if n % hop == 0 and n // hop <= 64:
        r = n // hop
        out = g.new_zeros(b, n_frames + r - 1, hop)
        gv = g.view(b, n_frames, r, hop)
        for j in range(r):  # r shifted additions of whole hop-sized slices
            out[:, j:j + n_frames].add_(gv[:, :, j])
        out = out.view(b, covered)
    else:
        out = F.fold(g.transpose(1, 2), output_size=(1, covered), kernel_size=(1, n),
                     stride=(1, hop)).view(b, covered)
    padded_len = time + 2 * (n // 2) if cfg.center else time
    if covered < padded_len:
        out = F.pad(out, (0, padded_len - covered))
    if not cfg.center:
        return out
    h = n // 2
    gx = out[:, h:h + time].clone()
    if cfg.pad_mode == "reflect" and h > 0:
        # left pad holds x[h], ..., x[1]; right pad holds x[T-2], ..., x[T-1-h]
        gx[:, 1:h + 1].add_(out[:, :h].flip(-1))
        gx[:, time - 1 - h:time - 1].add_(out[:, h + time:].flip(-1))
    return gx


# ----------------------------------------------------------------------------- magnitude

class _STFTMagnitudeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, window, cfg, eps):
        z = _spectrum(x, cfg, window)
        p = _power(z)
        if ctx.needs_input_grad[0]:
            mask = p >= eps
        mag = p.clamp_min_(eps).sqrt_()
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(z, mag, mask, window)
            ctx.cfg, ctx.time = cfg, x.shape[-1]
        return mag

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        z, mag, mask, window = ctx.saved_tensors
        cfg = ctx.cfg
        coef = (grad / mag).mul_(mask).mul_(_bin_weights(cfg.n_fft, mag.dtype, mag.device))
        return _spectrum_adjoint(z * coef, cfg, window, ctx.time), None, None, None


def stft_magnitude(x: torch.Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
                   window: WindowSpec = "hann", *, center: bool = True, pad_mode: str = "reflect",
                   eps: float = 1e-8) -> torch.Tensor:
    r"""Magnitude spectrogram with a safe gradient: :math:`\sqrt{\max(|\mathrm{STFT}(x)|^2, \epsilon)}`.

    Same framing as ``torch.stft(x, n_fft, hop_length, win_length, window, center, pad_mode,
    onesided=True, normalized=False)``: frame :math:`m` starts at :math:`m H` of the (centre-padded)
    signal, the window is zero-padded to ``n_fft`` around its centre.

    Args:
        x: signal ``(..., time)``, float32 or float64, any device. With ``center=True`` and
            ``pad_mode="reflect"`` it needs more than ``n_fft // 2`` samples; with ``center=False``
            at least ``n_fft``.
        n_fft: FFT size >= 1. ``hop_length`` defaults to ``n_fft // 4``, ``win_length`` to ``n_fft``
            (at most ``n_fft``).
        window: ``"hann"`` (default, periodic), ``"hamming"``, ``"blackman"``, ``"bartlett"``,
            ``"rectangular"``, a tensor of ``win_length`` samples, or a callable ``f(win_length)``.
        pad_mode: ``"reflect"`` or ``"constant"`` (zeros), used when ``center=True``.
        eps: floor (> 0) on the power spectrum; the gradient is zero below it, never NaN.

    Returns:
        ``(..., n_fft // 2 + 1, frames)`` magnitudes, ``frames = 1 + (time + 2 (n_fft // 2) - n_fft)
        // hop_length`` when centred.

    The backward is analytic (inverse real FFT and overlap-add), not autograd through ``torch.stft``.
    """
    check_tensor("x", x, min_dim=1)
    if x.is_complex():
        raise ValueError(f"x: expected a real floating-point tensor, received dtype {x.dtype}")
    cfg = _StftConfig(n_fft, hop_length, win_length, window, center, pad_mode)
    eps = _check_eps(eps)
    cfg.check_length("x", x.shape[-1])
    lead, time = x.shape[:-1], x.shape[-1]
    window_t = cfg.full_window(x.dtype, x.device)
    mag = _STFTMagnitudeFn.apply(x.reshape(-1, time), window_t, cfg, eps)
    return mag.transpose(-1, -2).reshape(*lead, mag.shape[-1], mag.shape[-2])


# ----------------------------------------------------------------------------- terms on magnitudes

def _reduce(per_item: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    return per_item


def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt with gradient 0 (not inf) at 0, so a perfect match gives finite gradients."""
    positive = v > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, v, torch.ones_like(v))), torch.zeros_like(v))


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
    check_choice("reduction", reduction, _REDUCTIONS)
    num = _safe_sqrt((target_mag - input_mag).square().sum((-2, -1)))
    den = target_mag.square().sum((-2, -1)).sqrt()
    return _reduce(num / den, reduction)


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
    check_choice("reduction", reduction, _REDUCTIONS)
    log_eps = check_nonnegative("log_eps", log_eps)
    d = torch.log(input_mag + log_eps) - torch.log(target_mag + log_eps)
    return _reduce(d.abs().mean((-2, -1)), reduction)


def linear_magnitude_distance(input_mag: torch.Tensor, target_mag: torch.Tensor,
                              reduction: str = "mean") -> torch.Tensor:
    r"""Mean L1 distance of magnitudes :math:`\frac1N\sum|X - Y|` per item (Engel et al. 2020).

    Args:
        input_mag, target_mag: magnitudes ``(..., freq, frames)``.
        reduction: ``"mean"`` | ``"sum"`` over items, or ``"none"``.
    """
    _check_magnitude_pair(input_mag, target_mag)
    check_choice("reduction", reduction, _REDUCTIONS)
    return _reduce((input_mag - target_mag).abs().mean((-2, -1)), reduction)


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
        zx = _spectrum(x, cfg, window)
        zy = _spectrum(y, cfg, window)
        px, py = _power(zx), _power(zy)
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
        bins = _bin_weights(cfg.n_fft, window.dtype, window.device)

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
            coef = grad_m.div_(mag).mul_(mask).mul_(bins)
            return _spectrum_adjoint(z * coef, cfg, window, ctx.time)

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
    """Reference path for :class:`_SpectralStatsFn`: torch.stft and autograd (supports double backward)."""
    need_sc, need_lin, need_log = need

    def mag(s):
        z = torch.stft(s, cfg.n_fft, cfg.hop_length, cfg.n_fft, window, center=cfg.center,
                       pad_mode=cfg.pad_mode, normalized=False, onesided=True, return_complex=True)
        r = torch.view_as_real(z.transpose(-1, -2))
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


def _spectral_loss_per_resolution(x, y, cfg: _StftConfig, fb, weights, eps, log_eps, implementation):
    """Per-item ``(B,)`` losses and pooled SC pieces for one resolution (inputs already flattened)."""
    w_sc, w_log, w_lin = weights
    need = (w_sc > 0, w_lin > 0, w_log > 0)
    window = cfg.full_window(x.dtype, x.device)
    if fb is not None:
        fb = fb.to(dtype=x.dtype, device=x.device)
    kernel = _SpectralStatsFn.apply if implementation == "fused" else _stats_autograd
    stats = kernel(x, y, window, fb, cfg, eps, log_eps, need)
    n_bins = cfg.frames(x.shape[-1]) * (fb.shape[0] if fb is not None else cfg.n_fft // 2 + 1)
    per_item = x.new_zeros(x.shape[0])
    if w_lin:
        per_item = per_item + w_lin / n_bins * stats[:, _LIN]
    if w_log:
        per_item = per_item + w_log / n_bins * stats[:, _LOG]
    return per_item, stats[:, _SC_NUM], stats[:, _SC_DEN]


def _finish(per_item, sc_num, sc_den, w_sc, sc_pooling, reduction, lead):
    """Add the spectral-convergence term (per item or pooled) and reduce over items."""
    if w_sc:
        if sc_pooling == "item":
            per_item = per_item + w_sc * _safe_sqrt(sc_num) / sc_den.sqrt()
        else:
            pooled = _safe_sqrt(sc_num.sum()) / sc_den.sum().sqrt()
            per_item = per_item + w_sc * pooled
    if reduction == "none":
        return per_item.reshape(lead)
    return _reduce(per_item, reduction)


def _check_common(reduction, sc_pooling, implementation, w_sc, eps, log_eps):
    check_choice("reduction", reduction, _REDUCTIONS)
    check_choice("sc_pooling", sc_pooling, _SC_POOLINGS)
    check_choice("implementation", implementation, _IMPLEMENTATIONS)
    if sc_pooling == "batch" and reduction == "none" and w_sc:
        raise ValueError("reduction: expected 'mean' or 'sum' with sc_pooling='batch' (the pooled spectral "
                         "convergence is one number for the whole batch), received 'none'")
    return _check_eps(eps), check_nonnegative("log_eps", log_eps)


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
        implementation: ``"fused"`` (analytic backward, fast) or ``"autograd"`` (torch.stft,
            supports double backward).

    Safe on silence: an all-zero input and/or target gives a finite value and gradient.
    """
    weights = _check_weights(w_sc, w_log_mag, w_lin_mag)
    eps, log_eps = _check_common(reduction, sc_pooling, implementation, w_sc, eps, log_eps)
    cfg = _StftConfig(n_fft, hop_length, win_length, window, center, pad_mode)
    x, y, lead = _check_signal_pair(input, target)
    cfg.check_length("input", x.shape[-1])
    per_item, num, den = _spectral_loss_per_resolution(x, y, cfg, None, weights, eps, log_eps, implementation)
    return _finish(per_item, num, den, weights[0], sc_pooling, reduction, lead)


# ----------------------------------------------------------------------------- modules

class STFTMagnitude(torch.nn.Module):
    """Module form of :func:`stft_magnitude` (``(..., time)`` -> ``(..., freq, frames)``)."""

    def __init__(self, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
                 window: WindowSpec = "hann", *, center: bool = True, pad_mode: str = "reflect",
                 eps: float = 1e-8):
        super().__init__()
        _StftConfig(n_fft, hop_length, win_length, window, center, pad_mode)   # validate early
        _check_eps(eps)
        self.kwargs = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                           center=center, pad_mode=pad_mode, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stft_magnitude(x, **self.kwargs)


class SpectralConvergence(torch.nn.Module):
    """Module form of :func:`spectral_convergence` (on magnitudes)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_choice("reduction", reduction, _REDUCTIONS)
        self.reduction = reduction

    def forward(self, input_mag: torch.Tensor, target_mag: torch.Tensor) -> torch.Tensor:
        return spectral_convergence(input_mag, target_mag, self.reduction)


class LogMagnitudeDistance(torch.nn.Module):
    """Module form of :func:`log_magnitude_distance` (on magnitudes)."""

    def __init__(self, log_eps: float = 0.0, reduction: str = "mean"):
        super().__init__()
        check_choice("reduction", reduction, _REDUCTIONS)
        self.log_eps = check_nonnegative("log_eps", log_eps)
        self.reduction = reduction

    def forward(self, input_mag: torch.Tensor, target_mag: torch.Tensor) -> torch.Tensor:
        return log_magnitude_distance(input_mag, target_mag, self.log_eps, self.reduction)


class LinearMagnitudeDistance(torch.nn.Module):
    """Module form of :func:`linear_magnitude_distance` (on magnitudes)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_choice("reduction", reduction, _REDUCTIONS)
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
        _check_weights(w_sc, w_log_mag, w_lin_mag)
        _check_common(reduction, sc_pooling, implementation, w_sc, eps, log_eps)
        _StftConfig(n_fft, hop_length, win_length, window, center, pad_mode)
        self.kwargs = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                           w_sc=w_sc, w_log_mag=w_log_mag, w_lin_mag=w_lin_mag, eps=eps, log_eps=log_eps,
                           center=center, pad_mode=pad_mode, reduction=reduction, sc_pooling=sc_pooling,
                           implementation=implementation)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return stft_loss(input, target, **self.kwargs)
