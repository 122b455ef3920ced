"""Linear convolution by real FFTs, with ``scipy.signal.fftconvolve`` semantics.

.. math:: (x * h)[n] = \\sum_k x[k]\\, h[n - k], \\qquad n = 0, \\dots, N + K - 2,

computed as ``irfft(rfft(x, L) * rfft(h, L))`` with an FFT size ``L >= N + K - 1`` chosen by
:func:`next_fast_len` (a product of 2, 3 and 5), so the circular convolution equals the linear one.

When one input is much longer than the other (a reverb impulse response of ``K`` samples
against ``N >> K`` samples of audio), the long one is cut into blocks of ``B = M - K + 1``
samples, each block is convolved with one FFT of the power-of-two size ``M >= 2K`` and the
results are overlap-added (``scipy.signal.oaconvolve``):

.. math:: (x * h)[n] = \\sum_b (x_b * h)[n - bB], \\qquad x_b[t] = x[bB + t],\\ 0 \\le t < B .

Same result up to float rounding, and several times faster: the blocks stay in cache, and one
large FFT of an awkward size (e.g. 168750 = 2 3^3 5^5 points for 10 s at 16 kHz and a 0.5 s
response) is slower than twenty of 16384 points.
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_choice, check_positive_int, check_tensor
from torchddsp.functional.core.framing import overlap_add

CONVOLUTION_MODES = ("full", "same", "valid")
MIN_BLOCK_FFT = 1024
"""Smallest block FFT of the overlap-add path; it is used when the long input spans at least
``OVERLAP_ADD_BLOCKS`` blocks."""
OVERLAP_ADD_BLOCKS = 4


def next_fast_len(target: int) -> int:
    """The smallest integer ``>= target`` whose only prime factors are 2, 3 and 5.

    FFTs of such sizes are fast in every FFT library (pocketfft, MKL, cuFFT).
    """
    check_positive_int("target", target)
    if target <= 6:
        return target
    best = 1 << (target - 1).bit_length()            # a power of two is always a candidate
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            quotient = -(-target // p35)                  # smallest power of two with p35 * 2^k >= target
            candidate = p35 * (1 << (quotient - 1).bit_length())
            best = min(best, candidate)
            p35 *= 3
        p5 *= 5
    return best


def fft_convolve(signal: torch.Tensor, kernel: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """Convolve ``signal`` ``(..., N)`` with ``kernel`` ``(..., K)`` along the last axis.

    Leading dimensions broadcast against each other. ``mode`` follows ``scipy.signal.fftconvolve``:

    - ``"full"``: all ``N + K - 1`` samples of the linear convolution;
    - ``"same"``: ``N`` samples centred on the full output (samples ``(K - 1) // 2`` to
      ``(K - 1) // 2 + N - 1``);
    - ``"valid"``: the ``max(N, K) - min(N, K) + 1`` samples that do not depend on zero padding.

    If either input is empty the result is empty (``(..., 0)``), as in SciPy. Both inputs are
    promoted to a common real floating dtype; differentiable with respect to both.
    """
    check_tensor("signal", signal, min_dim=1)
    check_tensor("kernel", kernel, min_dim=1)
    check_choice("mode", mode, CONVOLUTION_MODES)
    if signal.is_complex() or kernel.is_complex():
        raise ValueError(f"signal and kernel: expected real tensors, received dtypes {signal.dtype} and {kernel.dtype}")
    dtype = torch.promote_types(signal.dtype, kernel.dtype)
    signal, kernel = signal.to(dtype), kernel.to(dtype)
    if signal.device != kernel.device:
        raise ValueError(f"signal and kernel: expected the same device, received {signal.device} and {kernel.device}")
    n, k = signal.shape[-1], kernel.shape[-1]
    lead = torch.broadcast_shapes(signal.shape[:-1], kernel.shape[:-1])
    if n == 0 or k == 0:
        return signal.new_zeros(*lead, 0)
    full = n + k - 1
    block_fft = max(MIN_BLOCK_FFT, 1 << (2 * min(n, k) - 1).bit_length())
    if max(n, k) >= OVERLAP_ADD_BLOCKS * block_fft:
        out = _overlap_add_convolve(signal, kernel, block_fft) if n >= k else \
            _overlap_add_convolve(kernel, signal, block_fft)
    else:
        size = next_fast_len(full)
        spectrum = torch.fft.rfft(signal, size) * torch.fft.rfft(kernel, size)
        out = torch.fft.irfft(spectrum, size)
    if mode == "full":
        start, length = 0, full
    elif mode == "same":
        start, length = (k - 1) // 2, n
    else:
        start, length = min(n, k) - 1, abs(n - k) + 1
    return out[..., start:start + length]


def _overlap_add_convolve(long: torch.Tensor, short: torch.Tensor, block_fft: int) -> torch.Tensor:
    """Full convolution (at least ``N + K - 1`` samples) of ``long`` ``(..., N)`` and ``short`` ``(..., K)``,
    ``block_fft >= 2K``, by overlap-add of blocks of ``B = block_fft - K + 1`` samples."""
    n, k = long.shape[-1], short.shape[-1]
    step = block_fft - k + 1
    blocks = -(-n // step)
    frames = torch.nn.functional.pad(long, (0, blocks * step - n)).unflatten(-1, (blocks, step))
    y = torch.fft.irfft(torch.fft.rfft(frames, block_fft) * torch.fft.rfft(short, block_fft).unsqueeze(-2),
                        block_fft)                            # (..., blocks, block_fft): block b starts at b B
    return overlap_add(y, step)
