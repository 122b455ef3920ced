r"""The short-time Fourier transform, its inverse, and a magnitude with an analytic backward.

The one STFT of the library: losses, features, metrics, plots and reports all frame signals here.

Framing (``torch.stft``'s names, defaults and semantics, one-sided, unnormalised). With hop
:math:`H` = ``hop_length``, FFT size :math:`N` = ``n_fft`` and the window :math:`w` of
``win_length`` samples zero-padded around its centre to :math:`N` samples,

.. math:: X[k, m] = \sum_{n=0}^{N-1} w[n]\, \tilde x[mH + n]\, e^{-2\pi i k n / N},
    \qquad k = 0, \dots, \lfloor N/2 \rfloor,

where :math:`\tilde x` is :math:`x` padded by :math:`\lfloor N/2 \rfloor` samples on both sides
(``center=True``; ``pad_mode`` ``"reflect"``, ``"constant"`` (zeros), ``"replicate"`` or
``"circular"``) or :math:`x` itself (``center=False``). There are
:math:`1 + \lfloor(\tilde T - N)/H\rfloor` frames for a padded length :math:`\tilde T`.

Windows: a name resolved by :func:`torchddsp.functional.core.windows.get_window` (periodic, as
``torch.stft``'s windows; default ``"hann"``), a tensor of ``win_length`` samples, or a callable
``f(win_length)``.

Magnitude (safe at zero): :math:`|X| := \sqrt{\max(\mathrm{Re}(X)^2 + \mathrm{Im}(X)^2, \epsilon)}`,
whose gradient is zero where the power is below :math:`\epsilon` and never NaN. Its backward is
analytic (:meth:`STFTConfig.adjoint`: inverse real FFT with halved interior bins, windowing,
overlap-add of the frames, adjoint of the padding) instead of autograd through the framing, several
times cheaper and lighter on memory.

Inverse: :func:`istft` is ``torch.istft``'s windowed overlap-add,
:math:`y[n] = \sum_m w[n - mH]\,\mathrm{irfft}(X[:, m])[n - mH] / \sum_m w^2[n - mH]`, exact for
any window whose squared shifts never sum to zero where the signal lies (NOLA).
"""

from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn.functional as F

from torchddsp.checks import check_choice, check_positive_int, check_tensor, checking_values
from torchddsp.functional.core.constant_cache import constant_cache
from torchddsp.functional.core.windows import get_window

__all__ = ["WindowSpec", "PAD_MODES", "STFTConfig", "stft", "istft", "stft_magnitude", "power_spectrum", "check_eps"]

WindowSpec = Union[str, torch.Tensor, Callable[..., torch.Tensor]]

#: Padding modes of ``center=True`` (those of :func:`torch.nn.functional.pad`, as ``torch.stft``).
PAD_MODES = ("reflect", "constant", "replicate", "circular")


@constant_cache(128)
def _named_window(name: str, win_length: int, n_fft: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # periodic window, zero-padded around its centre to n_fft; cached per (size, dtype, device)
    w = get_window(name, win_length, fftbins=True, dtype=dtype, device=device)
    left = (n_fft - win_length) // 2
    return F.pad(w, (left, n_fft - win_length - left))


def _bin_weights(n_fft: int, dtype, device) -> torch.Tensor:
    """Scale per rfft bin so that ``irfft(norm="forward")`` applies the adjoint of ``rfft``
    (irfft counts every bin but DC, and Nyquist for even ``n_fft``, twice)."""
    w = torch.full((n_fft // 2 + 1,), 0.5, dtype=dtype, device=device)
    w[0] = 1.0
    if n_fft % 2 == 0:
        w[-1] = 1.0
    return w


def power_spectrum(z: torch.Tensor) -> torch.Tensor:
    """``Re(z)^2 + Im(z)^2`` of a complex tensor, in two real passes (cheaper than ``z.abs() ** 2``)."""
    r = torch.view_as_real(z)
    re, im = r[..., 0], r[..., 1]
    return torch.addcmul(re * re, im, im)


class STFTConfig:
    """Validated STFT arguments (``torch.stft``'s names and defaults) and the linear map they define.

    Args:
        n_fft: FFT size >= 1. hop_length: >= 1, default ``n_fft // 4``. win_length: at most
            ``n_fft``, default ``n_fft``. window: a window name, tensor or callable (module
            docstring). center: pad by ``n_fft // 2`` on both sides. pad_mode: one of
            :data:`PAD_MODES`.

    :meth:`transform` is the STFT of ``(B, time)`` laid out ``(B, frames, freq)`` (``torch.stft``'s
    transpose: frames first, so that per-bin maps are matrix products), :meth:`adjoint` its adjoint.
    """

    __slots__ = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode")

    def __init__(self, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
                 window: WindowSpec = "hann", center: bool = True, pad_mode: str = "reflect"):
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
            get_window(window, 1)                                   # raises, naming the valid windows
        elif not callable(window):
            raise ValueError(f"window: expected a window name, a tensor or a callable, received "
                             f"{type(window).__name__}")
        self.window = window
        if not isinstance(center, bool):
            raise ValueError(f"center: expected a bool, received {center!r}")
        self.center = center
        check_choice("pad_mode", pad_mode, PAD_MODES)
        self.pad_mode = pad_mode

    def check_length(self, name: str, time: int) -> None:
        """Raise a ``ValueError`` naming ``name`` when ``time`` samples cannot be framed."""
        half = self.n_fft // 2
        if not self.center:
            if time < self.n_fft:
                raise ValueError(f"{name}: expected at least n_fft={self.n_fft} samples with center=False, "
                                 f"received {time}")
        elif self.pad_mode == "reflect" and time <= half:
            raise ValueError(f"{name}: expected more than n_fft // 2 = {half} samples for a centred STFT with "
                             f"reflect padding (n_fft={self.n_fft}), received {time}; use a smaller n_fft or "
                             f"pad_mode='constant'")
        elif self.pad_mode in ("replicate", "circular") and time < max(1, half):
            raise ValueError(f"{name}: expected at least n_fft // 2 = {half} samples (and one) for "
                             f"pad_mode={self.pad_mode!r} (n_fft={self.n_fft}), received {time}")
        elif time + 2 * half < self.n_fft:
            raise ValueError(f"{name}: expected at least {self.n_fft - 2 * half} sample(s) for n_fft={self.n_fft}, "
                             f"received {time}")

    def window_tensor(self, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """The analysis window zero-padded around its centre to ``n_fft`` samples, as ``torch.stft`` does."""
        if isinstance(self.window, str):
            return _named_window(self.window, self.win_length, self.n_fft, dtype, torch.device(device))
        if isinstance(self.window, torch.Tensor):
            w = self.window.to(dtype=dtype, device=device)
        else:
            w = torch.as_tensor(self.window(self.win_length), dtype=dtype, device=device)
            if w.shape != (self.win_length,):
                raise ValueError(f"window: expected the callable to return {self.win_length} samples, "
                                 f"received shape {tuple(w.shape)}")
        left = (self.n_fft - self.win_length) // 2
        return F.pad(w, (left, self.n_fft - self.win_length - left))

    def num_frames(self, time: int) -> int:
        """Frames of a signal of ``time`` samples: ``1 + (padded - n_fft) // hop_length``."""
        padded = time + 2 * (self.n_fft // 2) if self.center else time
        return 1 + (padded - self.n_fft) // self.hop_length

    def transform(self, x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        """One-sided STFT of ``x`` ``(B, time)`` -> complex ``(B, frames, n_fft // 2 + 1)``.

        ``window`` is :meth:`window_tensor` (``(n_fft,)``). Differentiable by autograd.
        """
        if self.center:
            h = self.n_fft // 2
            if self.pad_mode == "constant":
                x = F.pad(x, (h, h))
            else:
                x = F.pad(x.unsqueeze(1), (h, h), mode=self.pad_mode).squeeze(1)
        frames = x.unfold(-1, self.n_fft, self.hop_length)
        return torch.fft.rfft(frames * window, dim=-1)

    def adjoint(self, cotangent: torch.Tensor, window: torch.Tensor, time: int) -> torch.Tensor:
        """Adjoint of :meth:`transform`: the gradient ``(B, time)`` of a loss with respect to the
        signal, given ``cotangent = dL/dRe(X) + i dL/dIm(X)`` ``(B, frames, n_fft // 2 + 1)``.
        ``cotangent`` is consumed: it is scaled in place (callers pass a temporary).

        Real inverse FFT (interior bins halved), windowing, overlap-add of the frames, then the
        adjoint of the centre padding (padded samples add onto the samples they copy).
        """
        n, hop = self.n_fft, self.hop_length
        g = torch.fft.irfft(cotangent.mul_(_bin_weights(n, window.dtype, window.device)), n, dim=-1, norm="forward")
        g.mul_(window)
        b, n_frames, _ = g.shape
        covered = (n_frames - 1) * hop + n
        if n % hop == 0 and n // hop <= 64:
            r = n // hop
            out = g.new_zeros(b, n_frames + r - 1, hop)
            gv = g.view(b, n_frames, r, hop)
            for j in range(r):  # r shifted additions of whole hop-sized slices, not a loop over frames
                out[:, j:j + n_frames].add_(gv[:, :, j])
            out = out.view(b, covered)
        else:
            out = F.fold(g.transpose(1, 2), output_size=(1, covered), kernel_size=(1, n),
                         stride=(1, hop)).view(b, covered)
        padded_len = time + 2 * (n // 2) if self.center else time
        if covered < padded_len:
            out = F.pad(out, (0, padded_len - covered))
        if not self.center:
            return out
        h = n // 2
        gx = out[:, h:h + time].clone()
        if h == 0 or self.pad_mode == "constant":
            return gx
        left, right = out[:, :h], out[:, h + time:]
        if self.pad_mode == "reflect":
            # left pad holds x[h], ..., x[1]; right pad holds x[T-2], ..., x[T-1-h]
            gx[:, 1:h + 1].add_(left.flip(-1))
            gx[:, time - 1 - h:time - 1].add_(right.flip(-1))
        elif self.pad_mode == "replicate":
            gx[:, 0].add_(left.sum(-1))
            gx[:, time - 1].add_(right.sum(-1))
        else:                                   # circular: left pad holds x[T-h:], right pad x[:h]
            gx[:, time - h:].add_(left)
            gx[:, :h].add_(right)
        return gx


def _flatten_signal(x: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Size]:
    check_tensor(name, x, min_dim=1)
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name}: expected a real float32 or float64 tensor, received dtype {x.dtype}")
    if x.shape[-1] == 0 or x.numel() == 0:
        raise ValueError(f"{name}: expected at least one signal of at least one sample, received shape "
                         f"{tuple(x.shape)}")
    return x.reshape(-1, x.shape[-1]), x.shape[:-1]


def padding_for(length: int, n_fft: int) -> str:
    """The centring pad mode for a signal of ``length`` samples: ``"reflect"`` when it is long enough
    (more than ``n_fft // 2`` samples), else ``"constant"`` (zeros), so any clip has a spectrogram."""
    return "reflect" if length > n_fft // 2 else "constant"


def stft(input: torch.Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
         window: WindowSpec = "hann", center: bool = True, pad_mode: str = "reflect") -> torch.Tensor:
    """One-sided STFT ``(..., n_fft // 2 + 1, frames)`` (complex) of ``input`` ``(..., time)``.

    Equals ``torch.stft(input, n_fft, hop_length, win_length, window_tensor, center, pad_mode,
    normalized=False, onesided=True, return_complex=True)`` (module docstring); ``window`` may
    also be a name. ``input``: real, float32/float64, any device; differentiable (autograd).
    """
    cfg = STFTConfig(n_fft, hop_length, win_length, window, center, pad_mode)
    flat, lead = _flatten_signal(input, "input")
    cfg.check_length("input", flat.shape[-1])
    z = cfg.transform(flat, cfg.window_tensor(flat.dtype, flat.device))
    return z.transpose(-1, -2).reshape(*lead, z.shape[-1], z.shape[-2])


def istft(input: torch.Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
          window: WindowSpec = "hann", center: bool = True, length: int | None = None) -> torch.Tensor:
    """Inverse of :func:`stft` by windowed overlap-add: ``(..., n_fft // 2 + 1, frames)`` -> ``(..., time)``.

    Equals ``torch.istft(input, n_fft, hop_length, win_length, window_tensor, center,
    normalized=False, onesided=True, length=length)``. ``length`` (default: all the frames
    cover, less the centre padding) trims or zero-pads the output. Raises ``ValueError`` where
    the squared window's shifts sum to (near) zero inside the output (NOLA fails). Differentiable.
    """
    cfg = STFTConfig(n_fft, hop_length, win_length, window, center)
    check_tensor("input", input, min_dim=2)
    if not input.is_complex():
        raise ValueError(f"input: expected a complex tensor (..., n_fft // 2 + 1, frames), received dtype "
                         f"{input.dtype}")
    if input.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"input: expected n_fft // 2 + 1 = {n_fft // 2 + 1} frequency bins (dim -2), received "
                         f"shape {tuple(input.shape)}")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
        raise ValueError(f"length: expected an integer >= 0 or None, received {length!r}")
    lead, n_frames = input.shape[:-2], input.shape[-1]
    real_dtype = input.real.dtype
    window_t = cfg.window_tensor(real_dtype, input.device)
    frames = torch.fft.irfft(input.reshape(-1, *input.shape[-2:]).transpose(-1, -2), n_fft, dim=-1) * window_t
    covered = (n_frames - 1) * cfg.hop_length + n_fft if n_frames else 0
    fold = dict(output_size=(1, max(covered, 1)), kernel_size=(1, n_fft), stride=(1, cfg.hop_length))
    y = F.fold(frames.transpose(-1, -2), **fold).reshape(-1, max(covered, 1))[:, :covered]
    envelope = F.fold(window_t.square()[None, :, None].expand(1, n_fft, n_frames), **fold).reshape(-1)[:covered]
    start = n_fft // 2 if center else 0
    end = covered - start if length is None else min(covered, start + length)
    y, envelope = y[:, start:end], envelope[start:end]
    if checking_values() and bool((envelope.abs() < 1e-11).any()):
        raise ValueError(f"window: expected squared windows shifted by hop_length={cfg.hop_length} to overlap "
                         f"everywhere in the output (NOLA), received a sum below 1e-11")
    y = y / envelope
    if length is not None and y.shape[-1] < length:
        y = F.pad(y, (0, length - y.shape[-1]))
    return y.reshape(*lead, y.shape[-1])


class _STFTMagnitudeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, window, cfg, eps):
        z = cfg.transform(x, window)
        p = power_spectrum(z)
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
        coef = (grad / mag).mul_(mask)
        return ctx.cfg.adjoint(z * coef, window, ctx.time), None, None, None


def check_eps(value) -> float:
    """``eps``, the floor on the power spectrum, must be a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"eps: expected a finite number > 0 (floor on the power spectrum), received {value!r}")
    return float(value)


def stft_magnitude(input: torch.Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
                   window: WindowSpec = "hann", center: bool = True, pad_mode: str = "reflect", *,
                   eps: float = 1e-8) -> torch.Tensor:
    r"""Magnitude spectrogram with a safe, analytic gradient: :math:`\sqrt{\max(|X|^2, \epsilon)}`.

    Args:
        input: signal ``(..., time)``, float32 or float64, any device. With ``center=True`` and
            ``pad_mode="reflect"`` it needs more than ``n_fft // 2`` samples; with ``center=False``
            at least ``n_fft``.
        n_fft, hop_length, win_length, window, center, pad_mode: as :func:`stft`.
        eps: floor (> 0) on the power spectrum; the gradient is zero below it, never NaN.

    Returns:
        ``(..., n_fft // 2 + 1, frames)`` magnitudes, ``frames = 1 + (time + 2 (n_fft // 2) - n_fft)
        // hop_length`` when centred.

    The backward is analytic (:meth:`STFTConfig.adjoint`), not autograd through the framing.
    """
    cfg = STFTConfig(n_fft, hop_length, win_length, window, center, pad_mode)
    eps = check_eps(eps)
    flat, lead = _flatten_signal(input, "input")
    cfg.check_length("input", flat.shape[-1])
    mag = _STFTMagnitudeFn.apply(flat, cfg.window_tensor(flat.dtype, flat.device), cfg, eps)
    return mag.transpose(-1, -2).reshape(*lead, mag.shape[-1], mag.shape[-2])
