"""The library's one kernel-backend choice: ``"auto"``, ``"compiled"`` or ``"pure"``.

Every recursion (``allpole``/``lfilter``/``sosfilt``, the LPC lattice, ``FastGRU``'s inference)
has two implementations of the same equation:

- **compiled**: numba kernels behind ``torch.library`` custom ops (``torchddsp::...``, with fake
  and autograd registrations), CPU float32/float64 only;
- **pure**: ordinary PyTorch operations (a parallel prefix scan, or ``nn.GRU`` itself), any device
  and dtype, and the form ``torch.export`` / ``torch.jit.script`` capture.

``"auto"`` (the default) takes the compiled path on CPU float32/float64 when numba is installed
and the pure one otherwise (so CUDA runs the scan), and always the pure one while
``torch.export`` traces. ``"compiled"`` insists on the compiled kernels and raises a
``ValueError`` for a call they cannot serve; ``"pure"`` never uses them.

Set it for the process with :func:`set_backend`, or for a block with :func:`use_backend`
(``with use_backend("pure"): ...``). Functions that take a ``backend=`` argument use the same
names; their default ``"auto"`` defers to this choice.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from torchddsp.checks import check_choice

try:  # numba is an optional accelerator; the pure path works everywhere
    import numba  # noqa: F401
    NUMBA_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    NUMBA_AVAILABLE = False

BACKENDS = ("auto", "compiled", "pure")
COMPILED_DTYPES = (torch.float32, torch.float64)

_backend = "auto"


def get_backend() -> str:
    """The process-wide kernel backend (``"auto"``, ``"compiled"`` or ``"pure"``)."""
    return _backend


def set_backend(name: str) -> None:
    """Choose the kernel backend for the whole library (see the module docstring)."""
    global _backend
    check_choice("backend", name, BACKENDS)
    if name == "compiled" and not NUMBA_AVAILABLE:
        raise ValueError("backend: 'compiled' needs numba installed, received 'compiled' without numba")
    _backend = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Use kernel backend ``name`` inside a ``with`` block, then restore the previous choice."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def use_compiled(device: torch.device, dtype: torch.dtype, backend: str = "auto") -> bool:
    """Whether a call on ``device``/``dtype`` runs the compiled kernels.

    ``backend`` is a per-call override with the same names; ``"auto"`` defers to
    :func:`get_backend`. Raises ``ValueError`` when ``"compiled"`` is asked for and cannot run.
    """
    check_choice("backend", backend, BACKENDS)
    choice = get_backend() if backend == "auto" else backend
    if choice == "pure":
        return False
    available = NUMBA_AVAILABLE and device.type == "cpu" and dtype in COMPILED_DTYPES
    if choice == "compiled" and not available:
        raise ValueError(f"backend: 'compiled' needs numba installed and float32/float64 CPU tensors, "
                         f"received dtype {dtype} on device {device}"
                         + ("" if NUMBA_AVAILABLE else " (numba is not installed)"))
    return available and not torch.compiler.is_exporting()
