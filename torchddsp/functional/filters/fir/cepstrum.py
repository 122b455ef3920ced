"""Mixed-phase FIR filters from a complex cepstrum.

Liu et al., "Neural Homomorphic Vocoder" (Interspeech 2020) describe each frame's filter by its
complex cepstrum :math:`\\hat h_m`, which fixes both the magnitude response and the group delay
(a mixed-phase filter). The impulse response is (review: Hayes et al. 2023, Eq. 7)

.. math:: h_m = W_N^{H} \\exp\\big(W_N \\hat h_m\\big),

with the :math:`N`-point DFT matrix :math:`W_N` (:math:`W_N^H` normalised as the inverse DFT)
and the exponential taken elementwise: the log-spectrum's real part is the log magnitude, its
imaginary part the phase. A real cepstrum has a Hermitian DFT, so :math:`h_m` is real; we
compute it with real FFTs.

Layout. ``cepstrum`` ``(..., frames, 2Q + 1)`` holds quefrencies :math:`-Q, \\dots, Q`, quefrency 0
in the middle. The causal part (:math:`q > 0`) describes the minimum-phase component, the
anticausal part (:math:`q < 0`) the maximum-phase component. Quefrency :math:`q` sits at DFT
index :math:`q \\bmod N`. The resulting :math:`h_m` is circular, its anticausal part wrapped to
the end; it is returned rotated by ``shift`` samples (default ``N // 2``), so it is a causal
``N``-tap filter delayed by ``shift`` samples (pass ``delay=shift`` to ``time_varying_fir`` to
align it). :math:`h_m` is the time-aliased (period :math:`N`) version of the generally infinite
impulse response; choose :math:`N` several times larger than :math:`2Q+1`.
The exponential overflows for log magnitudes above about 88 (float32) or 709 (float64).
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive_int, check_tensor


def complex_cepstrum_ir(cepstrum: torch.Tensor, n_fft: int, *, shift: int | None = None) -> torch.Tensor:
    """Impulse responses ``(..., frames, n_fft)`` from complex cepstra ``(..., frames, 2Q + 1)``.

    Args:
        cepstrum: real, odd length ``2Q + 1`` in the last dimension, quefrency 0 in the middle.
        n_fft: DFT size ``N >= 2Q + 1`` and number of taps.
        shift: circular rotation applied to the result, in ``[0, n_fft)``; default ``n_fft // 2``.
            0 returns the circular response itself (right for a purely causal, minimum-phase
            cepstrum).

    Returns:
        ``h[t] = IDFT(exp(DFT(c)))[(t - shift) mod N]``. Differentiable with respect to ``cepstrum``.
    """
    check_tensor("cepstrum", cepstrum, min_dim=1)
    if cepstrum.is_complex():
        raise ValueError(f"cepstrum: expected a real tensor, received dtype {cepstrum.dtype}")
    length = cepstrum.shape[-1]
    if length % 2 == 0:
        raise ValueError(f"cepstrum: expected an odd length 2Q + 1 (quefrencies -Q..Q) in the last dimension, "
                         f"received shape {tuple(cepstrum.shape)}")
    check_positive_int("n_fft", n_fft)
    if n_fft < length:
        raise ValueError(f"n_fft: expected at least the cepstrum length {length}, received {n_fft}")
    shift = n_fft // 2 if shift is None else shift
    if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift < n_fft:
        raise ValueError(f"shift: expected an int in [0, {n_fft}), received {shift!r}")
    half = length // 2
    gap = cepstrum.new_zeros(*cepstrum.shape[:-1], n_fft - length)
    circular = torch.cat([cepstrum[..., half:], gap, cepstrum[..., :half]], dim=-1)
    response = torch.fft.irfft(torch.exp(torch.fft.rfft(circular)), n_fft)
    if shift == 0:
        return response
    return torch.cat([response[..., n_fft - shift:], response[..., :n_fft - shift]], dim=-1)
