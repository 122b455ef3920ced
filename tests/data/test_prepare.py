"""Tests for torchddsp.data.prepare: a folder of recordings -> audio and features for training.

Edge cases (a file shorter than one frame, silence, corrupt, empty, NaN/inf, stereo, other sample
rates, hidden paths), bad files reported and skipped, resumable re-runs, manifest and statistics.
The real feature extractor (yin) runs in the module fixture; the resume tests count calls of a
cheap stand-in extractor.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.apps.cli import main
from torchddsp.data import PreparedDataset, find_audio_files, prepare
from torchddsp.features import extract_features

SR = 16000
HOP = 64                       # round(16000 / 250)


def tone(frequency, seconds, sample_rate, amplitude=0.5):
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return amplitude * np.sin(2 * np.pi * frequency * t)


def write(path, data, sample_rate, subtype=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sample_rate, subtype=subtype)
    return path


def peak_frequency(audio, sample_rate):
    """Frequency of the strongest bin, refined by parabolic interpolation of the log magnitude."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    k = int(spectrum[1:-1].argmax()) + 1
    a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + delta) * sample_rate / len(audio)


class CountingExtractor:
    """Stand-in for the feature extractor: deterministic features, and a count of the calls."""

    def __init__(self, fail_on=None):
        self.calls = []
        self.fail_on = fail_on

    def __call__(self, audio, sample_rate, hop_size):
        assert isinstance(audio, torch.Tensor) and audio.ndim == 1 and audio.shape[0] % hop_size == 0
        self.calls.append(audio.shape[0])
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            raise KeyboardInterrupt("simulated interruption")
        frames = audio.shape[0] // hop_size
        rms = audio.reshape(frames, hop_size).pow(2).mean(-1).sqrt()
        return {"f0_hz": torch.full((frames,), 220.0), "f0_confidence": torch.ones(frames),
                "loudness_db": 20 * torch.log10(rms + 1e-6)}


# ---------------------------------------------------------------------------------------------
# One folder with every edge case, prepared once with the real extractor (yin).

@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare_edge")
    audio = root / "audio"
    write(audio / "good.wav", tone(220, 1.0, SR), SR)
    write(audio / "tiny.wav", tone(220, 1.0, SR)[:10], SR)                    # shorter than one frame
    write(audio / "short.wav", tone(330, 0.3, SR), SR)                        # shorter than one example
    write(audio / "silent.wav", np.zeros(SR), SR)
    (audio / "corrupt.wav").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    (audio / "empty.wav").write_bytes(b"")
    write(audio / "no_samples.wav", np.zeros(0), SR)
    with_nan = tone(220, 0.5, SR)
    with_nan[1234] = np.nan
    write(audio / "nan.wav", with_nan, SR, subtype="FLOAT")
    with_inf = tone(220, 0.5, SR)
    with_inf[77] = -np.inf
    write(audio / "inf.wav", with_inf, SR, subtype="FLOAT")
    left = tone(220, 1.0, SR)
    write(audio / "stereo.wav", np.stack([left, 0.5 * left], axis=1), SR, subtype="FLOAT")
    write(audio / "rates" / "r8k.wav", tone(440, 1.0, 8000), 8000)
    write(audio / "rates" / "r44k.flac", tone(440, 1.0, 44100), 44100)
    write(audio / "rates" / "r48k.wav", tone(440, 1.0, 48000), 48000)
    write(audio / ".hidden.wav", tone(220, 0.5, SR), SR)
    write(audio / ".cache" / "inside_hidden_folder.wav", tone(220, 0.5, SR), SR)
    (audio / "notes.txt").write_text("not audio")
    messages = []
    manifest = prepare(audio, root / "data", sample_rate=SR, frame_rate=250.0, example_seconds=0.5,
                       progress=False, log=messages.append)
    return {"root": root, "audio": audio, "out": root / "data", "manifest": manifest, "messages": messages}


def load(out, entry, field):
    return np.load(out / "data" / f"{entry['id']}.{field}.npy")


BAD = {"silent.wav": "silent", "corrupt.wav": "unreadable", "empty.wav": "unreadable",
       "no_samples.wav": "empty", "nan.wav": "nan", "inf.wav": "nan"}
GOOD = ["good.wav", "tiny.wav", "short.wav", "stereo.wav", "rates/r8k.wav", "rates/r44k.flac", "rates/r48k.wav"]


def test_every_visible_audio_file_gets_an_entry_and_hidden_paths_are_skipped(edge):
    files = edge["manifest"]["files"]
    assert sorted(files) == sorted(GOOD + list(BAD))
    assert not any(".hidden" in key or ".cache" in key or key.endswith(".txt") for key in files)
    on_disk = json.loads((edge["out"] / "manifest.json").read_text())
    assert on_disk == edge["manifest"]
    found = find_audio_files(edge["audio"])
    assert [p.relative_to(edge["audio"]).as_posix() for p in found] == sorted(GOOD + list(BAD))


def test_bad_files_are_skipped_with_a_reason_naming_the_file(edge):
    files = edge["manifest"]["files"]
    for name, word in BAD.items():
        entry = files[name]
        assert entry["status"] == "skipped", name
        assert word in entry["reason"].lower(), (name, entry["reason"])
        assert "id" not in entry
        logged = [m for m in edge["messages"] if name in m]
        assert len(logged) == 1 and entry["reason"] in logged[0], (name, edge["messages"])
    for name in GOOD:
        assert files[name]["status"] == "done", (name, files[name])
    assert f"{len(GOOD)} file(s) ready, {len(BAD)} skipped" in edge["messages"][-1]
    written = {p.name.split(".")[0] for p in (edge["out"] / "data").iterdir()}
    assert written == {files[name]["id"] for name in GOOD}


def test_arrays_are_frame_aligned_and_examples_tile_each_file(edge):
    settings = edge["manifest"]["settings"]
    assert settings == {"version": 1, "sample_rate": SR, "hop_size": HOP, "example_frames": 125, "f0_method": "yin",
                        "f0_refine": False}
    for name in GOOD:
        entry = edge["manifest"]["files"][name]
        audio = load(edge["out"], entry, "audio")
        assert audio.dtype == np.float32 and audio.shape == (entry["frames"] * HOP,)
        for field in ("f0_hz", "f0_confidence", "loudness_db"):
            values = load(edge["out"], entry, field)
            assert values.dtype == np.float32 and values.shape == (entry["frames"],), (name, field)
            assert np.isfinite(values).all(), (name, field)
        starts = [s for s, _ in entry["examples"]]
        lengths = [n for _, n in entry["examples"]]
        assert starts == list(range(0, entry["frames"], 125))
        assert sum(lengths) == entry["frames"] and all(0 < n <= 125 for n in lengths)
        stat = (edge["audio"] / name).stat()
        assert entry["size"] == stat.st_size and entry["mtime"] == stat.st_mtime


def test_file_shorter_than_one_frame_becomes_one_padded_frame(edge):
    entry = edge["manifest"]["files"]["tiny.wav"]
    assert entry["frames"] == 1 and entry["examples"] == [[0, 1]]
    audio = load(edge["out"], entry, "audio")
    expected = tone(220, 1.0, SR)[:10]
    np.testing.assert_allclose(audio[:10], expected, atol=1 / 32768)       # 16-bit PCM source
    assert np.all(audio[10:] == 0)


def test_file_shorter_than_one_example_gives_one_short_example(edge):
    entry = edge["manifest"]["files"]["short.wav"]
    assert entry["frames"] == math.ceil(0.3 * SR / HOP) == 75
    assert entry["examples"] == [[0, 75]]
    f0 = load(edge["out"], entry, "f0_hz")
    confident = load(edge["out"], entry, "f0_confidence") >= 0.5
    assert confident.sum() > 50
    np.testing.assert_allclose(np.median(f0[confident]), 330, rtol=0.01)


def test_stereo_is_mixed_to_mono_by_averaging_channels(edge):
    entry = edge["manifest"]["files"]["stereo.wav"]
    audio = load(edge["out"], entry, "audio")
    left = tone(220, 1.0, SR)
    np.testing.assert_allclose(audio[:SR], 0.75 * left, atol=1e-6)
    assert entry["frames"] == SR // HOP


@pytest.mark.parametrize("name, rate", [("rates/r8k.wav", 8000), ("rates/r44k.flac", 44100), ("rates/r48k.wav", 48000)])
def test_other_sample_rates_are_resampled_to_the_target_rate(edge, name, rate):
    entry = edge["manifest"]["files"][name]
    # One second of audio at any rate is one second (16000 samples, 250 frames) at 16 kHz.
    assert entry["frames"] == SR // HOP
    audio = load(edge["out"], entry, "audio")
    assert audio.shape == (SR,)
    body = audio[2000:-2000]                                     # away from the filter's edge transients
    assert abs(peak_frequency(body, SR) - 440.0) < 0.5
    np.testing.assert_allclose(np.abs(body).max(), 0.5, rtol=0.02)   # the passband keeps the level
    f0 = load(edge["out"], entry, "f0_hz")
    confident = load(edge["out"], entry, "f0_confidence") >= 0.5
    assert confident.mean() > 0.8
    np.testing.assert_allclose(np.median(f0[confident]), 440.0, rtol=0.005)


def test_statistics_summarise_loudness_and_confident_f0(edge):
    stats = json.loads((edge["out"] / "stats.json").read_text())
    files = [edge["manifest"]["files"][name] for name in GOOD]
    loud = np.concatenate([load(edge["out"], e, "loudness_db") for e in files])
    f0 = np.concatenate([load(edge["out"], e, "f0_hz") for e in files])
    conf = np.concatenate([load(edge["out"], e, "f0_confidence") for e in files])
    assert stats["frames"] == loud.size == sum(e["frames"] for e in files)
    np.testing.assert_allclose(stats["loudness_mean"], loud.astype(np.float64).mean(), rtol=1e-5)
    np.testing.assert_allclose(stats["loudness_std"], loud.astype(np.float64).std(), rtol=1e-4)
    voiced = f0[(conf >= 0.5) & (f0 > 0)]
    midi = 12 * np.log2(voiced / 440.0) + 69
    for p in (5, 50, 95):
        np.testing.assert_allclose(stats[f"f0_midi_p{p}"], np.percentile(midi, p), atol=1e-3)
    # The tones are at 220, 330 and 440 Hz: MIDI 57 to 69.
    assert 56.5 < stats["f0_midi_p5"] <= stats["f0_midi_p50"] <= stats["f0_midi_p95"] < 69.5


# ---------------------------------------------------------------------------------------------
# Single files, re-runs and interruptions (a counting stand-in for the extractor).

def test_dataset_of_one_tiny_file(tmp_path):
    write(tmp_path / "audio" / "blip.wav", tone(440, 1.0, SR)[:20], SR)
    manifest = prepare(tmp_path / "audio", tmp_path / "data", example_seconds=1.0, progress=False, log=lambda m: None)
    assert manifest["files"]["blip.wav"]["examples"] == [[0, 1]]
    dataset = PreparedDataset(tmp_path / "data")
    assert len(dataset) == 1
    example = dataset.example(0)
    assert example["audio"].shape == (250 * HOP,) and example["f0_hz"].shape == (250,)
    assert np.all(example["audio"][20:] == 0) and np.all(example["f0_confidence"][1:] == 0)
    assert np.isfinite(np.concatenate(list(example.values()))).all()


def test_a_single_file_can_be_given_instead_of_a_folder(tmp_path):
    path = write(tmp_path / "one.wav", tone(220, 0.5, SR), SR)
    extractor = CountingExtractor()
    manifest = prepare(path, tmp_path / "data", progress=False, extractor=extractor, log=lambda m: None)
    assert list(manifest["files"]) == ["one.wav"] and manifest["files"]["one.wav"]["status"] == "done"
    assert extractor.calls == [math.ceil(0.5 * SR / HOP) * HOP]


def test_rerun_skips_finished_files_and_redoes_modified_ones(tmp_path):
    audio = tmp_path / "audio"
    for i, f in enumerate((220, 330, 440)):
        write(audio / f"n{i}.wav", tone(f, 0.5, SR), SR)
    write(audio / "silent.wav", np.zeros(SR), SR)
    extractor, messages = CountingExtractor(), []
    first = prepare(audio, tmp_path / "data", progress=False, extractor=extractor, log=messages.append)
    assert len(extractor.calls) == 3
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "data" / "data").iterdir()}

    extractor.calls.clear()
    messages.clear()
    second = prepare(audio, tmp_path / "data", progress=False, extractor=extractor, log=messages.append)
    assert extractor.calls == [] and second == first
    assert not any("skipping" in m for m in messages)               # the bad file is not re-read either
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "data" / "data").iterdir()} == before

    # Modify one file (new content and modification time): only it is redone.
    write(audio / "n1.wav", tone(550, 0.75, SR), SR)
    os.utime(audio / "n1.wav", (1e9, 1e9))
    extractor.calls.clear()
    third = prepare(audio, tmp_path / "data", progress=False, extractor=extractor, log=lambda m: None)
    assert extractor.calls == [math.ceil(0.75 * SR / HOP) * HOP]
    entry = third["files"]["n1.wav"]
    assert entry["mtime"] == 1e9 and entry["frames"] == math.ceil(0.75 * SR / HOP)
    redone = np.load(tmp_path / "data" / "data" / f"{entry['id']}.audio.npy")
    np.testing.assert_allclose(redone[:12000], tone(550, 0.75, SR), atol=1 / 32768)
    assert third["files"]["n0.wav"] == first["files"]["n0.wav"]

    # Touching a file (same content, new time) also counts as modified; a new file is added.
    os.utime(audio / "n0.wav", (2e9, 2e9))
    write(audio / "n9.wav", tone(660, 0.25, SR), SR)
    extractor.calls.clear()
    fourth = prepare(audio, tmp_path / "data", progress=False, extractor=extractor, log=lambda m: None)
    assert sorted(extractor.calls) == sorted([math.ceil(0.5 * SR / HOP) * HOP, math.ceil(0.25 * SR / HOP) * HOP])
    assert fourth["files"]["n9.wav"]["status"] == "done"


def test_a_fixed_file_is_retried_even_with_its_old_size_and_time(tmp_path):
    """Probe of issue 12: a file skipped as unreadable stayed skipped after it was fixed (here the fix
    keeps its size and modification time, as ``cp -p`` of a same-length good file does)."""
    audio = tmp_path / "audio"
    good = write(audio / "good.wav", tone(220, 0.5, SR), SR)
    broken = audio / "broken.wav"
    broken.write_bytes(b"\0" * good.stat().st_size)
    os.utime(broken, (1e9, 1e9))
    first = prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(), log=lambda m: None)
    assert first["files"]["broken.wav"]["status"] == "skipped"
    broken.write_bytes(good.read_bytes())                              # fixed: same size...
    os.utime(broken, (1e9, 1e9))                                       # ...and the same time
    second = prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(), log=lambda m: None)
    assert second["files"]["broken.wav"]["status"] == "done"


def test_changed_settings_redo_everything(tmp_path):
    write(tmp_path / "audio" / "a.wav", tone(220, 0.5, SR), SR)
    write(tmp_path / "audio" / "b.wav", tone(330, 0.5, SR), SR)
    extractor = CountingExtractor()
    prepare(tmp_path / "audio", tmp_path / "data", example_seconds=4.0, progress=False, extractor=extractor,
            log=lambda m: None)
    manifest = prepare(tmp_path / "audio", tmp_path / "data", example_seconds=0.2, progress=False,
                       extractor=extractor, log=lambda m: None)
    assert len(extractor.calls) == 4
    assert manifest["settings"]["example_frames"] == 50
    assert manifest["files"]["a.wav"]["examples"] == [[0, 50], [50, 50], [100, 25]]


def test_refined_f0_is_stored_and_recorded_in_the_settings(tmp_path):
    """With f0_refine the stored f0 is extract_features(..., f0_refine=True)'s, and changing the
    setting redoes the files."""
    audio = tone(220, 0.5, SR) * (1 + 0.3 * np.sin(2 * np.pi * 3 * np.arange(SR // 2) / SR)).astype(np.float32)
    write(tmp_path / "audio" / "a.wav", audio, SR)
    plain = prepare(tmp_path / "audio", tmp_path / "data", progress=False, log=lambda m: None)
    refined = prepare(tmp_path / "audio", tmp_path / "data", f0_refine=True, progress=False, log=lambda m: None)
    assert plain["settings"]["f0_refine"] is False and refined["settings"]["f0_refine"] is True
    entry = refined["files"]["a.wav"]
    stored = load(tmp_path / "data", entry, "f0_hz")
    padded = torch.from_numpy(load(tmp_path / "data", entry, "audio"))
    expected = extract_features(padded, SR, HOP, f0_refine=True)["f0_hz"].numpy()
    np.testing.assert_array_equal(stored, expected.astype(np.float32))
    assert not np.array_equal(stored, extract_features(padded, SR, HOP)["f0_hz"].numpy())


def test_interrupted_run_keeps_finished_files_and_resumes(tmp_path):
    audio = tmp_path / "audio"
    for i in range(3):
        write(audio / f"n{i}.wav", tone(220 + 110 * i, 0.5, SR), SR)
    with pytest.raises(KeyboardInterrupt):
        prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(fail_on=2), log=lambda m: None)
    saved = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert list(saved["files"]) == ["n0.wav"] and saved["files"]["n0.wav"]["status"] == "done"
    assert not [p for p in (tmp_path / "data").rglob(".*")], "temporary files left behind"
    extractor = CountingExtractor()
    manifest = prepare(audio, tmp_path / "data", progress=False, extractor=extractor, log=lambda m: None)
    assert len(extractor.calls) == 2
    assert [e["status"] for e in manifest["files"].values()] == ["done"] * 3


def test_folder_of_only_bad_files_prepares_nothing_and_the_dataset_says_so(tmp_path):
    write(tmp_path / "audio" / "silent.wav", np.zeros(1000), SR)
    (tmp_path / "audio" / "junk.wav").write_bytes(b"RIFF1234")
    manifest = prepare(tmp_path / "audio", tmp_path / "data", progress=False, log=lambda m: None)
    assert {e["status"] for e in manifest["files"].values()} == {"skipped"}
    assert json.loads((tmp_path / "data" / "stats.json").read_text()) == {"frames": 0}
    with pytest.raises(ValueError, match="data_dir"):
        PreparedDataset(tmp_path / "data")


def test_new_file_with_the_same_name_in_another_folder_does_not_overwrite_a_finished_one(tmp_path):
    audio = tmp_path / "audio"
    write(audio / "violin" / "take.wav", tone(220, 0.5, SR), SR)
    prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(), log=lambda m: None)
    write(audio / "cello" / "take.wav", tone(110, 0.25, SR), SR)
    manifest = prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(), log=lambda m: None)
    ids = [e["id"] for e in manifest["files"].values()]
    assert len(set(ids)) == 2, f"two source files share the arrays of id {ids[0]!r}"
    violin = manifest["files"]["violin/take.wav"]
    stored = np.load(tmp_path / "data" / "data" / f"{violin['id']}.audio.npy")
    assert stored.shape == (violin["frames"] * HOP,)
    np.testing.assert_allclose(stored[:8000], tone(220, 0.5, SR), atol=1 / 32768)


def test_deleted_source_file_leaves_the_training_set(tmp_path):
    audio = tmp_path / "audio"
    write(audio / "keep.wav", tone(220, 0.5, SR), SR)
    write(audio / "drop.wav", tone(330, 0.5, SR), SR)
    prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(), log=lambda m: None)
    (audio / "drop.wav").unlink()
    manifest = prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(), log=lambda m: None)
    assert list(manifest["files"]) == ["keep.wav"]
    assert len(PreparedDataset(tmp_path / "data")) == 1


def test_deleted_source_removes_exactly_its_arrays(tmp_path):
    audio = tmp_path / "audio"
    write(audio / "take.one.wav", tone(220, 0.5, SR), SR)           # a dot in the stem
    write(audio / "take.wav", tone(330, 0.5, SR), SR)
    manifest = prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(), log=lambda m: None)
    kept = {p.name for p in (tmp_path / "data" / "data").iterdir() if manifest["files"]["take.wav"]["id"] in p.name}
    (audio / "take.one.wav").unlink()
    prepare(audio, tmp_path / "data", progress=False, extractor=CountingExtractor(), log=lambda m: None)
    assert {p.name for p in (tmp_path / "data" / "data").iterdir()} == kept and len(kept) == 4


@pytest.mark.parametrize("crafted_id", ["../../victim", "/abs/victim_0123456789ab", "../victim_0123456789ab", 7, None])
def test_a_crafted_manifest_id_cannot_reach_outside_the_folder(tmp_path, crafted_id):
    """Probe of issue 12: an id like ``../../victim`` made ``prepare`` delete files outside the output
    folder (it globbed on the id), and training read them."""
    audio, data = tmp_path / "audio", tmp_path / "out" / "data"
    write(audio / "a.wav", tone(220, 0.5, SR), SR)
    write(audio / "b.wav", tone(330, 0.5, SR), SR)
    prepare(audio, data, progress=False, extractor=CountingExtractor(), log=lambda m: None)
    victim = tmp_path / "victim.audio.npy"
    np.save(victim, np.zeros(3))
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["files"]["b.wav"]["id"] = crafted_id
    (data / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="^data_dir: .*manifest.json"):
        PreparedDataset(data)
    (audio / "b.wav").unlink()                                        # prepare now removes b's arrays
    with pytest.raises(ValueError, match="^data_dir: .*not a file id"):
        prepare(audio, data, progress=False, extractor=CountingExtractor(), log=lambda m: None)
    assert victim.is_file()


@pytest.mark.parametrize("content", ["", "{", "[]", "{}", '{"settings": {}, "files": []}',
                                     '{"settings": {}, "files": {"a.wav": 3}}'])
def test_a_broken_manifest_is_an_error_naming_the_file(tmp_path, content, capsys):
    audio, data = tmp_path / "audio", tmp_path / "data"
    write(audio / "a.wav", tone(220, 0.5, SR), SR)
    data.mkdir()
    (data / "manifest.json").write_text(content)
    with pytest.raises(ValueError, match="^data_dir: .*manifest.json"):
        PreparedDataset(data)
    assert main(["prepare", str(audio), str(data), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "manifest.json" in err and "Traceback" not in err


def test_extractor_error_on_one_file_skips_that_file(tmp_path):
    audio = tmp_path / "audio"
    for i in range(3):
        write(audio / f"n{i}.wav", tone(220, 0.25 + 0.25 * i, SR), SR)
    counting = CountingExtractor()

    def extractor(x, sample_rate, hop_size):
        if x.shape[0] == math.ceil(0.5 * SR / HOP) * HOP:
            raise ValueError("audio: the tracker cannot analyse this")
        return counting(x, sample_rate, hop_size)

    messages = []
    manifest = prepare(audio, tmp_path / "data", progress=False, extractor=extractor, log=messages.append)
    assert [manifest["files"][f"n{i}.wav"]["status"] for i in range(3)] == ["done", "skipped", "done"]
    assert any("n1.wav" in m and "cannot analyse" in m for m in messages)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_file_with_non_finite_features_is_skipped(tmp_path):
    write(tmp_path / "audio" / "good.wav", tone(220, 0.5, SR), SR)
    write(tmp_path / "audio" / "huge.wav", 1e25 * tone(220, 0.5, SR), SR, subtype="FLOAT")
    manifest = prepare(tmp_path / "audio", tmp_path / "data", progress=False, log=lambda m: None)
    stats = json.loads((tmp_path / "data" / "stats.json").read_text())
    assert np.isfinite(stats["loudness_mean"]) and np.isfinite(stats["loudness_std"])
    assert manifest["files"]["huge.wav"]["status"] == "skipped"


# ---------------------------------------------------------------------------------------------
# The command.

def test_prepare_command_writes_the_manifest(tmp_path, capsys):
    write(tmp_path / "audio" / "a.wav", tone(220, 0.3, SR), SR)
    args = ["prepare", str(tmp_path / "audio"), str(tmp_path / "data"), "--quiet", "--example-seconds", "0.2"]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert manifest["settings"]["example_frames"] == 50 and manifest["files"]["a.wav"]["status"] == "done"
    assert "1 file(s) ready" in capsys.readouterr().out
    assert manifest["settings"]["f0_refine"] is False
    assert main(args + ["--f0-refine"]) == 0
    assert json.loads((tmp_path / "data" / "manifest.json").read_text())["settings"]["f0_refine"] is True


@pytest.mark.parametrize("arguments, name", [
    (["MISSING", "--quiet"], "audio_dir"),
    (["AUDIO", "--quiet", "--sample-rate", "0"], "sample_rate"),
    (["AUDIO", "--quiet", "--frame-rate", "-250"], "frame_rate"),
    (["AUDIO", "--quiet", "--example-seconds", "0"], "example_seconds"),
])
def test_prepare_command_bad_input_exits_2_naming_the_argument(tmp_path, capsys, arguments, name):
    (tmp_path / "audio").mkdir()
    source = {"MISSING": str(tmp_path / "missing"), "AUDIO": str(tmp_path / "audio")}[arguments[0]]
    assert main(["prepare", source, str(tmp_path / "data"), *arguments[1:]]) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


def test_long_files_are_prepared_in_chunks_with_the_whole_files_arrays(tmp_path, monkeypatch):
    from torchddsp.data import long_audio
    from torchddsp.functional.core.resample import resample

    t = np.arange(int(2.5 * 44100)) / 44100
    audio = (0.4 * np.sin(2 * np.pi * 220 * 2 ** (0.3 * np.sin(2 * np.pi * 0.5 * t)) * t)).astype(np.float32)
    write(tmp_path / "in" / "long.wav", audio, 44100, subtype="FLOAT")
    write(tmp_path / "in" / "quiet.wav", np.full(44100, 1e-7, np.float32), 44100, subtype="FLOAT")
    whole = prepare(tmp_path / "in", tmp_path / "whole", progress=False, log=lambda m: None)
    monkeypatch.setattr(long_audio, "CHUNK_SECONDS", 0.4)
    monkeypatch.setattr(long_audio, "CONTEXT_SECONDS", 0.3)
    chunked = prepare(tmp_path / "in", tmp_path / "chunked", progress=False, log=lambda m: None)
    assert chunked == whole
    entry = whole["files"]["long.wav"]
    for field in ("audio", "f0_hz", "f0_confidence", "loudness_db"):
        np.testing.assert_array_equal(load(tmp_path / "chunked", entry, field), load(tmp_path / "whole", entry, field))
    expected = resample(audio.astype(np.float64), 44100, SR).astype(np.float32)
    prepared = load(tmp_path / "chunked", entry, "audio")
    np.testing.assert_array_equal(prepared[:expected.size], expected)
    assert not prepared[expected.size:].any() and prepared.size == entry["frames"] * HOP
    # The silent file was written chunk by chunk before it was found silent: nothing of it is left.
    assert whole["files"]["quiet.wav"]["status"] == "skipped"
    assert sorted(p.name.split(".")[0] for p in (tmp_path / "chunked" / "data").iterdir()) == [entry["id"]] * 4


def test_a_rerun_removes_the_temporaries_a_killed_run_left(tmp_path):
    import subprocess
    import sys

    write(tmp_path / "in" / "a.wav", tone(220, 0.5, SR), SR)
    prepare(tmp_path / "in", tmp_path / "out", progress=False, log=lambda m: None)
    code = ("import os; from torchddsp.files import write_atomically; "
            f"write_atomically({str(tmp_path / 'out' / 'data' / 'x_0123456789ab.audio.npy')!r}, lambda t: os._exit(9))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    before = sorted(p.name for p in (tmp_path / "out" / "data").iterdir())
    assert len(before) == 5 and before[0].startswith(".x_0123456789ab.audio.npy.")
    messages = []
    prepare(tmp_path / "in", tmp_path / "out", progress=False, log=messages.append)
    assert sorted(p.name for p in (tmp_path / "out" / "data").iterdir()) == before[1:]
    assert "removed 1 temporary file(s)" in messages[0]
