r"""The mel-scaled multi-resolution STFT loss.

The mel scales and the filterbank :math:`W` are defined in :mod:`torchddsp.functional.spectral.mel`.

Loss. :func:`mel_multi_resolution_stft_loss` applies the terms of
:mod:`torchddsp.losses.spectral` to mel magnitudes :math:`W X` (mel filterbank applied to the
power-1, floored magnitudes) at every resolution and averages over resolutions; used by, e.g.,
Fabbro et al. 2020, Kaneko et al. 2022 and Song et al. 2023 (see Hayes et al. 2023, sec. 4.1).
"""

from __future__ import annotations

from typing import Sequence

import torch

from torchddsp.checks import check_choice, check_tensor
from torchddsp.functional.spectral.mel import mel_filterbank
from torchddsp.functional.spectral.stft import WindowSpec
from torchddsp.losses.multi_resolution import RESOLUTION_REDUCTIONS, multi_resolution_terms, resolution_configs
from torchddsp.losses.spectral import check_spectral_options, check_term_weights

__all__ = ["mel_multi_resolution_stft_loss", "MelMultiResolutionSTFTLoss"]

def _n_mels_list(n_mels, n_ffts) -> list[int]:
    if n_mels is None:
        return [max(1, min(128, n // 8)) for n in n_ffts]
    if isinstance(n_mels, int) and not isinstance(n_mels, bool):
        return [n_mels] * len(n_ffts)
    try:
        values = list(n_mels)
    except TypeError:
        raise ValueError(f"n_mels: expected an int, a sequence of ints or None, received {n_mels!r}") from None
    if len(values) != len(n_ffts):
        raise ValueError(f"n_mels: expected {len(n_ffts)} entries (one per FFT size), received {len(values)}")
    return values


def _mel_setup(sample_rate, n_ffts, hop_lengths, win_lengths, n_mels, f_min, f_max, mel_scale, norm, window,
               center, pad_mode):
    cfgs = resolution_configs(n_ffts, hop_lengths, win_lengths, window, center, pad_mode)
    mels = _n_mels_list(n_mels, [c.n_fft for c in cfgs])
    filterbanks = [mel_filterbank(sample_rate, cfg.n_fft, m, f_min, f_max, mel_scale, norm, dtype=torch.float64)
                   for cfg, m in zip(cfgs, mels)]                  # validates; raises on empty filters
    return cfgs, filterbanks


def mel_multi_resolution_stft_loss(input: torch.Tensor, target: torch.Tensor, sample_rate: float,
                                   n_ffts: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
                                   hop_lengths: Sequence[int] | None = None,
                                   win_lengths: Sequence[int] | None = None,
                                   n_mels: int | Sequence[int] | None = None, f_min: float = 0.0,
                                   f_max: float | None = None, mel_scale: str = "slaney",
                                   norm: str | None = "slaney", window: WindowSpec = "hann", *,
                                   w_sc: float = 0.0, w_log_mag: float = 1.0, w_lin_mag: float = 1.0,
                                   eps: float = 1e-8, log_eps: float = 0.0, center: bool = True,
                                   pad_mode: str = "reflect", reduction: str = "mean", sc_pooling: str = "item",
                                   resolution_reduction: str = "mean", implementation: str = "fused") -> torch.Tensor:
    r"""Multi-resolution loss on mel magnitudes :math:`M = W\,|STFT|` (one filterbank per FFT size).

    .. math:: \mathcal L = \frac1{|K|}\sum_k w_{sc}\frac{\|M_y - M_{\hat y}\|_F}{\|M_y\|_F}
        + \frac{w_{log}}{N_k}\sum|\log(M_{\hat y}+\delta) - \log(M_y+\delta)|
        + \frac{w_{lin}}{N_k}\sum|M_{\hat y} - M_y|

    with :math:`N_k` = mels x frames per item. Magnitudes are floored at :math:`\sqrt\epsilon`
    before the filterbank, so (filters being non-empty) the log is finite and the loss is safe on
    silence.

    Args:
        input, target, n_ffts, hop_lengths, win_lengths, window, w_*, eps, log_eps, center, pad_mode,
            reduction, sc_pooling, resolution_reduction, implementation: as
            :func:`~torchddsp.losses.multi_resolution_stft_loss`.
        sample_rate: of the signals, in Hz (required; nothing assumes 16 kHz).
        n_mels: filters per resolution: an int for all, one per FFT size, or ``None`` for
            ``min(128, n_fft // 8)``.
        f_min, f_max, mel_scale, norm: as :func:`~torchddsp.functional.spectral.mel_filterbank` (defaults: 0,
            Nyquist, Slaney, Slaney).

    Matches ``auraloss.freq.MultiResolutionSTFTLoss(..., scale="mel", n_bins=n_mels,
    sample_rate=sr)`` with ``sc_pooling="batch"`` (auraloss builds its filterbank with librosa's
    defaults: Slaney scale and norm, 0 Hz to Nyquist).
    """
    weights = check_term_weights(w_sc, w_log_mag, w_lin_mag)
    eps, log_eps = check_spectral_options(reduction, sc_pooling, implementation, w_sc, eps, log_eps)
    check_choice("resolution_reduction", resolution_reduction, RESOLUTION_REDUCTIONS)
    cfgs, filterbanks = _mel_setup(sample_rate, n_ffts, hop_lengths, win_lengths, n_mels, f_min, f_max, mel_scale, norm,
                            window, center, pad_mode)
    check_tensor("input", input, min_dim=1)
    dtype = torch.promote_types(input.dtype, target.dtype) if isinstance(target, torch.Tensor) else input.dtype
    fbs = [fb.to(dtype=dtype, device=input.device) for fb in filterbanks]
    return multi_resolution_terms(input, target, cfgs, fbs, weights, eps, log_eps, reduction, sc_pooling,
                             resolution_reduction, implementation)


class MelMultiResolutionSTFTLoss(torch.nn.Module):
    """Module form of :func:`mel_multi_resolution_stft_loss`; arguments are validated at construction.

    Example::

        loss_fn = MelMultiResolutionSTFTLoss(sample_rate=16000, n_ffts=(1024, 512, 256), n_mels=(80, 40, 20))
        loss = loss_fn(prediction, target)
    """

    def __init__(self, sample_rate: float, n_ffts: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
                 hop_lengths: Sequence[int] | None = None, win_lengths: Sequence[int] | None = None,
                 n_mels: int | Sequence[int] | None = None, f_min: float = 0.0, f_max: float | None = None,
                 mel_scale: str = "slaney", norm: str | None = "slaney", window: WindowSpec = "hann", *,
                 w_sc: float = 0.0, w_log_mag: float = 1.0, w_lin_mag: float = 1.0, eps: float = 1e-8,
                 log_eps: float = 0.0, center: bool = True, pad_mode: str = "reflect", reduction: str = "mean",
                 sc_pooling: str = "item", resolution_reduction: str = "mean", implementation: str = "fused"):
        super().__init__()
        check_term_weights(w_sc, w_log_mag, w_lin_mag)
        check_spectral_options(reduction, sc_pooling, implementation, w_sc, eps, log_eps)
        check_choice("resolution_reduction", resolution_reduction, RESOLUTION_REDUCTIONS)
        _mel_setup(sample_rate, n_ffts, hop_lengths, win_lengths, n_mels, f_min, f_max, mel_scale, norm, window,
                   center, pad_mode)
        self.sample_rate = sample_rate
        self.kwargs = dict(n_ffts=tuple(n_ffts), hop_lengths=None if hop_lengths is None else tuple(hop_lengths),
                           win_lengths=None if win_lengths is None else tuple(win_lengths),
                           n_mels=n_mels if n_mels is None or isinstance(n_mels, int) else tuple(n_mels),
                           f_min=f_min, f_max=f_max, mel_scale=mel_scale, norm=norm, window=window, w_sc=w_sc,
                           w_log_mag=w_log_mag, w_lin_mag=w_lin_mag, eps=eps, log_eps=log_eps, center=center,
                           pad_mode=pad_mode, reduction=reduction, sc_pooling=sc_pooling,
                           resolution_reduction=resolution_reduction, implementation=implementation)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return mel_multi_resolution_stft_loss(input, target, self.sample_rate, **self.kwargs)
