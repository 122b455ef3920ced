"""The DDSP autoencoder task (Engel et al. 2020): resynthesise prepared recordings from their f0 and loudness.

Data: a folder written by ``torchddsp prepare`` (``PreparedDataset``); each step draws
``train.batch_size`` random crops of ``train.crop_seconds``. Model: ``DDSPAutoencoder`` built from
the ``[model]`` table, whose sample rate and hop size are replaced by the data's, with the data's
loudness statistics; with ``model.z_size > 0`` its encoder reads the MFCCs of each crop
(``mfcc_frames``). Losses: the ``[losses]`` table on the output against the recorded audio
(default: the multi-resolution STFT loss alone).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from torchddsp.data import PreparedDataset
from torchddsp.models import DDSPAutoencoder, ModelConfig
from torchddsp.models.autoencoder import mfcc_frames
from torchddsp.training.losses import WeightedLosses
from torchddsp.training.task import StepOutput, Task

# The audio of one batch, at most: 512 MiB of float32 (Engel et al.'s 16 crops of 4 s at 16 kHz are 2**20).
MAX_BATCH_SAMPLES = 2 ** 27


def noise_seed(seed: int, step: int, world: int, rank: int) -> int:
    """The synthesiser noise seed of ``step`` on ``rank`` (distinct per rank and step)."""
    return (seed * 1_000_003 + step * world + rank) % (2 ** 63)


def sample_batch(dataset: PreparedDataset, seed: int, step: int, rank: int, batch_size: int, crop_frames: int):
    """The batch of ``step`` on ``rank``: a pure function of its arguments (resumable, reproducible)."""
    return dataset.sample(np.random.default_rng([seed, step, rank]), batch_size, crop_frames)


class AutoencoderTask(Task):
    """DDSP autoencoder on a prepared folder (see the module docstring)."""

    name = "autoencoder"
    model_config = ModelConfig
    default_losses = {"multi_resolution_stft": {"weight": 1.0}}

    def __init__(self, config, data_dir: str | Path):
        super().__init__(config, data_dir)
        self.dataset = dataset = PreparedDataset(data_dir)
        try:                            # the data's rate and hop, checked like any model setting
            config.model = dataclasses.replace(config.model, sample_rate=dataset.sample_rate, hop_size=dataset.hop_size)
        except ValueError as error:
            raise ValueError(f"data_dir: the settings of {str(dataset.root / 'manifest.json')!r} do not fit the model "
                             f"({error}); prepare the audio again into a new folder") from None
        self.sample_rate = dataset.sample_rate
        self.crop_frames = max(1, round(config.train.crop_seconds * dataset.sample_rate / dataset.hop_size))
        samples = config.train.batch_size * self.crop_frames * dataset.hop_size
        if samples > MAX_BATCH_SAMPLES:
            raise ValueError(f"train.batch_size and train.crop_seconds: expected batches of at most "
                             f"{MAX_BATCH_SAMPLES} samples (batch_size * crop_seconds * sample_rate), received "
                             f"{config.train.batch_size} "
                             f"crops of {config.train.crop_seconds} s at {dataset.sample_rate} Hz ({samples} samples)")
        self.losses = WeightedLosses(config.losses, dataset.sample_rate, dataset.hop_size)

    def build_modules(self) -> dict[str, torch.nn.Module]:
        model = DDSPAutoencoder(self.config.model)
        if "loudness_mean" in self.dataset.stats:
            model.set_statistics(self.dataset.stats["loudness_mean"], self.dataset.stats["loudness_std"])
        return {"model": model}

    def training_step(self, modules, step: int, rank: int, world: int) -> StepOutput:
        train = self.config.train
        batch = sample_batch(self.dataset, train.seed, step, rank, train.batch_size, self.crop_frames)
        mfcc = mfcc_frames(batch["audio"], self.config.model) if self.config.model.z_size else None
        audio = modules["model"](batch["f0_hz"], batch["loudness_db"], mfcc,
                                 noise_seed=noise_seed(train.seed, step, world, rank))
        return StepOutput({"model": self.losses(audio, batch["audio"])},
                          {"resynthesis": audio[0].detach().clamp(-1, 1), "target": batch["audio"][0]})

    def checkpoint_state(self) -> dict:
        return {"stats": self.dataset.stats, "f0_method": self.dataset.settings["f0_method"],
                "f0_refine": self.dataset.settings.get("f0_refine", False)}
