"""Running a numba kernel on torch tensors: the call, output buffers, the batch split over threads.

``call`` is how the library invokes a compiled kernel. The rest is used only inside the custom
ops' implementations, which are opaque to ``torch.compile``, so the NumPy views taken here never
reach a traced graph.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

MIN_SAMPLES_PER_THREAD = 1 << 14     # below this, a thread costs more than it saves
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(max_workers=max(workers, min(os.cpu_count() or 1, 32)),
                                       thread_name_prefix="torchddsp-kernels")
        return _POOL


def call(op, implementation, *args):
    """``op(*args)`` for a ``torch.library`` custom op whose body is ``implementation``.

    In eager mode with nothing to differentiate (inference, streaming) the implementation runs
    directly: the same code without the dispatcher's cost, 10-40 us a call, which is more than
    the kernel itself for a GRU step at batch 1 or a short block. While ``torch.compile`` traces,
    or when an input requires grad (the autograd formula is registered on the op), the op runs.
    """
    if torch.compiler.is_compiling() or (torch.is_grad_enabled() and any(
            isinstance(a, torch.Tensor) and a.requires_grad for a in args)):
        return op(*args)
    return implementation(*args)


def as_numpy(value):
    """A C-contiguous NumPy view of a CPU tensor (a copy only when it is not contiguous); others pass."""
    if not isinstance(value, torch.Tensor):
        return value
    if not value.is_contiguous():
        value = value.contiguous()
    return value.detach().numpy() if value.requires_grad else value.numpy()


def launch(kernel, batch: int, time: int, *args) -> None:
    """Run ``kernel(*args)`` on slices of the batch, on up to ``torch.get_num_threads()`` threads.

    Tensor arguments whose first axis is the batch are sliced; those with a first axis of 1
    are shared by every slice; other arguments pass through. The kernels release the GIL.
    Output tensors must be contiguous (they are written through their NumPy views).
    """
    arrays = [as_numpy(a) for a in args]
    workers = min(torch.get_num_threads(), batch, max(1, batch * time // MIN_SAMPLES_PER_THREAD))
    if workers <= 1:
        kernel(*arrays)
        return
    bounds = [batch * w // workers for w in range(workers + 1)]

    def part(lo, hi):
        return [a[lo:hi] if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == batch else a for a in arrays]

    jobs = [_pool(workers).submit(kernel, *part(lo, hi)) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    kernel(*part(bounds[0], bounds[1]))            # the calling thread takes the first slice
    for job in jobs:
        job.result()


def empty(shape, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised contiguous CPU tensor of ``like``'s dtype.

    Large ones come from NumPy, which asks the kernel for huge pages (``madvise``), so first-touch
    page faults cost several times less than with ``torch.empty`` (tens of milliseconds for the
    ``(B, T, p)`` gradient of a time-varying filter).
    """
    count = 1
    for size in shape:
        count *= size
    if count * like.element_size() < (1 << 21):
        return like.new_empty(shape)
    return torch.from_numpy(np.empty(shape, dtype=_NUMPY_DTYPES[like.dtype]))
