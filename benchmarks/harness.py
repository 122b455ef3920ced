"""Benchmark harness: interleaved timing against peers in the same run, peak memory per case.

A workload module defines ``run(args) -> list[dict]``; each dict is one row of the results
table with at least ``workload``, ``implementation`` and timing columns in milliseconds.
Use ``time_interleaved`` so every implementation of a workload is timed in the same rounds
(machines are shared and noisy: compare within a round, report medians), and
``peak_memory_mb`` to measure one implementation's peak resident memory in a fresh process.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from typing import Callable

import torch


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def time_interleaved(cases: dict[str, Callable[[], object]], rounds: int = 9, warmup: int = 2) -> dict[str, dict]:
    """Time each zero-argument callable in ``cases``, interleaved round by round.

    Returns ``{name: {"median_ms", "min_ms", "max_ms", "all_ms"}}``. Warm-up calls (compilation,
    caches, allocator) are excluded.
    """
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t0) * 1e3)
    return {name: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v), "all_ms": v}
            for name, v in samples.items()}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def _peak_worker(factory, queue, threads):
    torch.set_num_threads(threads)
    fn = factory()                                  # builds the inputs: not counted
    fn()                                            # warm-up: caches, allocator, compilation
    import gc
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:   # reset the peak (VmHWM) to the current RSS
        f.write("5")
    before = _status_kib("VmRSS")
    fn()
    queue.put(max(_status_kib("VmHWM") - before, 0) / 1024.0)


def peak_memory_mb(factory: Callable[[], Callable[[], object]], threads: int | None = None) -> float:
    """Peak resident memory (MiB) that calls of ``factory()``'s callable add above its inputs.

    ``factory`` (a picklable, module-level function) builds the inputs and returns the callable;
    it runs in a fresh process so one measurement cannot inherit another's peak.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_worker, args=(factory, queue, threads or torch.get_num_threads()))
    proc.start()
    value = queue.get(timeout=600)
    proc.join()
    return float(value)


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows`` with the given ``columns``; floats to 3 significant figures."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return "" if v is None else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path, payload) -> None:
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=float)
