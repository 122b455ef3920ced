"""Long recordings a chunk at a time: the same numbers as the whole-recording resampler and
feature extractor, in memory or in an unlinked scratch file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.data import long_audio
from torchddsp.data.long_audio import features_in_chunks, open_mono, resample_into, resampled_length, scratch_array
from torchddsp.features import extract_features
from torchddsp.functional.core.resample import resample


def vibrato_tone(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A harmonic tone with vibrato, a pause and a little noise: voiced, unvoiced and silent frames."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 220 * 2 ** (0.2 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    tone = 0.4 * sum(np.sin(k * phase) / k for k in range(1, 8))
    tone *= (np.sin(2 * np.pi * 0.31 * t) > -0.6)                  # pauses
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return (tone + noise).astype(np.float32)


@pytest.mark.parametrize("orig, new", [(44100, 16000), (48000, 16000), (16000, 16000), (22050, 44100), (8000, 11025)])
@pytest.mark.parametrize("chunk_seconds", [0.37, 1.0])
def test_resampling_in_chunks_is_bit_equal_to_the_whole(orig, new, chunk_seconds):
    audio = vibrato_tone(2.3, orig)
    whole = resample(audio.astype(np.float64), orig, new).astype(np.float32)
    chunked, peak = resample_into(open_mono(audio, orig), new, chunk_seconds=chunk_seconds)
    assert chunked.shape == whole.shape == (resampled_length(open_mono(audio, orig), new),)
    np.testing.assert_array_equal(chunked, whole)
    assert peak == float(np.abs(audio).max())


def test_a_file_is_read_in_segments_mixed_to_mono(tmp_path):
    left, right = vibrato_tone(1.7, 44100), vibrato_tone(1.7, 44100, seed=1)[::-1].copy()
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    source = open_mono(path)
    assert (source.length, source.sample_rate, source.name) == (left.size, 44100, str(path))
    np.testing.assert_array_equal(source.read(1000, 5000), ((left + right) / 2)[1000:5000])
    assert source.read(left.size - 3, left.size + 100).shape == (3,)          # clipped at the end
    chunked, _ = resample_into(source, 16000, chunk_seconds=0.5)
    stacked = resample_into(open_mono(np.stack([left, right]), 44100), 16000, chunk_seconds=0.5)[0]
    np.testing.assert_array_equal(chunked, stacked)


@pytest.mark.parametrize("method, refine", [("yin", False), ("yin", True)])
def test_features_in_chunks_equal_the_whole_recordings_features(method, refine):
    audio = vibrato_tone(4.1, 16000)

    def extract(segment):
        return extract_features(segment, 16000, 64, f0_method=method, f0_refine=refine)
    whole = extract(torch.from_numpy(audio))
    chunked = features_in_chunks(extract, audio, 16000, 64, chunk_seconds=0.9, context_seconds=0.5)
    assert set(chunked) == set(whole)
    for name, value in whole.items():
        assert chunked[name].shape == (-(-audio.size // 64),)
        np.testing.assert_array_equal(chunked[name], value.numpy().astype(np.float32), err_msg=name)


def test_too_little_context_changes_frames_so_the_context_matters():
    audio = vibrato_tone(3.0, 16000)

    def extract(segment):
        return extract_features(segment, 16000, 64)
    whole = extract(torch.from_numpy(audio))["loudness_db"].numpy()
    blind = features_in_chunks(extract, audio, 16000, 64, chunk_seconds=0.5, context_seconds=0.0)["loudness_db"]
    assert not np.array_equal(blind, whole)


def test_scratch_arrays_beyond_the_memory_limit_live_in_an_unlinked_file(monkeypatch):
    monkeypatch.setattr(long_audio, "IN_MEMORY_BYTES", 1000)
    small, large = scratch_array(250), scratch_array(251)
    assert type(small) is np.ndarray and isinstance(large, np.memmap)
    assert large.dtype == np.float32 and not large.any()
    large[:] = np.arange(251)
    assert float(large[250]) == 250.0
    assert not list(Path(tempfile.gettempdir()).glob("torchddsp-*"))   # unlinked: no name left to clean up
    audio = vibrato_tone(1.0, 44100)
    chunked, _ = resample_into(open_mono(audio, 44100), 16000, chunk_seconds=0.3)
    assert isinstance(chunked, np.memmap)
    np.testing.assert_array_equal(chunked, resample(audio.astype(np.float64), 44100, 16000).astype(np.float32))


@pytest.mark.parametrize("bad, reason", [(np.zeros(0, np.float32), "empty"),
                                         (np.array([0.1, np.nan, 0.2], np.float32), "NaN")])
def test_empty_or_non_finite_recordings_are_refused(bad, reason):
    with pytest.raises(ValueError, match=reason):
        resample_into(open_mono(bad, 16000), 16000)


def test_bad_sources_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="sample_rate"):
        open_mono(np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="audio"):
        open_mono(np.zeros((2, 2, 2), np.float32), 16000)
    (tmp_path / "noise.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="unreadable audio file"):
        open_mono(tmp_path / "noise.wav")


def resident_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc/self/status")
def test_released_pages_of_scratch_files_leave_the_resident_set(monkeypatch):
    from torchddsp.data.long_audio import release_pages

    monkeypatch.setattr(long_audio, "IN_MEMORY_BYTES", 1 << 20)
    array = scratch_array(64 << 20 >> 2)                          # 64 MB, mapped onto a file
    before = resident_kb()
    array[:] = 1.0                                                # every page touched
    touched = resident_kb()
    release_pages()
    released = resident_kb()
    assert touched - before > 50_000 and released - before < 10_000, (before, touched, released)
    assert float(array[123_456]) == 1.0 and float(array.sum(dtype=np.float64)) == array.size   # nothing lost
