"""Reference resyntheses that a trained model is scored against, by the same metrics on the same files.

- :func:`world_resynthesis`: WORLD analysis and synthesis (pyworld: harvest f0, CheapTrick spectral
  envelope, D4C aperiodicity, 5 ms frames). A classical vocoder that copies the whole spectral
  envelope of every frame: the bar a learned timbre model has to clear. M. Morise, F. Yokomori,
  K. Ozawa, "WORLD: a vocoder-based high-quality speech synthesis system for real-time
  applications", IEICE Trans. Inf. & Syst. E99-D(7), 2016.
- :func:`naive_harmonic`: the tracked f0 rendered with fixed :math:`1/k` harmonic amplitudes, scaled to
  the input's frame RMS on confidently pitched frames and silent elsewhere. The floor: what pitch
  and level alone give, with no learned timbre.

Both take mono float32 audio ``(time,)`` and return the same length.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from torchddsp.features import extract_features
from torchddsp.functional.oscillators.harmonic import harmonic_bank

__all__ = ["world_resynthesis", "naive_harmonic"]


def world_resynthesis(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """WORLD copy-synthesis of ``audio`` (needs ``pyworld``)."""
    try:
        import pyworld
    except ImportError:
        raise ValueError("world_resynthesis: needs pyworld (pip install 'setuptools<81' pyworld)") from None
    x = np.asarray(audio, dtype=np.float64)
    f0, t = pyworld.harvest(x, sample_rate, frame_period=5.0)
    envelope = pyworld.cheaptrick(x, f0, t, sample_rate)
    aperiodicity = pyworld.d4c(x, f0, t, sample_rate)
    return pyworld.synthesize(f0, envelope, aperiodicity, sample_rate, frame_period=5.0)[:len(x)].astype(np.float32)


def naive_harmonic(audio: np.ndarray, sample_rate: int, hop_size: int, f0_method: str = "yin",
                   f0_refine: bool = False, n_harmonics: int = 60) -> np.ndarray:
    """``n_harmonics`` harmonics of amplitude :math:`1/k` at the tracked f0, gain-matched to each frame's RMS."""
    frames = math.ceil(len(audio) / hop_size)
    padded = np.pad(np.asarray(audio, dtype=np.float32), (0, frames * hop_size - len(audio)))
    features = extract_features(torch.from_numpy(padded), sample_rate, hop_size, f0_method=f0_method,
                                f0_refine=f0_refine)
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float64)
    amplitudes = (1 / k).expand(frames, n_harmonics)
    unit = harmonic_bank(amplitudes[None], features["f0_hz"].double()[None, :, None], sample_rate, hop_size)[0]
    rms_target = torch.from_numpy(padded.reshape(frames, hop_size)).double().pow(2).mean(-1).sqrt()
    rms_unit = unit.reshape(frames, hop_size).pow(2).mean(-1).sqrt().clamp_min(1e-9)
    gain = (rms_target / rms_unit) * (features["f0_confidence"].double() > 0.5)
    gains = torch.cat([gain, gain[-1:]])
    t = torch.arange(hop_size, dtype=torch.float64) / hop_size
    envelope = (gains[:-1, None] + t * (gains[1:, None] - gains[:-1, None])).reshape(-1)
    return (unit * envelope).numpy()[:len(audio)].astype(np.float32)
