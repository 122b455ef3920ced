"""Framing, overlap-add and the constant-overlap-add (COLA) condition.

``frame`` cuts ``(..., time)`` into ``(..., frames, frame_length)`` with frame ``m`` starting at
sample ``m * hop_length``; ``overlap_add`` is its adjoint,

.. math:: y[n] = \\sum_m x_m[n - mH],

with output length ``(frames - 1) * hop_length + frame_length``. A window ``w`` satisfies COLA
for hop ``H`` when :math:`\\sum_m w[n - mH]` is the same constant for every ``n`` (Allen &
Rabiner 1977); then windowed frames overlap-added give back the signal times that constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from torchddsp.checks import check_positive_int, check_tensor, checking_values


def frame(x: torch.Tensor, frame_length: int, hop_length: int, pad_end: bool = False) -> torch.Tensor:
    """Split ``x`` ``(..., time)`` into overlapping frames ``(..., frames, frame_length)``.

    Without ``pad_end`` there are ``1 + (time - frame_length) // hop_length`` frames and the
    signal must hold at least one. With ``pad_end`` the signal is zero-padded at the end to
    ``max(1, ceil(time / hop_length))`` frames, so every sample lies in a frame when
    ``hop_length <= frame_length`` (an empty signal gives one frame of zeros).
    """
    check_tensor("x", x, min_dim=1)
    check_positive_int("frame_length", frame_length)
    check_positive_int("hop_length", hop_length)
    time = x.shape[-1]
    if pad_end:
        frames = max(1, -(-time // hop_length))
        x = F.pad(x, (0, (frames - 1) * hop_length + frame_length - time))
    elif time < frame_length:
        raise ValueError(f"x: expected at least frame_length={frame_length} samples, received {time} "
                         "(use pad_end=True for short signals)")
    return x.unfold(-1, frame_length, hop_length)


def overlap_add(frames: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Overlap-add ``frames`` ``(..., n_frames, frame_length)`` with hop ``hop_length``.

    Returns ``(..., (n_frames - 1) * hop_length + frame_length)``. Computed as a few shifted
    additions of whole hop-sized slices (no Python loop over frames), so it is cheap and
    differentiable.
    """
    check_tensor("frames", frames, min_dim=2)
    check_positive_int("hop_length", hop_length)
    *lead, n_frames, frame_length = frames.shape
    out_length = (n_frames - 1) * hop_length + frame_length if n_frames else 0
    if n_frames == 0:
        return frames.new_zeros(*lead, 0)
    pieces = -(-frame_length // hop_length)           # slices of one hop per frame
    padded = F.pad(frames, (0, pieces * hop_length - frame_length))
    padded = padded.reshape(*lead, n_frames, pieces, hop_length)
    total = (n_frames + pieces - 1) * hop_length
    out = frames.new_zeros(*lead, total)
    for j in range(pieces):                           # loop over hop-sized slices of a frame, not samples
        piece = padded[..., :, j, :].reshape(*lead, n_frames * hop_length)
        out = out + F.pad(piece, (j * hop_length, (pieces - 1 - j) * hop_length))
    return out[..., :out_length]


def cola_constant(window: torch.Tensor, hop_length: int, tol: float = 1e-6) -> float:
    """Return the constant sum of ``window`` shifted by multiples of ``hop_length``.

    (While ``torch.compile``/``torch.export`` trace, the constant comes back unchecked as a 0-dim
    float64 tensor: the check reads values, which a traced graph does not have.)

    Raises ``ValueError`` when the shifted windows do not sum to a constant within ``tol``
    (relative), i.e. when the window and hop break the constant-overlap-add condition.
    """
    check_tensor("window", window, min_dim=1)
    if window.dim() != 1:
        raise ValueError(f"window: expected a 1-D window, received shape {tuple(window.shape)}")
    check_positive_int("hop_length", hop_length)
    w = window.detach().to(torch.float64).cpu()
    n = w.shape[-1]
    pad = (-n) % hop_length
    sums = F.pad(w, (0, pad)).reshape(-1, hop_length).sum(0)
    if not checking_values():                  # traced (compile/export): the constant, unchecked, as a tensor
        return sums.mean()
    constant = float(sums.mean())
    spread = float((sums - constant).abs().max())
    if constant == 0 or spread > tol * abs(constant):
        raise ValueError(f"window: expected shifts by hop_length={hop_length} to sum to a constant "
                         f"(COLA), received sums between {float(sums.min()):.6g} and {float(sums.max()):.6g}")
    return constant
