"""Spectral ops: the STFT and its inverse (one implementation, with the fused magnitude adjoint) and the mel scale
and filterbank. See ``docs/functional-spectral.md``."""

from torchddsp.functional.spectral.mel import hz_to_mel, mel_filterbank, mel_filterbank_pinv, mel_to_hz
from torchddsp.functional.spectral.stft import (
           PAD_MODES,
           STFTConfig,
           WindowSpec,
           istft,
           padding_for,
           power_spectrum,
           stft,
           stft_magnitude,
)

__all__ = ["stft", "istft", "padding_for", "stft_magnitude", "STFTConfig", "WindowSpec", "PAD_MODES", "power_spectrum",
           "hz_to_mel", "mel_to_hz", "mel_filterbank", "mel_filterbank_pinv"]
