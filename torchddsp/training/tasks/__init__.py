"""Training tasks by name (the config's top-level ``task = "..."``); see ``torchddsp.training.task``.

A new task is one file here with a ``Task`` subclass, and one line in ``TASKS``.
"""

from __future__ import annotations

from torchddsp.training.task import Task
from torchddsp.training.tasks.autoencoder import AutoencoderTask

TASKS: dict[str, type[Task]] = {AutoencoderTask.name: AutoencoderTask}


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name``; a ``ValueError`` listing the tasks otherwise."""
    if name not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, received {name!r}")
    return TASKS[name]


__all__ = ["AutoencoderTask", "TASKS", "get_task"]
