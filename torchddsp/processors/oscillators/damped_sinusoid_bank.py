"""``DampedSinusoidBank`` processor: a bank of exponentially damped sinusoids (review Eq. 12)."""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_positive, check_positive_int, check_tensor
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

    Not streamable: the functional op always starts at ``n = 0`` (it takes no start index or
    initial value :math:`z^{n_0}`).

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

    def render(self, frequency: torch.Tensor, radius: torch.Tensor, *, state: dict | None = None):
        if state is not None:
            raise ValueError("state: DampedSinusoidBank does not stream (each call renders n = 0 .. n_samples - 1), "
                             f"expected None, received {type(state).__name__}")
        check_tensor("frequency", frequency, min_dim=1)
        check_tensor("radius", radius, min_dim=1)
        omega = (2 * math.pi / self.sample_rate) * frequency
        radius, omega = torch.broadcast_tensors(radius.to(omega.dtype), omega)
        return damped_sinusoid_bank(torch.polar(radius, omega), self.n_samples)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, n_sinusoids={self.n_sinusoids}, n_samples={self.n_samples}"
