"""What the training loop trains: a *task* builds the model, its data and its losses, and defines one step.

The loop (``trainer.py``) owns everything that is the same for every system: seeding, the
learning-rate schedule, optimisers, gradient clipping, DDP, the weight average, logs, atomic
checkpoints and exact resume. A task owns the rest. Adding a system (a vocoder, a sound-matching
estimator) is one file in ``tasks/`` with a subclass of :class:`Task`, registered in
``tasks/__init__.py``.

Contract:

- ``Task(config, data_dir)`` reads the data and builds the loss terms; it may set data-dependent
  model settings on ``config.model`` (sample rate, hop size) before the config is saved.
- ``build_modules()`` returns the trained modules by name, ``"model"`` first: the one saved as
  ``model.safetensors``, averaged, and loaded for inference. Each further module (a
  discriminator) gets its own optimiser and is checkpointed beside it. The loop calls it under a
  generator seeded with ``train.seed``, so the initial weights are a function of the seed.
- ``training_step(modules, step, rank, world)`` draws the batch of ``step`` on ``rank`` as a pure
  function of ``(train.seed, step, rank)`` (exact resume depends on it) and returns a
  :class:`StepOutput`: for each module to update, in the order of the updates, its named loss
  terms (their sum is the loss it descends). ``modules`` are the loop's handles on the modules
  (wrapped in DDP when training on several processes): call these, not your own references.
- ``checkpoint_state()``: what inference needs besides the weights (dataset statistics, the f0
  tracker used), saved in ``state.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch

if TYPE_CHECKING:  # pragma: no cover
    from torchddsp.training.config import RunConfig


@dataclass
class StepOutput:
    """One training step's result.

    ``losses``: ``{module name: {term name: weighted loss}}``, the modules in the order they are
    updated. ``audio``: optional examples ``{name: (time,) tensor}`` for the TensorBoard log.
    """

    losses: dict[str, dict[str, torch.Tensor]]
    audio: dict[str, torch.Tensor] = field(default_factory=dict)


class Task:
    """Base class of training tasks (see the module docstring for the contract).

    Class attributes: ``name`` (the config's ``task = "..."``), ``model_config`` (the dataclass the
    ``[model]`` table is read into, with ``from_dict``) and ``default_losses`` (the ``[losses]``
    table used when a config gives none).
    """

    name: ClassVar[str]
    model_config: ClassVar[type]
    default_losses: ClassVar[dict]

    sample_rate: int

    def __init__(self, config: "RunConfig", data_dir: str | Path):
        self.config = config

    def build_modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def training_step(self, modules: dict[str, torch.nn.Module], step: int, rank: int, world: int) -> StepOutput:
        raise NotImplementedError

    def checkpoint_state(self) -> dict:
        return {}
