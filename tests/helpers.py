"""Shared checks that every op's tests use (see DESIGN.md, "Tests").

1. ``assert_matches_reference``: parity with a float64 reference computed outside the project.
2. ``check_gradcheck``: ``torch.autograd.gradcheck`` in float64 for every differentiable input.
3. ``check_batch_consistency``: a batch equals the loop over its items.
4. ``assert_finite`` / ``check_finite_gradients``: edge cases give no NaN/inf in value or gradient.
5. ``DEVICES``: parametrise a test over CPU and, where present, CUDA (skipped cleanly without one).

Training tests (``tests/training``, ``tests/faults``) share ``harmonic_tone``, the ``TINY`` model
overrides, ``read_losses``, ``cli_command`` and the ``tone_data`` / ``short_run`` fixtures of
``tests/conftest.py``; ``Payload`` is a pickle that runs code when unpickled unsafely.

The fault-injection suite (``tests/faults``) runs commands and checks their refusals:

- ``run_main``: ``torchddsp ARGV`` in this process (fast), its exit status and output;
  ``run_cli``: the same as a real process (``python -m torchddsp``), for what only a process shows
  (the exit status the shell sees, everything written to stderr until exit);
- ``assert_one_line_error``: the documented refusal: the exit status, one line on stderr that
  names the culprit (after argparse's usage, for the errors argparse itself reports), no traceback;
- ``files_under`` / ``hidden_files``: what a command left behind;
- ``run_capped``: commands run one after the other in a process whose address space is capped, so
  an absurd size that is not refused fails there (and fast) instead of taking the machine's memory.

Shared float64 references: ``reference_time_varying_fir`` (frame-wise FIR filtering, overlap-added).

``shared_audio(name)`` finds a real recording in ``$TORCHDDSP_SHARED_AUDIO`` (default
``../shared/audio``); it skips with a reason when absent and fails instead when ``CI=true``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
    ),
]

DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]

# Tolerances for parity with a float64 reference, by the dtype the op ran in.
REFERENCE_TOLERANCE = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}


def to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def seeded_randn(*shape, dtype=torch.float64, device="cpu", seed=0) -> torch.Tensor:
    """Standard normal samples of ``shape``, drawn in float64 from ``seed`` on the CPU, then cast and
    moved: the same numbers for every dtype and device (up to the cast)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)


def assert_matches_reference(actual, expected, *, rtol: float | None = None, atol: float | None = None,
                             dtype: torch.dtype | None = None, what: str = "output") -> None:
    """Assert ``actual`` (torch) equals ``expected`` (float64 NumPy/SciPy/equation) to tolerance.

    Without explicit tolerances, the tolerance follows ``dtype`` (or ``actual``'s dtype) from
    ``REFERENCE_TOLERANCE``. The message reports the worst absolute and relative error.
    """
    if dtype is None and isinstance(actual, torch.Tensor):
        dtype = actual.dtype if actual.dtype in REFERENCE_TOLERANCE else torch.float64
    tol = dict(REFERENCE_TOLERANCE.get(dtype, REFERENCE_TOLERANCE[torch.float64]))
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    a = to_numpy(actual).astype(np.complex128 if np.iscomplexobj(to_numpy(actual)) else np.float64)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} differs from reference shape {e.shape}"
    err = np.abs(a - e)
    worst = float(err.max()) if err.size else 0.0
    rel = float((err / np.maximum(np.abs(e), 1e-300)).max()) if err.size else 0.0
    np.testing.assert_allclose(a, e, **tol, err_msg=f"{what}: max abs err {worst:.3e}, max rel err {rel:.3e}")


def check_gradcheck(fn: Callable, inputs: Sequence, *, atol: float = 1e-6, rtol: float = 1e-4,
                    nondet_tol: float = 0.0, check_grad_dtypes: bool = True, **kwargs) -> None:
    """Run ``gradcheck`` (float64) with respect to every input that requires grad.

    Asserts at least one input requires grad, so a test cannot pass vacuously.
    """
    assert any(isinstance(x, torch.Tensor) and x.requires_grad for x in inputs), \
        "check_gradcheck: no input requires grad, the check would be vacuous"
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.requires_grad:
            assert x.dtype in (torch.float64, torch.complex128), "gradcheck inputs must be float64"
    assert torch.autograd.gradcheck(fn, tuple(inputs), atol=atol, rtol=rtol, nondet_tol=nondet_tol,
                                    check_grad_dtypes=check_grad_dtypes, **kwargs)


def check_batch_consistency(fn: Callable, inputs: Sequence, *, rtol: float = 1e-5, atol: float = 1e-6,
                            batch_axes: Sequence[int | None] | None = None) -> None:
    """Assert ``fn(batch)`` equals ``stack([fn(item) for item in batch])``.

    ``inputs`` are the positional arguments; tensors are split along their leading axis (or the
    axis given in ``batch_axes``; ``None`` marks an argument shared by every item). ``fn`` may
    return a tensor or a tuple of tensors; each is compared along its leading axis.
    """
    if batch_axes is None:
        batch_axes = [0 if isinstance(x, torch.Tensor) else None for x in inputs]
    sizes = {x.shape[ax] for x, ax in zip(inputs, batch_axes) if ax is not None}
    assert len(sizes) == 1, f"inputs disagree on batch size: {sizes}"
    batch = sizes.pop()
    assert batch >= 2, "use a batch of at least 2 items so the check means something"

    def as_tuple(out):
        return out if isinstance(out, tuple) else (out,)

    whole = as_tuple(fn(*inputs))
    items = []
    for i in range(batch):
        args = [x.select(ax, i).unsqueeze(ax) if ax is not None else x for x, ax in zip(inputs, batch_axes)]
        items.append(as_tuple(fn(*args)))
    for j, w in enumerate(whole):
        looped = torch.cat([item[j] for item in items], dim=0)
        torch.testing.assert_close(w, looped, rtol=rtol, atol=atol,
                                   msg=lambda m: f"output {j}: batch differs from loop over items: {m}")


def assert_finite(x: torch.Tensor, what: str = "output") -> None:
    bad = ~torch.isfinite(x)
    assert not bad.any(), f"{what}: {int(bad.sum())} non-finite value(s) out of {x.numel()}"


def check_finite_gradients(fn: Callable, inputs: Sequence, what: str = "gradient") -> torch.Tensor:
    """Run ``fn``, back-propagate the sum of its output, assert value and gradients are finite.

    Returns the output. At least one input must require grad and receive a gradient.
    """
    out = fn(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        assert_finite(o, "output")
    total = sum(o.real.sum() if o.is_complex() else o.sum() for o in outs if o.requires_grad)
    leaves = [x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]
    assert leaves, "check_finite_gradients: no input requires grad"
    grads = torch.autograd.grad(total, leaves, allow_unused=True)
    assert any(g is not None for g in grads), "no input received a gradient"
    for i, g in enumerate(grads):
        if g is not None:
            assert_finite(g, f"{what} of input {i}")
    return out


def shared_audio_root() -> Path:
    return Path(os.environ.get("TORCHDDSP_SHARED_AUDIO", REPO_ROOT.parent / "shared" / "audio"))


def shared_audio(name: str) -> Path:
    """Path of ``dev/NAME`` in the shared recordings; skip (or fail on CI) when missing."""
    path = shared_audio_root() / "dev" / name
    if not path.exists():
        message = f"shared recording {path} not found (set TORCHDDSP_SHARED_AUDIO)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def random_stable_filter(order: int, rng: np.random.Generator | int = 0, *, shape: Sequence[int] = (),
                         radius: tuple[float, float] = (0.3, 0.85), output: str = "ba"):
    """A seeded random stable real filter with ``order`` poles and ``order`` zeros (float64 NumPy).

    ``order = 0`` gives a pure gain (``output="ba"`` only).

    Poles: ``order // 2`` conjugate pairs with radii uniform in ``radius`` and angles spread over
    ``(0, pi)`` (pair ``j`` in the ``j``-th of ``order // 2`` equal sectors, at 15-85% of it, so no
    two pairs nearly coincide), plus one real pole uniform in ``(-radius[1], radius[1])`` for an
    odd order. Zeros: drawn the same way with radii uniform in ``(0, 1.2)`` (some outside the unit
    circle: not minimum phase), times a standard-normal gain. Every filter is stable, with a
    largest pole radius of at most ``radius[1]``.

    ``rng`` is a seed or a ``numpy.random.Generator`` (drawn from, for a sequence of filters);
    ``shape`` gives a batch of independent filters. Returns ``(b, a)`` of shape
    ``(*shape, order + 1)`` each, ``a[..., 0] = 1`` (``output="ba"``), or second-order sections
    ``(*shape, (order + 1) // 2, 6)``, rows ``[b0, b1, b2, 1, a1, a2]`` with the gain in the first
    section and a first-order last section for an odd order (``output="sos"``).
    """
    assert output in ("ba", "sos"), f"output: expected 'ba' or 'sos', received {output!r}"
    assert order >= (1 if output == "sos" else 0), f"order: expected an integer >= 1 (0 for 'ba'), received {order!r}"
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    pairs, odd = order // 2, order % 2

    def roots(r_min, r_max):
        r = rng.uniform(r_min, r_max, pairs)
        angle = np.pi * (np.arange(pairs) + rng.uniform(0.15, 0.85, pairs)) / max(pairs, 1)
        upper = r * np.exp(1j * angle)
        return upper, rng.uniform(-r_max, r_max, odd)

    def sections(upper, real):
        quadratic = [np.real(np.poly([z, np.conj(z)])) for z in upper]
        return quadratic + [np.array([1.0, -r, 0.0]) for r in real]

    count = int(np.prod(shape)) if len(shape) else 1
    out = np.empty((count, (order + 1) // 2, 6) if output == "sos" else (count, 2, order + 1))
    for i in range(count):
        poles, zeros, gain = roots(*radius), roots(0.0, 1.2), rng.standard_normal()
        den, num = sections(*poles), sections(*zeros)
        if output == "sos":
            num[0] = num[0] * gain
            out[i] = np.concatenate([np.stack(num), np.stack(den)], axis=-1)
        else:
            b, a = np.full(1, gain), np.ones(1)
            for bs, as_ in zip(num, den):
                b, a = np.polymul(b, bs), np.polymul(a, as_)
            out[i] = b[:order + 1], a[:order + 1]          # an odd order's last section is first order
    stacked = out.reshape(*shape, *out.shape[1:])
    if output == "sos":
        return stacked
    return stacked[..., 0, :], stacked[..., 1, :]


def reference_time_varying_fir(x, h, hop: int, delay: int = 0, *, full: bool = False) -> np.ndarray:
    """Frame-wise time-varying FIR filtering by an explicit float64 loop over frames (overlap-add).

    ``x`` is one signal ``(time,)``, ``h`` one bank of responses ``(frames, taps)`` with
    ``frames * hop >= time`` (``x`` is zero-padded to ``frames * hop``). Block ``m``,
    ``x[m * hop:(m + 1) * hop]``, is convolved with ``h[m]`` in full and its ``hop + taps - 1``
    samples are overlap-added at ``m * hop``. The frame is that of the *input* sample::

        y[n] = sum_k h_m[k] x[n - k],   m = (n - k) // hop   (x[j] = 0 outside [0, time))

    Returns ``y[delay:delay + time]`` (``delay`` advances the output, e.g. ``taps // 2`` to remove
    a linear-phase filter's delay; it must leave ``time`` samples), or with ``full`` every sample
    from ``delay`` to the end of the last tail, ``frames * hop + taps - 1 - delay`` of them.
    """
    x, h = np.asarray(x, dtype=np.float64), np.asarray(h, dtype=np.float64)
    assert x.ndim == 1 and h.ndim == 2, f"expected x (time,) and h (frames, taps), received {x.shape}, {h.shape}"
    frames, taps = h.shape
    time = x.shape[-1]
    assert frames * hop >= time, f"{frames} frames of hop {hop} do not cover {time} samples"
    assert 0 <= delay <= frames * hop + taps - 1 - time, f"delay {delay} leaves fewer than {time} samples"
    x = np.pad(x, (0, frames * hop - time))
    y = np.zeros(frames * hop + taps - 1)
    for m in range(frames):
        y[m * hop:m * hop + hop + taps - 1] += np.convolve(x[m * hop:(m + 1) * hop], h[m])
    return y[delay:] if full else y[delay:delay + time]


def assert_streaming_equivalent(fn: Callable, time: int, state, blocks: Sequence[int], *, time_axis: int = -1,
                                rtol: float = 1e-10, atol: float = 1e-12) -> None:
    """Assert that rendering block by block, carrying the state, equals one call on the whole signal.

    ``fn(start, stop, state) -> (output, final_state)`` renders samples ``[start, stop)`` (slicing
    its signal and any time-varying controls itself) from ``state``. The helper calls it once on
    ``[0, time)`` and then over consecutive blocks whose sizes cycle through ``blocks`` (the last
    one cut at ``time``; a size may be 0, an empty block), each starting from the previous
    block's final state, and asserts the outputs joined along ``time_axis`` and the final states
    equal the one-call ones.
    """
    assert all(size >= 0 for size in blocks) and max(blocks) >= 1, f"blocks: expected sizes >= 0, one >= 1: {blocks}"
    assert min(blocks) < time, "every block covers the whole signal: the check would be vacuous"
    whole, whole_state = fn(0, time, state)
    parts, start, index = [], 0, 0
    while start < time:
        stop = min(start + blocks[index % len(blocks)], time)
        part, state = fn(start, stop, state)
        parts.append(part)
        start, index = stop, index + 1
    torch.testing.assert_close(torch.cat(parts, dim=time_axis), whole, rtol=rtol, atol=atol,
                               msg=lambda m: f"block-by-block output differs from one call: {m}")
    torch.testing.assert_close(state, whole_state, rtol=rtol, atol=atol,
                               msg=lambda m: f"final state after the blocks differs from one call's: {m}")


def assert_delayed_copy(streamed: torch.Tensor, one_shot: torch.Tensor, latency: int, *, rtol: float = 1e-9,
                        atol: float = 1e-11) -> None:
    """Assert a streamed render is the one-shot render delayed by ``latency`` samples, silent before.

    Processors and models that interpolate frame-rate controls (or remove a filter delay) need
    look-ahead: their streamed output is ``one_shot`` shifted right by their ``latency``.
    """
    assert streamed.shape == one_shot.shape, f"streamed shape {tuple(streamed.shape)} != {tuple(one_shot.shape)}"
    time = one_shot.shape[-1]
    assert latency < time, f"latency {latency} >= {time} samples: the check would be vacuous"
    torch.testing.assert_close(streamed[..., latency:], one_shot[..., :time - latency], rtol=rtol, atol=atol,
                               msg=lambda m: f"streamed output is not the one-shot output delayed by {latency}: {m}")
    before = streamed[..., :latency]
    assert before.numel() == 0 or float(before.abs().max()) < 1e-12, "output before the latency must be silent"


# ---------------------------------------------------------------------------------------------
# Training on a synthetic tone (tests/training, tests/faults).

TINY = ["model.hidden=32", "model.mlp_layers=1", "model.n_harmonics=20", "train.crop_seconds=0.25",
        "train.batch_size=2", "train.threads=1", "train.log_every=1"]


def quiet(message):
    pass


def harmonic_tone(f0=220.0, seconds=1.5, sample_rate=16000):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = np.minimum(1.0, t / 0.05) * (0.7 + 0.3 * np.sin(2 * np.pi * 1.5 * t))
    return 0.5 * envelope * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))


def read_losses(run_dir):
    with open(Path(run_dir) / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


def cli_command(data, run_dir, overrides, *extra):
    """``python -m torchddsp train DATA RUN_DIR --config small --quiet --set ...`` as an argument list."""
    sets = sum((["--set", s] for s in overrides), [])
    return [sys.executable, "-m", "torchddsp", "train", str(data), str(run_dir), "--config", "small", "--quiet", *sets,
            *extra]


class Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ---------------------------------------------------------------------------------------------
# Commands and their refusals (tests/faults).

def run_main(capsys, argv) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``torchddsp ARGV`` run in this process."""
    from torchddsp.apps.cli import main

    capsys.readouterr()
    crash = ""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:                 # argparse reports its own errors this way
        code = exit.code
    except Exception:                          # what a process would print before exiting with status 1
        code, crash = 1, traceback.format_exc()
    out, err = capsys.readouterr()
    return code, out, err + crash


def run_cli(argv, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    """``python -m torchddsp ARGV`` as a process: its exit status, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "torchddsp", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def assert_one_line_error(command: str, code: int, err: str, expected_code: int, culprit: str) -> str:
    """The refusal of ``torchddsp COMMAND``: exit status ``expected_code``, no traceback, and one line
    ``torchddsp COMMAND: error: ...`` naming ``culprit``, alone on stderr (argparse prints its usage
    first). Returns the line."""
    assert "Traceback" not in err, err
    assert code == expected_code, f"exit status {code}, expected {expected_code}; stderr:\n{err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    message = lines[-1]
    # argparse reports an unknown option with the top-level parser's name
    assert message.startswith((f"torchddsp {command}: error: ", "torchddsp: error: ")), \
        f"not the command's error line: {message!r}"
    assert culprit in message, f"the message does not name {culprit!r}: {message!r}"
    if err.startswith("usage: "):
        assert all(line.startswith(("usage: ", " ")) for line in lines[:-1]), err
    else:
        assert len(lines) == 1, f"expected one line on stderr, received {len(lines)}:\n{err}"
    return message


def files_under(*folders) -> dict[str, tuple[int, int]]:
    """``{path: (size, mtime_ns)}`` of every file under ``folders``: compare two to see what was written."""
    found = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_dir():
                stat = path.lstat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def hidden_files(folder) -> list[str]:
    """Hidden files and folders under ``folder`` (atomic writes' temporaries are hidden)."""
    return sorted(str(p) for p in Path(folder).rglob(".*"))


# Run in a child: caps its address space at what it holds after the imports plus ``cap`` bytes, then
# calls main() on each case in turn and prints one JSON line per case.
_CAPPED_DRIVER = r"""
import contextlib, io, json, resource, sys, time, traceback
import torch
from torchddsp.apps.cli import main
cases, cap = json.loads(sys.stdin.read())
size = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:")][0] * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
for argv in cases:
    err, out = io.StringIO(), io.StringIO()
    began, rss = time.time(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main(argv)
            except SystemExit as exit:
                code = exit.code
    except BaseException:
        code, err = None, io.StringIO(traceback.format_exc())
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) * 1024
    print(json.dumps({"argv": argv, "code": code, "err": err.getvalue(), "seconds": time.time() - began,
                      "grown_bytes": grown}), flush=True)
"""


def run_capped(cases: list[list[str]], cap: int = 2 << 30, timeout: float = 240) -> dict[tuple, dict]:
    """Run each ``torchddsp`` argv of ``cases`` in one child whose memory is capped at ``cap`` bytes more
    than after its imports. Returns ``{tuple(argv): {"code", "err", "seconds", "grown_bytes"}}``; a
    case the child never reached (it died) is missing."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the address-space cap needs Linux (/proc/self/status, RLIMIT_AS)")
    done = subprocess.run([sys.executable, "-c", _CAPPED_DRIVER], input=json.dumps([cases, cap]), capture_output=True,
                          text=True, timeout=timeout)
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            results[tuple(row.pop("argv"))] = row
    assert len(results) == len(cases), f"the capped process died (status {done.returncode}):\n{done.stderr[-3000:]}"
    return results
