"""Time-varying (framewise) FIR filtering by overlap-add of exact block convolutions.

The signal is cut into blocks of ``hop_size`` samples, :math:`x_m[t] = x[mH + t]` for
``0 <= t < H``, and block ``m`` is filtered by frame ``m``'s impulse response :math:`h_m` of
``L`` taps. Every block's *whole* convolution (``H + L - 1`` samples) is overlap-added:

.. math:: y[n] = \\sum_m \\sum_{t=0}^{H-1} x[mH + t]\\, h_m[n - mH - t].

So the filter applied to each input sample is exactly the impulse response of its frame
(nothing is truncated to the hop), and a constant impulse response gives exactly
``scipy.signal.lfilter(h, 1, x)``. This is the framewise linear time-varying FIR of Engel et al.,
"DDSP: Differentiable Digital Signal Processing", ICLR 2020 (review: Hayes et al. 2023, §3.1.2).

Each block convolution is one real FFT of size ``P * H`` with ``P = ceil((H + L - 1) / H)``
(e.g. 192 points for ``H = 64``, ``L = 128``), and the overlap-add adds ``P`` hop-sized slices.
Gradients are computed analytically (the adjoint of a convolution is a correlation); the forward
pass keeps no spectra (the backward pass recomputes the one it needs), which saves memory and time. Second derivatives are not
supported (double backward raises an error rather than returning a wrong value).

Alignment. The full output has ``F * H + L - 1`` samples for ``F`` frames; the returned signal is
samples ``delay .. delay + time - 1`` of it, so the output has the input's length. ``delay=0`` is
the causal filter. A linear-phase impulse response centred on tap ``c`` delays the signal by
``c`` samples; ``delay=c`` removes that delay (zero-phase alignment, one frame of look-ahead).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..._checks import check_positive_int, check_tensor


def block_fft_size(hop_size: int, taps: int) -> int:
    """FFT size of each block convolution: the smallest multiple of ``hop_size`` >= ``hop_size + taps - 1``."""
    return -(-(hop_size + taps - 1) // hop_size) * hop_size


def _pieces_overlap_add(y: torch.Tensor, hop: int, offsets: list[int], n_blocks: int) -> torch.Tensor:
    """Overlap-add ``y`` ``(..., F, P*hop)``: piece ``j`` of frame ``m`` lands on block ``m + offsets[j]``.

    ``offsets`` is a permutation of ``0 .. P-1``; ``n_blocks = F + P - 1``.
    """
    *lead, frames, _ = y.shape
    pieces = y.reshape(*lead, frames, len(offsets), hop)
    base = offsets.index(0)
    out = F.pad(pieces[..., base, :], (0, 0, 0, n_blocks - frames))     # the piece that starts at block 0
    for j, offset in enumerate(offsets):              # a loop over the P hop-sized slices, not frames
        if j != base:
            out[..., offset:offset + frames, :] += pieces[..., j, :]
    return out.reshape(*lead, n_blocks * hop)


def _pieces_frame(d: torch.Tensor, hop: int, offsets: list[int], frames: int) -> torch.Tensor:
    """Adjoint of :func:`_pieces_overlap_add`: ``(..., n_blocks*hop)`` -> ``(..., F, P*hop)``."""
    *lead, total = d.shape
    blocks = d.reshape(*lead, total // hop, hop)
    pieces = torch.stack([blocks[..., o:o + frames, :] for o in offsets], dim=-2)
    return pieces.reshape(*lead, frames, len(offsets) * hop)


def _edge_weights(n_fft: int, dtype, device) -> torch.Tensor:
    """``s_k / n``: how often bin ``k`` of a real spectrum appears in the inverse DFT, over ``n``."""
    w = torch.full((n_fft // 2 + 1,), 2.0 / n_fft, dtype=dtype, device=device)
    w[0] = 1.0 / n_fft
    if n_fft % 2 == 0:
        w[-1] = 1.0 / n_fft
    return w


def _spectrum(blocks: torch.Tensor, n_fft: int, lead_pad: int) -> torch.Tensor:
    return torch.fft.rfft(F.pad(blocks, (lead_pad, 0)) if lead_pad else blocks, n_fft)


def _multiply(spectrum: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """``spectrum * response``, in place when the shapes allow (a fresh spectrum is ours to overwrite).

    Writing into the spectrum avoids allocating (and page-faulting) another large buffer; the
    backward pass recomputes the spectra it needs from the saved inputs instead.
    """
    if torch.broadcast_shapes(spectrum.shape, response.shape) != spectrum.shape:
        return spectrum * response
    if response.is_complex():
        return spectrum.mul_(response)
    torch.view_as_real(spectrum).mul_(response.unsqueeze(-1))    # a real factor: no complex copy of it
    return spectrum


class _ImpulseResponseFilter(torch.autograd.Function):
    """Blocks ``(..., F, H)`` convolved with impulse responses ``(..., F, L)``, overlap-added
    causally into ``(..., (F + P - 1) * H)``. The gradients are correlations."""

    @staticmethod
    def forward(ctx, blocks, irs, n_fft, hop, n_blocks):
        y = torch.fft.irfft(_multiply(torch.fft.rfft(blocks, n_fft), torch.fft.rfft(irs, n_fft)), n_fft)
        ctx.save_for_backward(blocks if ctx.needs_input_grad[1] else None, irs if ctx.needs_input_grad[0] else None)
        ctx.config = (n_fft, hop, blocks.shape, irs.shape)
        return _pieces_overlap_add(y, hop, list(range(n_fft // hop)), n_blocks)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        blocks, irs = ctx.saved_tensors
        n_fft, hop, blocks_shape, irs_shape = ctx.config
        grad = torch.fft.rfft(_pieces_frame(grad_out, hop, list(range(n_fft // hop)), blocks_shape[-2]))
        grad_blocks = grad_irs = None
        if ctx.needs_input_grad[0]:                   # correlation with the impulse response
            kernel = torch.fft.rfft(irs, n_fft).conj()
            grad_blocks = torch.fft.irfft(grad * kernel, n_fft)[..., :blocks_shape[-1]].sum_to_size(blocks_shape)
        if ctx.needs_input_grad[1]:                   # correlation with the block
            kernel = torch.fft.rfft(blocks, n_fft).conj()
            grad_irs = torch.fft.irfft(grad * kernel, n_fft)[..., :irs_shape[-1]].sum_to_size(irs_shape)
        return grad_blocks, grad_irs, None, None, None


class _ZeroPhaseFilter(torch.autograd.Function):
    """Blocks ``(..., F, H)`` filtered by real zero-phase responses ``G = magnitudes @ matrix``
    ``(..., F, n_fft // 2 + 1)``. The output of block ``m`` occupies times ``-c .. H + L - 2 - c``
    around the block (``c = lead_pad + shift * H``); ``offsets`` place its hop-sized pieces so that
    the result is the causal filter's output ``(..., (F + P - 1) * H)``.

    With ``y = irfft(X G)`` and ``R = rfft(dy)``: ``dG_k = s_k / n * Re(X_k conj(R_k))`` and, ``G``
    being real and even, ``dx = irfft(R G)``."""

    @staticmethod
    def forward(ctx, blocks, magnitudes, matrix, n_fft, hop, lead_pad, offsets, n_blocks):
        response = magnitudes @ matrix
        y = torch.fft.irfft(_multiply(_spectrum(blocks, n_fft, lead_pad), response), n_fft)
        need_spectrum = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        ctx.save_for_backward(blocks if need_spectrum else None, response if ctx.needs_input_grad[0] else None,
                              magnitudes if ctx.needs_input_grad[2] else None,
                              matrix if ctx.needs_input_grad[1] else None)
        ctx.config = (n_fft, hop, lead_pad, offsets, blocks.shape, magnitudes.shape)
        return _pieces_overlap_add(y, hop, offsets, n_blocks)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        blocks, response, magnitudes, matrix = ctx.saved_tensors
        n_fft, hop, lead_pad, offsets, blocks_shape, magnitudes_shape = ctx.config
        grad = torch.fft.rfft(_pieces_frame(grad_out, hop, offsets, blocks_shape[-2]))
        grad_blocks = grad_magnitudes = grad_matrix = None
        if ctx.needs_input_grad[0]:
            grad_blocks = torch.fft.irfft(grad * response, n_fft)[..., lead_pad:lead_pad + blocks_shape[-1]]
            grad_blocks = grad_blocks.sum_to_size(blocks_shape)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            x = torch.view_as_real(_spectrum(blocks, n_fft, lead_pad))
            r = torch.view_as_real(grad)
            raw = torch.addcmul(x[..., 0] * r[..., 0], x[..., 1], r[..., 1])     # Re(X conj(R))
            raw = raw.sum_to_size(*magnitudes_shape[:-1], raw.shape[-1])
            weights = _edge_weights(n_fft, raw.dtype, raw.device)
            if ctx.needs_input_grad[1]:
                grad_magnitudes = raw @ (matrix * weights).transpose(0, 1)
            if ctx.needs_input_grad[2]:
                grad_matrix = magnitudes.reshape(-1, magnitudes.shape[-1]).transpose(0, 1) @ \
                    (raw * weights).reshape(-1, raw.shape[-1])
        return grad_blocks, grad_magnitudes, grad_matrix, None, None, None, None, None


def _check_tail(initial_tail, delay, dtype):
    if initial_tail is None:
        return None
    check_tensor("initial_tail", initial_tail, min_dim=1)
    if delay != 0:
        raise ValueError(f"initial_tail: streaming needs the causal filter (delay=0), received delay={delay}")
    return initial_tail.to(dtype)


def block_filter(signal: torch.Tensor, filters, hop_size: int, taps: int, *, delay: int = 0,
                 initial_tail: torch.Tensor | None = None, return_tail: bool = False):
    """Shared engine of :func:`time_varying_fir` and the window-design ``frequency_filter``.

    ``filters`` is either impulse responses ``(..., frames, taps)`` or a pair ``(magnitudes,
    matrix)``: zero-phase responses ``magnitudes @ matrix`` ``(..., frames, n_fft // 2 + 1)``
    (``n_fft = block_fft_size(hop_size, taps)``) of filters symmetric about tap ``taps // 2``.
    """
    zero_phase = isinstance(filters, tuple)
    reference = filters[0] if zero_phase else filters
    time = signal.shape[-1]
    frames = reference.shape[-2]
    hop = hop_size
    expected = -(-time // hop)
    if frames != expected:
        raise ValueError(f"signal and filters: expected ceil(time / hop_size) = ceil({time} / {hop}) = "
                         f"{expected} frames, received {frames}")
    n_fft = block_fft_size(hop, taps)
    pieces = n_fft // hop
    full_length = frames * hop + taps - 1
    if not 0 <= delay <= full_length - time:
        raise ValueError(f"delay: expected an integer in [0, {full_length - time}] (the samples after the "
                         f"input's length in the full output), received {delay!r}")
    lead = torch.broadcast_shapes(signal.shape[:-1], reference.shape[:-2])
    dtype = torch.promote_types(signal.dtype, reference.dtype)
    tail_in = _check_tail(initial_tail, delay, dtype)
    if frames == 0:
        out = signal.new_zeros(*lead, full_length, dtype=dtype)
    else:
        x = signal.to(dtype)
        if frames * hop != time:
            x = F.pad(x, (0, frames * hop - time))
        blocks = x.reshape(*x.shape[:-1], frames, hop)
        if zero_phase:
            centre = taps // 2
            lead_pad, shift = centre % hop, centre // hop
            offsets = [j + shift if j < pieces - shift else j + shift - pieces for j in range(pieces)]
            magnitudes, matrix = filters
            out = _ZeroPhaseFilter.apply(blocks, magnitudes.to(dtype), matrix.to(dtype), n_fft, hop, lead_pad,
                                         offsets, frames + pieces - 1)
        else:
            out = _ImpulseResponseFilter.apply(blocks, filters.to(dtype), n_fft, hop, frames + pieces - 1)
    if tail_in is not None:
        size = tail_in.shape[-1]
        if size > out.shape[-1]:
            raise ValueError(f"initial_tail: expected at most {out.shape[-1]} samples, received {size}")
        out = out + F.pad(tail_in, (0, out.shape[-1] - size))
    result = out[..., delay:delay + time]
    if return_tail:
        return result, out[..., time:full_length]
    return result


def time_varying_fir(signal: torch.Tensor, impulse_responses: torch.Tensor, hop_size: int, *,
                     delay: int = 0, initial_tail: torch.Tensor | None = None, return_tail: bool = False):
    """Filter ``signal`` ``(..., time)`` with one impulse response per frame, by overlap-add.

    .. math:: y[n] = \\sum_m \\sum_{t=0}^{H-1} x[mH + t]\\, h_m[n - mH - t]

    Block ``m`` (samples ``m * hop_size`` to ``(m + 1) * hop_size - 1``) is convolved with its
    frame's full impulse response and every convolution tail is overlap-added; with a constant
    impulse response this equals ``scipy.signal.lfilter(h, 1, signal)``.

    Args:
        signal: ``(..., time)``, real.
        impulse_responses: ``(..., frames, taps)`` with ``frames == ceil(time / hop_size)``;
            leading dimensions broadcast against ``signal``'s.
        hop_size: samples per frame (>= 1).
        delay: the output is samples ``delay .. delay + time - 1`` of the full
            ``frames * hop_size + taps - 1``-sample result; 0 is causal, ``taps // 2`` aligns a
            centred linear-phase filter (zero phase). Must lie in ``[0, frames * hop_size + taps - 1 - time]``.
        initial_tail: streaming state, the tail returned for the previous block (causal only,
            ``delay=0``). It is added to the first samples of the full result.
        return_tail: also return the tail, samples ``time .. frames * hop_size + taps - 2`` of
            the full result, to pass as ``initial_tail`` with the next block. Block-by-block
            output equals one-shot output when the blocks are multiples of ``hop_size``.

    Returns:
        ``(..., time)`` (and the tail ``(..., frames * hop_size + taps - 1 - time)`` when
        ``return_tail``), in the promoted dtype of the inputs. Differentiable with respect to the
        signal and the impulse responses.
    """
    check_tensor("signal", signal, min_dim=1)
    check_tensor("impulse_responses", impulse_responses, min_dim=2)
    check_positive_int("hop_size", hop_size)
    if isinstance(delay, bool) or not isinstance(delay, int):
        raise ValueError(f"delay: expected an int, received {delay!r}")
    if signal.is_complex() or impulse_responses.is_complex():
        raise ValueError("signal and impulse_responses: expected real tensors, received a complex one")
    taps = impulse_responses.shape[-1]
    if taps == 0:
        raise ValueError("impulse_responses: expected at least one tap, received shape "
                         f"{tuple(impulse_responses.shape)}")
    return block_filter(signal, impulse_responses, hop_size, taps, delay=delay,
                        initial_tail=initial_tail, return_tail=return_tail)
