"""Dataset preparation and loading."""

from .dataset import PreparedDataset
from .prepare import find_audio_files, prepare

__all__ = ["PreparedDataset", "find_audio_files", "prepare"]
