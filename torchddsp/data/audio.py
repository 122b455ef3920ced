"""The one audio reader and writer (WAV/FLAC/OGG/AIFF through soundfile): data preparation, the
commands, reports and tests all read and write audio here."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch

from torchddsp.checks import check_positive, check_tensor
from torchddsp.data.long_audio import release_pages
from torchddsp.files import write_atomically

__all__ = ["read_audio", "write_wav"]


WRITE_BLOCK = 1 << 20      # samples per channel checked and written at once (memory stays bounded)


def write_wav(path: str | Path | BinaryIO, audio: torch.Tensor, sample_rate: int, *, normalise: bool = False) -> None:
    """Write mono ``(time,)`` or multichannel ``(channels, time)`` audio as 16-bit PCM WAV.

    A file name is replaced atomically (``torchddsp.files.write_atomically``): a crash leaves the old
    file or the new one.

    ``path`` is a file name or a writable binary file object (e.g. ``io.BytesIO``). Values outside
    [-1, 1] are an error rather than being clipped silently; with ``normalise=True`` the audio is
    instead divided by its peak when that exceeds 1. Long audio is checked and written a block at
    a time, without a copy of the whole.
    """
    check_tensor("audio", audio, min_dim=1)
    check_positive("sample_rate", sample_rate)
    audio = audio.detach()
    time = audio.shape[-1]
    peak = 0.0
    for start in range(0, time, WRITE_BLOCK):
        block = audio[..., start:start + WRITE_BLOCK].cpu().to(torch.float64)
        if not bool(torch.isfinite(block).all()):
            raise ValueError("audio: expected finite samples, received NaN or inf")
        peak = max(peak, float(block.abs().max()) if block.numel() else 0.0)
        release_pages()                         # a scratch file's pages read so far (long outputs)
    if peak > 1.0 and not normalise:
        raise ValueError(f"audio: expected samples in [-1, 1] for WAV, received a peak of {peak:.3g} "
                         "(normalise first)")
    gain = 1.0 / peak if peak > 1.0 else 1.0
    channels = audio.shape[0] if audio.dim() == 2 else 1

    def write(target) -> None:
        with sf.SoundFile(target, "w", int(sample_rate), channels, subtype="PCM_16", format="WAV") as handle:
            for start in range(0, time, WRITE_BLOCK):
                block = audio[..., start:start + WRITE_BLOCK].cpu().to(torch.float64).numpy() * gain
                handle.write(block.T if block.ndim == 2 else block)
                release_pages()

    if not isinstance(path, (str, Path)):
        write(path)
        return
    needed = 44 + 2 * channels * time                       # a 16-bit PCM WAV: header and samples

    def write_or_say_why(temporary: Path) -> None:
        try:
            write(str(temporary))
        except sf.LibsndfileError as error:             # libsndfile says only "System error" when a write fails
            if shutil.disk_usage(temporary.parent).free < needed:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
            raise OSError(errno.EIO, f"cannot write the WAV ({error})", str(path)) from None
    write_atomically(path, write_or_say_why)


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
