"""Effects: convolution reverb (learned or parametric impulse responses) and the phaser."""

from torchddsp.functional.effects.phaser import phaser, phaser_exact
from torchddsp.functional.effects.reverb import convolution_reverb, exponential_decay_ir

__all__ = ["convolution_reverb", "exponential_decay_ir", "phaser", "phaser_exact"]
