"""Training: configuration, the training loop, atomic and safe checkpoints."""

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import RunConfig, TrainConfig, config_names, load_config
from .trainer import train

__all__ = ["RunConfig", "TrainConfig", "config_names", "latest_checkpoint", "load_checkpoint", "load_config", "save_checkpoint", "train"]
