"""Training: one task-agnostic loop, the tasks it drives, layered configs, named losses, checkpoints."""

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import RunConfig, TrainConfig, config_names, load_config
from .losses import WeightedLosses, register_loss
from .task import StepOutput, Task
from .trainer import train

__all__ = ["RunConfig", "StepOutput", "Task", "TrainConfig", "WeightedLosses", "config_names", "latest_checkpoint",
           "load_checkpoint", "load_config", "register_loss", "save_checkpoint", "train"]
