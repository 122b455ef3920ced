"""``StateVariableFilter`` processor: the TPT state-variable filter with frame-rate controls."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
from torchddsp.functional.filters.iir import state_variable_filter, svf_controls_from_unconstrained
from torchddsp.processors.base import Control, Processor

GAIN_NAMES = ("lowpass_gain", "bandpass_gain", "highpass_gain")


class StateVariableFilter(Processor):
    """Topology-preserving state-variable filter (Kuznetsov et al. 2020; review Table 2).

    With :math:`g = \\tan(\\pi f_c / f_s)`, damping :math:`R` and states :math:`s_1, s_2`:

    .. math::

        y_{HP} = \\frac{x - (2R + g) s_1 - s_2}{1 + 2Rg + g^2}, \\quad y_{BP} = g y_{HP} + s_1, \\quad
        y_{LP} = g y_{BP} + s_2, \\quad y = c_{LP} y_{LP} + c_{BP} y_{BP} + c_{HP} y_{HP}

    (``functional.filters.iir.state_variable_filter``). Every control is ``(..., frames, 1)``, held for
    ``hop_size`` samples; the TPT state equations keep the filter bounded under any modulation.
    ``render(audio, cutoff, damping, lowpass_gain, bandpass_gain, highpass_gain)`` returns
    ``(..., frames * hop_size)``.

    ``get_controls(cutoff_logits, damping_logits, gain_logits)``: cutoff and damping through
    ``svf_controls_from_unconstrained`` (log scales in ``[20 Hz, 0.49 f_s]`` and ``[0.02, 25]``,
    Butterworth at ``damping_logits = 0``), so every pole lies inside the unit circle;
    ``gain_logits`` ``(..., frames, 3)`` to ``max_gain * tanh`` for the low-, band- and
    high-pass gains. Streaming carries the TPT state ``(s1, s2)`` (no latency).

    Args:
        sample_rate: Hz.
        hop_size: samples per frame.
        max_gain: bound of the band-mix gains, > 0.
    """

    def __init__(self, sample_rate: float, hop_size: int, max_gain: float = 2.0):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.max_gain = check_positive("max_gain", max_gain)

    def controls(self) -> tuple[Control, ...]:
        gain = self.max_gain
        return (Control("audio", "signal", description="the signal to filter"),
                Control("cutoff", "frame", 1, 20.0, 0.49 * self.sample_rate, "log", default=1000.0, unit="Hz",
                        description="cutoff frequency"),
                Control("damping", "frame", 1, 0.02, 25.0, "log", default=0.7071,
                        description="damping R = 1 / (2Q); 1/sqrt(2) is Butterworth"),
                Control("lowpass_gain", "frame", 1, -gain, gain, default=1.0,
                        description="gain of the low-pass output"),
                Control("bandpass_gain", "frame", 1, -gain, gain, default=0.0,
                        description="gain of the band-pass output"),
                Control("highpass_gain", "frame", 1, -gain, gain, default=0.0,
                        description="gain of the high-pass output"))

    def get_controls(self, cutoff_logits: torch.Tensor, damping_logits: torch.Tensor,
                     gain_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("gain_logits", gain_logits, min_dim=2)
        if gain_logits.shape[-1] != 3:
            raise ValueError(f"gain_logits: expected (..., frames, 3) (low-, band-, high-pass), received shape "
                             f"{tuple(gain_logits.shape)}")
        cutoff, damping = svf_controls_from_unconstrained(cutoff_logits, damping_logits, self.sample_rate)
        gains = self.max_gain * torch.tanh(gain_logits)
        split = {name: gains[..., i:i + 1] for i, name in enumerate(GAIN_NAMES)}
        return {"cutoff": cutoff, "damping": damping, **split}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"state": torch.zeros((*batch_shape, 2), dtype=dtype, device=device)}

    def render(self, audio: torch.Tensor, cutoff: torch.Tensor, damping: torch.Tensor, lowpass_gain: torch.Tensor,
               bandpass_gain: torch.Tensor, highpass_gain: torch.Tensor, *, state: dict | None = None):
        controls = {"cutoff": cutoff, "damping": damping, "lowpass_gain": lowpass_gain,
                    "bandpass_gain": bandpass_gain, "highpass_gain": highpass_gain}
        for name, value in controls.items():
            check_tensor(name, value, min_dim=2)
            if value.shape[-1] != 1:
                raise ValueError(f"{name}: expected shape (..., frames, 1), received {tuple(value.shape)}")
        if state is not None and audio.shape[-1] == 0:             # an empty block changes nothing
            return audio, state
        frame_axis = {name: value[..., 0] for name, value in controls.items()}    # (..., frames)
        if state is None:
            return state_variable_filter(audio, sample_rate=self.sample_rate, **frame_axis)
        audio, final = state_variable_filter(audio, sample_rate=self.sample_rate, state=state["state"],
                                             **frame_axis)
        return audio, {"state": final}

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}"
