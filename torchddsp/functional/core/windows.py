r"""Window functions: the one resolver from a name to samples, with ``scipy.signal.get_window``'s names.

For :math:`n = 0, \dots, L - 1` and :math:`M = L` (``fftbins=True``, periodic: the :math:`L`-point
window is the first :math:`L` samples of the symmetric window of :math:`L + 1` points, as for
spectral analysis and :func:`torch.stft`) or :math:`M = L - 1` (``fftbins=False``, symmetric, as
for filter design):

* ``"hann"``:     :math:`w[n] = 0.5 - 0.5\cos(2\pi n / M)` (Blackman & Tukey 1958);
* ``"hamming"``:  :math:`w[n] = 0.54 - 0.46\cos(2\pi n / M)` (Hamming 1977);
* ``"blackman"``: :math:`w[n] = 0.42 - 0.5\cos(2\pi n / M) + 0.08\cos(4\pi n / M)`;
* ``"bartlett"``: :math:`w[n] = 1 - |2n / M - 1|` (triangular, zero at both ends when symmetric);
* ``"boxcar"``:   :math:`w[n] = 1` (rectangular).

Aliases are scipy's: ``"han"``; ``"hamm"``, ``"ham"``; ``"black"``, ``"blk"``; ``"bart"``, ``"brt"``;
``"box"``, ``"ones"``, ``"rect"``, ``"rectangular"``. A one-sample window is ``[1]``. The samples
are computed in ``dtype`` by torch's window functions (so a float32 window is bit for bit the one
``torch.hann_window`` gives, and float32 spectra match ``torch.stft``'s); in float64 they equal
``scipy.signal.get_window(window, length, fftbins)`` to rounding.
"""

from __future__ import annotations

import torch

from torchddsp.checks import check_positive_int

__all__ = ["WINDOWS", "get_window"]

_FACTORIES = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "bartlett": torch.bartlett_window,
    "boxcar": lambda length, periodic, dtype, device: torch.ones(length, dtype=dtype, device=device),
}

_ALIASES = {
    "hann": ("hann", "han"),
    "hamming": ("hamming", "hamm", "ham"),
    "blackman": ("blackman", "black", "blk"),
    "bartlett": ("bartlett", "bart", "brt"),
    "boxcar": ("boxcar", "box", "ones", "rect", "rectangular"),
}

#: Canonical window names (scipy's); :func:`get_window` also accepts scipy's aliases of them.
WINDOWS = tuple(_FACTORIES)

_CANONICAL = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}


def get_window(window: str, length: int, *, fftbins: bool = True, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
    """The window ``window`` of ``length`` samples ``(length,)`` (see the module docstring).

    Args:
        window: a name from :data:`WINDOWS` or one of scipy's aliases (case-sensitive, as scipy).
        length: number of samples, >= 1.
        fftbins: ``True`` (default) for the periodic window (spectral analysis), ``False`` for the
            symmetric one (filter design); scipy's argument.
        dtype, device: of the result (default: torch's default dtype, CPU).

    Raises ``ValueError`` naming the valid windows for an unknown name.
    """
    if not isinstance(window, str) or window not in _CANONICAL:
        raise ValueError(f"window: expected one of {list(WINDOWS)} (or scipy's aliases "
                         f"{sorted(a for a in _CANONICAL if a not in WINDOWS)}), received {window!r}")
    check_positive_int("length", length)
    if not isinstance(fftbins, bool):
        raise ValueError(f"fftbins: expected a bool, received {fftbins!r}")
    return _FACTORIES[_CANONICAL[window]](length, periodic=fftbins, dtype=dtype, device=device)
