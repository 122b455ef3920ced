"""Analysis used to condition models: f0 and voicing (YIN, CREPE, Harvest; optionally refined from
the harmonics' instantaneous frequency), A-weighted loudness,
log-mel spectrograms and MFCCs. See ``docs/features.md``.

Frame-rate outputs are ``(..., frames)`` or ``(..., frames, channels)``. f0 and loudness use
``ceil(time / hop_size)`` frames with frame ``m`` centred at sample ``m * hop_size`` (the
synthesisers' convention); mel features follow :func:`torch.stft`'s framing.
"""

from torchddsp.features.confidence import EVALUATION_F0_CONFIDENCE, F0_CONFIDENCE_THRESHOLD, confident_frames
from torchddsp.features.crepe import (
                    CREPE_CENTS,
                    CREPE_FRAME_LENGTH,
                    CREPE_SAMPLE_RATE,
                    CrepeNet,
                    crepe,
                    crepe_decode,
                    crepe_salience,
                    crepe_weights_path,
                    load_crepe,
)
from torchddsp.features.extract import F0_METHODS, extract_features, harvest
from torchddsp.features.f0_refine import refine_f0
from torchddsp.features.loudness import a_weighting, default_loudness_n_fft, loudness
from torchddsp.features.mel import dct_matrix, log_mel_spectrogram, mel_spectrogram, mfcc
from torchddsp.features.yin import (
                    PitchEstimate,
                    cumulative_mean_normalized_difference,
                    difference_function,
                    num_frames,
                    yin,
)

__all__ = [
    "PitchEstimate", "yin", "difference_function", "cumulative_mean_normalized_difference", "num_frames",
    "CrepeNet", "load_crepe", "crepe_weights_path", "crepe_salience", "crepe_decode", "crepe",
    "CREPE_CENTS", "CREPE_SAMPLE_RATE", "CREPE_FRAME_LENGTH",
    "F0_CONFIDENCE_THRESHOLD", "EVALUATION_F0_CONFIDENCE", "confident_frames",
    "harvest", "extract_features", "F0_METHODS", "refine_f0",
    "a_weighting", "loudness", "default_loudness_n_fft",
    "mel_spectrogram", "log_mel_spectrogram", "mfcc", "dct_matrix",
]
