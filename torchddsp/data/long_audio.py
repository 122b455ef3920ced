"""Long recordings in bounded memory: read, resample and analyse them a chunk at a time.

An hour of audio at 44.1 kHz is 635 MB of float32 samples before any analysis, and its STFTs,
CREPE frames and harmonic banks are many times that. ``prepare``, ``resynth``, ``transfer`` and
``evaluate`` therefore never hold a whole long recording in memory:

1. :func:`resample_into` reads the source ``CHUNK_SECONDS`` at a time (mixed to mono) and
   resamples each chunk together with the few samples on each side that the resampler's filter
   reaches, writing the result into a float32 array: in memory for short recordings, a temporary
   file on disk (:func:`scratch_array`) for long ones. Chunks start at multiples of the
   resampling ratio's denominator, so every output sample is computed from exactly the same
   input samples as :func:`~torchddsp.functional.core.resample.resample` of the whole recording
   (the same numbers, bit for bit).
2. :func:`features_in_chunks` runs a feature extractor on chunks of that array, each with
   ``CONTEXT_SECONDS`` of audio on both sides (more than every analysis window reaches: CREPE's
   64 ms, YIN's two periods of its lowest f0, the loudness FFT's 128 ms, the f0 refiner's
   periods), and keeps the chunk's own frames. Frame-local analyses (YIN, CREPE, loudness, the
   refiner) then give the frames of the whole-recording analysis; pyworld's harvest, which fills
   unvoiced gaps by interpolating across the whole recording, can differ in unvoiced gaps longer
   than the context.

Peak memory then grows with the frame-rate features (16 bytes per frame: 14 MB for an hour at
250 frames per second) and not with the audio. The scratch files live in the system's temporary
folder (``$TMPDIR``), take 4 bytes per sample, and vanish when their array is released, even if the
process is killed (they are unlinked as soon as they are created).
"""

from __future__ import annotations

import math
import mmap
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch

from torchddsp.files import reserve_space
from torchddsp.functional.core.resample import resample, resampling_ratio

__all__ = ["CHUNK_SECONDS", "CONTEXT_SECONDS", "MonoSource", "open_mono", "scratch_array", "release_pages",
           "resampled_length",
           "resample_into",
           "features_in_chunks"]

CHUNK_SECONDS = 30.0          # audio analysed or rendered at once
CONTEXT_SECONDS = 1.0         # analysed on both sides of a chunk, more than any analysis window reaches
IN_MEMORY_BYTES = 64 << 20    # scratch arrays up to this size stay in memory


@dataclass
class MonoSource:
    """A recording read a segment at a time: ``read(start, stop)`` -> float32 mono samples
    ``[start, stop)`` (clipped to the recording), ``length`` samples at ``sample_rate`` Hz."""

    read: Callable[[int, int], np.ndarray]
    length: int
    sample_rate: int
    name: str


def open_mono(source: str | Path | np.ndarray | torch.Tensor, sample_rate: int | None = None) -> MonoSource:
    """A :class:`MonoSource` over an audio file (any format soundfile reads; ``sample_rate`` from the
    file) or over an array ``(time,)`` / ``(channels, time)`` at ``sample_rate`` Hz.

    Raises ``ValueError`` naming the file when it cannot be read.
    """
    if isinstance(source, (np.ndarray, torch.Tensor)):
        array = source.detach().cpu().numpy() if isinstance(source, torch.Tensor) else source
        if sample_rate is None:
            raise ValueError("sample_rate: expected the rate of the audio array in Hz, received None")
        if array.ndim not in (1, 2) or not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"audio: expected real floating samples (time,) or (channels, time), received dtype "
                             f"{array.dtype}, shape {array.shape}")

        def read_array(start: int, stop: int) -> np.ndarray:
            part = array[..., max(start, 0):stop]
            return (part.mean(axis=0) if part.ndim == 2 else part).astype(np.float32)
        return MonoSource(read_array, array.shape[-1], int(sample_rate), "audio")
    path = str(source)
    try:
        info = sf.info(path)
    except Exception as error:   # soundfile raises several types for missing, corrupt or unsupported files
        raise ValueError(f"path: unreadable audio file {path!r} ({type(error).__name__}: {error})") from None

    def read_file(start: int, stop: int) -> np.ndarray:
        start = max(start, 0)
        try:
            with sf.SoundFile(path) as handle:
                handle.seek(start)
                block = handle.read(max(0, min(stop, info.frames) - start), dtype="float32", always_2d=True)
        except Exception as error:
            raise ValueError(f"path: unreadable audio file {path!r} ({type(error).__name__}: {error})") from None
        return block.mean(axis=1, dtype=np.float32)
    return MonoSource(read_file, int(info.frames), int(info.samplerate), path)


_SCRATCH: list[weakref.ref] = []       # the scratch arrays mapped onto files (dead references pruned)


def scratch_array(length: int) -> np.ndarray:
    """A zeroed float32 array of ``length`` samples: in memory up to 64 MB, beyond that mapped onto an
    unlinked temporary file (freed when the array is released, even after a crash), its disk space
    reserved up front (``OSError`` when there is not enough)."""
    if 4 * length <= IN_MEMORY_BYTES:
        return np.zeros(length, dtype=np.float32)
    with tempfile.TemporaryFile(prefix="torchddsp-") as handle:
        try:
            reserve_space(handle.fileno(), 4 * length)
        except OSError as error:
            raise OSError(error.errno, f"{error.strerror} (scratch space for a long recording, "
                          f"{4 * length >> 20} MB; set TMPDIR to a folder with room)", tempfile.gettempdir()) from None
        array = np.memmap(handle, dtype=np.float32, mode="w+", shape=(length,))
    _SCRATCH[:] = [ref for ref in _SCRATCH if ref() is not None] + [weakref.ref(array)]
    return array


def release_pages(*arrays: np.ndarray) -> None:
    """Hand the pages of file-mapped arrays back to the system (they stay in its file cache).

    A mapped page that was read or written counts in the process's resident memory until the
    mapping goes, so a long loop over a mapped array would grow to its whole size. The chunked
    loops call this after each chunk for ``arrays`` and every live :func:`scratch_array`: dirty
    pages are written back (``msync``), then dropped from the mapping (``madvise(MADV_DONTNEED)``,
    where the platform has it); the next access reads them back from the file cache.
    """
    for array in (*arrays, *(ref() for ref in _SCRATCH)):
        mapping = getattr(array, "_mmap", None)
        if isinstance(array, np.memmap) and mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            if array.mode != "r":
                mapping.flush()
            mapping.madvise(mmap.MADV_DONTNEED)


def resampled_length(source: MonoSource, sample_rate: int) -> int:
    """Samples of ``source`` at ``sample_rate``: ``ceil(length * up / down)``, as :func:`resample` gives."""
    up, down = resampling_ratio(source.sample_rate, sample_rate)
    return -(-source.length * up // down)


def resample_into(source: MonoSource, sample_rate: int, out: np.ndarray | None = None,
                  chunk_seconds: float | None = None) -> tuple[np.ndarray, float]:
    """Resample ``source`` to ``sample_rate`` a chunk at a time; returns ``(audio, source_peak)``.

    ``out``: a float32 array of at least :func:`resampled_length` samples to fill (the rest is left
    as it is); default a :func:`scratch_array` of that length. ``source_peak`` is the largest
    absolute source sample. Raises ``ValueError`` on an empty recording or one holding NaN or
    infinite samples (a reason to skip it). ``chunk_seconds``: default ``CHUNK_SECONDS``.
    """
    chunk_seconds = CHUNK_SECONDS if chunk_seconds is None else chunk_seconds
    if source.length == 0:
        raise ValueError("empty (no samples)")
    up, down = resampling_ratio(source.sample_rate, sample_rate)
    length = resampled_length(source, sample_rate)
    out = scratch_array(length) if out is None else out
    # The filter spans 20 max(up, down) + 1 upsampled taps: half of it, in source samples, is reached.
    context = down * math.ceil((10 * max(up, down) / up + 2) / down)
    chunk = down * max(1, round(chunk_seconds * source.sample_rate / down))
    peak = 0.0
    for start in range(0, source.length, chunk):
        stop = min(start + chunk, source.length)
        first = max(0, start - context)
        segment = source.read(first, min(stop + context, source.length))
        if not np.isfinite(segment).all():
            raise ValueError("contains NaN or infinite samples")
        core = segment[start - first:stop - first]
        peak = max(peak, float(np.abs(core).max()))
        converted = resample(segment.astype(np.float64), source.sample_rate, sample_rate)
        begin, end = start * up // down, min(length, -(-stop * up // down))
        offset = first * up // down
        out[begin:end] = converted[begin - offset:end - offset]
        release_pages(out)
    return out, peak


def features_in_chunks(extract: Callable[[torch.Tensor], dict], audio: np.ndarray, sample_rate: int, hop_size: int,
                       chunk_seconds: float | None = None, context_seconds: float | None = None
                       ) -> dict[str, np.ndarray]:
    """Frame-rate features of ``audio`` ``(time,)``, extracted a chunk at a time (see the module docstring).

    ``extract(segment)`` maps a float32 tensor ``(time,)`` to a dict of ``(ceil(time / hop_size),)``
    or ``(ceil(time / hop_size), size)`` arrays or tensors, frame ``m`` centred at sample
    ``m * hop_size``. Returns each of them as a float32 array of ``ceil(len(audio) / hop_size)``
    frames (and ``size`` values per frame). ``chunk_seconds`` and
    ``context_seconds``: default ``CHUNK_SECONDS`` and ``CONTEXT_SECONDS``.
    """
    chunk_seconds = CHUNK_SECONDS if chunk_seconds is None else chunk_seconds
    context_seconds = CONTEXT_SECONDS if context_seconds is None else context_seconds
    frames = -(-len(audio) // hop_size)
    chunk = max(1, round(chunk_seconds * sample_rate / hop_size))             # frames
    context = math.ceil(context_seconds * sample_rate / hop_size)             # frames
    result: dict[str, np.ndarray] = {}
    for first_frame in range(0, frames, chunk):
        last_frame = min(first_frame + chunk, frames)
        start = max(0, first_frame - context) * hop_size
        stop = min(len(audio), (last_frame + context) * hop_size)
        features = extract(torch.from_numpy(np.array(audio[start:stop], dtype=np.float32)))
        skip = first_frame - start // hop_size
        for name, value in features.items():
            value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            per_frame = value.shape[1:] if value.ndim == 2 else ()
            if name not in result:
                result[name] = np.empty((frames, *per_frame), dtype=np.float32)
            value = value.reshape(-1, *per_frame)
            result[name][first_frame:last_frame] = value[skip:skip + last_frame - first_frame]
        release_pages(audio)
    return result
