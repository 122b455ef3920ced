"""Every command with bad arguments (issue 12): the exit status, one line on stderr naming the culprit,
no traceback, and nothing written.

Most cases run in this process (``run_main``); a handful run as real processes, where stderr holds
everything the process printed until it exited. Absurd sizes run in a process with capped memory,
so a size that is not refused fails fast there instead of taking the machine's memory.

Exit statuses (docs/crash-safety.md): 2 for a user error, 1 when the system refuses (an output
folder that is an existing file is a user error too, named before any work).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import TINY, assert_one_line_error, files_under, run_capped, run_cli, run_main
from torchddsp.models import DDSPAutoencoder, ModelConfig

SR = 16000
SETS = sum((["--set", s] for s in TINY + ["train.steps=2"]), [])   # a case that wrongly trains, trains 2 steps


@pytest.fixture
def places(tmp_path, short_run, tone_data, recording):
    """The paths the cases name: ``{run}`` the shared trained run, ``{data}`` the shared prepared folder,
    ``{wav}`` a good recording, ``{tmp}`` a scratch folder, and a corpus of wrong inputs."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "notes.txt").write_text("not audio\n")
    (tmp_path / "plain").write_text("a file where a folder is expected\n")
    sf.write(str(tmp_path / "zero.wav"), np.zeros(0, np.float32), SR)
    sf.write(str(tmp_path / "nan.wav"), np.array([0.1, np.nan, 0.2] * 100, np.float32), SR, subtype="FLOAT")
    (tmp_path / "audio").mkdir()
    sf.write(str(tmp_path / "audio" / "a.wav"), np.sin(np.arange(4000) / 10).astype(np.float32) * 0.5, SR)
    return {"run": str(short_run[0]), "data": str(tone_data), "wav": str(recording), "tmp": str(tmp_path)}


def case(argv, code, culprit, id):
    return pytest.param(argv, code, culprit, id=id)


CASES = [
    # render
    case(["render", "--out", "{tmp}/r", "--hop-size", "0"], 2, "hop_size", "render-hop-size-0"),
    case(["render", "--out", "{tmp}/r", "--sample-rate", "0"], 2, "sample_rate", "render-sample-rate-0"),
    case(["render", "--out", "{tmp}/r", "--sample-rate", "-16000"], 2, "sample_rate", "render-sample-rate-negative"),
    case(["render", "--out", "{tmp}/r", "--sample-rate", "abc"], 2, "--sample-rate", "render-sample-rate-not-int"),
    case(["render", "--out", "{tmp}/r", "--seconds", "0"], 2, "seconds", "render-seconds-0"),
    case(["render", "--out", "{tmp}/r", "--seconds", "-1"], 2, "seconds", "render-seconds-negative"),
    case(["render", "--out", "{tmp}/r", "--seconds", "nan"], 2, "seconds", "render-seconds-nan"),
    case(["render", "--out", "{tmp}/r", "--seconds", "inf"], 2, "seconds", "render-seconds-inf"),
    case(["render", "--out", "{tmp}/r", "--harmonics", "0"], 2, "harmonics", "render-harmonics-0"),
    case(["render", "--out", "{tmp}/r", "--harmonics", "-3"], 2, "harmonics", "render-harmonics-negative"),
    case(["render", "--out", "{tmp}/r", "--seed", str(2 ** 70)], 2, "seed", "render-seed-overflow"),
    case(["render", "--out", "{tmp}/plain", "--seconds", "0.1"], 2, "{tmp}/plain", "render-out-is-a-file"),
    case(["render", "--bogus"], 2, "--bogus", "render-unknown-option"),
    # prepare
    case(["prepare", "{tmp}/missing", "{tmp}/p", "--quiet"], 2, "audio_dir", "prepare-missing-input"),
    case(["prepare", "{tmp}/audio"], 2, "out_dir", "prepare-no-output"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--sample-rate", "0"], 2, "sample_rate",
         "prepare-sample-rate-0"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--sample-rate", "-1"], 2, "sample_rate",
         "prepare-sample-rate-negative"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--sample-rate", "16k"], 2, "--sample-rate",
         "prepare-sample-rate-not-int"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--frame-rate", "-250"], 2, "frame_rate",
         "prepare-frame-rate-negative"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--frame-rate", "nan"], 2, "frame_rate",
         "prepare-frame-rate-nan"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--example-seconds", "0"], 2, "example_seconds",
         "prepare-example-seconds-0"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--example-seconds", "nan"], 2, "example_seconds",
         "prepare-example-seconds-nan"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--example-seconds", "inf"], 2, "example_seconds",
         "prepare-example-seconds-inf"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--f0-method", "nope"], 2, "--f0-method",
         "prepare-unknown-tracker"),
    case(["prepare", "{wav}", "{wav}", "--quiet"], 2, "{wav}", "prepare-output-is-the-input-file"),
    case(["prepare", "{tmp}/audio", "{tmp}/plain", "--quiet"], 2, "{tmp}/plain", "prepare-output-is-a-file"),
    # train
    case(["train", "{tmp}/missing", "{tmp}/t", *SETS], 2, "data_dir", "train-missing-data"),
    case(["train", "{tmp}/empty", "{tmp}/t", *SETS], 2, "data_dir", "train-unprepared-data"),
    case(["train", "{tmp}/notes.txt", "{tmp}/t", *SETS], 2, "data_dir", "train-data-is-a-file"),
    case(["train", "{data}"], 2, "run_dir", "train-no-run-dir"),
    case(["train", "{data}", "{data}", *SETS], 2, "run_dir", "train-run-dir-is-the-data"),
    case(["train", "{data}", "{tmp}/plain", *SETS], 2, "{tmp}/plain", "train-run-dir-is-a-file"),
    case(["train", "{data}", "{tmp}/empty", "--resume", *SETS], 2, "nothing to resume", "train-resume-nothing"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "model.mlp_layers=0"], 2, "model.mlp_layers",
         "train-mlp-layers-0"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "model.z_size=-1"], 2, "model.z_size", "train-z-size-negative"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "model.n_harmonics=5000000"], 2, "model.n_harmonics",
         "train-n-harmonics-absurd"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "model.bogus=1"], 2, "bogus", "train-unknown-model-key"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "bogus.key=1"], 2, "bogus.key", "train-unknown-section"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "train.steps"], 2, "--set", "train-set-without-value"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "train.steps=0"], 2, "train.steps", "train-steps-0"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "train.steps=-5"], 2, "train.steps", "train-steps-negative"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "train.learning_rate=nan"], 2, "train.learning_rate",
         "train-learning-rate-nan"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "train.crop_seconds=0"], 2, "train.crop_seconds",
         "train-crop-0"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "train.time_limit_seconds=nan"], 2,
         "train.time_limit_seconds", "train-time-limit-nan"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "train.seed=-1"], 2, "train.seed", "train-seed-negative"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", f"train.seed={2 ** 70}"], 2, "train.seed",
         "train-seed-overflow"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--config", "{tmp}/notes.txt"], 2, "config", "train-config-not-toml"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--config", "{tmp}/missing.toml"], 2, "config",
         "train-config-missing"),
    # resynth
    case(["resynth", "{tmp}/empty", "{wav}", "{tmp}/o.wav"], 2, "run_dir", "resynth-run-without-checkpoint"),
    case(["resynth", "{run}", "{tmp}/missing.wav", "{tmp}/o.wav"], 2, "missing.wav", "resynth-missing-input"),
    case(["resynth", "{run}", "{tmp}/notes.txt", "{tmp}/o.wav"], 2, "notes.txt", "resynth-input-not-audio"),
    case(["resynth", "{run}", "{tmp}/empty", "{tmp}/o.wav"], 2, "{tmp}/empty", "resynth-input-is-a-folder"),
    case(["resynth", "{run}", "{tmp}/zero.wav", "{tmp}/o.wav"], 2, "audio", "resynth-input-of-0-samples"),
    case(["resynth", "{run}", "{tmp}/nan.wav", "{tmp}/o.wav"], 2, "audio", "resynth-input-with-nan"),
    case(["resynth", "{run}", "{wav}", "{wav}"], 2, "output", "resynth-output-is-the-input"),
    case(["resynth", "{run}", "{wav}", "{tmp}/./take.wav"], 2, "output", "resynth-output-is-the-input-respelled"),
    case(["resynth", "{run}", "{wav}", "{run}/checkpoints/o.wav"], 2, "output", "resynth-output-in-checkpoints"),
    case(["resynth", "{run}", "{wav}", "{tmp}/o"], 2, "output", "resynth-output-without-extension"),
    case(["resynth", "{run}", "{wav}", "{tmp}/o.mp3"], 2, "output", "resynth-output-wrong-extension"),
    case(["resynth", "{run}", "{wav}", "{tmp}/folder.wav"], 2, "output", "resynth-output-is-a-folder"),
    case(["resynth", "{run}", "{wav}", "{tmp}/plain/o.wav"], 2, "output", "resynth-output-under-a-file"),
    case(["resynth", "{run}", "{wav}", "{tmp}/o.wav", "--seed", str(2 ** 70)], 2, "seed", "resynth-seed-overflow"),
    case(["resynth", "{run}", "{wav}"], 2, "output", "resynth-no-output"),
    # transfer
    case(["transfer", "{tmp}/empty", "{wav}", "{tmp}/o.wav"], 2, "run_dir", "transfer-run-without-checkpoint"),
    case(["transfer", "{run}", "{tmp}/notes.txt", "{tmp}/o.wav"], 2, "notes.txt", "transfer-input-not-audio"),
    case(["transfer", "{run}", "{wav}", "{wav}"], 2, "output", "transfer-output-is-the-input"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.flac"], 2, "output", "transfer-output-wrong-extension"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.wav", "--octave-shift", "100"], 2, "octave_shift",
         "transfer-octave-shift-100"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.wav", "--octave-shift", "-9"], 2, "octave_shift",
         "transfer-octave-shift-minus-9"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.wav", "--octave-shift", "1.5"], 2, "--octave-shift",
         "transfer-octave-shift-not-int"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.wav", "--loudness-shift", "nan"], 2, "loudness_shift",
         "transfer-loudness-shift-nan"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.wav", "--loudness-shift", "inf"], 2, "loudness_shift",
         "transfer-loudness-shift-inf"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.wav", "--loudness-shift", "1e6"], 2, "loudness_shift",
         "transfer-loudness-shift-absurd"),
    # evaluate
    case(["evaluate", "{tmp}/empty", "{wav}", "--f0-tracker", "yin"], 2, "run_dir", "evaluate-run-without-checkpoint"),
    case(["evaluate", "{run}", "--f0-tracker", "yin"], 2, "audio", "evaluate-no-audio"),
    case(["evaluate", "{run}", "{wav}", "--f0-tracker", "nope"], 2, "--f0-tracker", "evaluate-unknown-tracker"),
    case(["evaluate", "{run}", "{tmp}/missing.wav", "--f0-tracker", "yin"], 2, "missing.wav", "evaluate-missing-audio"),
    case(["evaluate", "{run}", "{tmp}/notes.txt", "--f0-tracker", "yin"], 2, "notes.txt", "evaluate-not-audio"),
    case(["evaluate", "{run}", "{tmp}/zero.wav", "--f0-tracker", "yin"], 2, "audio", "evaluate-audio-of-0-samples"),
    case(["evaluate", "{run}", "{wav}", "--f0-tracker", "yin", "--json", "{tmp}/folder.json"], 2, "--json",
         "evaluate-json-is-a-folder"),
    case(["evaluate", "{run}", "{wav}", "--f0-tracker", "yin", "--json", "{tmp}/m.txt"], 2, "--json",
         "evaluate-json-wrong-extension"),
    case(["evaluate", "{run}", "{wav}", "--f0-tracker", "yin", "--json", "{wav}"], 2, "--json",
         "evaluate-json-is-the-input"),
    case(["evaluate", "{run}", "{wav}", "--f0-tracker", "yin", "--json", "{run}/checkpoints/m.json"], 2, "--json",
         "evaluate-json-in-checkpoints"),
    case(["evaluate", "{run}", "{wav}", "--f0-tracker", "yin", "--json", "{tmp}/plain/m.json"], 2, "--json",
         "evaluate-json-under-a-file"),
    # demo (always into {tmp}, and for a few seconds, should a case wrongly get through)
    case(["demo", "--out", "{tmp}/d", "--steps", "0"], 2, "steps", "demo-steps-0"),
    case(["demo", "--out", "{tmp}/d", "--steps", "-1"], 2, "steps", "demo-steps-negative"),
    case(["demo", "--out", "{tmp}/d", "--steps", "1.5"], 2, "--steps", "demo-steps-not-an-integer"),
    case(["demo", "--out", "{tmp}/d", "--steps", "ten"], 2, "--steps", "demo-steps-not-a-number"),
    case(["demo", "--out", "{tmp}/d", "--steps", "2", "--audio", "{tmp}/missing.wav"], 2, "audio",
         "demo-missing-audio"),
    case(["demo", "--out", "{tmp}/d", "--steps", "2", "--audio", "{tmp}/empty"], 2, "audio",
         "demo-audio-is-a-folder"),
    case(["demo", "--out", "{tmp}/d", "--steps", "2", "--audio", "{tmp}/notes.txt"], 2, "notes.txt",
         "demo-audio-not-audio"),
    case(["demo", "--out", "{tmp}/plain", "--steps", "2", "--audio", "{wav}"], 2, "{tmp}/plain",
         "demo-out-is-a-file"),
]


def test_every_command_is_in_the_table():
    from torchddsp.apps.cli import build_parser

    commands = set(next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)
    assert commands == {argv[0] for argv, _, _ in (p.values for p in CASES)}, "a command without bad-argument cases"


@pytest.mark.parametrize("argv, code, culprit", CASES)
def test_bad_arguments_are_one_line_errors(places, capsys, argv, code, culprit):
    argv = [a.format(**places) for a in argv]
    shared = files_under(places["run"], places["data"])
    before = files_under(places["tmp"])
    status, out, err = run_main(capsys, argv)
    assert_one_line_error(argv[0], status, err, code, culprit.format(**places))
    assert files_under(places["run"], places["data"]) == shared, "the shared run or prepared folder was written"
    # Refused before any work: no file written (the missing parents of an output may be created).
    after = files_under(places["tmp"])
    assert after == before, f"files written: {sorted(set(after) - set(before))}"


# A handful as real processes: stderr is everything the process wrote until it exited.
PROCESS_CASES = [
    case(["render", "--out", "{tmp}/r", "--hop-size", "0"], 2, "hop_size", "render"),
    case(["prepare", "{tmp}/missing", "{tmp}/p", "--quiet"], 2, "audio_dir", "prepare"),
    case(["train", "{data}", "{tmp}/t", *SETS, "--set", "model.mlp_layers=0"], 2, "model.mlp_layers", "train"),
    case(["resynth", "{run}", "{wav}", "{wav}"], 2, "output", "resynth"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.wav", "--loudness-shift", "nan"], 2, "loudness_shift", "transfer"),
    case(["evaluate", "{run}", "{wav}", "--f0-tracker", "yin", "--json", "{tmp}/folder.json"], 2, "--json",
         "evaluate"),
    case(["demo", "--out", "{tmp}/d", "--steps", "-1"], 2, "steps", "demo"),
    case(["transfer", "{run}", "{wav}", "{tmp}/o.wav", "--octave-shift", "x"], 2, "--octave-shift", "argparse"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv, code, culprit", PROCESS_CASES)
def test_bad_arguments_of_a_real_process(places, argv, code, culprit):
    argv = [a.format(**places) for a in argv]
    done = run_cli(argv, timeout=120)
    assert_one_line_error(argv[0], done.returncode, done.stderr, code, culprit.format(**places))
    assert done.stdout == ""


@pytest.mark.slow
def test_the_console_script_exits_with_the_status(places):
    script = Path(sys.executable).parent / "torchddsp"
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable} (the package is not installed)")
    done = subprocess.run([str(script), "resynth", places["run"], places["wav"], places["wav"]], capture_output=True,
                          text=True, timeout=120)
    assert_one_line_error("resynth", done.returncode, done.stderr, 2, "output")


@pytest.mark.parametrize("command", ["resynth", "transfer", "evaluate"])
def test_an_output_in_an_unwritable_folder_is_refused_before_any_work(places, capsys, monkeypatch, command):
    # Root writes anywhere (CI runs as root), so the refusal of the one folder is simulated.
    locked = Path(places["tmp"]) / "locked"
    locked.mkdir()
    access = os.access
    monkeypatch.setattr("torchddsp.files.os.access",
                        lambda path, mode, *a, **k: False if Path(path) == locked else access(path, mode, *a, **k))
    if command == "evaluate":
        argv = ["evaluate", places["run"], places["wav"], "--f0-tracker", "yin", "--json", str(locked / "m.json")]
    else:
        argv = [command, places["run"], places["wav"], str(locked / "o.wav")]
    status, _, err = run_main(capsys, argv)
    message = assert_one_line_error(command, status, err, 2, "not writable")
    assert str(locked) in message and ("--json" if command == "evaluate" else "output") in message
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("command", ["resynth", "transfer", "evaluate"])
def test_a_one_sample_recording_works_end_to_end(places, capsys, command):
    """Not a bad argument: a 1-sample recording is analysed with silence after it (docs/crash-safety.md)."""
    tmp = Path(places["tmp"])
    sf.write(str(tmp / "one.wav"), np.full(1, 0.1, np.float32), SR)
    if command == "evaluate":
        argv = ["evaluate", places["run"], str(tmp / "one.wav"), "--f0-tracker", "yin", "--json", str(tmp / "m.json")]
    else:
        argv = [command, places["run"], str(tmp / "one.wav"), str(tmp / "o.wav")]
    status, out, err = run_main(capsys, argv)
    assert status == 0 and "Traceback" not in err, err
    if command == "evaluate":
        rows = json.loads((tmp / "m.json").read_text())
        assert rows[0]["seconds"] == pytest.approx(64 / SR)
    else:
        audio, rate = sf.read(str(tmp / "o.wav"))
        assert rate == SR and len(audio) == 64 and np.isfinite(audio).all()
        assert (tmp / "o.html").is_file()


def test_prepare_into_its_own_audio_folder_keeps_the_recordings(tmp_path, capsys):
    """``prepare AUDIO AUDIO``: the prepared arrays go beside the recordings, which stay untouched, and a
    re-run does not take its own output for recordings."""
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(str(audio / "a.wav"), 0.5 * np.sin(np.arange(8000) / 10), SR)
    before = (audio / "a.wav").read_bytes()
    for _ in range(2):
        status, out, err = run_main(capsys, ["prepare", audio, audio, "--quiet"])
        assert status == 0 and "1 file(s) ready, 0 skipped" in out, out + err
    assert (audio / "a.wav").read_bytes() == before


# Absurd sizes, each in a process whose memory is capped at 2 GiB more than after its imports: refused fast,
# never allocated.
ABSURD = [
    case(["render", "--out", "{tmp}/r", "--harmonics", "5000000"], 2, "harmonics", "render-harmonics"),
    case(["render", "--out", "{tmp}/r", "--seconds", "100000"], 2, "seconds", "render-seconds"),
    case(["train", "{data}", "{tmp}/t1", *SETS, "--set", "model.hidden=8192", "--set", "model.mlp_layers=64"], 2,
         "model.hidden", "train-hidden-times-layers"),
    case(["train", "{data}", "{tmp}/t2", *SETS, "--set", "train.batch_size=100000000"], 2, "train.batch_size",
         "train-batch-size"),
    case(["train", "{data}", "{tmp}/t3", *SETS, "--set", "train.crop_seconds=1e9"], 2, "train.crop_seconds",
         "train-crop-seconds"),
    case(["prepare", "{tmp}/audio", "{tmp}/p", "--quiet", "--sample-rate", "1000000000"], 2, "sample_rate",
         "prepare-sample-rate"),
]


@pytest.fixture
def absurd_results(places):
    cases = [[a.format(**places) for a in p.values[0]] for p in ABSURD]
    return run_capped(cases, cap=2 << 30, timeout=300)


@pytest.mark.slow
def test_absurd_sizes_are_refused_fast_without_allocating(places, absurd_results):
    failures = []
    for p in ABSURD:
        argv, code, culprit = p.values
        argv = [a.format(**places) for a in argv]
        result = absurd_results[tuple(argv)]
        try:
            assert_one_line_error(argv[0], result["code"], result["err"], code, culprit)
            assert result["seconds"] < 20, f"took {result['seconds']:.1f} s"
            assert result["grown_bytes"] < 1 << 30, f"memory grew by {result['grown_bytes'] / 2 ** 30:.1f} GiB"
        except AssertionError as error:
            last = result["err"].strip().splitlines()[-1:] or ["(nothing on stderr)"]
            failures.append(f"{p.id}: {str(error).splitlines()[0][:300]} [stderr ends: {last[0][:300]}]")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("config", [dict(hidden=32, mlp_layers=1, n_harmonics=20),
                                    dict(hidden=24, mlp_layers=4, z_size=3, n_mfcc=7, reverb_seconds=0.1),
                                    dict(reverb_seconds=0.0, hidden=16)])
def test_the_size_limit_counts_the_weights_exactly(config):
    """The whole-network limit that refuses ``hidden=8192, mlp_layers=64`` counts the weights without
    building the model: the count must be the model's."""
    model_config = ModelConfig(**config)
    built = sum(p.numel() for p in DDSPAutoencoder(model_config).parameters())
    assert model_config.parameter_count() == built
