"""``ComplexCepstrumFilter`` processor: mixed-phase FIR filters from frame-rate complex cepstra."""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
from torchddsp.functional.filters.fir import complex_cepstrum_ir, time_varying_fir
from torchddsp.processors.base import Control, Processor, fir_initial_state, stream_delay_compensated


class ComplexCepstrumFilter(Processor):
    """Filter audio with mixed-phase FIRs given by their complex cepstra (Liu et al. 2020).

    .. math:: h_m = W_N^{H} \\exp(W_N \\hat h_m)

    (review Eq. 7; Liu et al., "Neural Homomorphic Vocoder", Interspeech 2020):
    ``cepstrum`` ``(..., frames, 2Q + 1)`` holds quefrencies ``-Q .. Q`` per frame
    (``functional.filters.fir.complex_cepstrum_ir``); each ``h_m`` is an ``n_fft``-tap filter rotated
    by ``shift`` samples (a causal filter delayed by ``shift``). ``render(audio, cepstrum)``
    filters ``(..., frames * hop_size)`` audio by overlap-add (``time_varying_fir``). With
    ``compensate_delay`` (default) the ``shift`` is removed (the anticausal part of the filter
    acts before its sample, as in the vocoder), which needs ``shift`` samples of look-ahead:
    streaming runs the causal filter with ``latency = shift`` (silent first samples). Without it
    the output is the causal filter's and ``latency = 0``.

    ``get_controls(cepstrum_logits)``: ``c = (max_log_gain / (2Q + 1)) tanh(u)``, so every
    log-magnitude of :math:`\\exp(W_N \\hat h_m)` lies in ``[-max_log_gain, max_log_gain]``
    (nepers) and nothing overflows for any input. Streaming carries the overlap-add tail
    (``n_fft - 1`` samples) and the number of samples emitted.

    Args:
        hop_size: samples per frame.
        n_quefrencies: ``Q``; the cepstrum has ``2Q + 1`` coefficients.
        n_fft: DFT size and taps, at least ``2Q + 1`` (several times larger keeps time aliasing small).
        shift: rotation of each response in ``[0, n_fft)`` (default ``n_fft // 2``).
        max_log_gain: bound of ``get_controls``'s log magnitudes, > 0 (default 5 nepers, about 43 dB).
        compensate_delay: remove the ``shift``-sample delay (see above).
    """

    def __init__(self, hop_size: int, n_quefrencies: int = 15, n_fft: int = 128, shift: int | None = None,
                 max_log_gain: float = 5.0, compensate_delay: bool = True):
        super().__init__()
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.n_quefrencies = check_positive_int("n_quefrencies", n_quefrencies)
        self.n_fft = check_positive_int("n_fft", n_fft)
        if n_fft < 2 * n_quefrencies + 1:
            raise ValueError(f"n_fft: expected at least 2 * n_quefrencies + 1 = {2 * n_quefrencies + 1}, "
                             f"received {n_fft}")
        self.shift = n_fft // 2 if shift is None else shift
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) or not 0 <= self.shift < n_fft:
            raise ValueError(f"shift: expected an int in [0, {n_fft}), received {shift!r}")
        self.max_log_gain = check_positive("max_log_gain", max_log_gain)
        self.compensate_delay = compensate_delay
        self.latency = self.shift if compensate_delay else 0

    @property
    def bound(self) -> float:
        """The largest ``|c_q|`` that ``get_controls`` returns (and the declared range)."""
        return self.max_log_gain / (2 * self.n_quefrencies + 1)

    def controls(self) -> tuple[Control, ...]:
        return (Control("audio", "signal", description="the signal to filter"),
                Control("cepstrum", "frame", 2 * self.n_quefrencies + 1, -self.bound, self.bound, default=0.0,
                        description="complex cepstrum per frame, quefrencies -Q..Q (0: identity delayed by shift)"))

    def get_controls(self, cepstrum_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("cepstrum_logits", cepstrum_logits, min_dim=2)
        if cepstrum_logits.shape[-1] != 2 * self.n_quefrencies + 1:
            raise ValueError(f"cepstrum_logits: expected {2 * self.n_quefrencies + 1} quefrencies on the last axis, "
                             f"received shape {tuple(cepstrum_logits.shape)}")
        return {"cepstrum": self.bound * torch.tanh(cepstrum_logits)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return fir_initial_state(batch_shape, self.n_fft, dtype=dtype, device=device)

    def render(self, audio: torch.Tensor, cepstrum: torch.Tensor, *, state: dict | None = None):
        if state is not None and audio.shape[-1] == 0:             # an empty block changes nothing
            return audio, state
        irs = complex_cepstrum_ir(cepstrum, self.n_fft, shift=self.shift)
        if state is None:
            return time_varying_fir(audio, irs, self.hop_size, delay=self.latency)
        return stream_delay_compensated(lambda tail: time_varying_fir(audio, irs, self.hop_size, state=tail),
                                        state, self.latency)

    def extra_repr(self) -> str:
        return f"hop_size={self.hop_size}, n_quefrencies={self.n_quefrencies}, n_fft={self.n_fft}, shift={self.shift}"
