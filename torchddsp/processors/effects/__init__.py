"""Effects: convolution reverb and the phaser."""

from torchddsp.processors.effects.phaser import Phaser
from torchddsp.processors.effects.reverb import Reverb

__all__ = ["Phaser", "Reverb"]
