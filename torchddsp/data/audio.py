"""The one audio reader and writer (WAV/FLAC/OGG/AIFF through soundfile): data preparation, the
commands, reports and tests all read and write audio here."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch

from torchddsp.checks import check_positive, check_tensor
from torchddsp.files import write_atomically

__all__ = ["read_audio", "write_wav"]


def write_wav(path: str | Path | BinaryIO, audio: torch.Tensor, sample_rate: int) -> None:
    """Write mono ``(time,)`` or multichannel ``(channels, time)`` audio as 16-bit PCM WAV.

    A file name is replaced atomically (``torchddsp.files.write_atomically``): a crash leaves the old
    file or the new one.

    ``path`` is a file name or a writable binary file object (e.g. ``io.BytesIO``). Values outside
    [-1, 1] are an error rather than being clipped silently.
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
    frames = data.T if data.ndim == 2 else data
    if isinstance(path, (str, Path)):
        write_atomically(path, lambda temporary: sf.write(str(temporary), frames, int(sample_rate), format="WAV",
                                                          subtype="PCM_16"))
    else:
        sf.write(path, frames, int(sample_rate), format="WAV", subtype="PCM_16")


def read_audio(path: str | Path, *, mono: bool = False) -> tuple[torch.Tensor, int]:
    """Read an audio file: float32 ``(channels, time)`` (``mono=True``: the channels' mean, ``(time,)``)
    and its sample rate in Hz.

    Raises ``ValueError`` naming the file when it cannot be read (missing, corrupt, unsupported).
    """
    try:
        data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for missing, corrupt or unsupported files
        raise ValueError(f"path: unreadable audio file {str(path)!r} ({type(error).__name__}: {error})") from None
    audio = torch.from_numpy(np.ascontiguousarray(data.T))
    return (audio.mean(dim=0) if mono else audio), int(sample_rate)
