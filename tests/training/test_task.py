"""The loop is task-agnostic: a toy task written in this file (no audio, two modules with their own
optimisers, as a GAN's generator and discriminator) trains, checkpoints both modules and resumes
exactly, through the same ``train`` that runs the DDSP autoencoder."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from torchddsp.training import latest_checkpoint, load_config, train
from torchddsp.training.losses import WeightedLosses
from torchddsp.training.task import StepOutput, Task
from torchddsp.training.tasks import TASKS
from torchddsp.training.trainer import build_task


@dataclass
class ToyModelConfig:
    width: int = 4

    @classmethod
    def from_dict(cls, values: dict) -> "ToyModelConfig":
        return cls(**values)


class ToyTask(Task):
    """Regress y = x @ w from random x; a critic learns to predict the model's error from its output."""

    name = "toy"
    model_config = ToyModelConfig
    default_losses = {"waveform_l2": {"weight": 1.0}}
    sample_rate = 1000

    def __init__(self, config, data_dir):
        super().__init__(config, data_dir)
        self.w = torch.arange(1.0, config.model.width + 1)
        self.losses = WeightedLosses(config.losses, self.sample_rate, 1)
        self.order = []

    def build_modules(self):
        width = self.config.model.width
        return {"model": torch.nn.Linear(width, 1, bias=False), "critic": torch.nn.Linear(1, 1)}

    def training_step(self, modules, step, rank, world):
        rng = np.random.default_rng([self.config.train.seed, step, rank])
        x = torch.from_numpy(rng.standard_normal((self.config.train.batch_size, self.config.model.width))).float()
        y = x @ self.w
        prediction = modules["model"](x)[:, 0]
        error = (prediction - y).detach().abs()[:, None]
        critic = ((modules["critic"](prediction.detach()[:, None]) - error) ** 2).mean()
        return StepOutput({"model": self.losses(prediction, y), "critic": {"fit": critic}})


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(TASKS, "toy", ToyTask)
    return lambda *settings: load_config(None, ["task=toy", "train.batch_size=16", "train.learning_rate=0.1",
                                                "train.threads=1", "train.checkpoint_every=5", *settings])


def rows(run_dir):
    with open(run_dir / "losses.csv", newline="") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_a_toy_task_trains_both_modules_and_checkpoints_them(toy, tmp_path):
    config = toy("train.steps=100")
    assert config.task == "toy" and config.model == ToyModelConfig() and list(config.losses) == ["waveform_l2"]
    train(tmp_path, tmp_path / "run", config, progress=False, log=lambda m: None)
    losses = rows(tmp_path / "run")
    assert len(losses) == 100 and max(losses[-5:]) < 0.01 * losses[0]
    checkpoint = latest_checkpoint(tmp_path / "run")
    assert checkpoint.name == "step_00000100"
    assert sorted(p.name for p in checkpoint.iterdir()) == ["critic.optimizer.pt", "critic.safetensors",
                                                             "model.safetensors", "optimizer.pt", "state.json"]
    weights = load_file(str(checkpoint / "model.safetensors"))["weight"]
    torch.testing.assert_close(weights[0], torch.arange(1.0, 5.0), atol=0.2, rtol=0)
    critic = load_file(str(checkpoint / "critic.safetensors"))
    initial = build_task(config, tmp_path)[1]["critic"].state_dict()
    for key in ("weight", "bias"):                                    # the critic was trained by its optimiser
        assert float((critic[key] - initial[key]).abs().max()) > 0.05, key


def test_a_toy_task_resumes_both_modules_exactly(toy, tmp_path):
    train(tmp_path, tmp_path / "full", toy("train.steps=10"), progress=False, log=lambda m: None)
    shutil.copytree(tmp_path / "full", tmp_path / "resumed")
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "step_00000010")
    (tmp_path / "resumed" / "checkpoints" / "latest").write_text("step_00000005")
    train(tmp_path, tmp_path / "resumed", toy("train.steps=10"), resume=True, progress=False, log=lambda m: None)
    assert rows(tmp_path / "resumed") == rows(tmp_path / "full")
    for name in ("model", "critic"):
        a = load_file(str(tmp_path / "full" / "checkpoints" / "step_00000010" / f"{name}.safetensors"))
        b = load_file(str(tmp_path / "resumed" / "checkpoints" / "step_00000010" / f"{name}.safetensors"))
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=0, atol=0, msg=lambda m, k=f"{name}.{key}": f"{k}: {m}")


def test_losses_for_an_unknown_module_are_refused(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(ToyTask, "training_step",
                        lambda self, modules, step, rank, world: StepOutput({"generator": {}}))
    with pytest.raises(ValueError, match=r"training_step: expected losses for 'model'.*'generator'"):
        train(tmp_path, tmp_path / "run", toy("train.steps=1"), progress=False, log=lambda m: None)
