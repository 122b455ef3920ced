"""W3 recursive filters: batch 16, float32, 2 threads; forward and forward + backward.

Cases (16 kHz audio, so 64000 samples = 4 s):

- (a) LTI biquad (``lfilter`` with 3 + 3 coefficients, one filter per batch item);
- (b) LTI all-pole, order 20 (``allpole``; stable, well-spread poles);
- (c) time-varying all-pole, order 20, one coefficient set per sample (an LPC synthesis
  filter whose reflection coefficients move smoothly, so every instant is stable);
- (d) the same three at 1 s (16000 samples) and 60 s (960000 samples).

Forward + backward is the gradient with respect to the signal and every coefficient. Peers
timed in the same interleaved rounds where they support the case: ``scipy.signal.lfilter``
(forward only; a sequential C loop, one call per batch item since the filters differ),
philtorch 0.6.0 (``lti.lfilter``, ``lpv.allpole``), torchlpc 0.7.2 (``sample_wise_lpc``; for
the biquad its all-pole part after a grouped ``conv1d`` for the FIR part), and a plain numba
loop (forward only) for (c). A peer that fails to import gets a row saying why. torchaudio is
not installed here; its figures are in ``../shared/PEERS.md``.

``max_rel_err`` is ``max |y - y_ref| / max |y_ref|`` of the float32 forward output against a
float64 reference computed from the same (float32-rounded) inputs: ``scipy.signal.lfilter``
in float64 for (a)/(b), a float64 sequential loop for (c). ``peak_mb`` is the peak resident
memory of one forward + backward (forward for forward-only rows) above its inputs, measured in
a fresh process (``harness.peak_memory_mb``). Numba kernels are compiled (or loaded from the
on-disk cache) during the warm-up calls, never inside a timed call.

Run ``python benchmarks/w3_recursive.py [--rounds N] [--cases a,b,c,a1,...] [--no-memory]
[--json PATH]``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import format_table, machine_description, peak_memory_mb, time_interleaved, write_json
from torchddsp.functional.filters.iir import allpole, lfilter

BATCH, ORDER, THREADS, SAMPLE_RATE = 16, 20, 2, 16000
DURATIONS = {"": 64000, "1": 16000, "60": 960000}          # case suffix -> samples
KINDS = {"a": "LTI biquad", "b": "LTI all-pole order 20", "c": "time-varying all-pole order 20 (per sample)"}
CASES = {f"{kind}{suffix}": (kind, time) for suffix, time in DURATIONS.items() for kind in KINDS}
COLUMNS = ["case", "implementation", "fwd_ms", "fwdbwd_ms", "fwd_vs_scipy", "fwdbwd_vs_best_peer", "peak_mb",
           "max_rel_err", "note"]


def case_label(key: str) -> str:
    kind, time = CASES[key]
    prefix = f"({kind})" if time == 64000 else f"(d) ({kind})"
    return f"{prefix} {KINDS[kind]}, {BATCH}x{time} ({time / SAMPLE_RATE:g} s)"


# ----------------------------------------------------------------------------------- inputs

def _stable_polynomials(count: int, order: int, rng, r_min: float, r_max: float) -> np.ndarray:
    """``(count, order + 1)`` monic denominators with conjugate pole pairs of radius in [r_min, r_max]."""
    out = np.empty((count, order + 1))
    for i in range(count):
        k = order // 2
        radius = rng.uniform(r_min, r_max, k)
        angle = np.pi * (np.arange(k) + rng.uniform(0.15, 0.85, k)) / k
        out[i] = np.real(np.poly(np.concatenate([radius * np.exp(1j * angle), radius * np.exp(-1j * angle)])))
    return out


def _time_varying_lpc(time: int, rng, hop: int = 64) -> torch.Tensor:
    """``(BATCH, time, ORDER)`` float32 per-sample LPC coefficients ``a_1 .. a_p``.

    Reflection coefficients follow smooth random trajectories with ``|k| <= 0.5`` at frame
    rate; the step-up (Levinson) recursion turns each frame into a stable direct form, and the
    direct forms are interpolated linearly to one set per sample.
    """
    frames = time // hop + 2
    drift = np.cumsum(rng.normal(0.0, 0.05, (BATCH, frames, ORDER)), axis=1)
    k = 0.5 * np.sin(rng.uniform(0, 2 * np.pi, (BATCH, 1, ORDER)) + drift)
    a = np.zeros((BATCH, frames, 0))
    for m in range(ORDER):                       # a^(m+1) = [a^(m) + k_m flip(a^(m)), k_m]
        km = k[..., m:m + 1]
        a = np.concatenate([a + km * a[..., ::-1], km], axis=-1)
    per_frame = torch.from_numpy(a).float().permute(0, 2, 1)                    # (B, p, frames)
    per_sample = F.interpolate(per_frame, size=time, mode="linear", align_corners=True)
    return per_sample.transpose(1, 2).contiguous()


@functools.lru_cache(maxsize=1)
def make_inputs(key: str, seed: int = 0) -> dict:
    """Inputs of one case (cached: the 60 s time-varying coefficients take 1.2 GB)."""
    kind, time = CASES[key]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    inputs = {"x": torch.randn(BATCH, time), "grad_out": torch.randn(BATCH, time)}
    if kind == "a":
        den = _stable_polynomials(BATCH, 2, rng, 0.5, 0.95)
        inputs["b"] = torch.from_numpy(rng.standard_normal((BATCH, 3)) * 0.5).float()
        inputs["a"] = torch.from_numpy(den).float()
    elif kind == "b":
        inputs["b"] = torch.ones(BATCH, 1)
        inputs["a"] = torch.from_numpy(_stable_polynomials(BATCH, ORDER, rng, 0.3, 0.85)).float()
    else:
        inputs["a_tv"] = _time_varying_lpc(time, rng)
    for name in ("x", "b", "a", "a_tv"):
        if name in inputs:
            inputs[name].requires_grad_()
    return inputs


# ------------------------------------------------------------------------------ references

def _sequential_allpole_source():
    from numba import njit

    @njit(cache=True, nogil=True)
    def loop(x, a, y, acc_dtype_probe):
        """``y[n] = x[n] - sum_i a[n, i] y[n-1-i]``, accumulating in the dtype of ``acc_dtype_probe``."""
        batch, time = x.shape
        order = a.shape[2]
        for row in range(batch):
            hist = np.zeros(order + time, dtype=acc_dtype_probe.dtype)
            for n in range(time):
                acc = acc_dtype_probe.dtype.type(x[row, n])
                for i in range(order):
                    acc -= a[row, n, i] * hist[order + n - 1 - i]
                hist[order + n] = acc
                y[row, n] = acc
    return loop


_LOOP = None


def sequential_allpole(x: np.ndarray, a: np.ndarray, accumulate=np.float32) -> np.ndarray:
    """A plain numba loop over samples (the "numba sequential loop" row; float64 = the reference)."""
    global _LOOP
    if _LOOP is None:
        _LOOP = _sequential_allpole_source()
    y = np.empty(x.shape, dtype=accumulate)
    _LOOP(x, a, y, np.zeros(1, dtype=accumulate))
    return y


def reference_output(key: str) -> np.ndarray:
    kind, _ = CASES[key]
    inputs = make_inputs(key)
    x = inputs["x"].detach().numpy()
    if kind == "c":
        return sequential_allpole(x, inputs["a_tv"].detach().numpy(), np.float64)
    b = inputs["b"].detach().double().numpy()
    a = inputs["a"].detach().double().numpy()
    return np.stack([scipy.signal.lfilter(b[i], a[i], x[i].astype(np.float64)) for i in range(BATCH)])


# ------------------------------------------------------------------------- implementations

def _torchddsp(inputs):
    if "a_tv" in inputs:
        return lambda x, i=inputs: allpole(x, i["a_tv"])
    if inputs["b"].shape[-1] == 1:
        return lambda x, i=inputs: allpole(x, i["a"][:, 1:])
    return lambda x, i=inputs: lfilter(i["b"], i["a"], x)


def _scipy(inputs):
    if "a_tv" in inputs:
        return None
    b, a = inputs["b"].detach().numpy(), inputs["a"].detach().numpy()
    return lambda x: np.stack([scipy.signal.lfilter(b[i], a[i], x[i]) for i in range(BATCH)])


def _numba_loop(inputs):
    if "a_tv" not in inputs:
        return None
    a = inputs["a_tv"].detach().numpy()
    return lambda x: sequential_allpole(x, a)


def _philtorch_lti(inputs):
    if "a_tv" in inputs:
        return None
    from philtorch.lti import lfilter as ph_lfilter
    return lambda x, i=inputs: ph_lfilter(i["b"], i["a"][:, 1:], x)


def _philtorch_lpv(inputs):
    from philtorch.lpv import allpole as ph_allpole
    if "a_tv" in inputs:
        return lambda x, i=inputs: ph_allpole(i["a_tv"], x)
    if inputs["b"].shape[-1] != 1:
        return None
    return lambda x, i=inputs: ph_allpole(i["a"][:, None, 1:].expand(BATCH, x.shape[-1], ORDER), x)


def _torchlpc(inputs):
    from torchlpc import sample_wise_lpc
    if "a_tv" in inputs:
        return lambda x, i=inputs: sample_wise_lpc(x, i["a_tv"])
    b, a = inputs["b"], inputs["a"]
    if b.shape[-1] == 1:
        return lambda x: sample_wise_lpc(x, a[:, None, 1:].expand(BATCH, x.shape[-1], a.shape[-1] - 1))

    def biquad(x):            # FIR part by a grouped convolution, then the all-pole part
        v = F.conv1d(F.pad(x, (b.shape[-1] - 1, 0))[None], b.flip(-1)[:, None, :], groups=BATCH)[0]
        return sample_wise_lpc(v, a[:, None, 1:].expand(BATCH, x.shape[-1], a.shape[-1] - 1))
    return biquad


# name -> (builder, differentiable); a builder returns None where the implementation does not apply
IMPLEMENTATIONS = {
    "torchddsp (numba kernels)": (_torchddsp, True),
    "scipy.signal.lfilter (fwd only, C loop)": (_scipy, False),
    "numba sequential loop (fwd only)": (_numba_loop, False),
    "philtorch 0.6.0 lti.lfilter": (_philtorch_lti, True),
    "philtorch 0.6.0 lpv.allpole": (_philtorch_lpv, True),
    "torchlpc 0.7.2 sample_wise_lpc": (_torchlpc, True),
}
OURS = "torchddsp (numba kernels)"
SCIPY = "scipy.signal.lfilter (fwd only, C loop)"


def _build(name: str, inputs: dict):
    """``(fwd, fwdbwd)`` callables, ``None`` if the implementation does not apply; raises if it cannot load."""
    builder, differentiable = IMPLEMENTATIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = builder(inputs)
    if fn is None:
        return None
    x = inputs["x"]
    leaves = [t for t in inputs.values() if isinstance(t, torch.Tensor) and t.requires_grad]
    if not differentiable:
        x_np = x.detach().numpy()
        return (lambda: fn(x_np)), None

    def forward():
        with torch.no_grad():
            return fn(x.detach())

    def forward_backward():
        for leaf in leaves:
            leaf.grad = None
        torch.autograd.backward(fn(x), inputs["grad_out"])
    return forward, forward_backward


def _peak_factory(key: str, name: str):
    """Module-level (picklable) factory for ``harness.peak_memory_mb``: one call as timed."""
    torch.set_num_threads(THREADS)
    built = _build(name, make_inputs(key))
    return built[1] if built[1] is not None else built[0]


# -------------------------------------------------------------------------------------- run

def run(rounds: int = 9, cases: list[str] | None = None, memory: bool = True) -> list[dict]:
    """Time every implementation on every case in interleaved rounds; one row per (case, implementation)."""
    torch.set_num_threads(THREADS)
    rows = []
    for key in cases or list(CASES):
        _, time = CASES[key]
        long = time > 100000
        inputs = make_inputs(key)
        reference = reference_output(key)
        scale = float(np.abs(reference).max())
        timed, notes = {}, {}
        for name in IMPLEMENTATIONS:
            try:
                built = _build(name, inputs)
            except Exception as error:        # a peer that does not import or run: say why, carry on
                notes[name] = f"not run: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
                continue
            if built is not None:
                timed[name] = built
        cases_fn = {}
        for name, (fwd, fwdbwd) in timed.items():
            cases_fn[(name, "fwd")] = fwd
            if fwdbwd is not None:
                cases_fn[(name, "fwdbwd")] = fwdbwd
        timings = time_interleaved(cases_fn, rounds=max(1, rounds // 3) if long else rounds, warmup=1 if long else 2)
        peer_bwd = [timings[(n, "fwdbwd")]["median_ms"] for n in timed if n != OURS and (n, "fwdbwd") in timings]
        scipy_fwd = timings[(SCIPY, "fwd")]["median_ms"] if (SCIPY, "fwd") in timings else None
        for name in IMPLEMENTATIONS:
            if name in notes:
                rows.append({"case": case_label(key), "implementation": name, "note": notes[name]})
                continue
            if name not in timed:
                continue
            fwd_t = timings[(name, "fwd")]
            bwd_t = timings.get((name, "fwdbwd"))
            out = timed[name][0]()
            out = out.detach().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
            row = {"case": case_label(key), "implementation": name,
                   "fwd_ms": fwd_t["median_ms"], "fwd_min_ms": fwd_t["min_ms"],
                   "fwdbwd_ms": bwd_t["median_ms"] if bwd_t else None,
                   "fwdbwd_min_ms": bwd_t["min_ms"] if bwd_t else None,
                   "max_rel_err": float(np.abs(out.astype(np.float64) - reference).max() / scale)}
            if scipy_fwd:
                row["fwd_vs_scipy"] = fwd_t["median_ms"] / scipy_fwd
            if name == OURS and bwd_t and peer_bwd:
                row["fwdbwd_vs_best_peer"] = bwd_t["median_ms"] / min(peer_bwd)
            if memory:
                row["peak_mb"] = peak_memory_mb(functools.partial(_peak_factory, key, name), threads=THREADS)
            rows.append(row)
        del timed, cases_fn
    make_inputs.cache_clear()
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds (60 s cases: a third)")
    parser.add_argument("--cases", type=str, default=",".join(CASES),
                        help=f"comma-separated subset of {list(CASES)} (suffix 1: 1 s, 60: 60 s)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--json", type=str, default=None, help="also write the rows and machine to this file")
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"--cases: expected any of {list(CASES)}, received {unknown}")
    rows = run(args.rounds, cases, memory=not args.no_memory)
    print(f"W3 recursive filters, batch {BATCH}, float32, {THREADS} threads; median of {args.rounds} "
          f"interleaved rounds ({max(1, args.rounds // 3)} for 60 s cases); times in ms")
    print(f"machine: {machine_description()}")
    print(format_table(rows, COLUMNS))
    if args.json:
        write_json(args.json, {"machine": machine_description(), "rows": rows})


if __name__ == "__main__":
    main()
