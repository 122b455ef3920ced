"""Audio losses: waveform, single- and multi-resolution STFT, mel-scaled spectral and loudness losses.

Every loss has a function (``snake_case``) and an ``nn.Module`` wrapping it (``CamelCase``). Inputs
are ``(..., time)`` (prediction first, target second); losses are computed per item of the leading
dimensions and reduced with ``reduction="mean" | "sum" | "none"`` (:mod:`.reduction`, the checks and
reduction every loss shares). See ``docs/losses.md``.
"""

from torchddsp.functional.spectral.stft import stft_magnitude
from torchddsp.losses.loudness import LoudnessL1Loss, loudness_l1_loss
from torchddsp.losses.mel import MelMultiResolutionSTFTLoss, mel_multi_resolution_stft_loss
from torchddsp.losses.multi_resolution import MultiResolutionSTFTLoss, multi_resolution_stft_loss
from torchddsp.losses.reduction import REDUCTIONS, check_signal_pair, reduce_items
from torchddsp.losses.spectral import (
                       LinearMagnitudeDistance,
                       LogMagnitudeDistance,
                       SpectralConvergence,
                       STFTLoss,
                       STFTMagnitude,
                       linear_magnitude_distance,
                       log_magnitude_distance,
                       spectral_convergence,
                       stft_loss,
)
from torchddsp.losses.waveform import WaveformL1Loss, WaveformL2Loss, waveform_l1_loss, waveform_l2_loss

__all__ = [
    "REDUCTIONS", "check_signal_pair", "reduce_items",
    "waveform_l1_loss", "waveform_l2_loss", "WaveformL1Loss", "WaveformL2Loss",
    "stft_magnitude", "STFTMagnitude",
    "spectral_convergence", "log_magnitude_distance", "linear_magnitude_distance",
    "SpectralConvergence", "LogMagnitudeDistance", "LinearMagnitudeDistance",
    "stft_loss", "STFTLoss",
    "multi_resolution_stft_loss", "MultiResolutionSTFTLoss",
    "loudness_l1_loss", "LoudnessL1Loss",
    "mel_multi_resolution_stft_loss", "MelMultiResolutionSTFTLoss",
]
