"""``FrequencyFilter`` processor: a signal through time-varying window-design FIR filters (Engel et al. 2020)."""

from __future__ import annotations

import torch

from torchddsp.checks import check_nonnegative, check_positive_int, check_tensor
from torchddsp.functional.controls.scaling import exp_sigmoid
from torchddsp.functional.filters.fir import frequency_filter
from torchddsp.processors.base import Control, Processor, fir_initial_state, stream_delay_compensated


class FrequencyFilter(Processor):
    """Filter a signal frame by frame with linear-phase FIRs designed from band magnitudes.

    Frame ``m``'s filter is the window-method design of its magnitudes :math:`G_m[k]` (``k = 0 ..
    K - 1``, sampled uniformly from 0 Hz to Nyquist): :math:`h_m = w \\cdot
    \\mathrm{shift}(\\mathrm{IDFT}(G_m))`, ``2 (K - 1)`` taps, a Hann window
    (``functional.filters.fir.frequency_filter``; the time-varying FIR of Engel et al., "DDSP:
    Differentiable Digital Signal Processing", ICLR 2020, review §3.1.2). ``render(audio,
    magnitudes)`` filters ``(..., frames * hop_size)`` audio with the full responses overlap-added
    and the filters' delay removed (zero phase).

    ``get_controls(magnitude_logits)``: ``exp_sigmoid(magnitude_logits, threshold=threshold)``,
    magnitudes in ``(threshold, 2 + threshold)`` (``exp_sigmoid``'s range). Streaming runs the
    causal filter and carries its overlap-add tail and the number of samples emitted; the latency
    is the filters' delay, ``K - 1`` samples (silent first samples), as in ``FilteredNoise``.

    Args:
        hop_size: audio samples per frame.
        n_bands: ``K`` magnitude bands, at least 2.
        threshold: the smallest magnitude ``get_controls`` returns, ``>= 0``.
    """

    def __init__(self, hop_size: int, n_bands: int = 65, threshold: float = 1e-7):
        super().__init__()
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.n_bands = check_positive_int("n_bands", n_bands)
        if n_bands < 2:
            raise ValueError(f"n_bands: expected at least 2 (DC and Nyquist), received {n_bands}")
        self.threshold = check_nonnegative("threshold", threshold)
        self.taps = 2 * (self.n_bands - 1)
        self.latency = self.taps // 2

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the signal to filter"),
                Control("magnitudes", "frame", self.n_bands, 0.0, 2.0, default=1.0,
                        description="linear gain per band, 0 Hz to Nyquist"))

    def get_controls(self, magnitude_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("magnitude_logits", magnitude_logits, min_dim=2)
        if magnitude_logits.shape[-1] != self.n_bands:
            raise ValueError(f"magnitude_logits: expected {self.n_bands} bands on the last axis, "
                             f"received shape {tuple(magnitude_logits.shape)}")
        return {"magnitudes": exp_sigmoid(magnitude_logits, threshold=self.threshold)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return fir_initial_state(batch_shape, self.taps, dtype=dtype, device=device)

    def render(self, audio: torch.Tensor, magnitudes: torch.Tensor, *, state: dict | None = None):
        if state is None:
            return frequency_filter(audio, magnitudes, self.hop_size)
        return stream_delay_compensated(
            lambda tail: frequency_filter(audio, magnitudes, self.hop_size, compensate_delay=False, state=tail),
            state, self.latency)

    def extra_repr(self) -> str:
        return f"hop_size={self.hop_size}, n_bands={self.n_bands}"
