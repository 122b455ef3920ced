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
Gradients are computed analytically (the adjoint of a convolution is a correlation), from
spectra (the window-design path keeps the signal's spectrum when the magnitudes need a gradient;
the generic path recomputes the spectra it needs), so no framed time-domain intermediates are
stored. Large batches are processed in cache-sized chunks on the CPU. Second derivatives are not
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

from torchddsp.checks import check_positive_int, check_tensor


def block_fft_size(hop_size: int, taps: int) -> int:
    """FFT size of each block convolution: the smallest multiple of ``hop_size`` >= ``hop_size + taps - 1``."""
    return -(-(hop_size + taps - 1) // hop_size) * hop_size


CHUNK_FRAMES = 4096
"""Frames processed together on the CPU, so that a chunk's intermediates (about 3 MiB of spectrum
for 4096 frames at n_fft = 192) stay in cache between the FFTs, the product and the overlap-add."""


def _pieces_overlap_add(y: torch.Tensor, hop: int, offsets: list[int], out: torch.Tensor) -> torch.Tensor:
    """Overlap-add ``y`` ``(..., F, P*hop)`` into ``out`` ``(..., F + P - 1, hop)``: piece ``j`` of frame
    ``m`` lands on block ``m + offsets[j]`` (``offsets`` is a permutation of ``0 .. P-1``)."""
    *lead, frames, _ = y.shape
    pieces = y.reshape(*lead, frames, len(offsets), hop)
    base = offsets.index(0)
    out[..., :frames, :].copy_(pieces[..., base, :])  # the piece that starts at block 0
    out[..., frames:, :].zero_()
    for j, offset in enumerate(offsets):              # a loop over the P hop-sized slices, not frames
        if j != base:
            out[..., offset:offset + frames, :] += pieces[..., j, :]
    return out


def _pieces_frame(d: torch.Tensor, hop: int, offsets: list[int], frames: int) -> torch.Tensor:
    """Adjoint of :func:`_pieces_overlap_add`: ``(..., F + P - 1, hop)`` -> ``(..., F, P*hop)``."""
    pieces = torch.stack([d[..., o:o + frames, :] for o in offsets], dim=-2)
    return pieces.reshape(*d.shape[:-2], frames, len(offsets) * hop)


def _edge_weights(n_fft: int, dtype, device) -> torch.Tensor:
    """``s_k / n``: how often bin ``k`` of a real spectrum appears in the inverse DFT, over ``n``."""
    w = torch.full((n_fft // 2 + 1,), 2.0 / n_fft, dtype=dtype, device=device)
    w[0] = 1.0 / n_fft
    if n_fft % 2 == 0:
        w[-1] = 1.0 / n_fft
    return w


def _spectrum(blocks: torch.Tensor, n_fft: int, lead_pad: int = 0) -> torch.Tensor:
    return torch.fft.rfft(F.pad(blocks, (lead_pad, 0)) if lead_pad else blocks, n_fft)


def _multiply(spectrum: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """``spectrum * response``, in place when the shapes allow (a fresh spectrum is ours to overwrite).

    Writing into the spectrum avoids allocating another large buffer (a real response is cast on
    the fly, not copied); the backward pass recomputes the spectra it needs from the inputs.
    """
    if torch.broadcast_shapes(spectrum.shape, response.shape) != spectrum.shape:
        return spectrum * response
    return spectrum.mul_(response)


def _chunks(blocks: torch.Tensor, filters: torch.Tensor):
    """Split the leading dimensions into chunks of about ``CHUNK_FRAMES`` frames.

    Yields ``(index, blocks_chunk, filters_chunk)`` with ``index`` a slice of the flattened leading
    dimensions, or ``None`` (one chunk, the whole broadcast problem) when the leading dimensions
    differ (broadcasting), there is a single item, or the tensors are not on the CPU (accelerators
    prefer one large launch to cache-sized pieces).
    """
    lead = blocks.shape[:-2]
    items = 1
    for size in lead:
        items *= size
    if filters.shape[:-2] != lead or items < 2 or blocks.device.type != "cpu":
        yield None, blocks, filters
        return
    step = max(1, CHUNK_FRAMES // max(1, blocks.shape[-2]))
    flat_blocks = blocks.reshape(items, *blocks.shape[-2:])
    flat_filters = filters.reshape(items, *filters.shape[-2:])
    for i in range(0, items, step):                   # a handful of batch chunks, each thousands of frames
        yield slice(i, i + step), flat_blocks[i:i + step], flat_filters[i:i + step]


def _output_buffer(blocks, filters, n_blocks, hop):
    lead = torch.broadcast_shapes(blocks.shape[:-2], filters.shape[:-2])
    return blocks.new_empty(*lead, n_blocks, hop)


def _view_flat(t: torch.Tensor, index, lead_dims: int) -> torch.Tensor:
    """``t``'s rows ``index`` of its flattened leading dimensions (or ``t`` when ``index`` is None)."""
    if index is None:
        return t
    return t.reshape(-1, *t.shape[lead_dims:])[index]


class _ImpulseResponseFilter(torch.autograd.Function):
    """Blocks ``(..., F, H)`` convolved with impulse responses ``(..., F, L)``, overlap-added
    causally into ``(..., F + P - 1, H)``. The gradients are correlations."""

    @staticmethod
    def forward(ctx, blocks, irs, n_fft, hop, n_blocks):
        offsets = list(range(n_fft // hop))
        out = _output_buffer(blocks, irs, n_blocks, hop)
        for index, b, h in _chunks(blocks, irs):
            y = torch.fft.irfft(_multiply(_spectrum(b, n_fft), _spectrum(h, n_fft)), n_fft)
            _pieces_overlap_add(y, hop, offsets, _view_flat(out, index, out.dim() - 2))
        ctx.save_for_backward(blocks, irs)
        ctx.config = (n_fft, hop)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        blocks, irs = ctx.saved_tensors
        n_fft, hop = ctx.config
        offsets = list(range(n_fft // hop))
        frames, width, taps = blocks.shape[-2], blocks.shape[-1], irs.shape[-1]
        chunks = list(_chunks(blocks, irs))
        if chunks[0][0] is None:                      # one chunk, possibly broadcasting: reduce afterwards
            grad_blocks = grad_irs = None
            grad = _spectrum(_pieces_frame(grad_out, hop, offsets, frames), n_fft)
            if ctx.needs_input_grad[0]:
                grad_blocks = torch.fft.irfft(grad * _spectrum(irs, n_fft).conj(), n_fft)[..., :width]
                grad_blocks = grad_blocks.sum_to_size(blocks.shape)
            if ctx.needs_input_grad[1]:
                grad_irs = torch.fft.irfft(grad * _spectrum(blocks, n_fft).conj(), n_fft)[..., :taps]
                grad_irs = grad_irs.sum_to_size(irs.shape)
            return grad_blocks, grad_irs, None, None, None
        grad_blocks = blocks.new_empty(blocks.shape) if ctx.needs_input_grad[0] else None
        grad_irs = irs.new_empty(irs.shape) if ctx.needs_input_grad[1] else None
        lead_dims = grad_out.dim() - 2
        flat_grad = grad_out.reshape(-1, *grad_out.shape[-2:])          # materialised once, not per chunk
        for index, b, h in chunks:
            grad = _spectrum(_pieces_frame(flat_grad[index], hop, offsets, frames), n_fft)
            if ctx.needs_input_grad[0]:               # correlation with the impulse response
                kernel = _spectrum(h, n_fft).conj()
                _view_flat(grad_blocks, index, lead_dims).copy_(torch.fft.irfft(grad * kernel, n_fft)[..., :width])
            if ctx.needs_input_grad[1]:               # correlation with the block (grad is no longer needed)
                product = grad.mul_(_spectrum(b, n_fft).conj())
                _view_flat(grad_irs, index, lead_dims).copy_(torch.fft.irfft(product, n_fft)[..., :taps])
        return grad_blocks, grad_irs, None, None, None


class _ZeroPhaseFilter(torch.autograd.Function):
    """Blocks ``(..., F, H)`` filtered by real zero-phase responses ``G = magnitudes @ matrix``
    ``(..., F, n_fft // 2 + 1)``. The output of block ``m`` occupies times ``-c .. H + L - 2 - c``
    around the block (``c = lead_pad + shift * H``); ``offsets`` place its hop-sized pieces so that
    the result is the causal filter's output ``(..., F + P - 1, H)``.

    With ``y = irfft(X G)`` and ``R = rfft(dy)``: ``dG_k = s_k / n * Re(X_k conj(R_k))`` and, ``G``
    being real and even, ``dx = irfft(R G)``."""

    @staticmethod
    def forward(ctx, blocks, magnitudes, matrix, n_fft, hop, lead_pad, offsets, n_blocks):
        out = _output_buffer(blocks, magnitudes, n_blocks, hop)
        keep = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]    # the backward pass needs X
        spectra = []
        for index, b, m in _chunks(blocks, magnitudes):
            spectrum = _spectrum(b, n_fft, lead_pad)
            response = m @ matrix
            if keep:                                  # keep X (12 MiB for W2) rather than recompute it
                spectra.append(spectrum)
                product = spectrum * response
            else:
                product = _multiply(spectrum, response)
            _pieces_overlap_add(torch.fft.irfft(product, n_fft), hop, offsets, _view_flat(out, index, out.dim() - 2))
        ctx.spectra = spectra
        ctx.save_for_backward(blocks, magnitudes, matrix)
        ctx.config = (n_fft, hop, lead_pad, offsets)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        blocks, magnitudes, matrix = ctx.saved_tensors
        n_fft, hop, lead_pad, offsets = ctx.config
        frames, width = blocks.shape[-2], blocks.shape[-1]
        need_x, need_m, need_a = ctx.needs_input_grad[:3]
        weighted = matrix * _edge_weights(n_fft, matrix.dtype, matrix.device)   # (n_bands, bins)

        def block_grad(grad, m):                      # correlation with the symmetric response
            return torch.fft.irfft(grad * (m @ matrix), n_fft)[..., lead_pad:lead_pad + width]

        spectra = ctx.spectra

        def cross(grad, k):                           # Re(X conj(R)) = Re(conj(X) R), (..., F, bins)
            return grad.mul_(spectra[k].conj()).real  # overwrites grad, which is not used afterwards

        chunks = list(_chunks(blocks, magnitudes))
        grad_blocks = grad_magnitudes = grad_matrix = None
        if chunks[0][0] is None:                      # one chunk, possibly broadcasting
            grad = _spectrum(_pieces_frame(grad_out, hop, offsets, frames), n_fft)
            if need_x:
                grad_blocks = block_grad(grad, magnitudes).sum_to_size(blocks.shape)
            if need_m or need_a:
                raw = cross(grad, 0).sum_to_size(*magnitudes.shape[:-1], grad.shape[-1])
                if need_m:
                    grad_magnitudes = raw @ weighted.transpose(0, 1)
                if need_a:
                    grad_matrix = (magnitudes.reshape(-1, magnitudes.shape[-1]).transpose(0, 1)
                                   @ raw.reshape(-1, raw.shape[-1])) * _edge_weights(n_fft, raw.dtype, raw.device)
            return grad_blocks, grad_magnitudes, grad_matrix, None, None, None, None, None
        lead_dims = grad_out.dim() - 2
        grad_blocks = blocks.new_empty(blocks.shape) if need_x else None
        grad_magnitudes = magnitudes.new_empty(magnitudes.shape) if need_m else None
        grad_matrix = torch.zeros_like(matrix) if need_a else None
        flat_grad = grad_out.reshape(-1, *grad_out.shape[-2:])          # materialised once, not per chunk
        for k, (index, b, m) in enumerate(chunks):
            grad = _spectrum(_pieces_frame(flat_grad[index], hop, offsets, frames), n_fft)
            if need_x:
                _view_flat(grad_blocks, index, lead_dims).copy_(block_grad(grad, m))
            if need_m or need_a:
                raw = cross(grad, k)
                if need_m:
                    torch.matmul(raw, weighted.transpose(0, 1), out=_view_flat(grad_magnitudes, index, lead_dims))
                if need_a:
                    grad_matrix += m.reshape(-1, m.shape[-1]).transpose(0, 1) @ raw.reshape(-1, raw.shape[-1])
        if need_a:
            grad_matrix = grad_matrix * _edge_weights(n_fft, matrix.dtype, matrix.device)
        return grad_blocks, grad_magnitudes, grad_matrix, None, None, None, None, None


def _check_tail(state, delay, dtype):
    if state is None:
        return None
    check_tensor("state", state, min_dim=1)
    if delay != 0:
        raise ValueError(f"state: streaming needs the causal filter (delay=0), received delay={delay}")
    return state.to(dtype)


def block_filter(signal: torch.Tensor, filters, hop_size: int, taps: int, *, delay: int = 0,
                 state: torch.Tensor | None = None):
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
    tail_in = _check_tail(state, delay, dtype)
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
        out = out.reshape(*out.shape[:-2], -1)
    if tail_in is not None:
        size = tail_in.shape[-1]
        if size > out.shape[-1]:
            raise ValueError(f"state: expected at most {out.shape[-1]} samples, received {size}")
        out = out + F.pad(tail_in, (0, out.shape[-1] - size))
    result = out[..., delay:delay + time]
    if state is not None:
        return result, out[..., time:full_length]
    return result


def time_varying_fir(signal: torch.Tensor, impulse_responses: torch.Tensor, hop_size: int, *,
                     delay: int = 0, state: torch.Tensor | None = None):
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
        state: optional streaming state (causal only, ``delay=0``): the tail returned for the
            previous block, added to the first samples of the full result; an empty tensor
            ``(..., 0)`` starts a stream at rest. When given, the call also returns the new
            tail, samples ``time .. frames * hop_size + taps - 2`` of the full result, for the
            next block. Block-by-block output equals one-shot output when the blocks are
            multiples of ``hop_size``.

    Returns:
        ``(..., time)``, or ``(output, tail)`` with the tail ``(..., frames * hop_size + taps - 1 - time)``
        when ``state`` is given, in the promoted dtype of the inputs. Differentiable with respect to the
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
                        state=state)
