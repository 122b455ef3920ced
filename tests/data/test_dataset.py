"""Tests for torchddsp.data.dataset.PreparedDataset: examples, crops, padding and batches.

The folder is prepared with a stand-in extractor whose features are known functions of the
frame index, so every slice and every padded value can be checked exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.data import PreparedDataset, prepare
from torchddsp.data.dataset import crop_offset

SR, HOP, EXAMPLE = 16000, 64, 50          # example_seconds = 0.2 -> 50 frames of 64 samples


def features_of(frames):
    index = np.arange(frames, dtype=np.float64)
    return {"f0_hz": 100.0 + index, "f0_confidence": (index % 2 == 0).astype(np.float64),
            "loudness_db": -40.0 + 10.0 * np.sin(index / 7.0)}


def extractor(audio, sample_rate, hop_size):
    return {k: torch.from_numpy(v) for k, v in features_of(audio.shape[0] // hop_size).items()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    rng = np.random.default_rng(0)
    signals = {"a_long.wav": 0.3 * rng.standard_normal(120 * HOP),       # 120 frames: examples 50, 50, 20
               "b_short.wav": 0.3 * rng.standard_normal(30 * HOP - 5)}   # 30 frames, the last one padded
    for name, x in signals.items():
        (root / "audio").mkdir(exist_ok=True)
        sf.write(str(root / "audio" / name), x, SR, subtype="FLOAT")
    prepare(root / "audio", root / "data", sample_rate=SR, example_seconds=EXAMPLE * HOP / SR, progress=False,
            extractor=extractor, log=lambda m: None)
    return root / "data", {k: v.astype(np.float32) for k, v in signals.items()}


def test_examples_tile_the_files(prepared):
    data, _ = prepared
    dataset = PreparedDataset(data)
    assert (dataset.sample_rate, dataset.hop_size, dataset.example_frames) == (SR, HOP, EXAMPLE)
    assert len(dataset) == 4
    assert [(start, length) for _, start, length in dataset.examples] == [(0, 50), (50, 50), (100, 20), (0, 30)]
    assert dataset.stats == json.loads((data / "stats.json").read_text())
    assert dataset.stats["frames"] == 150


def test_full_example_is_the_exact_slice(prepared):
    data, signals = prepared
    dataset = PreparedDataset(data)
    example = dataset.example(1)
    assert set(example) == {"audio", "f0_hz", "f0_confidence", "loudness_db"}
    np.testing.assert_array_equal(example["audio"], signals["a_long.wav"][50 * HOP:100 * HOP])
    expected = features_of(120)
    for name in ("f0_hz", "f0_confidence", "loudness_db"):
        assert example[name].dtype == np.float32
        np.testing.assert_array_equal(example[name], expected[name][50:100].astype(np.float32), err_msg=name)


def test_short_example_is_padded_with_silence_last_f0_no_confidence_and_quietest_loudness(prepared):
    data, signals = prepared
    dataset = PreparedDataset(data)
    example = dataset.example(2)                                      # frames 100..119 of 120
    assert example["audio"].shape == (EXAMPLE * HOP,)
    np.testing.assert_array_equal(example["audio"][:20 * HOP], signals["a_long.wav"][100 * HOP:])
    assert np.all(example["audio"][20 * HOP:] == 0)
    full = features_of(120)
    np.testing.assert_array_equal(example["f0_hz"][20:], np.float32(full["f0_hz"][119]))
    assert np.all(example["f0_confidence"][20:] == 0)
    np.testing.assert_allclose(example["loudness_db"][20:], full["loudness_db"].min(), rtol=1e-6)
    assert full["loudness_db"].min() < full["loudness_db"][100:].min()   # the file's minimum, not the slice's

    short = dataset.example(3)                                        # a file shorter than one example
    x = signals["b_short.wav"]
    np.testing.assert_array_equal(short["audio"][:x.size], x)
    assert np.all(short["audio"][x.size:] == 0)                       # prepare's padding of the last frame too
    np.testing.assert_array_equal(short["f0_hz"][:30], (100.0 + np.arange(30)).astype(np.float32))
    assert np.all(short["f0_hz"][30:] == 129.0)


def test_crops_with_offsets(prepared):
    data, signals = prepared
    dataset = PreparedDataset(data)
    crop = dataset.example(0, frames=10, offset=7)
    np.testing.assert_array_equal(crop["audio"], signals["a_long.wav"][7 * HOP:17 * HOP])
    np.testing.assert_array_equal(crop["f0_hz"], (107.0 + np.arange(10)).astype(np.float32))
    # A crop that runs past the end of its example is padded, it does not read the next example.
    tail = dataset.example(0, frames=10, offset=45)
    np.testing.assert_array_equal(tail["audio"][:5 * HOP], signals["a_long.wav"][45 * HOP:50 * HOP])
    assert np.all(tail["audio"][5 * HOP:] == 0) and np.all(tail["f0_hz"][5:] == 149.0)


def test_batch_stacks_examples_as_float32_tensors(prepared):
    data, _ = prepared
    dataset = PreparedDataset(data)
    batch = dataset.batch([3, 0, 2], frames=12, offsets=[0, 3, 15])
    assert batch["audio"].shape == (3, 12 * HOP) and batch["audio"].dtype == torch.float32
    for name in ("f0_hz", "f0_confidence", "loudness_db"):
        assert batch[name].shape == (3, 12) and batch[name].dtype == torch.float32
    for row, (index, offset) in enumerate(zip([3, 0, 2], [0, 3, 15])):
        item = dataset.example(index, 12, offset)
        for name, value in item.items():
            np.testing.assert_array_equal(batch[name][row].numpy(), value, err_msg=f"{name} row {row}")
    full = dataset.batch([0, 1])
    assert full["audio"].shape == (2, EXAMPLE * HOP) and full["f0_hz"].shape == (2, EXAMPLE)


def test_missing_or_unprepared_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="data_dir.*manifest.json"):
        PreparedDataset(tmp_path)


@pytest.mark.parametrize("length, frames", [(50, 10), (20, 19), (7, 1)])
def test_crop_offsets_cover_every_valid_start_uniformly(length, frames):
    rng = np.random.default_rng(0)
    draws = np.array([crop_offset(rng, length, frames) for _ in range(4000)])
    last = length - frames
    assert draws.min() == 0 and draws.max() == last           # the crop may end on the example's last frame
    counts = np.bincount(draws, minlength=last + 1)
    expected = len(draws) / (last + 1)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), counts


@pytest.mark.parametrize("length", [10, 9, 1])
def test_an_example_no_longer_than_the_crop_starts_at_zero(length):
    rng = np.random.default_rng(1)
    assert {crop_offset(rng, length, 10) for _ in range(50)} == {0}


def test_sample_draws_every_example_and_every_offset_including_the_last(prepared):
    data, _ = prepared
    dataset = PreparedDataset(data)
    rng = np.random.default_rng(0)
    frames = 25
    seen = set()
    for _ in range(300):
        batch = dataset.sample(rng, 4, frames)
        assert batch["audio"].shape == (4, frames * HOP) and batch["f0_hz"].shape == (4, frames)
        for f0 in batch["f0_hz"][:, 0].tolist():               # f0 = 100 + frame index in the file
            seen.add(int(round(f0)) - 100)
    # Starts (frame index in the file) per example: a_long 0..25 and 50..75, then the 20-frame
    # example at 100 and the 30-frame file, b_short, whose starts 0..5 overlap a_long's.
    expected = set(range(0, 26)) | set(range(50, 76)) | {100}
    assert seen == expected, sorted(seen ^ expected)
    # A crop longer than every example: offsets are 0 (no error) and the crop is padded.
    long = dataset.sample(np.random.default_rng(2), 8, EXAMPLE + 5)
    assert long["audio"].shape == (8, (EXAMPLE + 5) * HOP)
    assert set(np.round(long["f0_hz"][:, 0].numpy()).astype(int).tolist()) <= {100, 150, 200}
