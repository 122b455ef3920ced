r"""LPC coefficients from a (log-)mel spectrum (Juvela et al. 2019, GELP; review sec. 3.1.1.3).

Given a mel spectrum :math:`\mathbf m = \log(\mathbf M \hat{\mathbf x})` (or its linear
version), with :math:`\mathbf M` the mel filterbank ``(n_mels, n_fft // 2 + 1)``:

1. undo the mel projection with the pseudo-inverse and floor it,
   :math:`\hat{\mathbf x} \approx \max(\mathbf M^\dagger \exp(\mathbf m), \epsilon)`;
2. turn it into a power spectrum, :math:`P = \hat{\mathbf x}^{2 / \text{power}}` (``power`` is
   the exponent the mel spectrum was computed with: 2 for power, 1 for magnitude);
3. autocorrelation by the inverse real FFT (Wiener-Khinchin),
   :math:`r[l] = \mathrm{IDFT}_{n_{fft}}(P)[l]`, :math:`l = 0..p`;
4. solve the normal equations with the Levinson-Durbin recursion (``levinson.py``).

The result is ``(a, k, error)`` as :func:`~torchddsp.functional.filters.lpc.levinson_durbin` returns,
in the convention :math:`A(z) = 1 + \sum a_i z^{-i}`; :math:`\sqrt{E_p}` is the gain of the
all-pole envelope (in units of the spectrum's scale).

Juvela et al. computed these coefficients outside the gradient path; here every step is
differentiable with respect to the mel spectrum, except where the floor :math:`\epsilon` is
active (zero gradient there), so a network predicting mel spectra can be trained through the
LPC synthesis filter.

Mel filterbank: the triangular filterbank of librosa's ``filters.mel`` (Slaney or HTK scale,
Slaney area normalisation or peak 1), built here in float64 and cached; or pass your own
``filterbank`` (e.g. the one the mel features of your model use).
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_nonnegative_int, check_positive, check_positive_int, check_tensor
from torchddsp.functional.filters.lpc.levinson import levinson_durbin
from torchddsp.functional.spectral.mel import mel_filterbank_pinv


def lpc_from_mel(mel: torch.Tensor, order: int, sample_rate: float, n_fft: int, *, f_min: float = 0.0,
                 f_max: float | None = None, mel_scale: str = "slaney", norm: str | None = "slaney",
                 filterbank: torch.Tensor | None = None, log: bool = True, power: float = 2.0,
                 eps: float = 1e-10, white_noise: float = 0.0):
    """LPC of order ``order`` from mel spectra ``mel`` ``(..., n_mels)`` (e.g. ``(batch, frames, n_mels)``).

    Args:
        mel: natural-log mel spectrum (``log=True``) or the linear one (``log=False``), mels on
            the last axis.
        order: LPC order ``p >= 0``; ``p < n_fft`` is required.
        sample_rate, n_fft: of the analysis the mel spectrum came from (``sample_rate`` in Hz).
        f_min, f_max, mel_scale, norm: the filterbank (see ``functional.spectral.mel_filterbank``); ignored when
            ``filterbank`` is given.
        filterbank: optional ``(n_mels, n_fft // 2 + 1)`` filterbank to invert instead (treated
            as a constant).
        log: whether ``mel`` is a natural log.
        power: exponent of the spectrum the mel came from, ``> 0`` (2: power, 1: magnitude).
        eps: floor ``> 0`` on the pseudo-inverse spectrum, in its own units (step 1).
        white_noise: passed to :func:`levinson_durbin`.

    Returns ``(a, k, error)``, each with ``mel``'s leading shape: ``(..., p)``, ``(..., p)``, ``(...)``.
    Differentiable with respect to ``mel``.
    """
    check_tensor("mel", mel, min_dim=1)
    if mel.is_complex():
        raise ValueError(f"mel: expected a real floating-point tensor, received dtype {mel.dtype}")
    check_nonnegative_int("order", order)
    check_positive("sample_rate", sample_rate)
    check_positive_int("n_fft", n_fft)
    check_positive("power", power)
    check_positive("eps", eps)
    if order >= n_fft:
        raise ValueError(f"order: expected less than n_fft={n_fft}, received {order}")
    n_mels, n_bins = mel.shape[-1], n_fft // 2 + 1
    if filterbank is None:
        inverse = mel_filterbank_pinv(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm, dtype=torch.float64)
    else:
        check_tensor("filterbank", filterbank, min_dim=2)
        if tuple(filterbank.shape) != (n_mels, n_bins):
            raise ValueError(f"filterbank: expected shape (n_mels, n_fft // 2 + 1) = ({n_mels}, {n_bins}), "
                             f"received {tuple(filterbank.shape)}")
        inverse = torch.linalg.pinv(filterbank.detach().to(torch.float64))
    inverse = inverse.to(dtype=mel.dtype, device=mel.device)           # (n_bins, n_mels)
    linear = torch.exp(mel) if log else mel
    spectrum = torch.clamp(linear @ inverse.transpose(0, 1), min=eps)  # (..., n_bins)
    power_spectrum = spectrum if power == 2 else spectrum ** (2.0 / power)
    r = torch.fft.irfft(power_spectrum, n=n_fft)[..., :order + 1]
    return levinson_durbin(r, order, white_noise=white_noise)
