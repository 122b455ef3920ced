"""Training: configuration, the training loop, atomic and safe checkpoints."""

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import RunConfig, TrainConfig, load_config
from .trainer import train

__all__ = ["RunConfig", "TrainConfig", "latest_checkpoint", "load_checkpoint", "load_config", "save_checkpoint", "train"]
