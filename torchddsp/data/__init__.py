"""Dataset preparation and loading."""

from torchddsp.data.dataset import PreparedDataset
from torchddsp.data.prepare import find_audio_files, prepare

__all__ = ["PreparedDataset", "find_audio_files", "prepare"]
