"""W4: multi-resolution STFT loss. Batch 16 x 64000 samples, float32, 2 threads.

FFT sizes 2048, 1024, 512, 256, 128, 64; hop n/4 (75 % overlap); window = n (periodic Hann);
log-magnitude + linear-magnitude terms (no spectral convergence); mean over resolutions. The
gradient is taken w.r.t. the prediction only (the target does not require grad).

Implementations timed interleaved in the same run (``harness.time_interleaved``):

* ``torchddsp (fused)``: :func:`torchddsp.losses.multi_resolution_stft_loss`, default
  ``implementation="fused"`` (one pass over the spectra, analytic backward);
* ``torchddsp (autograd)``: the same loss with ``implementation="autograd"`` (torch.stft + autograd);
* ``plain torch.stft``: a straightforward transcription (``torch.stft(...).abs()``, clamp, log, L1)
  as the in-run reference that ``../shared/PEERS.md`` also lists;
* ``auraloss``: ``auraloss.freq.MultiResolutionSTFTLoss`` at the matching configuration
  (``w_sc=0, w_log_mag=1, w_lin_mag=1``), the peer the ratio is taken against.

Peak memory is measured for forward+backward in a fresh process, twice: ``peak_mb`` with
``harness.peak_memory_mb`` (a call after a warm-up call) and ``cold_peak_mb`` (the first two calls,
see :func:`cold_peak_mb`). ``grad_err_vs_f64`` is each float32 gradient's max error relative to a
float64 evaluation of the same loss.
"""

from __future__ import annotations

import statistics

import torch

from torchddsp.losses import multi_resolution_stft_loss

try:
    from benchmarks.harness import format_table, machine_description, peak_memory_mb, time_interleaved, write_json
except ImportError:  # run as a script from benchmarks/
    from harness import format_table, machine_description, peak_memory_mb, time_interleaved, write_json

BATCH, SAMPLES, THREADS = 16, 64000, 2
N_FFTS = (2048, 1024, 512, 256, 128, 64)
HOPS = tuple(n // 4 for n in N_FFTS)
EPS = 1e-8                      # auraloss's power floor, also our default
WORKLOAD = "W4 MR-STFT 16x64000, fft 2048..64, hop n/4, log+lin"


def make_inputs(requires_grad: bool = True):
    g = torch.Generator().manual_seed(0)
    target = torch.randn(BATCH, 1, SAMPLES, generator=g)       # (B, channels, time): auraloss's layout
    prediction = (0.5 * target + 0.5 * torch.randn(BATCH, 1, SAMPLES, generator=g)).requires_grad_(requires_grad)
    return prediction, target


def ours_fused(prediction, target):
    return multi_resolution_stft_loss(prediction, target, N_FFTS, HOPS, N_FFTS, w_sc=0.0, w_log_mag=1.0,
                                      w_lin_mag=1.0, eps=EPS, implementation="fused")


def ours_autograd(prediction, target):
    return multi_resolution_stft_loss(prediction, target, N_FFTS, HOPS, N_FFTS, w_sc=0.0, w_log_mag=1.0,
                                      w_lin_mag=1.0, eps=EPS, implementation="autograd")


_PLAIN_WINDOWS = {n: torch.hann_window(n) for n in N_FFTS}


def plain_stft(prediction, target):
    """Straightforward transcription: complex abs of torch.stft, clamp, log, mean L1."""
    x, y = prediction.reshape(-1, SAMPLES), target.reshape(-1, SAMPLES)
    total = 0.0
    for n, hop in zip(N_FFTS, HOPS):
        w = _PLAIN_WINDOWS[n]
        mx = torch.stft(x, n, hop, n, w, return_complex=True).abs().clamp_min(EPS ** 0.5)
        my = torch.stft(y, n, hop, n, w, return_complex=True).abs().clamp_min(EPS ** 0.5)
        total = total + (mx - my).abs().mean() + (mx.log() - my.log()).abs().mean()
    return total / len(N_FFTS)


def _auraloss_module():
    import auraloss
    return auraloss.freq.MultiResolutionSTFTLoss(fft_sizes=list(N_FFTS), hop_sizes=list(HOPS),
                                                 win_lengths=list(N_FFTS), window="hann_window", w_sc=0.0,
                                                 w_log_mag=1.0, w_lin_mag=1.0, eps=EPS)


_AURALOSS = None


def auraloss_mrstft(prediction, target):
    global _AURALOSS
    if _AURALOSS is None:
        _AURALOSS = _auraloss_module()
    return _AURALOSS(prediction, target)


IMPLEMENTATIONS = {
    "torchddsp (fused)": ours_fused,
    "torchddsp (autograd)": ours_autograd,
    "plain torch.stft": plain_stft,
    "auraloss": auraloss_mrstft,
}
PEER = "auraloss"


def _forward_factory(name):
    fn, inputs = IMPLEMENTATIONS[name], make_inputs(False)

    def call():
        with torch.no_grad():
            fn(*inputs)
    return call


def _backward_factory(name):
    fn, (prediction, target) = IMPLEMENTATIONS[name], make_inputs(True)

    def call():
        loss = fn(prediction, target)
        loss.backward()
        prediction.grad = None
    return call


# Module-level factories for harness.peak_memory_mb (picklable, run in a fresh process).
def fwdbwd_ours_fused():
    return _backward_factory("torchddsp (fused)")


def fwdbwd_ours_autograd():
    return _backward_factory("torchddsp (autograd)")


def fwdbwd_plain():
    return _backward_factory("plain torch.stft")


def fwdbwd_auraloss():
    return _backward_factory("auraloss")


MEMORY_FACTORIES = {"torchddsp (fused)": fwdbwd_ours_fused, "torchddsp (autograd)": fwdbwd_ours_autograd,
                    "plain torch.stft": fwdbwd_plain, "auraloss": fwdbwd_auraloss}


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not in /proc/self/status")


def _cold_peak_worker(factory, queue, threads):
    torch.set_num_threads(threads)
    fn = factory()
    before = _status_mib("VmRSS")
    fn()
    fn()
    queue.put(_status_mib("VmHWM") - before)


def cold_peak_mb(factory, threads: int = THREADS) -> float:
    """Peak RSS (MiB) above the inputs over the first two calls in a fresh process.

    ``harness.peak_memory_mb`` measures a call after a warm-up call, above the RSS the allocator
    kept from the warm-up, so it depends on how much freed memory the allocator retains; this
    figure includes everything a first use costs. Linux only.
    """
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_cold_peak_worker, args=(factory, queue, threads))
    proc.start()
    value = queue.get(timeout=600)
    proc.join()
    return float(value)


def gradient_error_vs_float64() -> dict[str, float]:
    """Max |grad - grad_f64| / max |grad_f64| of each float32 implementation (f64 reference: ours, autograd)."""
    prediction, target = make_inputs(True)
    p64 = prediction.detach().double().requires_grad_()
    ref, = torch.autograd.grad(ours_autograd(p64, target.double()), p64)
    errors = {}
    for name, fn in IMPLEMENTATIONS.items():
        g, = torch.autograd.grad(fn(prediction, target), prediction)
        errors[name] = float((g.double() - ref).abs().max() / ref.abs().max())
    return errors


def run(rounds: int = 9) -> list[dict]:
    torch.set_num_threads(THREADS)
    cases = {}
    for name in IMPLEMENTATIONS:
        cases[f"{name}|fwdbwd"] = _backward_factory(name)
        cases[f"{name}|fwd"] = _forward_factory(name)
    times = time_interleaved(cases, rounds=rounds)
    errors = gradient_error_vs_float64()
    rows = []
    for name in IMPLEMENTATIONS:
        rows.append({
            "workload": WORKLOAD, "implementation": name,
            "fwd_ms": times[f"{name}|fwd"]["median_ms"],
            "fwdbwd_ms": times[f"{name}|fwdbwd"]["median_ms"],
            "fwdbwd_min_ms": times[f"{name}|fwdbwd"]["min_ms"],
            "peak_mb": peak_memory_mb(MEMORY_FACTORIES[name], threads=THREADS),
            "cold_peak_mb": cold_peak_mb(MEMORY_FACTORIES[name]),
            "grad_err_vs_f64": errors[name],
        })
    peer = next(r for r in rows if r["implementation"] == PEER)
    peer_rounds = times[f"{PEER}|fwdbwd"]["all_ms"]
    for r in rows:
        r["ratio_to_auraloss"] = r["fwdbwd_ms"] / peer["fwdbwd_ms"]
        r["fwd_ratio_to_auraloss"] = r["fwd_ms"] / peer["fwd_ms"]
        # ratio within each round, then the median: robust when the shared machine's load changes
        own_rounds = times[f"{r['implementation']}|fwdbwd"]["all_ms"]
        r["ratio_per_round_median"] = statistics.median(a / b for a, b in zip(own_rounds, peer_rounds))
    return rows


COLUMNS = ["workload", "implementation", "fwd_ms", "fwdbwd_ms", "fwdbwd_min_ms", "peak_mb", "cold_peak_mb",
           "ratio_to_auraloss", "ratio_per_round_median", "fwd_ratio_to_auraloss", "grad_err_vs_f64"]

if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", help="also write the rows and the machine to this JSON file")
    args = parser.parse_args()
    result = run(args.rounds)
    print(f"Machine: {machine_description()}\n")
    print(format_table(result, COLUMNS))
    if args.json:
        write_json(args.json, {"machine": machine_description(), "rows": result})
