"""Checkpoints written atomically and loaded safely.

A checkpoint is a folder ``RUN_DIR/checkpoints/step_XXXXXXXX/`` holding

- ``model.safetensors``: the model weights and buffers (safetensors: no code can hide in it);
- ``average.safetensors`` (when training keeps one): the moving average of the weights, which
  inference uses (``inference_weights``);
- ``optimizer.pt``: the optimiser state, loaded with ``torch.load(weights_only=True)``, which
  refuses any pickle that would construct arbitrary objects or run code;
- ``NAME.safetensors`` and ``NAME.optimizer.pt`` for each further module a task trains with its
  own optimiser (a discriminator), ``extras`` below;
- ``state.json``: step, configuration and dataset statistics (plain JSON). No RNG state is
  needed: the trainer draws every batch and noise signal from generators seeded by the step.

It is written into a temporary folder and renamed into place (an atomic operation on one file
system), then ``RUN_DIR/checkpoints/latest`` is replaced atomically to name it (written to a
temporary file, then renamed over the old pointer: a reader sees the old name or the new one,
never a partial one). A run killed at any moment therefore leaves either the previous checkpoint
or the new one, never a torn one. Should the pointer still be unreadable (empty, torn by a copy,
naming a folder that is gone), ``latest_checkpoint`` falls back to the newest complete
``step_*`` folder.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from torchddsp.checks import check_choice
from torchddsp.files import usual_mode, write_text_atomically

STEP_NAME = re.compile(r"step_(\d{8,})")


def _tensors(module: torch.nn.Module) -> dict:
    return {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}


def _write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` with Python's file I/O, so that a full disk is an ``OSError`` (ENOSPC) that the commands
    report in one line; ``torch.save`` and safetensors' ``save_file`` raise ``RuntimeError`` or their own error."""
    with open(path, "wb") as handle:
        handle.write(data)


def _save_object(value, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    _write_bytes(path, buffer.getvalue())


def _check_extras(extras: dict) -> None:
    for name in extras:
        if name in ("model", "average", "optimizer", "state") or not name.isidentifier():
            raise ValueError(f"extras: expected module names other than model, average, optimizer and state, "
                             f"received {name!r}")


def save_checkpoint(run_dir: str | Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict, keep: int = 3, average: torch.nn.Module | None = None,
                    extras: dict | None = None) -> Path:
    """Write checkpoint ``step`` atomically and keep the ``keep`` most recent ones.

    ``average``: a module of the model's architecture holding averaged weights, saved beside them.
    ``extras``: ``{name: (module, optimizer)}`` for further trained modules, saved as
    ``NAME.safetensors`` and ``NAME.optimizer.pt``.
    """
    extras = extras or {}
    _check_extras(extras)
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp_"))
    try:
        _write_bytes(tmp / "model.safetensors", save(_tensors(model)))
        if average is not None:
            _write_bytes(tmp / "average.safetensors", save(_tensors(average)))
        _save_object(optimizer.state_dict(), tmp / "optimizer.pt")
        for name, (module, module_optimizer) in extras.items():
            _write_bytes(tmp / f"{name}.safetensors", save(_tensors(module)))
            _save_object(module_optimizer.state_dict(), tmp / f"{name}.optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step}))
        for f in tmp.iterdir():
            with open(f, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(f, usual_mode())              # a checkpoint holds ordinary files, whatever wrote them
        os.chmod(tmp, usual_mode(directory=True))  # and mkdtemp makes the folder 0700
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    write_text_atomically(root / "latest", final.name)
    older = [p for p in _complete_checkpoints(root) if p != final]
    for old in older[:max(len(older) - (keep - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_stale_temporaries(run_dir: str | Path) -> list[Path]:
    """Delete what killed writes left in ``RUN_DIR/checkpoints``: ``.tmp_*`` folders and ``.latest.*`` files.

    Call it when no other process writes the run (the trainer does, before its first step).
    Returns what was removed.
    """
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    stale = [p for p in root.iterdir() if p.name.startswith((".tmp_", ".latest."))]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


def _complete_checkpoints(root: Path) -> list[Path]:
    """The ``step_*`` folders under ``root`` that hold weights and state, oldest step first."""
    found = [(int(m.group(1)), p) for p in root.glob("step_*") if (m := STEP_NAME.fullmatch(p.name))
             and (p / "state.json").is_file() and (p / "model.safetensors").is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint ``RUN_DIR/checkpoints/latest`` names, or ``None`` when the run has none.

    When the pointer is missing, empty, torn or names a folder that is not a complete checkpoint,
    the newest complete ``step_*`` folder is returned instead (``None`` if there is none).
    """
    root = Path(run_dir) / "checkpoints"
    pointer = root / "latest"
    complete = _complete_checkpoints(root)
    name = pointer.read_text().strip() if pointer.is_file() else ""
    if STEP_NAME.fullmatch(name) and root / name in complete:
        return root / name
    return complete[-1] if complete else None


def inference_weights(path: str | Path) -> str:
    """``"average"`` if the checkpoint holds averaged weights, else ``"model"``: what inference loads."""
    return "average" if (Path(path) / "average.safetensors").exists() else "model"


def _load_weights(module: torch.nn.Module, file: Path) -> None:
    if not file.exists():
        raise ValueError(f"checkpoint: expected {file} to exist, it does not")
    try:
        module.load_state_dict(load_file(str(file)))
    except Exception as error:              # a truncated or foreign file, or weights of another model
        raise ValueError(f"checkpoint: cannot load {file} ({type(error).__name__}: {error})") from error


def _load_optimizer(optimizer: torch.optim.Optimizer, file: Path) -> None:
    try:
        with warnings.catch_warnings():     # torch warns of a raw pickle's protocol: the refusal below says it all
            warnings.simplefilter("ignore")
            optimizer.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    except Exception as error:              # an unsafe pickle is refused here, never executed
        # PyTorch's own message suggests weights_only=False, the unsafe way: keep only the line saying what it met.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        facts = [line for line in lines if "weights_only" not in line and "Weights only" not in line]
        reason = facts[0] if facts else type(error).__name__
        raise ValueError(f"checkpoint: {file} is not a safe optimiser state ({reason}); it was not loaded. "
                         "Use checkpoints written by torchddsp from a source you trust") from None


def read_state(path: str | Path) -> dict:
    """A checkpoint's ``state.json``, checked to be a table with its ``step``.

    Raises ``ValueError`` naming the file when it is unreadable, not JSON or not of that shape.
    """
    meta = Path(path) / "state.json"
    try:
        state = json.loads(meta.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"checkpoint: unreadable {str(meta)!r} ({type(error).__name__}: {error})") from None
    step = state.get("step") if isinstance(state, dict) else None
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < 2 ** 63:
        raise ValueError(f"checkpoint: {str(meta)!r} is not a checkpoint state (expected a table with a step in "
                         "[0, 2**63)), "
                         f"received {str(state)[:80]!r}")
    return state


def load_checkpoint(path: str | Path, model: torch.nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None, weights: str = "model",
                    extras: dict | None = None) -> dict:
    """Load weights into ``model`` and state into ``optimizer`` (either may be ``None``); return ``state.json``.

    ``weights``: ``"model"`` (the trained weights) or ``"average"`` (their moving average).
    ``extras``: ``{name: (module, optimizer)}`` as saved by ``save_checkpoint``.
    Raises ``ValueError`` naming the file when it is missing or not a safe checkpoint.
    """
    path = Path(path)
    check_choice("weights", weights, ("model", "average"))
    extras = extras or {}
    _check_extras(extras)
    file, meta = path / f"{weights}.safetensors", path / "state.json"
    for f in (file, meta):
        if not f.exists():
            raise ValueError(f"checkpoint: expected {f} to exist, it does not")
    state = read_state(path)
    if model is not None:
        _load_weights(model, file)
    if optimizer is not None:
        _load_optimizer(optimizer, path / "optimizer.pt")
    for name, (module, module_optimizer) in extras.items():
        _load_weights(module, path / f"{name}.safetensors")
        _load_optimizer(module_optimizer, path / f"{name}.optimizer.pt")
    return state
