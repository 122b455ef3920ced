"""A prepared training set (see ``prepare.py``), read through memory maps, and random crops of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from torchddsp.data.prepare import checked_file_id, read_manifest

FIELDS = ("audio", "f0_hz", "f0_confidence", "loudness_db")


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
        self.sample_rate, self.hop_size = settings["sample_rate"], settings["hop_size"]
        self.example_frames = settings["example_frames"]
        stats_path = self.root / "stats.json"
        self.stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        self.examples = [(checked_file_id(entry, manifest_path), start, length) for entry in manifest["files"].values()
                         if entry.get("status") == "done" for start, length in entry["examples"]]
        if not self.examples:
            raise ValueError(f"data_dir: {str(self.root)!r} holds no usable audio (every file was skipped)")
        self._arrays: dict[tuple[str, str], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.examples)

    def _array(self, file_id: str, field: str) -> np.ndarray:
        key = (file_id, field)
        if key not in self._arrays:
            self._arrays[key] = np.load(self.root / "data" / f"{file_id}.{field}.npy", mmap_mode="r")
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
