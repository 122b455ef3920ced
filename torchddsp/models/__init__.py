"""Models: the DDSP decoder and autoencoder."""

from torchddsp.models.autoencoder import DDSPAutoencoder, MfccEncoder, ModelConfig, anchor_gain, mfcc_frames
from torchddsp.models.decoder import Decoder

__all__ = ["DDSPAutoencoder", "Decoder", "MfccEncoder", "ModelConfig", "anchor_gain", "mfcc_frames"]
