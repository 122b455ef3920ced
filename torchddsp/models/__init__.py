"""Models: the DDSP decoder and autoencoder."""

from .autoencoder import DDSPAutoencoder, MfccEncoder, ModelConfig
from .decoder import Decoder

__all__ = ["DDSPAutoencoder", "Decoder", "MfccEncoder", "ModelConfig"]
