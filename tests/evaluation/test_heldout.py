"""The held-out protocol: its fixed split of the development recordings, the reference systems and
the length-weighted summary."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from helpers import shared_audio
from torchddsp.evaluation.heldout import (
    HELD_OUT_MELODIES,
    INSTRUMENTS,
    TRAIN_MELODIES,
    melody_path,
    score_references,
    split,
    summarise,
)
from torchddsp.evaluation.references import naive_harmonic


def test_the_split_is_fixed_and_disjoint():
    assert TRAIN_MELODIES == ("m1", "m3", "m5", "m7") and HELD_OUT_MELODIES == ("m4", "m6", "m8")
    assert not set(TRAIN_MELODIES) & set(HELD_OUT_MELODIES) and len(INSTRUMENTS) == 7
    assert melody_path("r", "violin", "m1", 16000).name == "fluid_violin.16k.flac"
    assert melody_path("r", "cello", "m8", 44100).name == "fluid_cello_m8.44k.flac"
    with pytest.raises(ValueError, match="instrument: expected one of"):
        melody_path("r", "banjo", "m1", 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        melody_path("r", "violin", "m1", 22050)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_every_instrument_has_its_melodies_in_the_shared_recordings(rate):
    root = shared_audio("fluid_violin.16k.flac").parent
    for instrument in INSTRUMENTS:
        train, held_out = split(root, instrument, rate)
        assert len(train) == 4 and len(held_out) == 3 and all(p.is_file() for p in train + held_out)


def test_a_missing_recording_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"root: the held-out protocol needs .*fluid_violin\.16k\.flac"):
        split(tmp_path, "violin", 16000)


def test_the_summary_weights_files_by_length_and_skips_nan():
    rows = [{"file": "a", "mss": 1.0, "f0_l1_cents": math.nan, "seconds": 10.0, "f0_tracker": "yin"},
            {"file": "b", "mss": 2.0, "f0_l1_cents": 4.0, "seconds": 30.0, "f0_tracker": "yin"}]
    assert summarise(rows) == {"mss": pytest.approx(1.75), "f0_l1_cents": 4.0, "seconds": 40.0}


def test_references_are_scored_by_the_models_metrics(tmp_path):
    t = np.arange(int(0.8 * 16000)) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(str(path), tone, 16000, subtype="FLOAT")
    rows = score_references([path], 64, f0_tracker="yin", f0_method="yin")
    assert set(rows) == {"world", "naive harmonic"}
    for name, (row,) in rows.items():
        assert row["file"] == "tone.wav" and row["f0_tracker"] == "yin"
        assert row["seconds"] == pytest.approx(0.8, abs=64 / 16000)
        assert row["mss"] > 0 and all(math.isfinite(v) for v in row.values() if isinstance(v, float)), (name, row)
    assert rows["naive harmonic"][0]["f0_l1_cents"] < 30           # it follows the tone's pitch
    # The naive synth matches the input's level frame by frame on pitched frames.
    rendered = naive_harmonic(tone, 16000, 64, "yin")
    body = slice(1600, -1600)
    assert rendered.shape == tone.shape
    np.testing.assert_allclose(np.sqrt(np.mean(rendered[body] ** 2)), np.sqrt(np.mean(tone[body] ** 2)), rtol=0.05)
