"""The harmonic oscillator bank's fast path as ``torch.library`` custom ops (see ``functional/oscillators/harmonic.py``).

- ``torchddsp::harmonic_bank(phase, amplitudes, norm_f0, weights, hop) -> y``:
  ``y[b, m H + t] = sum_k sin(k phase[b, mH+t]) ((1 - w_t) A[b, m, k] + w_t A[b, m+1, k])``, each
  term masked where ``k norm_f0 >= 1/2`` (Nyquist). ``phase``/``norm_f0`` ``(B, frames * H)``,
  ``amplitudes`` ``(B, frames, K)``, ``weights`` ``(H,)``.
- ``torchddsp::harmonic_bank_backward(grad_y, phase, amplitudes, norm_f0, weights, hop, need_phase,
  need_amplitudes) -> (grad_phase, grad_amplitudes)``: the analytic adjoint, recomputing the sines
  and cosines (memory ``O(time)``, not ``O(K x time)``).

Why custom ops: the chunk plan (which harmonics each chunk of each item needs) is read on the
host, a data-dependent step that ``torch.compile`` cannot trace; inside an op it is opaque, and
the fake registrations give the compiler the output shapes. Runs on any device and dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Elements of the sine buffer per chunk: ~4 MB in float32, small enough to stay in cache.
CHUNK_ELEMENTS = 1 << 20


def _chunk_plan(norm_f0: Tensor, frames: int, hop: int, n_harmonics: int):
    """Per batch item and chunk of frames: (item, first frame, end frame, harmonics safe everywhere,
    harmonics alive anywhere). One host sync for all chunks."""
    frames_per_chunk = min(frames, max(1, CHUNK_ELEMENTS // (hop * n_harmonics)))
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


def _next_frame(amplitudes: Tensor) -> Tensor:
    """``A_{m+1}`` for every frame ``m`` (the last frame is held)."""
    return torch.cat([amplitudes[:, 1:], amplitudes[:, -1:]], dim=1)


@torch.library.custom_op("torchddsp::harmonic_bank", mutates_args=())
def harmonic_bank(phase: Tensor, amplitudes: Tensor, norm_f0: Tensor, weights: Tensor, hop: int) -> Tensor:
    batch, frames, n_harm = amplitudes.shape
    y = phase.new_zeros(batch, frames * hop)
    if frames == 0 or n_harm == 0:
        return y
    amp_next = _next_frame(amplitudes)
    k = torch.arange(1, n_harm + 1, dtype=phase.dtype, device=phase.device)
    for b, m0, m1, safe, alive in _chunk_plan(norm_f0, frames, hop, n_harm):
        s = _basis(torch.sin, phase[b], norm_f0[b], k, hop, m0, m1, safe, alive)
        pair = torch.stack([amplitudes[b, m0:m1, :alive], amp_next[b, m0:m1, :alive]], dim=-2)
        out = torch.bmm(pair, s)                                        # (frames, 2, hop)
        y[b, m0 * hop:m1 * hop] = torch.lerp(out[:, 0], out[:, 1], weights).reshape(-1)
    return y


@harmonic_bank.register_fake
def _(phase, amplitudes, norm_f0, weights, hop):
    return phase.new_empty(amplitudes.shape[0], amplitudes.shape[1] * hop)


@torch.library.custom_op("torchddsp::harmonic_bank_backward", mutates_args=())
def harmonic_bank_backward(grad_y: Tensor, phase: Tensor, amplitudes: Tensor, norm_f0: Tensor, weights: Tensor,
                           hop: int, need_phase: bool, need_amplitudes: bool) -> tuple[Tensor, Tensor]:
    batch, frames, n_harm = amplitudes.shape
    grad_phase = torch.zeros_like(phase)
    grad_cur = torch.zeros_like(amplitudes)
    if frames == 0 or n_harm == 0:
        return grad_phase, grad_cur
    grad_next = torch.zeros_like(amplitudes)
    amp_next = _next_frame(amplitudes)
    k = torch.arange(1, n_harm + 1, dtype=phase.dtype, device=phase.device)
    for b, m0, m1, safe, alive in _chunk_plan(norm_f0, frames, hop, n_harm):
        g = grad_y[b, m0 * hop:m1 * hop].reshape(m1 - m0, hop)
        if need_amplitudes:
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
    # A_{m+1} of frame m is frame m+1's amplitude, except after the last frame (held).
    grad_cur[:, 1:] += grad_next[:, :-1]
    grad_cur[:, -1] += grad_next[:, -1]
    return grad_phase, grad_cur


@harmonic_bank_backward.register_fake
def _(grad_y, phase, amplitudes, norm_f0, weights, hop, need_phase, need_amplitudes):
    return torch.empty_like(phase), torch.empty_like(amplitudes)


def _setup(ctx, inputs, output):
    phase, amplitudes, norm_f0, weights, hop = inputs
    ctx.save_for_backward(phase, amplitudes, norm_f0, weights)
    ctx.hop = hop


def _backward(ctx, grad_y):
    phase, amplitudes, norm_f0, weights = ctx.saved_tensors
    need_phase, need_amplitudes = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    grad_phase, grad_amplitudes = harmonic_bank_backward(grad_y.contiguous(), phase, amplitudes, norm_f0, weights,
                                                         ctx.hop, need_phase, need_amplitudes)
    return (grad_phase if need_phase else None, grad_amplitudes if need_amplitudes else None, None, None, None)


harmonic_bank.register_autograd(_backward, setup_context=_setup)
