"""``torchddsp prepare``: a folder of recordings -> a training set of audio and features.

For every WAV/FLAC/OGG/AIFF file under ``AUDIO_DIR`` (hidden files and folders skipped):
read it, mix to mono, resample to the target rate, extract f0, f0 confidence and A-weighted
loudness, and write each array as a ``.npy`` file that training memory-maps. Each recording is
read, resampled and analysed a chunk at a time (:mod:`torchddsp.data.long_audio`), so memory
does not grow with its length. A bad file
(unreadable, empty, silent, containing NaN/inf) is reported and skipped; the others go on.

The output folder holds ``manifest.json`` (settings, one entry per source file with its status,
size and modification time, and the examples cut from it), ``stats.json`` (loudness mean and
standard deviation, f0 percentiles over voiced frames, the share of clearly periodic frames) and
``data/``. Every file is written atomically, and the manifest is rewritten after each source
file, so an interrupted run can be started again: finished files whose size and time did not
change are not redone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from torchddsp.checks import check_positive, check_positive_int
from torchddsp.data.long_audio import features_in_chunks, open_mono, resample_into, resampled_length
from torchddsp.features.confidence import F0_CONFIDENCE_THRESHOLD, confident_frames
from torchddsp.features.voicing import periodic_fraction, periodicity_confidence
from torchddsp.files import (
    check_output_folder,
    remove_temporaries,
    reserve_space,
    write_atomically,
    write_text_atomically,
)
from torchddsp.models.autoencoder import MODEL_LIMITS

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff"}
MANIFEST_VERSION = 1
SILENCE_PEAK = 1e-5


def find_audio_files(root: str | Path) -> list[Path]:
    """Audio files under ``root`` (a folder, or a single file), sorted; hidden paths skipped."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ValueError(f"audio_dir: expected an existing folder or file, received {str(root)!r}")
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS:
            found.append(path)
    return found


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    write_atomically(path, lambda temporary: np.save(temporary, array))


def _write_json_atomic(path: Path, payload: dict) -> None:
    write_text_atomically(path, json.dumps(payload, indent=1))


def file_id_for(key: str) -> str:
    """A stable, unique name for a source file's arrays: its stem plus a hash of its relative path."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return f"{Path(key).stem[:40]}_{digest}"


FILE_ID = re.compile(r"[^/\\\x00]{0,40}_[0-9a-f]{12}")


def checked_file_id(entry: dict, manifest_path: Path) -> str:
    """The ``id`` of a manifest entry, refused unless it is a name :func:`file_id_for` can make.

    A prepared folder may come from elsewhere: an id such as ``../../victim`` would otherwise make
    ``prepare`` delete, and training read, files outside the folder.
    """
    file_id = entry.get("id")
    if not isinstance(file_id, str) or not FILE_ID.fullmatch(file_id):
        raise ValueError(f"data_dir: {str(manifest_path)!r} names arrays {file_id!r}, not a file id of this folder "
                         "(expected STEM_HASH with no path separators); prepare the audio again into a new folder")
    return file_id


def _remove_arrays(data_dir: Path, file_id: str) -> None:
    """Delete ``data_dir/FILE_ID.*.npy`` (compared as text: the id is never a glob pattern)."""
    prefix = f"{file_id}."
    for path in data_dir.iterdir():
        name = path.name
        if name.startswith(prefix) and name.endswith(".npy") and "." not in name[len(prefix):-len(".npy")]:
            path.unlink()


def read_manifest(path: Path) -> dict:
    """A prepared folder's ``manifest.json``: ``{"settings": {...}, "files": {key: entry}}``.

    Raises ``ValueError`` naming the file when it is not JSON of that shape.
    """
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"data_dir: unreadable manifest {str(path)!r} ({error}); prepare the audio again "
                         "into a new folder") from None
    if (not isinstance(manifest, dict) or not isinstance(manifest.get("settings"), dict)
            or not isinstance(manifest.get("files"), dict)
            or not all(isinstance(e, dict) for e in manifest["files"].values())):
        raise ValueError(f"data_dir: {str(path)!r} is not a manifest of `torchddsp prepare` (expected settings and "
                         "files tables); prepare the audio again into a new folder")
    return manifest


def _check_features(features: dict, frames: int) -> dict:
    """The three arrays training needs; ``ValueError`` (a reason to skip the file) when one is missing or non-finite."""
    arrays = {}
    for name in ("f0_hz", "f0_confidence", "loudness_db"):
        if name not in features:
            raise ValueError(f"the feature extractor returned no {name!r}")
        value = features[name]
        if value.size != frames or not np.isfinite(value).all():
            raise ValueError(f"feature {name!r} has {value.size} frames (expected {frames}) or non-finite values")
        arrays[name] = value
    return arrays


def _prepare_file(path: Path, arrays_stem: Path, sample_rate: int, hop_size: int, extract: Callable) -> int:
    """Resample and analyse one recording a chunk at a time (:mod:`torchddsp.data.long_audio`) into
    ``STEM.audio.npy`` (written straight into its file, never whole in memory) and the feature arrays;
    returns its number of frames. ``ValueError``: a reason to skip the file (nothing is left behind)."""
    source = open_mono(path)                                    # ValueError "unreadable ..." on a bad file
    if source.length == 0:
        raise ValueError("empty (no samples)")
    frames = -(-resampled_length(source, sample_rate) // hop_size)
    features = {}

    def write_audio(temporary: Path) -> None:
        audio = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32, shape=(frames * hop_size,))
        with open(temporary, "r+b") as handle:              # a full disk: OSError now, not SIGBUS mid-write
            reserve_space(handle.fileno(), os.path.getsize(temporary), path)
        _, peak = resample_into(source, sample_rate, out=audio)
        if peak < SILENCE_PEAK:
            raise ValueError(f"silent (peak below {SILENCE_PEAK})")

        def run(segment: torch.Tensor) -> dict:
            return extract(segment, sample_rate, hop_size)
        features.update(_check_features(features_in_chunks(run, audio, sample_rate, hop_size), frames))
        audio.flush()
        del audio

    write_atomically(Path(f"{arrays_stem}.audio.npy"), write_audio)
    for name, array in features.items():
        _save_npy_atomic(Path(f"{arrays_stem}.{name}.npy"), array)
    return frames


def _default_extractor(f0_method: str, f0_refine: bool) -> Callable:
    from torchddsp.features import extract_features

    def extract(audio: torch.Tensor, sample_rate: int, hop_size: int) -> dict:
        return extract_features(audio, sample_rate, hop_size, f0_method=f0_method, f0_refine=f0_refine)
    return extract


def prepare(audio_dir: str | Path, out_dir: str | Path, sample_rate: int = 16000, frame_rate: float = 250.0,
            example_seconds: float = 4.0, f0_method: str = "yin", f0_refine: bool = False,
            progress: bool = True, extractor: Callable | None = None,
            log: Callable[[str], None] = print) -> dict:
    """Prepare ``audio_dir`` into ``out_dir`` (see the module docstring); returns the manifest.

    ``hop_size = round(sample_rate / frame_rate)`` samples per feature frame; examples are
    windows of ``example_seconds`` (the last window of a file, or a short file, is shorter).
    ``f0_method`` and ``f0_refine`` are those of :func:`torchddsp.features.extract_features`;
    training stores them, and inference analyses new recordings the same way.
    """
    check_positive_int("sample_rate", sample_rate)
    low, high = MODEL_LIMITS["sample_rate"]
    if not low <= sample_rate <= high:
        raise ValueError(f"sample_rate: expected a rate in [{low}, {high}] Hz (the model's range), "
                         f"received {sample_rate}")
    check_positive("frame_rate", frame_rate)
    check_positive("example_seconds", example_seconds)
    hop_size = max(1, round(sample_rate / frame_rate))
    example_frames = max(1, int(round(example_seconds * sample_rate / hop_size)))
    out = check_output_folder("out_dir", out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    stale = remove_temporaries(out) + remove_temporaries(out / "data")
    if stale:
        log(f"prepare: removed {len(stale)} temporary file(s) that an interrupted run left in {out}")
    settings = {"version": MANIFEST_VERSION, "sample_rate": sample_rate, "hop_size": hop_size,
                "example_frames": example_frames, "f0_method": f0_method, "f0_refine": bool(f0_refine)}
    manifest_path = out / "manifest.json"
    manifest = read_manifest(manifest_path) if manifest_path.exists() else {}
    if manifest.get("settings") != settings:
        manifest = {"settings": settings, "files": {}}          # different settings: start afresh
    extract = extractor or _default_extractor(f0_method, f0_refine)
    files = find_audio_files(audio_dir)
    root = Path(audio_dir) if Path(audio_dir).is_dir() else Path(audio_dir).parent
    iterator = files
    if progress:
        from tqdm import tqdm
        iterator = tqdm(files, desc="prepare", unit="file")
    present = {str(path.relative_to(root)) for path in files}
    for key in sorted(set(manifest["files"]) - present):         # sources deleted since the last run
        entry = manifest["files"].pop(key)
        if entry.get("status") == "done":
            _remove_arrays(out / "data", checked_file_id(entry, manifest_path))
    for path in iterator:
        key = str(path.relative_to(root))
        stat = path.stat()
        previous = manifest["files"].get(key)
        unchanged = previous and previous.get("size") == stat.st_size and previous.get("mtime") == stat.st_mtime
        if unchanged and (previous.get("status") == "done"
                          or (previous.get("status") == "skipped" and previous.get("ctime") == stat.st_ctime)):
            continue                  # a skipped file is retried once anything touched it (even with its old mtime)
        entry = {"size": stat.st_size, "mtime": stat.st_mtime}
        file_id = file_id_for(key)
        try:
            frames = _prepare_file(path, out / "data" / file_id, sample_rate, hop_size, extract)
        except (ValueError, RuntimeError) as reason:
            _remove_arrays(out / "data", file_id)
            entry.update(status="skipped", reason=str(reason), ctime=stat.st_ctime)
            log(f"prepare: skipping {key}: {reason}")
        else:
            starts = list(range(0, frames, example_frames))
            entry.update(status="done", id=file_id, frames=frames,
                         examples=[[s, min(example_frames, frames - s)] for s in starts])
            if f0_method != "yin":      # the monophony statistic is calibrated on YIN's confidence: once per file
                entry["yin_periodic_fraction"] = _yin_periodic_fraction(out / "data" / file_id, sample_rate,
                                                                        hop_size)
        manifest["files"][key] = entry
        _write_json_atomic(manifest_path, manifest)
    _write_json_atomic(manifest_path, manifest)
    _write_json_atomic(out / "stats.json", compute_statistics(out, manifest))
    done = sum(e["status"] == "done" for e in manifest["files"].values())
    skipped = sum(e["status"] == "skipped" for e in manifest["files"].values())
    log(f"prepare: {done} file(s) ready, {skipped} skipped, in {out}")
    return manifest


def _yin_periodic_fraction(arrays_stem: Path, sample_rate: int, hop_size: int) -> float | None:
    """A prepared file's :func:`~torchddsp.features.voicing.periodic_fraction` on YIN's confidence
    (analysed a chunk at a time: bounded memory); ``None`` when nothing sounds."""
    audio = np.load(f"{arrays_stem}.audio.npy", mmap_mode="r")
    confidence = features_in_chunks(lambda segment: {"c": periodicity_confidence(segment, sample_rate, hop_size)},
                                    audio, sample_rate, hop_size)["c"]
    fraction = periodic_fraction(confidence, np.load(f"{arrays_stem}.loudness_db.npy"))
    return None if math.isnan(fraction) else fraction


def compute_statistics(out: Path, manifest: dict, confidence_threshold: float = F0_CONFIDENCE_THRESHOLD) -> dict:
    """Loudness mean/std over all frames; f0 percentiles over confident frames
    (:func:`~torchddsp.features.confident_frames` at ``confidence_threshold``); the files'
    :func:`~torchddsp.features.voicing.periodic_fraction` on YIN's confidence (the f0 confidence of
    data prepared with YIN, else each entry's ``yin_periodic_fraction``), weighted by their frames."""
    loudness, f0, periodic = [], [], []
    yin_confidence = manifest.get("settings", {}).get("f0_method", "yin") == "yin"
    for entry in manifest["files"].values():
        if entry["status"] != "done":
            continue
        file_id = checked_file_id(entry, out / "manifest.json")
        loud = np.load(out / "data" / f"{file_id}.loudness_db.npy")
        pitch = np.load(out / "data" / f"{file_id}.f0_hz.npy")
        conf = np.load(out / "data" / f"{file_id}.f0_confidence.npy")
        loudness.append(loud)
        f0.append(pitch[confident_frames(pitch, conf, confidence_threshold)])
        fraction = periodic_fraction(conf, loud) if yin_confidence else entry.get("yin_periodic_fraction")
        if fraction is not None and not math.isnan(fraction):
            periodic.append((fraction, loud.size))
    if not loudness:
        return {"frames": 0}
    loudness, f0 = np.concatenate(loudness), np.concatenate(f0)
    stats = {"frames": int(loudness.size), "loudness_mean": float(loudness.mean()),
             "loudness_std": float(loudness.std())}
    if periodic:                  # what inference compares new recordings with (features.voicing)
        stats["yin_periodic_fraction"] = sum(p * n for p, n in periodic) / sum(n for _, n in periodic)
    if f0.size:
        midi = 12 * np.log2(f0 / 440.0) + 69
        stats.update({f"f0_midi_p{p}": float(np.percentile(midi, p)) for p in (5, 50, 95)})
    return stats
