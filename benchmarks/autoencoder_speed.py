"""Autoencoder speed: the small DDSP autoencoder (the shipped ``small`` config) end to end.

Two cases, each the median of several timed repeats after warm-up:

- ``inference``: one thread, ``torch.no_grad()``, render 10 s of audio (2500 frames at hop 64,
  16 kHz, batch 1) from frame controls (f0 220 Hz, loudness -30 dB). Reported as a real-time
  factor, ``audio seconds / wall seconds``.
- ``train_step``: two threads, batch 8 x 1 s crops, forward + ``MultiResolutionSTFTLoss``
  (n_ffts 2048..64) + backward + gradient clipping + Adam step, as one step of
  ``torchddsp.training.trainer._train``. Reported in steps per second. The targets are fixed noise
  shaped by a decaying envelope (the step's cost does not depend on their content).

Run ``python -m benchmarks.autoencoder_speed`` (or ``--rounds N``). There is no external peer for
a whole model; compare figures taken in the same run or on the same idle machine.
"""

from __future__ import annotations

import argparse
import math

import torch

from torchddsp.losses import MultiResolutionSTFTLoss
from torchddsp.models import DDSPAutoencoder
from torchddsp.models.autoencoder import ModelConfig
from torchddsp.training import load_config as load_run_config

try:
    from benchmarks.harness import format_table, machine_description, time_interleaved
except ImportError:  # run as a script from benchmarks/
    from harness import format_table, machine_description, time_interleaved

INFER_SECONDS, TRAIN_BATCH, TRAIN_SECONDS = 10.0, 8, 1.0


def load_config() -> tuple[ModelConfig, dict]:
    run = load_run_config("small")
    return run.model, {"learning_rate": run.train.learning_rate,
                       "n_ffts": run.losses["multi_resolution_stft"]["n_ffts"]}


def build_model(config: ModelConfig) -> DDSPAutoencoder:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return DDSPAutoencoder(config)


def inference_case(config: ModelConfig):
    """A callable that renders ``INFER_SECONDS`` of audio under ``no_grad``, and its length in seconds."""
    model = build_model(config).eval()
    frames = round(INFER_SECONDS * config.sample_rate / config.hop_size)
    f0 = torch.full((1, frames), 220.0)
    loudness = torch.full((1, frames), -30.0)

    def call():
        with torch.no_grad():
            return model(f0, loudness, noise_seed=0)
    return call, frames * config.hop_size / config.sample_rate


def train_case(config: ModelConfig, train: dict):
    """A callable doing one optimisation step as the trainer does (without data loading and logging)."""
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=train["learning_rate"])
    loss_fn = MultiResolutionSTFTLoss(n_ffts=tuple(train["n_ffts"]))
    frames = round(TRAIN_SECONDS * config.sample_rate / config.hop_size)
    g = torch.Generator().manual_seed(1)
    t = torch.arange(frames) / (config.sample_rate / config.hop_size)
    f0 = 220.0 * 2 ** (torch.rand(TRAIN_BATCH, 1, generator=g) + 0.05 * torch.sin(2 * math.pi * 5 * t))
    loudness = -50.0 + 30.0 * torch.rand(TRAIN_BATCH, frames, generator=g)
    samples = frames * config.hop_size
    envelope = torch.exp(-3.0 * torch.arange(samples) / samples)
    target = 0.1 * envelope * torch.randn(TRAIN_BATCH, samples, generator=g)
    step = [0]

    def call():
        audio = model(f0, loudness, noise_seed=step[0])
        loss = loss_fn(audio, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
        optimizer.step()
        step[0] += 1
        return loss
    return call


def _timed(cases: dict, threads: int, rounds: int, warmup: int) -> dict:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return time_interleaved(cases, rounds=rounds, warmup=warmup)
    finally:
        torch.set_num_threads(previous)


def run(rounds: int = 9) -> list[dict]:
    config, train = load_config()
    infer, audio_seconds = inference_case(config)
    t_inf = _timed({"inference": infer}, threads=1, rounds=rounds, warmup=2)["inference"]
    t_train = _timed({"train_step": train_case(config, train)}, threads=2, rounds=rounds, warmup=3)["train_step"]
    return [
        {"workload": "autoencoder inference (10 s, 1 thread, no_grad)", "median_ms": t_inf["median_ms"],
         "min_ms": t_inf["min_ms"], "real_time_factor": audio_seconds / (t_inf["median_ms"] / 1e3)},
        {"workload": "autoencoder train step (8 x 1 s, 2 threads)", "median_ms": t_train["median_ms"],
         "min_ms": t_train["min_ms"], "steps_per_s": 1e3 / t_train["median_ms"]},
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed repeats per case (default: 9)")
    args = parser.parse_args()
    print(f"Machine: {machine_description()}\n")
    rows = run(args.rounds)
    print(format_table(rows, ["workload", "median_ms", "min_ms", "real_time_factor", "steps_per_s"]))
