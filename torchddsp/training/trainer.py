"""The training loop, the same for every task: ``torchddsp train DATA_DIR RUN_DIR``.

The config's task (``tasks/``, e.g. the DDSP autoencoder) builds the modules, data and losses and
computes each step's loss terms; this loop does the rest: seeded initial weights, one Adam
optimiser per module with the learning-rate schedule, gradient clipping, the weight average,
TensorBoard and ``losses.csv`` logs, a progress bar, atomic checkpoints and DDP.

Deterministic by construction, so a killed run resumes exactly where it stopped: the task draws
the batch of step ``s`` on rank ``r`` (example indices, crop offsets, synthesiser noise) from a
generator seeded with ``(seed, s, r)``, the learning rate is a function of ``s``, and the modules'
and optimisers' states come back from the last atomic checkpoint. ``losses.csv`` has one row per
step ``s`` (the loss that took the weights from step ``s`` to ``s + 1``); on resume from the
checkpoint of step ``k`` the rows of steps ``>= k``, which a crash may have flushed, are dropped.

Distributed data-parallel training: launch with ``torchrun --nproc_per_node N -m torchddsp
train ...``; each rank draws its own batches, gradients are averaged by PyTorch DDP (gloo
backend on CPU, NCCL on GPUs), rank 0 writes logs and checkpoints. ``train`` creates the
process group unless the caller already has, and then destroys it when it returns.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from torchddsp.files import check_output_folder, remove_temporaries, write_text_atomically
from torchddsp.training.averaging import weight_average
from torchddsp.training.checkpoint import (
    inference_weights,
    latest_checkpoint,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from torchddsp.training.config import RunConfig
from torchddsp.training.task import Task
from torchddsp.training.tasks import get_task


def _distributed() -> tuple[int, int, bool]:
    """(rank, world size, whether this call created the process group) under ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    created = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        created = True
    return (dist.get_rank(), dist.get_world_size(), created) if world > 1 else (0, 1, False)


def learning_rate(config, step: int) -> float:
    return config.learning_rate * config.lr_decay_rate ** (step / config.lr_decay_steps)


def build_task(config: RunConfig, data_dir: str | Path) -> tuple[Task, dict[str, torch.nn.Module]]:
    """The config's task on ``data_dir`` and its modules, initialised from ``train.seed`` (not the global RNG)."""
    task = get_task(config.task)(config, data_dir)
    with torch.random.fork_rng():
        torch.manual_seed(config.train.seed)
        modules = task.build_modules()
    if not modules or next(iter(modules)) != "model":
        raise ValueError(f"task {config.task}: build_modules must return the trained modules with 'model' first, "
                         f"received {list(modules)}")
    return task, modules


def _restore_average(average, checkpoint: Path, state: dict, log) -> None:
    """The weight average of ``checkpoint``, or a fresh one from the loaded weights if it kept none."""
    if state.get("averaged_steps", 0) > 0 and inference_weights(checkpoint) == "average":
        load_checkpoint(checkpoint, average.module, weights="average")
        average.n_averaged.fill_(state["averaged_steps"])
    else:
        log(f"train: {checkpoint} holds no weight average; the average starts from its weights")


# Settings a resumed run may change: how long it runs and how it reports, not what it computes.
RESUMABLE_SETTINGS = ("train.steps", "train.time_limit_seconds", "train.threads", "train.checkpoint_every",
                      "train.log_every", "train.audio_every")


def _flat(table: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_run_dir(run_dir: Path, checkpoint: Path | None, resume: bool, config: RunConfig) -> None:
    """The run folder's state machine: a new run needs a folder without a run, a resume needs a checkpoint
    and the same settings (other than ``RESUMABLE_SETTINGS``). Raises ``ValueError`` saying what to do."""
    if checkpoint is not None and not resume:
        raise ValueError(f"run_dir: {str(run_dir)!r} already holds a checkpoint; pass --resume to continue it "
                         "or choose a new RUN_DIR")
    if checkpoint is None:
        if resume:
            raise ValueError(f"run_dir: nothing to resume in {str(run_dir)!r} (no complete checkpoint); check the "
                             "path, or leave out --resume to start a new run there")
        leftovers = [name for name in ("losses.csv", "checkpoints") if (run_dir / name).exists()]
        if leftovers:
            raise ValueError(f"run_dir: {str(run_dir)!r} holds a run without a complete checkpoint "
                             f"({', '.join(leftovers)}); choose a new RUN_DIR, or delete that one to start again")
        return
    saved_file = run_dir / "config.json"
    try:
        saved = json.loads(saved_file.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"run_dir: cannot read the run's settings {str(saved_file)!r} ({error}); "
                         "they are needed to resume it") from None
    if not isinstance(saved, dict):
        raise ValueError(f"run_dir: the run's settings {str(saved_file)!r} are not a table, received "
                         f"{str(saved)[:80]!r}; they are needed to resume it")
    saved = _flat(saved)
    wanted = _flat(json.loads(json.dumps(config.to_dict())))
    # Keys of one side only are a layout change between versions (an older run's config), not a new setting.
    changed = [f"{key} {saved[key]!r} -> {wanted[key]!r}" for key in sorted(set(saved) & set(wanted))
               if key not in RESUMABLE_SETTINGS and saved[key] != wanted[key]]
    if changed:
        raise ValueError(f"config: resuming {str(run_dir)!r} with different settings ({'; '.join(changed)}); "
                         f"use the run's own settings (only {', '.join(RESUMABLE_SETTINGS)} may change) "
                         "or start a new RUN_DIR")


LOG_HEADER = ["step", "loss", "learning_rate"]


def _check_apart(data_dir: Path, run_dir: Path) -> None:
    """A run is written beside its data, never into the data folder itself (two arguments mixed up)."""
    check_output_folder("run_dir", run_dir)
    if Path(run_dir).resolve() == Path(data_dir).resolve():
        raise ValueError(f"run_dir: {str(run_dir)!r} is the data_dir; choose a RUN_DIR of its own, not the folder "
                         "the data is read from")


def _truncate_log(path: Path, step: int) -> None:
    """Keep the loss-log rows of steps before the checkpoint we resume from, rewritten atomically.

    Rows written after the checkpoint go, and so do blank or torn rows (a crash mid-write)."""
    if not path.exists():
        return
    with path.open(newline="", errors="replace") as f:      # a log overwritten with junk is cut, not fatal
        rows = list(csv.reader(line.replace("\0", "") for line in f))
    header = LOG_HEADER
    kept = [r for r in rows[1:] if len(r) == len(header) and r[0].isdigit() and int(r[0]) < step]
    text = io.StringIO()
    csv.writer(text).writerows([header, *kept])
    write_text_atomically(path, text.getvalue())


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
    asked = _flat(json.loads(json.dumps(config.to_dict())))
    task, modules = build_task(config, data_dir)
    taken = _flat(json.loads(json.dumps(config.to_dict())))
    if rank == 0:                     # settings the data decides (e.g. the model's rate and hop): say so
        for key in sorted(k for k in asked.keys() & taken.keys() if asked[k] != taken[k]):
            log(f"train: {key} = {taken[key]!r} from the prepared data (the config said {asked[key]!r})")
    _check_apart(data_dir, run_dir)
    model = modules["model"]
    optimizers = {name: torch.optim.Adam(module.parameters(), lr=config.train.learning_rate)
                  for name, module in modules.items()}
    extras = {name: (modules[name], optimizers[name]) for name in modules if name != "model"}
    average = weight_average(model, config.train.average_decay) if config.train.average_decay > 0 else None
    start = 0
    checkpoint = latest_checkpoint(run_dir)
    check_run_dir(run_dir, checkpoint, resume, config)
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, model, optimizers["model"], extras=extras)
        start = state["step"]
        if average is not None:
            _restore_average(average, checkpoint, state, log if rank == 0 else lambda s: None)
        if rank == 0:
            log(f"train: resuming from {checkpoint} (step {start})")
    if rank == 0:
        for path in remove_stale_temporaries(run_dir) + remove_temporaries(run_dir):
            log(f"train: removed {path}, left by an interrupted write")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomically(run_dir / "config.json", json.dumps(config.to_dict(), indent=1))
        _truncate_log(run_dir / "losses.csv", start)
    wrapped = {name: torch.nn.parallel.DistributedDataParallel(module) if world > 1 else module
               for name, module in modules.items()}
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
        csv.writer(losses_file).writerow(LOG_HEADER)
    began, loss_value, done = time.time(), float("nan"), start
    for step in range(start, config.train.steps):
        lr = learning_rate(config.train, step)
        for optimizer in optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = lr
        output = task.training_step(wrapped, step, rank, world)
        totals = _update(output.losses, modules, optimizers, config.train.grad_clip, step)
        if average is not None:
            average.update_parameters(model)
        loss_value = totals["model"]
        if rank == 0:
            csv.writer(losses_file).writerow([step, f"{loss_value:.6f}", f"{lr:.6g}"])
            if writer is not None and step % config.train.log_every == 0:
                for name, terms in output.losses.items():
                    writer.add_scalar(f"{name}/loss", totals[name], step)
                    for term, value in terms.items():
                        writer.add_scalar(f"{name}/{term}", float(value.detach()), step)
                writer.add_scalar("learning_rate", lr, step)
            if writer is not None and (step + 1) % config.train.audio_every == 0:
                for name, audio in output.audio.items():
                    writer.add_audio(f"audio/{name}", audio, step, task.sample_rate)
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
                save_checkpoint(run_dir, done, model, optimizers["model"],
                                {"config": config.to_dict(), **task.checkpoint_state(), "world_size": world,
                                 "averaged_steps": int(average.n_averaged) if average is not None else 0},
                                average=average.module if average is not None else None, extras=extras)
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


def _update(losses: dict, modules: dict, optimizers: dict, grad_clip: float, step: int) -> dict[str, float]:
    """One optimiser step per module named in ``losses``, in its order; ``{module: its summed loss}``.

    Each module descends the sum of its terms, its gradient norm clipped to ``grad_clip``.
    """
    if "model" not in losses or not set(losses) <= set(modules):
        raise ValueError(f"training_step: expected losses for 'model' and any of {list(modules)}, "
                         f"received {list(losses)}")
    totals = {}
    for name, terms in losses.items():
        values = list(terms.values())
        total = values[0]
        for value in values[1:]:
            total = total + value
        optimizers[name].zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(modules[name].parameters(), grad_clip)
        optimizers[name].step()
        totals[name] = float(total.detach())
        if not np.isfinite(totals[name]):
            raise FloatingPointError(f"train: the {name} loss became {totals[name]} at step {step}; "
                               "the last checkpoint is intact")
    return totals
