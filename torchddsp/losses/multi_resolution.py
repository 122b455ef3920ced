r"""Multi-resolution STFT loss (Yamamoto et al. 2020, Parallel WaveGAN; Engel et al. 2020, DDSP).

.. math::
    \mathcal L_{MR} = \frac{1}{|K|}\sum_{k \in K} w_{sc}\mathcal L_{sc,k} + w_{log}\mathcal L_{log,k}
    + w_{lin}\mathcal L_{lin,k}

over STFT configurations :math:`k = (n_{fft}, hop, win)`; the terms are those of
:mod:`torchddsp.losses.spectral` (power-1 magnitudes floored at :math:`\sqrt\epsilon`, L1
distances averaged over bins, Frobenius-norm spectral convergence). ``resolution_reduction="sum"``
drops the :math:`1/|K|` (magenta DDSP sums over resolutions; Parallel WaveGAN and auraloss average).

Matching ``auraloss.freq.MultiResolutionSTFTLoss(fft_sizes, hop_sizes, win_lengths, w_sc, w_log_mag,
w_lin_mag)`` (default ``eps=1e-8``, ``reduction="mean"``, Hann window) exactly::

    multi_resolution_stft_loss(x, y, fft_sizes, hop_sizes, win_lengths, w_sc=..., w_log_mag=...,
                               w_lin_mag=..., sc_pooling="batch")
"""

from __future__ import annotations

from typing import Sequence

import torch

from torchddsp.checks import check_choice
from torchddsp.functional.spectral.stft import STFTConfig, WindowSpec
from torchddsp.losses.reduction import check_signal_pair
from torchddsp.losses.spectral import check_spectral_options, check_term_weights, finish_spectral_loss, spectral_terms

__all__ = ["multi_resolution_stft_loss", "MultiResolutionSTFTLoss",
           # building blocks of the mel loss
           "RESOLUTION_REDUCTIONS", "resolution_configs", "multi_resolution_terms"]

RESOLUTION_REDUCTIONS = ("mean", "sum")


def _as_int_list(name: str, values, n: int | None) -> list:
    if isinstance(values, (int, bool)) or isinstance(values, (str, bytes)):
        raise ValueError(f"{name}: expected a sequence of integers, received {values!r}")
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"{name}: expected a sequence of integers, received {values!r}") from None
    if n is not None and len(values) != n:
        raise ValueError(f"{name}: expected {n} entries (one per FFT size), received {len(values)}")
    return values


def resolution_configs(n_ffts, hop_lengths, win_lengths, window, center, pad_mode) -> list[STFTConfig]:
    """One validated :class:`~torchddsp.functional.spectral.STFTConfig` per FFT size."""
    n_ffts = _as_int_list("n_ffts", n_ffts, None)
    if not n_ffts:
        raise ValueError("n_ffts: expected at least one FFT size, received an empty sequence")
    hops = [None] * len(n_ffts) if hop_lengths is None else _as_int_list("hop_lengths", hop_lengths, len(n_ffts))
    wins = [None] * len(n_ffts) if win_lengths is None else _as_int_list("win_lengths", win_lengths, len(n_ffts))
    return [STFTConfig(n, h, w, window, center, pad_mode) for n, h, w in zip(n_ffts, hops, wins)]


def multi_resolution_terms(input, target, cfgs, filterbanks, weights, eps, log_eps, reduction, sc_pooling,
                           resolution_reduction, implementation):
    """Shared body of the linear- and mel-frequency multi-resolution losses."""
    x, y, lead = check_signal_pair(input, target)
    for cfg in cfgs:
        cfg.check_length("input", x.shape[-1])
    total = None
    for cfg, fb in zip(cfgs, filterbanks):
        per_item, num, den = spectral_terms(x, y, cfg, fb, weights, eps, log_eps, implementation)
        term = finish_spectral_loss(per_item, num, den, weights[0], sc_pooling, reduction, lead)
        total = term if total is None else total + term
    if resolution_reduction == "mean":
        total = total / len(cfgs)
    return total


def multi_resolution_stft_loss(input: torch.Tensor, target: torch.Tensor,
                               n_ffts: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
                               hop_lengths: Sequence[int] | None = None, win_lengths: Sequence[int] | None = None,
                               window: WindowSpec = "hann", *, w_sc: float = 0.0, w_log_mag: float = 1.0,
                               w_lin_mag: float = 1.0, eps: float = 1e-8, log_eps: float = 0.0,
                               center: bool = True, pad_mode: str = "reflect", reduction: str = "mean",
                               sc_pooling: str = "item", resolution_reduction: str = "mean",
                               implementation: str = "fused") -> torch.Tensor:
    r"""Multi-resolution STFT loss: the average (or sum) of :func:`~torchddsp.losses.stft_loss` over resolutions.

    Args:
        input: prediction ``(..., time)``; target: ground truth ``(..., time)`` (leading dims
            broadcast; ``time`` must exceed ``max(n_ffts) // 2`` with the default centred reflect
            padding).
        n_ffts: FFT sizes (default DDSP's 2048 ... 64). ``hop_lengths`` default to ``n_fft // 4``
            (75 % overlap), ``win_lengths`` to ``n_fft``; when given, one entry per FFT size.
        window: window name (``"hann"`` periodic by default), tensor (only if all window lengths
            agree) or callable ``f(win_length)``.
        w_sc, w_log_mag, w_lin_mag: term weights >= 0; 0 drops a term (and its cost). Defaults:
            DDSP (log + linear magnitude). Parallel WaveGAN: ``w_sc=1, w_log_mag=1, w_lin_mag=0``.
        eps: power floor > 0 (magnitude floor ``sqrt(eps)``); log_eps: :math:`\delta \ge 0` in the log.
        reduction: ``"mean"`` | ``"sum"`` over items, or ``"none"`` for per-item losses ``(...)``.
        sc_pooling: ``"item"`` or ``"batch"`` (auraloss / Parallel WaveGAN batch ratio).
        resolution_reduction: ``"mean"`` (Yamamoto et al. 2020, auraloss) or ``"sum"`` (magenta DDSP).
        implementation: ``"fused"`` (analytic backward) or ``"autograd"`` (the STFT and autograd).

    Returns:
        A scalar, or ``(...)`` per-item losses with ``reduction="none"``.
    """
    weights = check_term_weights(w_sc, w_log_mag, w_lin_mag)
    eps, log_eps = check_spectral_options(reduction, sc_pooling, implementation, w_sc, eps, log_eps)
    check_choice("resolution_reduction", resolution_reduction, RESOLUTION_REDUCTIONS)
    cfgs = resolution_configs(n_ffts, hop_lengths, win_lengths, window, center, pad_mode)
    return multi_resolution_terms(input, target, cfgs, [None] * len(cfgs), weights, eps, log_eps, reduction,
                             sc_pooling, resolution_reduction, implementation)


class MultiResolutionSTFTLoss(torch.nn.Module):
    """Module form of :func:`multi_resolution_stft_loss`; arguments are validated at construction.

    Example::

        loss_fn = MultiResolutionSTFTLoss()                 # DDSP: 2048..64, hop n/4, log + lin
        loss = loss_fn(prediction, target)                  # (..., time) -> scalar
    """

    def __init__(self, n_ffts: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
                 hop_lengths: Sequence[int] | None = None, win_lengths: Sequence[int] | None = None,
                 window: WindowSpec = "hann", *, w_sc: float = 0.0, w_log_mag: float = 1.0,
                 w_lin_mag: float = 1.0, eps: float = 1e-8, log_eps: float = 0.0, center: bool = True,
                 pad_mode: str = "reflect", reduction: str = "mean", sc_pooling: str = "item",
                 resolution_reduction: str = "mean", implementation: str = "fused"):
        super().__init__()
        check_term_weights(w_sc, w_log_mag, w_lin_mag)
        check_spectral_options(reduction, sc_pooling, implementation, w_sc, eps, log_eps)
        check_choice("resolution_reduction", resolution_reduction, RESOLUTION_REDUCTIONS)
        resolution_configs(n_ffts, hop_lengths, win_lengths, window, center, pad_mode)
        self.kwargs = dict(n_ffts=tuple(n_ffts), hop_lengths=None if hop_lengths is None else tuple(hop_lengths),
                           win_lengths=None if win_lengths is None else tuple(win_lengths), window=window,
                           w_sc=w_sc, w_log_mag=w_log_mag, w_lin_mag=w_lin_mag, eps=eps, log_eps=log_eps,
                           center=center, pad_mode=pad_mode, reduction=reduction, sc_pooling=sc_pooling,
                           resolution_reduction=resolution_reduction, implementation=implementation)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return multi_resolution_stft_loss(input, target, **self.kwargs)
