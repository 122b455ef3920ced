"""W2 filtered noise (linear time-varying FIR): batch 16 x 64000 samples (4 s at 16 kHz), 65 bands,
1000 frames (hop 64), float32, 2 threads.

White noise is filtered frame by frame with window-design filters (Engel et al. 2020) designed
from magnitudes ``(16, 1000, 65)``: forward, and forward + backward (gradient with respect to the
magnitudes). Implementations timed in the same interleaved rounds:

- ``torchddsp frequency_filter``: the exact filter (each block convolved with its frame's whole
  128-tap response, tails overlap-added), computed from the zero-phase response;
- ``torchddsp window_design_ir + time_varying_fir``: the same filter through explicit impulse
  responses (the generic path);
- ``truncated filter (ddsp_pytorch approach)``: our plain re-implementation of the cheaper
  filter of ddsp_pytorch (PEERS.md, W2): the windowed response is cut to the hop (64 taps) and
  each block's convolution tail is dropped. It is a different filter; it is here for the ratio.

The noise is generated once outside the timed region (as in the peer figures); its cost is
reported on its own row. Run ``python benchmarks/w2_filtered_noise.py [--rounds N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import format_table, machine_description, peak_memory_mb, time_interleaved, write_json
from torchddsp.functional.core.noise import white_noise
from torchddsp.functional.filters.fir import frequency_filter, time_varying_fir, window_design_ir

BATCH, TIME, BANDS, HOP = 16, 64000, 65, 64
FRAMES = TIME // HOP
THREADS = 2
WORKLOAD = f"W2 filtered noise {BATCH}x{TIME}, {BANDS} bands, {FRAMES} frames (hop {HOP})"


def truncated_filter(noise: torch.Tensor, magnitudes: torch.Tensor, hop: int) -> torch.Tensor:
    """The truncated-filter approach: response cut to ``hop`` taps, every block's tail dropped."""
    batch, time = noise.shape
    ir = torch.fft.irfft(magnitudes)                                   # zero-phase, 2 * (bands - 1) taps
    size = ir.shape[-1]
    ir = torch.roll(ir, size // 2, -1) * torch.hann_window(size, dtype=ir.dtype, device=ir.device)
    ir = ir[..., size // 2 - hop // 2:size // 2 + hop // 2]           # truncated to the hop
    blocks = noise.reshape(batch, time // hop, hop)
    spectrum = torch.fft.rfft(blocks, 2 * hop) * torch.fft.rfft(ir, 2 * hop)
    return torch.fft.irfft(spectrum, 2 * hop)[..., :hop].reshape(batch, time)   # tails dropped


def exact_fused(noise, magnitudes):
    return frequency_filter(noise, magnitudes, HOP)


def exact_generic(noise, magnitudes):
    ir = window_design_ir(magnitudes)
    return time_varying_fir(noise, ir, HOP, delay=ir.shape[-1] // 2)


def truncated(noise, magnitudes):
    return truncated_filter(noise, magnitudes, HOP)


IMPLEMENTATIONS = {
    "torchddsp frequency_filter (exact)": exact_fused,
    "torchddsp window_design_ir + time_varying_fir (exact)": exact_generic,
    "truncated filter, ddsp_pytorch approach (our re-implementation)": truncated,
}
PEER = "truncated filter, ddsp_pytorch approach (our re-implementation)"


def make_inputs(seed: int = 0):
    torch.manual_seed(seed)
    noise = white_noise((BATCH, TIME), seed=seed, dtype=torch.float32)
    magnitudes = torch.rand(BATCH, FRAMES, BANDS, dtype=torch.float32).requires_grad_()
    grad_out = torch.randn(BATCH, TIME, dtype=torch.float32)
    return noise, magnitudes, grad_out


def _forward_case(fn, noise, magnitudes):
    return lambda: fn(noise, magnitudes)


def _backward_case(fn, noise, magnitudes, grad_out):
    def step():
        magnitudes.grad = None
        torch.autograd.backward(fn(noise, magnitudes), grad_out)
    return step


# Module-level factories (picklable) for harness.peak_memory_mb, which runs each in a fresh process.
def _factory(name: str, backward: bool):
    noise, magnitudes, grad_out = make_inputs()
    fn = IMPLEMENTATIONS[name]
    return _backward_case(fn, noise, magnitudes, grad_out) if backward else _forward_case(fn, noise, magnitudes)


def factory_fused_fwdbwd():
    return _factory("torchddsp frequency_filter (exact)", True)


def factory_generic_fwdbwd():
    return _factory("torchddsp window_design_ir + time_varying_fir (exact)", True)


def factory_truncated_fwdbwd():
    return _factory(PEER, True)


PEAK_FACTORIES = {
    "torchddsp frequency_filter (exact)": factory_fused_fwdbwd,
    "torchddsp window_design_ir + time_varying_fir (exact)": factory_generic_fwdbwd,
    PEER: factory_truncated_fwdbwd,
}


def check_agreement() -> dict:
    """Max |difference| between the two exact paths, and between the exact and truncated filters."""
    noise, magnitudes, _ = make_inputs()
    with torch.no_grad():
        fused = exact_fused(noise, magnitudes)
        generic = exact_generic(noise, magnitudes)
        cut = truncated(noise, magnitudes)
    scale = float(generic.abs().max())
    return {"exact_paths_max_abs_diff": float((fused - generic).abs().max()),
            "truncated_vs_exact_max_abs_diff": float((cut - generic).abs().max()),
            "output_peak": scale}


def run(rounds: int = 11) -> list[dict]:
    """Time every implementation (forward; forward + backward) in the same interleaved rounds.

    Uses the current ``torch.get_num_threads()`` (``main`` and ``benchmarks.run`` set 2).
    """
    threads = torch.get_num_threads()
    noise, magnitudes, grad_out = make_inputs()
    cases = {}
    for name, fn in IMPLEMENTATIONS.items():
        cases[(name, "fwd")] = _forward_case(fn, noise, magnitudes)
        cases[(name, "fwdbwd")] = _backward_case(fn, noise, magnitudes, grad_out)
    cases[("noise", "fwd")] = lambda: white_noise((BATCH, TIME), seed=1)
    timings = time_interleaved(cases, rounds=rounds, warmup=3)
    rows = []
    peer_fwd = timings[(PEER, "fwd")]["median_ms"]
    peer_bwd = timings[(PEER, "fwdbwd")]["median_ms"]
    for name in IMPLEMENTATIONS:
        fwd, bwd = timings[(name, "fwd")], timings[(name, "fwdbwd")]
        rows.append({
            "workload": WORKLOAD, "implementation": name,
            "fwd_ms": fwd["median_ms"], "fwdbwd_ms": bwd["median_ms"],
            "fwd_min_ms": fwd["min_ms"], "fwdbwd_min_ms": bwd["min_ms"],
            "fwd_vs_truncated": fwd["median_ms"] / peer_fwd, "fwdbwd_vs_truncated": bwd["median_ms"] / peer_bwd,
            "peak_mb": peak_memory_mb(PEAK_FACTORIES[name], threads=threads),
        })
    noise_t = timings[("noise", "fwd")]
    rows.append({"workload": WORKLOAD, "implementation": "white_noise generation (uniform), for reference",
                 "fwd_ms": noise_t["median_ms"], "fwd_min_ms": noise_t["min_ms"]})
    return rows


COLUMNS = ["implementation", "fwd_ms", "fwdbwd_ms", "fwd_min_ms", "fwdbwd_min_ms", "fwd_vs_truncated",
           "fwdbwd_vs_truncated", "peak_mb"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--json", type=str, default=None, help="also write the rows and machine to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    agreement = check_agreement()
    rows = run(args.rounds)
    print(f"{WORKLOAD}; float32; median of {args.rounds} interleaved rounds")
    print(f"machine: {machine_description()}")
    print(f"exact paths agree to {agreement['exact_paths_max_abs_diff']:.2e}; the truncated filter differs "
          f"from the exact one by up to {agreement['truncated_vs_exact_max_abs_diff']:.2e} "
          f"(output peak {agreement['output_peak']:.2e})")
    print(format_table(rows, COLUMNS))
    if args.json:
        write_json(args.json, {"machine": machine_description(), "agreement": agreement, "rows": rows})


if __name__ == "__main__":
    main()
