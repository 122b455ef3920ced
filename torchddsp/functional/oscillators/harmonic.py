"""Harmonic oscillator bank (review Eq. 9; Engel et al., "DDSP", ICLR 2020).

.. math::

    y[n] = \\sum_{k=1}^{K} a_k[n]\\,\\sin\\big(k\\,\\phi[n]\\big), \\qquad
    \\phi[n] = \\phi_0 + 2\\pi \\sum_{m=0}^{n} f_0[m] / f_s ,

with ``a_k[n] = A[n] * alpha_k[n]`` (global amplitude times a normalised harmonic distribution
in ``harmonic_oscillator``) and ``a_k[n] = 0`` wherever ``k f_0[n] >= f_s / 2`` (harmonics at or
above Nyquist are silenced sample by sample, so a gliding f0 never aliases).

Controls arrive at frame rate: amplitudes are upsampled inside the kernel (``linear`` or
``hann``, see ``torchddsp.functional.core.upsample``) and never materialised at audio rate; f0 is
upsampled linearly and its phase accumulated exactly over any length
(``torchddsp.functional.core.phase``).

How it is fast. Within frame ``m`` every output sample is
``(1 - w_t) <s[n], A_m> + w_t <s[n], A_{m+1}>`` with ``s[n] = sin(k phi[n])``, so the sum over
harmonics is a small matrix product per frame, and the sines are evaluated chunk by chunk into
a buffer that stays in cache. Chunks are planned per batch item, so harmonics above Nyquist
throughout a chunk of one item are skipped, not computed and zeroed (a batch of high and low
notes costs what each item needs, not what its lowest note needs). The backward pass is
analytic (no autograd graph over ``K x time``): the amplitude gradient is the same matrix
product transposed and the phase gradient uses ``k a_k cos(k phi)``; sines/cosines are
recomputed rather than stored, so memory stays ``O(time)`` instead of ``O(K x time)``. Forward and backward are ``torch.library`` custom ops
(``kernels/harmonic_ops.py``), so ``torch.compile`` sees them whole; the kernel backend
``"pure"`` (``torchddsp.kernels.set_backend``), and ``torch.export``, use a plain PyTorch
transcription of Eq. 9 instead.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import (
    check_choice,
    check_positive,
    check_positive_int,
    check_same_size,
    check_tensor,
    checking_values,
)
from torchddsp.functional.core.phase import accumulate_phase
from torchddsp.functional.core.upsample import UPSAMPLING_METHODS, interpolation_weights, upsample
from torchddsp.kernels import harmonic_ops
from torchddsp.kernels.backend import get_backend


def _pure_bank(phase: torch.Tensor, amplitudes: torch.Tensor, norm_f0: torch.Tensor, weights: torch.Tensor,
               hop: int) -> torch.Tensor:
    """Eq. 9 in plain PyTorch (``O(K x time)`` memory, autograd backward): the export path."""
    batch, frames, n_harm = amplitudes.shape
    amp_next = torch.cat([amplitudes[:, 1:], amplitudes[:, -1:]], dim=1)
    amps = torch.lerp(amplitudes[:, :, None, :], amp_next[:, :, None, :], weights[:, None])   # (B, F, H, K)
    k = torch.arange(1, n_harm + 1, dtype=phase.dtype, device=phase.device)
    audible = (k * norm_f0[..., None] < 0.5).to(phase.dtype)                                 # (B, T, K)
    terms = torch.sin(k * phase[..., None]) * audible * amps.reshape(batch, frames * hop, n_harm)
    return terms.sum(-1)


def harmonic_bank(harmonic_amplitudes: torch.Tensor, f0: torch.Tensor, sample_rate: float, hop_size: int,
                  state: torch.Tensor | None = None, upsampling: str = "linear"):
    """Render harmonics of ``f0`` with per-harmonic amplitudes given at frame rate.

    Args:
        harmonic_amplitudes: ``(..., frames, K)``, amplitude of harmonic ``k = 1..K`` per frame
            (any real value; usually non-negative).
        f0: fundamental frequency in Hz, ``(..., frames, 1)`` at frame rate (upsampled
            linearly) or ``(..., frames * hop_size, 1)`` at audio rate. Negative values run the
            phase backwards; harmonics with ``k |f0| >= sample_rate / 2`` are silent.
        sample_rate: in Hz, > 0.
        hop_size: audio samples per frame, >= 1.
        state: optional streaming state, the fundamental phase in radians before the first
            sample, broadcastable to ``(...)``. When given, the final phase is returned too
            (float64, exact: ``functional.core.phase.advance_phase``), for block-by-block rendering.
        upsampling: ``"linear"`` or ``"hann"`` amplitude upsampling.

    Returns:
        ``(..., frames * hop_size)`` audio, or ``(audio, final_phase)`` when ``state`` is given.

    Differentiable with respect to ``harmonic_amplitudes``, ``f0`` and ``state``.
    """
    check_tensor("harmonic_amplitudes", harmonic_amplitudes, min_dim=2)
    check_tensor("f0", f0, min_dim=2)
    check_positive("sample_rate", sample_rate)
    check_positive_int("hop_size", hop_size)
    check_choice("upsampling", upsampling, UPSAMPLING_METHODS)
    *lead, frames, n_harm = harmonic_amplitudes.shape
    if f0.shape[-1] != 1:
        raise ValueError(f"f0: expected a last axis of size 1, (..., frames, 1), received shape {tuple(f0.shape)}")
    if f0.shape[-2] not in (frames, frames * hop_size):
        raise ValueError(f"f0: expected {frames} frames or {frames * hop_size} samples on axis -2 "
                         f"(matching harmonic_amplitudes), received shape {tuple(f0.shape)}")
    if checking_values() and not bool(torch.isfinite(f0.detach()).all()):
        raise ValueError("f0: expected finite frequencies in Hz, received NaN or inf")
    lead = torch.broadcast_shapes(tuple(lead), tuple(f0.shape[:-2]))
    dtype = torch.promote_types(harmonic_amplitudes.dtype, f0.dtype)
    batch = math.prod(lead)
    amps = harmonic_amplitudes.to(dtype).expand(*lead, frames, n_harm).reshape(batch, frames, n_harm)
    f0 = f0.to(dtype)
    f0_audio = f0 if f0.shape[-2] == frames * hop_size else upsample(f0, hop_size, "linear")
    f0_audio = f0_audio[..., 0].expand(*lead, frames * hop_size).reshape(batch, frames * hop_size)
    if state is not None:
        state = torch.as_tensor(state, dtype=torch.float64, device=f0.device)
        try:
            state = state.expand(lead).reshape(batch)
        except RuntimeError:
            raise ValueError(f"state: expected a phase broadcastable to {tuple(lead)}, "
                             f"received shape {tuple(state.shape)}") from None
    phase = accumulate_phase(f0_audio, sample_rate, state)
    if state is not None:
        phase, final = phase
    norm_f0 = (f0_audio.detach().abs() / sample_rate).contiguous()

    weights = interpolation_weights(hop_size, upsampling, dtype=dtype, device=amps.device)
    if frames == 0 or n_harm == 0:
        audio = phase.new_zeros(phase.shape) + 0 * amps.sum()
    elif get_backend() == "pure" or torch.compiler.is_exporting():
        audio = _pure_bank(phase, amps, norm_f0, weights, hop_size)
    else:
        audio = harmonic_ops.harmonic_bank(phase.contiguous(), amps.contiguous(), norm_f0, weights, hop_size)
    audio = audio.reshape(*lead, frames * hop_size)
    if state is None:
        return audio
    return audio, final.reshape(lead)


def harmonic_oscillator(amplitude: torch.Tensor, harmonic_distribution: torch.Tensor, f0: torch.Tensor,
                        sample_rate: float, hop_size: int, state: torch.Tensor | None = None,
                        upsampling: str = "linear"):
    """Review Eq. 9: global ``amplitude`` ``(..., frames, 1)`` times ``harmonic_distribution`` ``(..., frames, K)``.

    The distribution is used as given (normalise it first, e.g. with
    ``scaling.normalize_distribution`` after silencing harmonics above Nyquist, as the
    ``Harmonic`` processor does). See ``harmonic_bank`` for ``f0``, the other arguments and
    the return value.
    """
    check_tensor("amplitude", amplitude, min_dim=2)
    check_tensor("harmonic_distribution", harmonic_distribution, min_dim=2)
    if amplitude.shape[-1] != 1:
        raise ValueError(f"amplitude: expected shape (..., frames, 1), received {tuple(amplitude.shape)}")
    check_same_size("amplitude", amplitude.shape[-2], "harmonic_distribution", harmonic_distribution.shape[-2],
                    "number of frames")
    return harmonic_bank(amplitude * harmonic_distribution, f0, sample_rate, hop_size, state, upsampling)
