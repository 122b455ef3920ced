"""``SincFilter`` processor: a windowed-sinc low-pass or high-pass whose cutoff changes every frame."""

from __future__ import annotations

import torch

from torchddsp.checks import check_choice, check_positive, check_positive_int, check_tensor
from torchddsp.functional.controls.scaling import unit_to_hz
from torchddsp.functional.filters.fir import sinc_highpass_ir, sinc_lowpass_ir, time_varying_fir
from torchddsp.processors.base import Control, Processor, fir_initial_state, stream_delay_compensated


class SincFilter(Processor):
    """Windowed-sinc FIR low-pass or high-pass with a frame-rate cutoff (Wang & Yamagishi 2019).

    .. math:: h^{LP}_m[n] = w[n]\\,\\nu_m\\,\\mathrm{sinc}(\\nu_m (n - c)), \\quad
              h^{HP}_m[n] = w[n]\\,(\\delta[n - c] - \\nu_m\\,\\mathrm{sinc}(\\nu_m (n - c))),

    with :math:`\\nu_m = 2 f_c[m] / f_s`, ``taps`` odd and :math:`c` = ``taps // 2``
    (``functional.filters.fir.sinc``; the neural source-filter model of Wang & Yamagishi, ICASSP 2019,
    review §3.1.2). ``render(audio, cutoff)`` filters ``(..., frames * hop_size)`` audio, block
    ``m`` by frame ``m``'s response, overlap-added (``functional.filters.fir.time_varying_fir``). With
    ``compensate_delay`` (default) the linear-phase delay of ``c = taps // 2`` samples is removed
    (zero-phase alignment, as ``sinc_lowpass``'s default), which needs ``c`` samples of
    look-ahead: streaming then runs the causal filter and has ``latency = c`` (silent first
    samples). Without it, the output is the causal filter's (delayed by ``c``) and ``latency = 0``.

    ``get_controls(cutoff_logits)`` maps any real ``(..., frames, 1)`` to a cutoff on a log
    (MIDI) scale in ``[20 Hz, f_s/2]`` (``unit_to_hz(sigmoid(.))``). Streaming carries the
    overlap-add tail (``taps - 1`` samples) and the number of samples emitted.

    Args:
        sample_rate: Hz.
        hop_size: samples per frame.
        mode: ``"lowpass"`` or ``"highpass"``.
        taps: odd filter length.
        window: the window's name (``"hamming"``, ``"hann"``, ``"blackman"``, ``"boxcar"``).
        normalize: unit gain at DC for the low-pass (zero for the high-pass).
        compensate_delay: remove the filters' ``taps // 2``-sample delay (see above).
    """

    def __init__(self, sample_rate: float, hop_size: int, mode: str = "lowpass", taps: int = 63,
                 window: str = "hamming", normalize: bool = False, compensate_delay: bool = True):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.hop_size = check_positive_int("hop_size", hop_size)
        check_choice("mode", mode, ("lowpass", "highpass"))
        self.mode = mode
        self.taps = check_positive_int("taps", taps)
        if taps % 2 == 0:
            raise ValueError(f"taps: expected an odd number (a linear-phase filter centred on a tap), received {taps}")
        self.window = window
        self.normalize = normalize
        self.compensate_delay = compensate_delay
        self.latency = taps // 2 if compensate_delay else 0

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the signal to filter"),
                Control("cutoff", "frame", 1, 20.0, self.sample_rate / 2, "log", default=1000.0, unit="Hz",
                        description="cutoff frequency per frame"))

    def get_controls(self, cutoff_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("cutoff_logits", cutoff_logits, min_dim=2)
        return {"cutoff": unit_to_hz(torch.sigmoid(cutoff_logits), 20.0, self.sample_rate / 2)}

    def impulse_responses(self, cutoff: torch.Tensor) -> torch.Tensor:
        """The filters ``(..., frames, taps)`` of each frame."""
        design = sinc_lowpass_ir if self.mode == "lowpass" else sinc_highpass_ir
        return design(cutoff, self.sample_rate, self.taps, self.window, self.normalize)

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return fir_initial_state(batch_shape, self.taps, dtype=dtype, device=device)

    def render(self, audio: torch.Tensor, cutoff: torch.Tensor, *, state: dict | None = None):
        irs = self.impulse_responses(cutoff)
        if state is None:
            return time_varying_fir(audio, irs, self.hop_size, delay=self.latency)
        return stream_delay_compensated(lambda tail: time_varying_fir(audio, irs, self.hop_size, state=tail),
                                        state, self.latency)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_size={self.hop_size}, mode={self.mode!r}, taps={self.taps}"
