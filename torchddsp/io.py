"""Reading and writing audio files (WAV/FLAC/OGG through soundfile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ._checks import check_positive, check_tensor


def write_wav(path: str | Path, audio: torch.Tensor, sample_rate: int) -> None:
    """Write mono ``(time,)`` or multichannel ``(channels, time)`` audio as 16-bit PCM WAV.

    Values outside [-1, 1] are an error rather than being clipped silently.
    """
    check_tensor("audio", audio, min_dim=1)
    check_positive("sample_rate", sample_rate)
    data = audio.detach().cpu().to(torch.float64).numpy()
    if not np.isfinite(data).all():
        raise ValueError("audio: expected finite samples, received NaN or inf")
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak > 1.0:
        raise ValueError(f"audio: expected samples in [-1, 1] for WAV, received a peak of {peak:.3g} "
                         "(normalise first)")
    sf.write(str(path), data.T if data.ndim == 2 else data, int(sample_rate), subtype="PCM_16")


def read_audio(path: str | Path) -> tuple[torch.Tensor, int]:
    """Read an audio file as float32 ``(channels, time)`` and its sample rate."""
    data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(sample_rate)
