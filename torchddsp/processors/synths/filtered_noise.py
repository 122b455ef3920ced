"""``FilteredNoise`` processor: white noise through a time-varying window-design FIR (Engel et al. 2020)."""

from __future__ import annotations

import torch

from torchddsp.checks import check_nonnegative, check_positive_int, check_tensor
from torchddsp.functional.controls.scaling import exp_sigmoid
from torchddsp.functional.core.noise import indexed_noise
from torchddsp.functional.filters.fir import frequency_filter
from torchddsp.processors.base import Control, Processor, fir_initial_state, stream_delay_compensated


def _seed(noise_seed: int | None) -> int:
    """``noise_seed``, or one drawn from torch's global generator (so ``torch.manual_seed`` fixes it)."""
    if noise_seed is None:
        return int(torch.randint(0, 2 ** 62, (), dtype=torch.int64))
    if not isinstance(noise_seed, int) or isinstance(noise_seed, bool) or not -2 ** 63 <= noise_seed < 2 ** 63:
        raise ValueError(f"noise_seed: expected an integer in [-2**63, 2**63) (an int64) or None, received {noise_seed!r}")
    return noise_seed


class FilteredNoise(Processor):
    """Uniform white noise in [-1, 1) filtered frame by frame by linear-phase FIR filters.

    ``get_controls``: ``noise_magnitudes = exp_sigmoid(noise_logits + initial_bias, threshold=threshold)``,
    ``(..., frames, n_bands)`` band magnitudes sampled uniformly from 0 Hz to Nyquist (the
    negative bias starts training quiet, as in Engel et al.). ``render`` designs each frame's
    filter by the window method (``torchddsp.functional.filters.fir.frequency_filter``: IDFT of the
    magnitudes, Hann window, the filter's delay removed) and filters noise of
    ``frames * hop_size`` samples with the full impulse responses overlap-added.

    The noise is ``functional.core.noise.indexed_noise``: sample ``n`` is a hash of ``(seed, n)``, so
    one seed gives the same noise in one call or block by block. Streaming runs the causal
    filter and carries its overlap-add tail, the seed and the position; the latency is the
    filter's delay, ``n_bands - 1`` samples.

    Args:
        hop_size: audio samples per control frame.
        n_bands: number of magnitude bands (the filters have ``2 * (n_bands - 1)`` taps).
        initial_bias: added to the logits before ``exp_sigmoid``.
        threshold: the smallest band magnitude, ``>= 0`` (Engel et al.: ``1e-7``).
    """

    def __init__(self, hop_size: int, n_bands: int = 65, initial_bias: float = -5.0, threshold: float = 1e-7):
        super().__init__()
        self.hop_size = check_positive_int("hop_size", hop_size)
        self.n_bands = check_positive_int("n_bands", n_bands)
        if n_bands < 2:
            raise ValueError(f"n_bands: expected at least 2 (DC and Nyquist), received {n_bands}")
        self.initial_bias = float(initial_bias)
        self.threshold = check_nonnegative("threshold", threshold)
        self.taps = 2 * (self.n_bands - 1)
        self.latency = self.taps // 2

    def controls(self) -> tuple[Control, ...]:
        return (Control("noise_magnitudes", "frame", self.n_bands, 0.0, 1.0, default=0.01,
                        description="noise magnitude per band, 0 Hz to Nyquist"),)

    def get_controls(self, noise_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        check_tensor("noise_logits", noise_logits, min_dim=2)
        if noise_logits.shape[-1] != self.n_bands:
            raise ValueError(f"noise_logits: expected {self.n_bands} bands on the last axis, "
                             f"received shape {tuple(noise_logits.shape)}")
        return {"noise_magnitudes": exp_sigmoid(noise_logits + self.initial_bias, threshold=self.threshold)}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None, noise_seed: int | None = None):
        return {"seed": torch.tensor(_seed(noise_seed), dtype=torch.int64),
                **fir_initial_state(batch_shape, self.taps, dtype=dtype, device=device)}

    def render(self, noise_magnitudes: torch.Tensor, noise_seed: int | None = None, *, state: dict | None = None):
        """Filtered noise ``(..., frames * hop_size)``; pass ``noise_seed`` for reproducible noise
        (ignored when streaming: the state holds the seed)."""
        check_tensor("noise_magnitudes", noise_magnitudes, min_dim=2)
        *lead, frames, _ = noise_magnitudes.shape
        time = frames * self.hop_size
        dtype, device = noise_magnitudes.dtype, noise_magnitudes.device
        if state is None:
            noise = indexed_noise((*lead, time), _seed(noise_seed), dtype=dtype, device=device)
            return frequency_filter(noise, noise_magnitudes, self.hop_size)
        noise = indexed_noise((*lead, time), state["seed"], start=state["position"], dtype=dtype, device=device)
        audio, carried = stream_delay_compensated(
            lambda tail: frequency_filter(noise, noise_magnitudes, self.hop_size, compensate_delay=False, state=tail),
            state, self.latency)
        return audio, {"seed": state["seed"], **carried}

    def forward(self, noise_logits: torch.Tensor, noise_seed: int | None = None, *, state: dict | None = None):
        return self.render(**self.get_controls(noise_logits), noise_seed=noise_seed, state=state)

    def extra_repr(self) -> str:
        return f"hop_size={self.hop_size}, n_bands={self.n_bands}"
