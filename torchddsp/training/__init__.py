"""Training: one task-agnostic loop, the tasks it drives, layered configs, named losses, checkpoints."""

from torchddsp.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from torchddsp.training.config import RunConfig, TrainConfig, config_names, load_config
from torchddsp.training.losses import WeightedLosses, register_loss
from torchddsp.training.task import StepOutput, Task
from torchddsp.training.trainer import train

__all__ = ["RunConfig", "StepOutput", "Task", "TrainConfig", "WeightedLosses", "config_names", "latest_checkpoint",
           "load_checkpoint", "load_config", "register_loss", "save_checkpoint", "train"]
