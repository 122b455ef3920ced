"""Training loop for the DDSP autoencoder: ``torchddsp train DATA_DIR RUN_DIR``.

Deterministic by construction, so a killed run resumes exactly where it stopped: the batch of
step ``s`` on rank ``r`` (example indices, crop offsets, synthesiser noise) is drawn from a
generator seeded with ``(seed, s, r)``, the learning rate is a function of ``s``, and the model
and optimiser states come back from the last atomic checkpoint.

Distributed data-parallel training: launch with ``torchrun --nproc_per_node N -m torchddsp
train ...``; each rank draws its own batches, gradients are averaged by PyTorch DDP (gloo
backend on CPU, NCCL on GPUs), rank 0 writes logs and checkpoints. ``train`` creates the
process group unless the caller already has, and then destroys it when it returns.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from ..data import PreparedDataset
from ..losses import LoudnessL1Loss, MultiResolutionSTFTLoss
from ..models import DDSPAutoencoder
from .averaging import weight_average
from .checkpoint import inference_weights, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import RunConfig


def _distributed() -> tuple[int, int, bool]:
    """(rank, world size, whether this call created the process group) under ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    created = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        created = True
    return (dist.get_rank(), dist.get_world_size(), created) if world > 1 else (0, 1, False)


def sample_batch(dataset: PreparedDataset, seed: int, step: int, rank: int, batch_size: int, crop_frames: int):
    """The batch of ``step`` on ``rank``: a pure function of its arguments (resumable, reproducible)."""
    return dataset.sample(np.random.default_rng([seed, step, rank]), batch_size, crop_frames)


def noise_seed(seed: int, step: int, world: int, rank: int) -> int:
    """The synthesiser noise seed of ``step`` on ``rank`` (distinct per rank and step)."""
    return (seed * 1_000_003 + step * world + rank) % (2 ** 63)


def learning_rate(config, step: int) -> float:
    return config.learning_rate * config.lr_decay_rate ** (step / config.lr_decay_steps)


def build_model(config: RunConfig, dataset: PreparedDataset) -> DDSPAutoencoder:
    """The model for ``dataset``: its sample rate and hop size override the config's."""
    config.model.sample_rate, config.model.hop_size = dataset.sample_rate, dataset.hop_size
    model = DDSPAutoencoder(config.model)
    if "loudness_mean" in dataset.stats:
        model.set_statistics(dataset.stats["loudness_mean"], dataset.stats["loudness_std"])
    return model


def _restore_average(average, checkpoint: Path, state: dict, log) -> None:
    """The weight average of ``checkpoint``, or a fresh one from the loaded weights if it kept none."""
    if state.get("averaged_steps", 0) > 0 and inference_weights(checkpoint) == "average":
        load_checkpoint(checkpoint, average.module, weights="average")
        average.n_averaged.fill_(state["averaged_steps"])
    else:
        log(f"train: {checkpoint} holds no weight average; the average starts from its weights")


def _truncate_log(path: Path, step: int) -> None:
    """Drop loss-log rows written after the checkpoint we resume from."""
    if not path.exists():
        return
    rows = list(csv.reader(path.open()))
    kept = [rows[0]] + [r for r in rows[1:] if int(r[0]) < step] if rows else []
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(kept)


def train(data_dir: str | Path, run_dir: str | Path, config: RunConfig, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Train and return ``{"step", "loss", "seconds"}``; see the module docstring."""
    rank, world, created = _distributed()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.train.threads)
    try:
        return _train(rank, world, data_dir, run_dir, config, resume, progress, log)
    finally:
        torch.set_num_threads(threads)
        if created:                              # whoever creates the process group destroys it
            dist.destroy_process_group()


def _train(rank, world, data_dir, run_dir, config, resume, progress, log) -> dict:
    run_dir = Path(run_dir)
    dataset = PreparedDataset(data_dir)
    with torch.random.fork_rng():                    # initial weights from the seed, not the global RNG
        torch.manual_seed(config.train.seed)
        model = build_model(config, dataset)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.learning_rate)
    average = weight_average(model, config.train.average_decay) if config.train.average_decay > 0 else None
    start = 0
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None and not resume:
        raise ValueError(f"run_dir: {str(run_dir)!r} already holds a checkpoint; pass --resume to continue it "
                         "or choose a new RUN_DIR")
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, model, optimizer)
        start = state["step"]
        if average is not None:
            _restore_average(average, checkpoint, state, log if rank == 0 else lambda s: None)
        if rank == 0:
            log(f"train: resuming from {checkpoint} (step {start})")
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1))
        _truncate_log(run_dir / "losses.csv", start)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    loss_fn = MultiResolutionSTFTLoss(n_ffts=tuple(config.train.n_ffts), eps=config.train.loss_eps,
                                      log_eps=config.train.loss_log_eps)
    loudness_fn = None
    if config.train.loudness_weight > 0:
        loudness_fn = LoudnessL1Loss(dataset.sample_rate, config.train.loudness_hop or dataset.hop_size,
                                     config.train.loudness_n_fft or None)
    crop_frames = max(1, round(config.train.crop_seconds * dataset.sample_rate / dataset.hop_size))
    writer = None
    if rank == 0:
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(run_dir / "logs"))
        except ImportError:                      # tensorboard is optional: the CSV log always exists
            log("train: tensorboard is not installed; logging to losses.csv only")
    bar = None
    limit = config.train.time_limit_seconds
    if progress and rank == 0:
        from tqdm import tqdm
        if limit > 0:           # a time budget: the bar counts seconds of it, the postfix the step
            bar = tqdm(total=float(limit), desc="train", unit="s",
                       bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]")
        else:
            bar = tqdm(total=config.train.steps, initial=start, desc="train", unit="step")
    losses_file = (run_dir / "losses.csv").open("a", newline="") if rank == 0 else None
    if losses_file is not None and losses_file.tell() == 0:
        csv.writer(losses_file).writerow(["step", "loss", "learning_rate"])
    began, loss_value, done = time.time(), float("nan"), start
    seed = config.train.seed
    for step in range(start, config.train.steps):
        batch = sample_batch(dataset, seed, step, rank, config.train.batch_size, crop_frames)
        lr = learning_rate(config.train, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        audio = net(batch["f0_hz"], batch["loudness_db"], noise_seed=noise_seed(seed, step, world, rank))
        loss = loss_fn(audio, batch["audio"])
        if loudness_fn is not None:
            loss = loss + config.train.loudness_weight * loudness_fn(audio, batch["audio"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
        optimizer.step()
        if average is not None:
            average.update_parameters(model)
        loss_value = float(loss.detach())
        if not np.isfinite(loss_value):
            raise RuntimeError(f"train: the loss became {loss_value} at step {step}; the last checkpoint is intact")
        if rank == 0:
            csv.writer(losses_file).writerow([step, f"{loss_value:.6f}", f"{lr:.6g}"])
            if writer is not None and step % config.train.log_every == 0:
                writer.add_scalar("loss/multi_resolution_stft", loss_value, step)
                writer.add_scalar("learning_rate", lr, step)
            if writer is not None and (step + 1) % config.train.audio_every == 0:
                writer.add_audio("audio/resynthesis", audio[0].detach().clamp(-1, 1), step, dataset.sample_rate)
                writer.add_audio("audio/target", batch["audio"][0], step, dataset.sample_rate)
            if bar is not None and limit > 0:
                bar.set_postfix(step=step + 1, loss=f"{loss_value:.3f}", refresh=False)
                bar.update(min(time.time() - began, limit) - bar.n)
            elif bar is not None:
                bar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
                bar.update(1)
        done = step + 1
        out_of_time = 0 < limit <= time.time() - began
        if world > 1:                            # every rank stops at the same step
            flag = torch.tensor(float(out_of_time))
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag > 0)
        if done % config.train.checkpoint_every == 0 or done == config.train.steps or out_of_time:
            if rank == 0:
                losses_file.flush()
                save_checkpoint(run_dir, done, model, optimizer,
                                {"config": config.to_dict(), "stats": dataset.stats, "world_size": world,
                                 "f0_method": dataset.settings["f0_method"],
                                 "f0_refine": dataset.settings.get("f0_refine", False),
                                 "averaged_steps": int(average.n_averaged) if average is not None else 0},
                                average=average.module if average is not None else None)
            if world > 1:
                dist.barrier()
        if out_of_time:
            if rank == 0:
                log(f"train: time limit of {limit:.0f} s reached at step {done}")
            break
    if bar is not None:
        bar.close()
    if losses_file is not None:
        losses_file.close()
    if writer is not None:
        writer.close()
    return {"step": done, "loss": loss_value,
            "seconds": time.time() - began}
