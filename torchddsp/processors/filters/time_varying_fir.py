"""``TimeVaryingFIR`` processor: one impulse response per frame, applied by overlap-add."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive_int, check_tensor
from torchddsp.functional.filters.fir import time_varying_fir
from torchddsp.processors.base import Control, Processor


class TimeVaryingFIR(Processor):
    """Framewise linear time-varying FIR filter (Engel et al., "DDSP", ICLR 2020; review §3.1.2).

    .. math:: y[n] = \\sum_m \\sum_{t=0}^{H-1} x[mH + t]\\, h_m[n - mH - t]

    ``render(audio, impulse_responses)``: audio ``(..., frames * hop_size)``, responses
    ``(..., frames, taps)``; block ``m`` is convolved with its frame's whole response and the
    tails are overlap-added (``functional.filters.fir.time_varying_fir``, causal). A constant response
    gives ``scipy.signal.lfilter(h, 1, x)``.

    ``get_controls(impulse_response_logits)``: ``h = tanh(u)``, each tap in ``(-1, 1)`` (an
    FIR filter is stable for any taps; the bound keeps the gain of a randomly initialised
    network at most ``taps``). Streaming carries the overlap-add tail (``taps - 1`` samples; no
    latency).

    Args:
        hop_size: samples per frame.
        taps: length of each impulse response.
    """

    def __init__(self, hop_size: int, taps: int = 64):
        super().__init__()
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.taps = check_positive_int("taps", taps)

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the signal to filter"),
                Control("impulse_responses", "frame", self.taps, -1.0, 1.0, default=0.0,
                        description="impulse response per frame"))

    def get_controls(self, impulse_response_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("impulse_response_logits", impulse_response_logits, min_dim=2)
        if impulse_response_logits.shape[-1] != self.taps:
            raise ValueError(f"impulse_response_logits: expected {self.taps} taps on the last axis, received shape "
                             f"{tuple(impulse_response_logits.shape)}")
        return {"impulse_responses": torch.tanh(impulse_response_logits)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"tail": torch.zeros((*batch_shape, self.taps - 1), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, impulse_responses: torch.Tensor, *, state: dict | None = None):
        if state is None:
            return time_varying_fir(audio, impulse_responses, self.hop_size)
        audio, tail = time_varying_fir(audio, impulse_responses, self.hop_size, state=state["tail"])
        return audio, {"tail": tail}

    def extra_repr(self) -> str:
        return f"hop_size={self.hop_size}, taps={self.taps}"
