"""``DampedSinusoidBank`` processor: a bank of exponentially damped sinusoids (review Eq. 12)."""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_nonnegative_int, check_positive, check_positive_int, check_tensor
from torchddsp.functional.oscillators.damped_sinusoid import damped_sinusoid_bank
from torchddsp.processors.base import Control, Processor


class DampedSinusoidBank(Processor):
    """``K`` damped sinusoids, one note of ``n_samples`` samples per call (review Eq. 12).

    .. math:: y[n] = \\sum_{k=1}^{K} r_k^n \\cos(2\\pi f_k n / f_s), \\qquad n = 0 .. N - 1

    rendered as :math:`\\Re\\{z_k^n\\}` with :math:`z_k = r_k e^{j 2\\pi f_k / f_s}`
    (``functional.oscillators.damped_sinusoid.damped_sinusoid_bank``; Hayes, Saitis & Fazekas, "Sinusoidal
    frequency estimation by gradient descent", ICASSP 2023). Controls are static, one value per
    sinusoid and patch: ``frequency`` ``(..., K)`` in ``[0, f_s/2]`` Hz and ``radius`` ``(..., K)``
    in ``[0, 1]`` (1: undamped; 0: an impulse at ``n = 0``). ``render`` returns ``(..., n_samples)``.

    ``get_controls(z_real, z_imag)`` takes an unconstrained complex surrogate
    :math:`u = u_r + j u_i` per sinusoid and maps it into the unit disk,
    :math:`z = u / \\sqrt{1 + |u|^2}` (so :math:`r = |z| < 1`, :math:`f = f_s |\\angle z| / 2\\pi`).
    Rendering from ``(frequency, radius)`` rebuilds the same ``z``, so a loss optimised through
    ``forward`` sees the surrogate's landscape in :math:`(u_r, u_i)`, which is what makes
    frequency estimation by gradient descent work.

    Streaming: a note is a closed form in the sample index, so a stream carries only the index
    of the next sample, ``state = {"position": int64 (...)}`` (``initial_state``: 0). With the
    controls static, a block is a length, not a slice of inputs: ``render(..., n_samples=L,
    state=s)`` renders samples ``position .. position + L - 1`` of the same note and returns
    ``(audio, {"position": position + L})`` (``n_samples`` defaults to the constructor's ``N``,
    so ``forward(..., state=s)`` continues the note ``N`` samples at a time; ``L = 0`` is an
    empty block). Blocks carried this way equal one call on their total length, with no latency
    (computed in float64, pole and sample index: accurate far into a stream, also for float32
    controls).
    :meth:`stream` cuts the constructor's ``N`` samples (or ``n_samples=...``) into blocks of
    ``block_frames`` samples (``hop_size`` is 1).

    Args:
        sample_rate: Hz.
        n_sinusoids: ``K``.
        n_samples: ``N``, samples rendered per call.
    """

    def __init__(self, sample_rate: float, n_sinusoids: int, n_samples: int):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.n_sinusoids = check_positive_int("n_sinusoids", n_sinusoids)
        self.n_samples = check_positive_int("n_samples", n_samples)

    def controls(self) -> tuple[Control, ...]:
        k = self.n_sinusoids
        return (Control("frequency", "static", k, 0.0, self.sample_rate / 2, default=440.0, unit="Hz",
                        description="frequency of each sinusoid"),
                Control("radius", "static", k, 0.0, 1.0, default=0.999,
                        description="per-sample decay |z| of each sinusoid (1: undamped)"))

    def get_controls(self, z_real: torch.Tensor, z_imag: torch.Tensor) -> dict[str, torch.Tensor]:
        for name, value in (("z_real", z_real), ("z_imag", z_imag)):
            check_tensor(name, value, min_dim=1)
            if value.shape[-1] != self.n_sinusoids:
                raise ValueError(f"{name}: expected {self.n_sinusoids} sinusoids on the last axis, received shape "
                                 f"{tuple(value.shape)}")
        z = torch.complex(z_real, z_imag)
        z = z / torch.sqrt(1 + z.abs() ** 2)
        return {"frequency": z.angle().abs() * (self.sample_rate / (2 * math.pi)), "radius": z.abs()}

    def initial_state(self, batch_shape=(), *, dtype=torch.float32, device=None) -> dict:
        return {"position": torch.zeros(batch_shape, dtype=torch.int64, device=device)}

    def render(self, frequency: torch.Tensor, radius: torch.Tensor, *, n_samples: int | None = None,
               state: dict | None = None):
        """``(..., n_samples)`` audio (default ``n_samples``: the constructor's); ``(audio, new_state)``
        when ``state`` is given, the block starting at ``state["position"]``."""
        check_tensor("frequency", frequency, min_dim=1)
        check_tensor("radius", radius, min_dim=1)
        if n_samples is None:
            n_samples = self.n_samples
        (check_positive_int if state is None else check_nonnegative_int)("n_samples", n_samples)
        dtype = frequency.dtype if frequency.is_floating_point() else torch.get_default_dtype()
        if state is not None and (not isinstance(state, dict) or "position" not in state):
            raise ValueError(f"state: expected a dict with a 'position' (the next sample index, from initial_state), "
                             f"received {state!r}")
        if n_samples == 0:                                            # an empty block changes nothing
            lead = torch.broadcast_shapes(frequency.shape, radius.shape)[:-1]
            return frequency.new_zeros((*lead, 0), dtype=dtype), state
        # The pole in float64 from the controls' values: a float32 angle would be off by about 1e-7 relative,
        # a phase error that grows with n (0.1 rad after 10^6 samples).
        omega = (2 * math.pi / self.sample_rate) * frequency.to(torch.float64)
        radius, omega = torch.broadcast_tensors(radius.to(torch.float64), omega)
        z = torch.polar(radius, omega)
        if state is None:
            return damped_sinusoid_bank(z, n_samples).to(dtype)
        audio, position = damped_sinusoid_bank(z, n_samples, state=state["position"])
        return audio.to(dtype), {"position": position}

    def stream(self, *signals: torch.Tensor, block_frames: int, state: dict | None = None,
               n_samples: int | None = None, **controls) -> tuple[torch.Tensor, dict]:
        """Render ``n_samples`` (default: the constructor's) in blocks of ``block_frames`` samples.

        The controls are static, so every block gets them whole; returns ``(audio, final_state)``,
        ``audio`` equal to one call on ``n_samples`` (no latency). ``state=None`` starts at sample 0.
        """
        check_positive_int("block_frames", block_frames)
        if signals:
            raise ValueError(f"signals: DampedSinusoidBank takes no input signal, received {len(signals)}")
        total = self.n_samples if n_samples is None else check_positive_int("n_samples", n_samples)
        missing = {"frequency", "radius"} - set(controls)
        if missing:
            raise ValueError(f"stream: expected the controls frequency and radius, missing {sorted(missing)}")
        if state is None:
            frequency, radius = controls["frequency"], controls["radius"]
            batch = torch.broadcast_shapes(frequency.shape, radius.shape)[:-1]
            state = self.initial_state(batch, dtype=frequency.dtype, device=frequency.device)
        blocks = []
        for first in range(0, total, block_frames * self.hop_size):
            audio, state = self.render(**controls, n_samples=min(block_frames * self.hop_size, total - first),
                                       state=state)
            blocks.append(audio)
        return torch.cat(blocks, dim=-1), state

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, n_sinusoids={self.n_sinusoids}, n_samples={self.n_samples}"
