"""torchddsp: differentiable digital signal processing for music and speech synthesis in PyTorch."""

__version__ = "0.1.0"
