"""``Reverb`` processor: a learned impulse response, or a parametric exponentially decaying one."""

from __future__ import annotations

import math

import torch
from torch import nn

from torchddsp.checks import check_choice, check_positive
from torchddsp.functional.effects.reverb import convolution_reverb, exponential_decay_ir
from torchddsp.processors.base import Control, Processor


class Reverb(Processor):
    """Convolution reverb whose impulse response is trained with the model (Engel et al. 2020).

    ``mode="learned"``: every sample of the impulse response is a parameter, initialised to
    exponentially decaying noise (``initial_decay`` seconds to -60 dB, peak ``initial_gain``).
    ``mode="parametric"``: the response is fixed noise ``u[n]`` shaped by two parameters,
    ``h[n] = g u[n] 10^(-3 n / (f_s T60))``, with ``T60 = exp(log_decay)`` and
    ``g = exp(log_gain)`` (always positive).

    The direct sound passes unchanged (``dry = 1``) and the response's first sample is zero, so
    the reverb only adds reflections: ``y = x + h * x``.

    ``get_controls()`` returns the impulse response; ``render(audio, impulse_response)`` applies it.
    Streaming carries the convolution's tail (``length - 1`` samples); no latency.
    """

    def __init__(self, sample_rate: float, seconds: float = 1.0, mode: str = "learned",
                 initial_decay: float = 0.5, initial_gain: float = 0.05, seed: int = 0):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        check_positive("seconds", seconds)
        check_choice("mode", mode, ("learned", "parametric"))
        check_positive("initial_decay", initial_decay)
        check_positive("initial_gain", initial_gain)
        self.mode = mode
        self.length = max(2, int(round(seconds * sample_rate)))
        if mode == "learned":
            ir = exponential_decay_ir(self.length, sample_rate, initial_decay, initial_gain, seed=seed)
            self.impulse_response = nn.Parameter(ir)
        else:
            self.register_buffer("noise", exponential_decay_ir(self.length, sample_rate, 1e9, 1.0, seed=seed))
            self.log_decay = nn.Parameter(torch.tensor(math.log(initial_decay)))
            self.log_gain = nn.Parameter(torch.tensor(math.log(initial_gain)))

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the dry signal"),
                Control("impulse_response", "static", self.length, -1.0, 1.0, default=0.0,
                        description="the wet impulse response (first sample ignored: the dry path)"))

    def get_controls(self) -> dict[str, torch.Tensor]:
        if self.mode == "learned":
            ir = self.impulse_response
        else:
            n = torch.arange(self.length, dtype=self.noise.dtype, device=self.noise.device)
            envelope = torch.exp(-3 * math.log(10) * n / (self.sample_rate * torch.exp(self.log_decay)))
            ir = torch.exp(self.log_gain) * self.noise * envelope
        return {"impulse_response": torch.cat([ir.new_zeros(1), ir[1:]])}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"tail": torch.zeros((*batch_shape, self.length - 1), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, impulse_response: torch.Tensor, *, state: dict | None = None):
        if state is None:
            return convolution_reverb(audio, impulse_response.to(audio.dtype), wet=1.0, dry=1.0)
        out, tail = convolution_reverb(audio, impulse_response.to(audio.dtype), wet=1.0, dry=1.0,
                                       state=state["tail"])
        return out, {"tail": tail}

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, length={self.length}"
