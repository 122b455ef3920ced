"""A prepared training set (see ``prepare.py``), read through memory maps, and random crops of it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from torchddsp.data.prepare import checked_file_id, read_manifest

FIELDS = ("audio", "f0_hz", "f0_confidence", "loudness_db")
AGAIN = "prepare the audio again into a new folder"


def _count(value, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _read_stats(path: Path) -> dict:
    """``stats.json`` (``{}`` when absent): a table of finite numbers, else a ``ValueError`` naming it."""
    if not path.exists():
        return {}
    try:
        stats = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"data_dir: unreadable statistics {str(path)!r} ({error}); {AGAIN}") from None
    if not isinstance(stats, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              and math.isfinite(v) for v in stats.values()):
        raise ValueError(f"data_dir: {str(path)!r} is not a table of statistics of `torchddsp prepare`; {AGAIN}")
    return stats


def crop_offset(rng: np.random.Generator, length: int, frames: int) -> int:
    """A uniform random start of a ``frames``-frame crop inside an example of ``length`` frames.

    Every offset from 0 to ``length - frames`` (inclusive: the crop may end on the example's last
    frame) is equally likely; an example no longer than the crop always starts at 0 (the crop is
    then padded, see ``PreparedDataset.example``).
    """
    return int(rng.integers(max(length - frames, 0) + 1))


class PreparedDataset:
    """Examples of ``example_frames`` frames cut from the prepared files.

    ``example(i)`` returns NumPy arrays ``audio`` ``(example_frames * hop_size,)`` and
    ``f0_hz``, ``f0_confidence``, ``loudness_db`` ``(example_frames,)``; an example shorter than
    that (the end of a file, or a short file) is padded: silence for audio, the last f0, zero
    confidence and the file's quietest loudness. ``batch(indices)`` stacks examples as tensors.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        manifest_path = self.root / "manifest.json"
        if not manifest_path.exists():
            raise ValueError(f"data_dir: expected a prepared folder with manifest.json (run `torchddsp prepare`), "
                             f"received {str(self.root)!r}")
        manifest = read_manifest(manifest_path)
        settings = self.settings = manifest["settings"]
        for name in ("sample_rate", "hop_size", "example_frames"):
            if not _count(settings.get(name), 1):
                raise ValueError(f"data_dir: {str(manifest_path)!r} holds settings.{name} = {settings.get(name)!r}, "
                                 f"expected an integer >= 1; {AGAIN}")
        self.sample_rate, self.hop_size = settings["sample_rate"], settings["hop_size"]
        self.example_frames = settings["example_frames"]
        self.stats = _read_stats(self.root / "stats.json")
        self.examples, self._frames = [], {}
        for key, entry in manifest["files"].items():
            if entry.get("status") != "done":
                continue
            file_id = checked_file_id(entry, manifest_path)
            frames, examples = entry.get("frames"), entry.get("examples")
            if not (_count(frames, 1) and isinstance(examples, list) and all(
                    isinstance(e, list) and len(e) == 2 and _count(e[0], 0) and _count(e[1], 1)
                    and e[0] + e[1] <= frames for e in examples)):
                raise ValueError(f"data_dir: {str(manifest_path)!r} holds examples of {key!r} that are not [start, "
                                 f"length] frames within its {frames!r} frames; {AGAIN}")
            self._frames[file_id] = frames
            self.examples += [(file_id, start, length) for start, length in examples]
        if not self.examples:
            raise ValueError(f"data_dir: {str(self.root)!r} holds no usable audio (every file was skipped)")
        self._arrays: dict[tuple[str, str], np.ndarray] = {}
        for file_id in self._frames:           # every array checked (and memory-mapped) before training starts
            for field in FIELDS:
                self._array(file_id, field)

    def __len__(self) -> int:
        return len(self.examples)

    def _array(self, file_id: str, field: str) -> np.ndarray:
        key = (file_id, field)
        if key not in self._arrays:
            path = self.root / "data" / f"{file_id}.{field}.npy"
            try:
                array = np.load(path, mmap_mode="r")          # never a pickle: allow_pickle stays False
            except FileNotFoundError:
                raise ValueError(f"data_dir: {str(path)!r} is missing; {AGAIN}") from None
            except ValueError as error:
                raise ValueError(f"data_dir: {str(path)!r} is not an array written by `torchddsp prepare` "
                                 f"({type(error).__name__}); {AGAIN}") from None
            expected = self._frames[file_id] * (self.hop_size if field == "audio" else 1)
            if array.shape != (expected,) or array.dtype.kind != "f":
                raise ValueError(f"data_dir: {str(path)!r} holds an array of shape {array.shape} and dtype "
                                 f"{array.dtype}, expected {expected} floats; {AGAIN}")
            self._arrays[key] = array
        return self._arrays[key]

    def example(self, index: int, frames: int | None = None, offset: int = 0) -> dict[str, np.ndarray]:
        """Example ``index``, optionally a crop of ``frames`` frames starting ``offset`` frames in."""
        file_id, start, length = self.examples[index]
        frames = frames or self.example_frames
        first = start + offset
        available = max(0, min(frames, start + length - first))
        hop = self.hop_size
        out = {}
        for field in FIELDS:
            data = self._array(file_id, field)
            scale = hop if field == "audio" else 1
            piece = np.asarray(data[first * scale:(first + available) * scale], dtype=np.float32)
            missing = frames * scale - piece.size
            if missing:
                if field == "f0_hz":
                    fill = float(piece[-1]) if piece.size else 0.0
                elif field == "loudness_db":
                    fill = float(np.min(data))
                else:                                     # audio and confidence: silence
                    fill = 0.0
                piece = np.concatenate([piece, np.full(missing, fill, dtype=np.float32)])
            out[field] = piece
        return out

    def sample(self, rng: np.random.Generator, batch_size: int, frames: int) -> dict[str, torch.Tensor]:
        """A batch of ``batch_size`` random crops of ``frames`` frames: uniform examples, uniform offsets
        (``crop_offset``), all drawn from ``rng`` (seed it to make the batch reproducible)."""
        indices = rng.integers(len(self), size=batch_size)
        offsets = [crop_offset(rng, self.examples[i][2], frames) for i in indices]
        return self.batch(indices.tolist(), frames, offsets)

    def batch(self, indices, frames: int | None = None, offsets=None) -> dict[str, torch.Tensor]:
        offsets = offsets if offsets is not None else [0] * len(indices)
        items = [self.example(i, frames, o) for i, o in zip(indices, offsets)]
        return {field: torch.from_numpy(np.stack([item[field] for item in items])) for field in FIELDS}
