"""Harmonic oscillator bank (review Eq. 9; Engel et al., "DDSP", ICLR 2020).

.. math::

    y[n] = \\sum_{k=1}^{K} a_k[n]\\,\\sin\\big(k\\,\\phi[n]\\big), \\qquad
    \\phi[n] = \\phi_0 + 2\\pi \\sum_{m=0}^{n} f_0[m] / f_s ,

with ``a_k[n] = A[n] * alpha_k[n]`` (global amplitude times a normalised harmonic distribution
in ``harmonic_oscillator``) and ``a_k[n] = 0`` wherever ``k f_0[n] >= f_s / 2`` (harmonics at or
above Nyquist are silenced sample by sample, so a gliding f0 never aliases).

Controls arrive at frame rate: amplitudes are upsampled inside the kernel (``linear`` or
``hann``, see ``torchddsp.functional.upsample``) and never materialised at audio rate; f0 is
upsampled linearly and its phase accumulated exactly over any length
(``torchddsp.functional.phase``).

How it is fast. Within frame ``m`` every output sample is
``(1 - w_t) <s[n], A_m> + w_t <s[n], A_{m+1}>`` with ``s[n] = sin(k phi[n])``, so the sum over
harmonics is a small matrix product per frame, and the sines are evaluated chunk by chunk into
a buffer that stays in cache. Chunks are planned per batch item, so harmonics above Nyquist
throughout a chunk of one item are skipped, not computed and zeroed (a batch of high and low
notes costs what each item needs, not what its lowest note needs). The backward pass is analytic (no autograd graph over ``K x time``): the
amplitude gradient is the same matrix product transposed and the phase gradient uses
``k a_k cos(k phi)``; sines/cosines are recomputed rather than stored, so memory stays
``O(time)`` instead of ``O(K x time)``.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_positive, check_positive_int, check_same_size, check_tensor
from .phase import accumulate_phase, advance_phase
from .upsample import UPSAMPLING_METHODS, interpolation_weights, upsample

# Elements of the sine buffer per chunk: ~4 MB in float32, small enough to stay in cache.
_CHUNK_ELEMENTS = 1 << 20


def _chunk_plan(norm_f0: torch.Tensor, frames: int, hop: int, n_harmonics: int, frames_per_chunk: int):
    """Per batch item and chunk of frames: (item, first frame, end frame, harmonics safe everywhere,
    harmonics alive anywhere).

    ``norm_f0`` is ``|f0| / f_s`` at audio rate, ``(B, frames * hop)``. One host sync for all chunks.
    """
    chunks = -(-frames // frames_per_chunk)
    pad = chunks * frames_per_chunk * hop - norm_f0.shape[-1]
    f = torch.nn.functional.pad(norm_f0, (0, pad), value=float("nan")).reshape(norm_f0.shape[0], chunks, -1)
    f_max = torch.nan_to_num(f, nan=0.0).amax(dim=2)
    f_min = torch.nan_to_num(f, nan=float("inf")).amin(dim=2)
    k = torch.arange(1, n_harmonics + 1, device=f.device, dtype=f.dtype)
    safe = (k * f_max[..., None] < 0.5).sum(-1)                # (B, chunks): k f < 1/2 for every sample
    alive = (k * f_min[..., None] < 0.5).sum(-1)               # k f < 1/2 for some sample
    plan = []
    for b, (safe_b, alive_b) in enumerate(zip(safe.tolist(), alive.tolist())):
        for c, (s, a) in enumerate(zip(safe_b, alive_b)):
            start = c * frames_per_chunk
            if a > 0:
                plan.append((b, start, min(start + frames_per_chunk, frames), s, a))
    return plan


class _HarmonicBank(torch.autograd.Function):
    """y[b, m*H + t] = sum_k sin(k phase) ((1 - w_t) A[b, m, k] + w_t A[b, m+1, k]), Nyquist-masked."""

    @staticmethod
    def forward(ctx, phase, amplitudes, norm_f0, weights, hop, plan):
        batch, frames, n_harm = amplitudes.shape
        amp_next = torch.cat([amplitudes[:, 1:], amplitudes[:, -1:]], dim=1)
        k = torch.arange(1, n_harm + 1, dtype=phase.dtype, device=phase.device)
        y = phase.new_zeros(batch, frames * hop)
        for b, m0, m1, safe, alive in plan:
            s = _basis(torch.sin, phase[b], norm_f0[b], k, hop, m0, m1, safe, alive)
            pair = torch.stack([amplitudes[b, m0:m1, :alive], amp_next[b, m0:m1, :alive]], dim=-2)
            out = torch.bmm(pair, s)                                        # (frames, 2, hop)
            y[b, m0 * hop:m1 * hop] = torch.lerp(out[:, 0], out[:, 1], weights).reshape(-1)
        ctx.save_for_backward(phase, amplitudes, norm_f0, weights)
        ctx.hop, ctx.plan = hop, plan
        return y

    @staticmethod
    def backward(ctx, grad_y):
        phase, amplitudes, norm_f0, weights = ctx.saved_tensors
        hop, plan = ctx.hop, ctx.plan
        n_harm = amplitudes.shape[-1]
        need_phase, need_amp = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        k = torch.arange(1, n_harm + 1, dtype=phase.dtype, device=phase.device)
        grad_phase = torch.zeros_like(phase) if need_phase else None
        grad_cur = torch.zeros_like(amplitudes) if need_amp else None
        grad_next = torch.zeros_like(amplitudes) if need_amp else None
        if need_phase:
            amp_next = torch.cat([amplitudes[:, 1:], amplitudes[:, -1:]], dim=1)
        grad_y = grad_y.contiguous()
        for b, m0, m1, safe, alive in plan:
            g = grad_y[b, m0 * hop:m1 * hop].reshape(m1 - m0, hop)
            if need_amp:
                s = _basis(torch.sin, phase[b], norm_f0[b], k, hop, m0, m1, safe, alive)
                gw = torch.stack([g - g * weights, g * weights], dim=-2)          # (frames, 2, hop)
                r = torch.bmm(gw, s.transpose(1, 2))                            # (frames, 2, alive)
                grad_cur[b, m0:m1, :alive] = r[:, 0]
                grad_next[b, m0:m1, :alive] = r[:, 1]
            if need_phase:
                c = _basis(torch.cos, phase[b], norm_f0[b], k, hop, m0, m1, safe, alive)
                pair = torch.stack([amplitudes[b, m0:m1, :alive], amp_next[b, m0:m1, :alive]], dim=-2)
                out = torch.bmm(pair * k[:alive], c)                            # (frames, 2, hop)
                grad_phase[b, m0 * hop:m1 * hop] = (g * torch.lerp(out[:, 0], out[:, 1], weights)).reshape(-1)
        grad_amp = None
        if need_amp:
            # A_{m+1} of frame m is frame m+1's amplitude, except after the last frame (held).
            grad_amp = grad_cur
            grad_amp[:, 1:] += grad_next[:, :-1]
            grad_amp[:, -1] += grad_next[:, -1]
        return grad_phase, grad_amp, None, None, None, None


def _basis(fn, phase, norm_f0, k, hop, m0, m1, safe, alive):
    """``fn(k phase)`` of one batch item (``phase``, ``norm_f0``: ``(time,)``) for frames m0..m1 and
    harmonics 1..alive, Nyquist-masked: ``(m1 - m0, alive, hop)``."""
    ph = phase[m0 * hop:m1 * hop].reshape(m1 - m0, 1, hop)
    buf = k[:alive, None] * ph
    fn(buf, out=buf)                                           # in place: no second buffer
    if safe < alive:                                           # harmonics crossing Nyquist in this chunk
        f = norm_f0[m0 * hop:m1 * hop].reshape(m1 - m0, 1, hop)
        buf[:, safe:alive] *= (k[safe:alive, None] * f < 0.5).to(buf.dtype)
    return buf


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
            (float64, exact: ``functional.phase.advance_phase``), for block-by-block rendering.
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
    norm_f0 = (f0_audio.detach().abs() / sample_rate).contiguous()

    if frames == 0 or n_harm == 0:
        audio = phase.new_zeros(phase.shape) + 0 * amps.sum()
    else:
        weights = interpolation_weights(hop_size, upsampling, dtype=dtype, device=amps.device)
        plan = _chunk_plan(norm_f0, frames, hop_size, n_harm, max(1, _CHUNK_ELEMENTS // (hop_size * n_harm)))
        audio = _HarmonicBank.apply(phase.contiguous(), amps.contiguous(), norm_f0, weights, hop_size, plan)
    audio = audio.reshape(*lead, frames * hop_size)
    if state is None:
        return audio
    return audio, advance_phase(state, f0_audio, sample_rate).reshape(lead)


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
