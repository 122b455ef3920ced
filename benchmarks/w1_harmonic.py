"""W1: harmonic synthesis. Batch 16, 4 s at 16 kHz (64000 samples), 60 harmonics, 1000 frames.

Ours: ``harmonic_oscillator`` (chunked kernel, analytic backward, exact phase). In the same run,
a plain PyTorch transcription of the textbook method (upsample every harmonic amplitude to audio
rate, running-sum phase, sin, sum), which is how the peers in ``../shared/PEERS.md`` work.
f0 is a 110 Hz tone with 5% vibrato, so all 60 harmonics stay below Nyquist and no harmonic
can be skipped: the full 61 M sinusoid evaluations are done.
"""

from __future__ import annotations

import math

import torch

from torchddsp.functional.core.upsample import upsample
from torchddsp.functional.oscillators.harmonic import harmonic_oscillator

try:
    from benchmarks.harness import format_table, peak_memory_mb, time_interleaved
except ImportError:  # run as a script from benchmarks/
    from harness import format_table, peak_memory_mb, time_interleaved

BATCH, SAMPLES, HARMONICS, FRAMES, SR = 16, 64000, 60, 1000, 16000
HOP = SAMPLES // FRAMES


def make_inputs(requires_grad: bool = True, f0_grad: bool = False):
    g = torch.Generator().manual_seed(0)
    amplitude = torch.rand(BATCH, FRAMES, 1, generator=g)
    distribution = torch.softmax(torch.randn(BATCH, FRAMES, HARMONICS, generator=g), -1)
    t = torch.arange(FRAMES) / (SR / HOP)
    f0 = (110.0 * (1 + 0.05 * torch.sin(2 * math.pi * 5 * t))).expand(BATCH, FRAMES).unsqueeze(-1).contiguous()
    amplitude.requires_grad_(requires_grad)
    distribution.requires_grad_(requires_grad)
    f0.requires_grad_(f0_grad)
    return amplitude, distribution, f0


def plain_torch(amplitude, distribution, f0):
    """Textbook method: everything at audio rate, float32 running-sum phase."""
    amps = upsample(amplitude * distribution, HOP)                     # (B, N, K)
    f = upsample(f0, HOP)                                              # (B, N, 1)
    phase = 2 * math.pi * torch.cumsum(f / SR, dim=1)
    k = torch.arange(1, HARMONICS + 1, dtype=f.dtype)
    audible = (k * f < SR / 2).to(f.dtype)
    return (amps * audible * torch.sin(k * phase)).sum(-1)


def ours(amplitude, distribution, f0):
    return harmonic_oscillator(amplitude, distribution, f0, SR, HOP)


IMPLEMENTATIONS = {"torchddsp harmonic_oscillator": ours, "plain torch (textbook, in-run)": plain_torch}


def _forward_factory(name):
    fn, inputs = IMPLEMENTATIONS[name], make_inputs(False)

    def call():
        with torch.no_grad():
            fn(*inputs)
    return call


def _backward_factory(name, f0_grad=False):
    fn, inputs = IMPLEMENTATIONS[name], make_inputs(True, f0_grad)

    def call():
        fn(*inputs).sum().backward()
    return call


def forward_ours():
    return _forward_factory("torchddsp harmonic_oscillator")


def backward_ours():
    return _backward_factory("torchddsp harmonic_oscillator")


def forward_plain():
    return _forward_factory("plain torch (textbook, in-run)")


def backward_plain():
    return _backward_factory("plain torch (textbook, in-run)")


def run(rounds: int = 7) -> list[dict]:
    cases = {}
    for name in IMPLEMENTATIONS:
        cases[(name, "fwd")] = _forward_factory(name)
        cases[(name, "fwdbwd")] = _backward_factory(name)
        cases[(name, "fwdbwd_f0")] = _backward_factory(name, f0_grad=True)
    times = time_interleaved({f"{n}|{m}": fn for (n, m), fn in cases.items()}, rounds=rounds)
    memory = {"torchddsp harmonic_oscillator": peak_memory_mb(backward_ours),
              "plain torch (textbook, in-run)": peak_memory_mb(backward_plain)}
    rows = []
    for name in IMPLEMENTATIONS:
        rows.append({
            "workload": "W1 harmonic", "implementation": name,
            "fwd_ms": times[f"{name}|fwd"]["median_ms"],
            "fwdbwd_ms": times[f"{name}|fwdbwd"]["median_ms"],
            "fwdbwd_with_f0_grad_ms": times[f"{name}|fwdbwd_f0"]["median_ms"],
            "peak_mb_fwdbwd": memory[name],
        })
    base = rows[1]["fwdbwd_ms"]
    for r in rows:
        r["fwdbwd_vs_plain"] = r["fwdbwd_ms"] / base
        r["fwdbwd_vs_best_peer_1450ms"] = r["fwdbwd_ms"] / 1450.0
    return rows


if __name__ == "__main__":
    torch.set_num_threads(2)
    result = run()
    print(format_table(result, list(result[0].keys())))
