r"""Control-rate to audio-rate upsampling.

Frame-rate controls ``(..., frames, channels)`` become audio-rate controls
``(..., frames * hop_size, channels)``. Frame ``m`` sits at sample ``m * hop_size``; between two
frames the value moves from one to the next along a curve ``w(t)``, ``t = 0 .. hop_size - 1``:

.. math:: c[m\,H + t] = (1 - w(t))\,c_m + w(t)\,c_{m+1}

- ``linear``: :math:`w(t) = t / H` (linear interpolation);
- ``hann``: :math:`w(t) = \tfrac12\,(1 - \cos(\pi t / H))`. This is exactly the overlap-add of
  periodic Hann windows of length :math:`2H` centred on the frames, which sum to one (the
  constant-overlap-add condition at 50% overlap), as in the "window" upsampling of Engel et al. 2020.

The last frame is held for its hop (there is no next frame to move towards), so an upsampled
block depends on one frame of look-ahead only: this keeps block-by-block rendering possible.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_choice, check_positive_int, check_tensor

UPSAMPLING_METHODS = ("linear", "hann")


def interpolation_weights(hop_size: int, method: str = "linear", *, dtype=None, device=None) -> torch.Tensor:
    """The curve ``w(t)`` of shape ``(hop_size,)`` used between consecutive frames."""
    check_positive_int("hop_size", hop_size)
    check_choice("method", method, UPSAMPLING_METHODS)
    t = torch.arange(hop_size, dtype=torch.float64, device=device) / hop_size
    w = t if method == "linear" else 0.5 * (1.0 - torch.cos(math.pi * t))
    return w.to(dtype or torch.get_default_dtype())


def upsample(controls: torch.Tensor, hop_size: int, method: str = "linear") -> torch.Tensor:
    """Upsample frame-rate ``controls`` ``(..., frames, channels)`` to ``(..., frames * hop_size, channels)``.

    ``method`` is ``"linear"`` or ``"hann"`` (see the module docstring for the equation).
    """
    check_tensor("controls", controls, min_dim=2)
    check_positive_int("hop_size", hop_size)
    check_choice("method", method, UPSAMPLING_METHODS)
    *lead, frames, channels = controls.shape
    if frames == 0:
        return controls.new_zeros(*lead, 0, channels)
    w = interpolation_weights(hop_size, method, dtype=controls.dtype, device=controls.device)
    nxt = torch.cat([controls[..., 1:, :], controls[..., -1:, :]], dim=-2)
    cur = controls.unsqueeze(-2)                      # (..., frames, 1, channels)
    step = (nxt - controls).unsqueeze(-2)             # (..., frames, 1, channels)
    out = cur + w[:, None] * step                     # (..., frames, hop, channels)
    return out.reshape(*lead, frames * hop_size, channels)
