"""Checkpoints written atomically and loaded safely.

A checkpoint is a folder ``RUN_DIR/checkpoints/step_XXXXXXXX/`` holding

- ``model.safetensors``: the model weights and buffers (safetensors: no code can hide in it);
- ``average.safetensors`` (when training keeps one): the moving average of the weights, which
  inference uses (``inference_weights``);
- ``optimizer.pt``: the optimiser state, loaded with ``torch.load(weights_only=True)``, which
  refuses any pickle that would construct arbitrary objects or run code;
- ``state.json``: step, configuration and dataset statistics (plain JSON). No RNG state is
  needed: the trainer draws every batch and noise signal from generators seeded by the step.

It is written into a temporary folder and renamed into place (an atomic operation on one file
system), then ``RUN_DIR/checkpoints/latest`` is replaced atomically to name it. A run killed at
any moment therefore leaves either the previous checkpoint or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .._checks import check_choice


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _tensors(module: torch.nn.Module) -> dict:
    return {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}


def save_checkpoint(run_dir: str | Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict, keep: int = 3, average: torch.nn.Module | None = None) -> Path:
    """Write checkpoint ``step`` atomically and keep the ``keep`` most recent ones.

    ``average``: a module of the model's architecture holding averaged weights, saved beside them.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp_"))
    try:
        save_file(_tensors(model), str(tmp / "model.safetensors"))
        if average is not None:
            save_file(_tensors(average), str(tmp / "average.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step}))
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _write_text_atomic(root / "latest", final.name)
    older = sorted(p for p in root.glob("step_*") if p != final)
    for old in older[:max(len(older) - (keep - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    root = Path(run_dir) / "checkpoints"
    pointer = root / "latest"
    if not pointer.exists():
        return None
    path = root / pointer.read_text().strip()
    return path if path.exists() else None


def inference_weights(path: str | Path) -> str:
    """``"average"`` if the checkpoint holds averaged weights, else ``"model"``: what inference loads."""
    return "average" if (Path(path) / "average.safetensors").exists() else "model"


def load_checkpoint(path: str | Path, model: torch.nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None, weights: str = "model") -> dict:
    """Load weights into ``model`` and state into ``optimizer`` (either may be ``None``); return ``state.json``.

    ``weights``: ``"model"`` (the trained weights) or ``"average"`` (their moving average).
    Raises ``ValueError`` naming the file when it is missing or not a safe checkpoint.
    """
    path = Path(path)
    check_choice("weights", weights, ("model", "average"))
    file, opt, meta = path / f"{weights}.safetensors", path / "optimizer.pt", path / "state.json"
    for f in (file, meta):
        if not f.exists():
            raise ValueError(f"checkpoint: expected {f} to exist, it does not")
    state = json.loads(meta.read_text())
    if model is not None:
        try:
            model.load_state_dict(load_file(str(file)))
        except Exception as error:          # a truncated or foreign file, or weights of another model
            raise ValueError(f"checkpoint: cannot load {file} ({type(error).__name__}: {error})") from error
    if optimizer is not None:
        try:
            optimizer.load_state_dict(torch.load(opt, map_location="cpu", weights_only=True))
        except Exception as error:          # an unsafe pickle is refused here, never executed
            raise ValueError(f"checkpoint: {opt} is not a safe optimiser state ({type(error).__name__}: {error})") from error
    return state
