"""Crafted inputs through the commands, end to end (issue 12): a corpus of bad recordings, damaged or
malicious prepared folders, damaged or malicious run folders.

Each gives either the right result or a one-line error naming the culprit, never a traceback, never
a file read, run or deleted outside the folder, never gigabytes (absurd sizes run in a process whose
memory is capped). Many of these have unit tests beside their modules; here they go through the CLI.
"""

from __future__ import annotations

import json
import pickle
import shutil
import struct

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import TINY, Payload, assert_one_line_error, files_under, hidden_files, read_losses, run_capped, run_main
from torchddsp.apps.inference import load_trained
from torchddsp.training import latest_checkpoint

SR = 16000
SETS = sum((["--set", s] for s in TINY + ["train.steps=42", "train.checkpoint_every=10"]), [])
RESUME = ["--quiet", "--resume", *SETS]
NEWEST = "step_00000040"


# ---------------------------------------------------------------------------------------------
# A corpus of bad recordings: each skipped with its reason, the good one prepared.

def test_prepare_skips_each_bad_recording_with_its_reason_and_prepares_the_good_one(tmp_path, capsys):
    audio = tmp_path / "audio"
    audio.mkdir()
    good = 0.5 * np.sin(2 * np.pi * 220 * np.arange(8000) / SR)
    sf.write(str(audio / "good.wav"), good, SR)
    (audio / "empty.wav").write_bytes(b"")
    (audio / "truncated_header.wav").write_bytes((audio / "good.wav").read_bytes()[:30])
    (audio / "random_bytes.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    (audio / "text.flac").write_text("not audio")
    with_nan = good.astype(np.float32)
    with_nan[100] = np.nan
    sf.write(str(audio / "nan.wav"), with_nan, SR, subtype="FLOAT")
    with_inf = good.astype(np.float32)
    with_inf[200] = -np.inf
    sf.write(str(audio / "inf.wav"), with_inf, SR, subtype="FLOAT")
    sf.write(str(audio / "silent.wav"), np.zeros(8000), SR)
    sf.write(str(audio / "zero_samples.wav"), np.zeros(0), SR)
    (audio / "folder.wav").mkdir()                                    # a folder with an audio name
    (audio / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    reasons = {"empty.wav": "unreadable", "truncated_header.wav": "unreadable", "random_bytes.wav": "unreadable",
               "text.flac": "unreadable", "nan.wav": "NaN or infinite", "inf.wav": "NaN or infinite",
               "silent.wav": "silent", "zero_samples.wav": "empty"}

    status, out, err = run_main(capsys, ["prepare", audio, tmp_path / "data", "--quiet"])
    assert status == 0 and "Traceback" not in err, err
    assert f"1 file(s) ready, {len(reasons)} skipped" in out, out
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert set(manifest["files"]) == {"good.wav", *reasons}, "the folder or the dangling link was taken for audio"
    for name, reason in reasons.items():
        entry = manifest["files"][name]
        assert entry["status"] == "skipped" and reason in entry["reason"], (name, entry)
        assert any(line.startswith(f"prepare: skipping {name}: ") and reason in line for line in out.splitlines()), name
    entry = manifest["files"]["good.wav"]
    assert entry["status"] == "done"
    arrays = sorted(p.name for p in (tmp_path / "data" / "data").iterdir())
    assert arrays == sorted(f"{entry['id']}.{f}.npy" for f in ("audio", "f0_hz", "f0_confidence", "loudness_db"))
    np.testing.assert_allclose(np.load(tmp_path / "data" / "data" / arrays[0])[:8000], good, atol=1 / 32768)
    assert hidden_files(tmp_path / "data") == []


# ---------------------------------------------------------------------------------------------
# Crafted prepared folders: train refuses them in one line; nothing outside the folder is touched.

@pytest.fixture
def prepared(tone_data, tmp_path):
    """A copy of the shared prepared folder (and its recordings) at ``tmp/prepared``, with sentinels at
    ``tmp/victim.*.npy``: where the arrays of the id ``../../victim`` would be."""
    shutil.copytree(tone_data.parent / "audio", tmp_path / "audio")
    shutil.copytree(tone_data, tmp_path / "prepared")
    for field in ("audio", "f0_hz", "f0_confidence", "loudness_db"):
        np.save(tmp_path / f"victim.{field}.npy", np.zeros(3, np.float32))
    return tmp_path / "prepared"


def edit_manifest(change):
    def edit(folder):
        path = folder / "manifest.json"
        manifest = json.loads(path.read_text())
        change(manifest, manifest["files"]["tone.wav"])
        path.write_text(json.dumps(manifest))
    return edit


def write_file(name, content):
    def write(folder):
        path = folder / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return write


def replace_array(field, make):
    def replace(folder):
        file_id = json.loads((folder / "manifest.json").read_text())["files"]["tone.wav"]["id"]
        path = folder / "data" / f"{file_id}.{field}.npy"
        path.unlink()
        made = make(folder)
        if isinstance(made, bytes):
            path.write_bytes(made)
        elif made is not None:
            np.save(path, made, allow_pickle=True)
    return replace


def pickled_array(folder):
    array = np.empty(1, dtype=object)
    array[0] = Payload(folder.parent / "PWNED")
    return array


PREPARED_DAMAGE = [
    pytest.param(edit_manifest(lambda m, e: e.update(id="../../victim")), "manifest.json", id="id-traversal"),
    pytest.param(edit_manifest(lambda m, e: e.update(id="/abs/victim_0123456789ab")), "manifest.json",
                 id="id-absolute"),
    pytest.param(edit_manifest(lambda m, e: e.update(id=7)), "manifest.json", id="id-not-a-string"),
    pytest.param(write_file("manifest.json", "{"), "manifest.json", id="manifest-broken-json"),
    pytest.param(write_file("manifest.json", ""), "manifest.json", id="manifest-empty"),
    pytest.param(write_file("manifest.json", "[]"), "manifest.json", id="manifest-a-list"),
    pytest.param(write_file("manifest.json", '{"settings": {}, "files": []}'), "manifest.json",
                 id="manifest-files-a-list"),
    pytest.param(edit_manifest(lambda m, e: m["settings"].update(hop_size=0)), "hop_size", id="settings-hop-0"),
    pytest.param(edit_manifest(lambda m, e: m["settings"].update(hop_size=-64)), "hop_size",
                 id="settings-hop-negative"),
    pytest.param(edit_manifest(lambda m, e: m["settings"].pop("hop_size")), "hop_size", id="settings-hop-missing"),
    pytest.param(edit_manifest(lambda m, e: m["settings"].update(sample_rate="x")), "sample_rate",
                 id="settings-rate-a-string"),
    pytest.param(edit_manifest(lambda m, e: m["settings"].update(sample_rate=10 ** 12)), "sample_rate",
                 id="settings-rate-absurd"),
    pytest.param(edit_manifest(lambda m, e: m["settings"].update(example_frames=-1)), "example_frames",
                 id="settings-example-frames-negative"),
    pytest.param(edit_manifest(lambda m, e: e.update(examples="x")), "examples", id="examples-a-string"),
    pytest.param(edit_manifest(lambda m, e: e.update(examples=None)), "examples", id="examples-missing"),
    pytest.param(edit_manifest(lambda m, e: e.update(examples=[[0, 10 ** 12]])), "examples", id="examples-absurd"),
    pytest.param(edit_manifest(lambda m, e: e.update(examples=[[-10 ** 9, 5]])), "examples", id="examples-negative"),
    pytest.param(write_file("stats.json", "{"), "stats.json", id="stats-broken-json"),
    pytest.param(write_file("stats.json", "[]"), "stats.json", id="stats-a-list"),
    pytest.param(write_file("stats.json", '{"loudness_mean": "x", "loudness_std": null}'), "stats.json",
                 id="stats-not-numbers"),
    pytest.param(replace_array("f0_hz", lambda folder: None), ".f0_hz.npy", id="array-missing"),
    pytest.param(replace_array("audio", lambda folder: np.zeros(3, np.float32)), ".audio.npy", id="array-too-short"),
    pytest.param(replace_array("f0_hz", lambda folder: np.zeros((10, 10, 10), np.float32)), ".f0_hz.npy",
                 id="array-3d"),
    pytest.param(replace_array("f0_hz", lambda folder: np.array(["a"] * 10)), ".f0_hz.npy", id="array-of-strings"),
    pytest.param(replace_array("loudness_db", lambda folder: b"garbage"), ".loudness_db.npy", id="array-garbage"),
    pytest.param(replace_array("audio", pickled_array), ".audio.npy", id="array-malicious-pickle"),
]


@pytest.mark.parametrize("damage, culprit", PREPARED_DAMAGE)
def test_train_refuses_a_crafted_prepared_folder_in_one_line(prepared, capsys, damage, culprit):
    damage(prepared)
    outside = files_under(prepared.parent / "audio"), {p: p.read_bytes() for p in prepared.parent.glob("victim.*")}
    run_dir = prepared.parent / "run"
    status, _, err = run_main(capsys, ["train", prepared, run_dir, "--quiet", *SETS])
    assert_one_line_error("train", status, err, 2, culprit)
    assert not run_dir.exists(), "the run was started before the data was checked"
    assert not (prepared.parent / "PWNED").exists(), "a pickled payload ran"
    assert (files_under(prepared.parent / "audio"), {p: p.read_bytes() for p in prepared.parent.glob("victim.*")}) \
        == outside


@pytest.mark.parametrize("crafted_id", ["../../victim", "/abs/victim_0123456789ab", "../victim_0123456789ab"])
def test_prepare_refuses_a_traversal_id_and_deletes_nothing_outside(prepared, capsys, crafted_id):
    """The manifest names arrays of a recording that is gone, so ``prepare`` removes them: never outside."""
    manifest = json.loads((prepared / "manifest.json").read_text())
    manifest["files"]["gone.wav"] = {**manifest["files"]["tone.wav"], "id": crafted_id}
    (prepared / "manifest.json").write_text(json.dumps(manifest))
    victims = {p: p.read_bytes() for p in prepared.parent.glob("victim.*")}
    inside = files_under(prepared / "data")
    status, _, err = run_main(capsys, ["prepare", prepared.parent / "audio", prepared, "--quiet",
                                       "--example-seconds", "1"])          # the folder's settings
    assert_one_line_error("prepare", status, err, 2, "manifest.json")
    assert {p: p.read_bytes() for p in prepared.parent.glob("victim.*")} == victims and len(victims) == 4
    assert files_under(prepared / "data") == inside


# ---------------------------------------------------------------------------------------------
# Crafted run folders.

def resynth(capsys, run_dir, recording, command="resynth"):
    output = run_dir.parent / f"{command}.wav"
    argv = ([command, run_dir, recording, output] if command != "evaluate"
            else ["evaluate", run_dir, recording, "--f0-tracker", "yin"])
    return run_main(capsys, argv), output


def assert_resumed_cleanly(run_dir, out, from_step):
    assert f"resuming from {run_dir / 'checkpoints' / f'step_{from_step:08d}'} (step {from_step})" in out, out
    assert latest_checkpoint(run_dir) == run_dir / "checkpoints" / "step_00000042"
    rows = read_losses(run_dir)
    assert [int(r["step"]) for r in rows] == list(range(42)), "a step missing or logged twice"
    assert all(len(r) == 3 and None not in r.values() and np.isfinite(float(r["loss"])) for r in rows)
    assert hidden_files(run_dir) == [], "temporaries left behind"
    load_trained(run_dir)


def complete_checkpoint_elsewhere(run_dir, step=99):
    """A complete checkpoint outside the run (a copy of the newest, renamed), for a pointer to name."""
    elsewhere = run_dir.parent / "elsewhere" / f"step_{step:08d}"
    shutil.copytree(run_dir / "checkpoints" / NEWEST, elsewhere)
    state = json.loads((elsewhere / "state.json").read_text())
    (elsewhere / "state.json").write_text(json.dumps({**state, "step": step}))
    return elsewhere


@pytest.mark.parametrize("pointer", ["../../elsewhere/step_00000099", "ABSOLUTE", "", "\n", "step_000", "step_0000004",
                                     "step_00000099", "latest", "DIRECTORY", None])
def test_a_crafted_latest_pointer_falls_back_to_the_newest_checkpoint_of_the_run(run_copy, tone_data, recording,
                                                                                  capsys, pointer):
    elsewhere = complete_checkpoint_elsewhere(run_copy)
    latest = run_copy / "checkpoints" / "latest"
    latest.unlink()
    if pointer == "ABSOLUTE":
        latest.write_text(str(elsewhere))
    elif pointer == "DIRECTORY":
        latest.mkdir()
    elif pointer is not None:
        latest.write_text(pointer)
    assert latest_checkpoint(run_copy) == run_copy / "checkpoints" / NEWEST
    (status, out, err), output = resynth(capsys, run_copy, recording)
    assert status == 0 and "Traceback" not in err, err
    assert sf.read(str(output))[1] == SR
    status, out, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    if pointer == "DIRECTORY":           # the pointer cannot be replaced: one line, the run left loadable
        assert_one_line_error("train", status, err, 1, "latest")
        assert hidden_files(run_copy / "checkpoints") == []
        load_trained(run_copy)
        return
    assert status == 0 and "Traceback" not in err, err
    assert_resumed_cleanly(run_copy, out, 40)
    assert (run_copy / "checkpoints" / "latest").read_text() == "step_00000042"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["model.safetensors", "optimizer.pt", "state.json"]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("form", ["raw_pickle", "torch_zip"])
def test_a_malicious_optimizer_pickle_never_runs(run_copy, tone_data, recording, capsys, form):
    marker = run_copy.parent / "PWNED"
    target = run_copy / "checkpoints" / NEWEST / "optimizer.pt"
    if form == "raw_pickle":
        target.write_bytes(pickle.dumps({"state": Payload(marker), "param_groups": []}))
    else:
        torch.save({"state": Payload(marker), "param_groups": []}, target)
    (status, _, err), output = resynth(capsys, run_copy, recording)     # inference never reads the optimiser
    assert status == 0 and "Traceback" not in err and output.is_file(), err
    status, _, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    message = assert_one_line_error("train", status, err, 2, "optimizer.pt")
    assert "weights_only" not in message
    assert not marker.exists(), "the pickled payload ran"
    assert latest_checkpoint(run_copy).name == NEWEST


def damage_log(text):
    def damage(path):
        original = path.read_bytes()
        path.write_bytes(text(original) if callable(text) else text)
    return damage


LOG_DAMAGE = {
    "torn-last-row": damage_log(lambda b: b + b"40,0.12"),
    "blank-lines": damage_log(lambda b: b.replace(b"\n5,", b"\n\n\n5,", 1) + b"\n\n"),
    "binary-junk": damage_log(lambda b: b + b"\x00\xff\xfe junk\n\x00\x01"),
    "nul-bytes": damage_log(lambda b: b.replace(b"\n7,", b"\n7\x00,", 1)),
    "only-junk": damage_log(b"\xff\xfe\x00garbage\n"),
    "empty": damage_log(b""),
    "header-only": damage_log(b"step,loss,learning_rate\n"),
}


@pytest.mark.parametrize("damage", LOG_DAMAGE)
def test_a_torn_or_junk_loss_log_neither_stops_the_report_nor_the_resume(run_copy, tone_data, recording, capsys,
                                                                          damage):
    LOG_DAMAGE[damage](run_copy / "losses.csv")
    (status, _, err), output = resynth(capsys, run_copy, recording)
    assert status == 0 and "Traceback" not in err, err
    assert "Training loss" in output.with_suffix(".html").read_text()
    status, out, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    assert status == 0 and "Traceback" not in err, err
    rows = read_losses(run_copy)
    kept = [int(r["step"]) for r in rows]
    # Rows the damage destroyed are gone; every row left is whole, at most once, and the new ones are there.
    assert kept == sorted(set(kept)) and kept[-2:] == [40, 41] and set(kept) <= set(range(42)), kept
    assert all(len(r) == 3 and None not in r.values() and np.isfinite(float(r["loss"])) for r in rows)
    if damage in ("torn-last-row", "blank-lines"):
        assert kept == list(range(42))


def edit_state(change):
    def edit(run_dir):
        path = run_dir / "checkpoints" / NEWEST / "state.json"
        state = json.loads(path.read_text())
        change(state)
        path.write_text(json.dumps(state))
    return edit


SHAPELESS_STATES = [
    pytest.param(lambda run_dir, text=text: (run_dir / "checkpoints" / NEWEST / "state.json").write_text(text), id=name)
    for name, text in [("empty", ""), ("list", "[]"), ("empty-table", "{}"), ("broken", "{broken"),
                       ("no-config", '{"step": 40}')]
] + [
    pytest.param(edit_state(lambda s: s.update(step=-1)), id="step-negative"),
    pytest.param(edit_state(lambda s: s.update(step=40.5)), id="step-float"),
    pytest.param(edit_state(lambda s: s.update(step=10 ** 30)), id="step-absurd"),
    pytest.param(edit_state(lambda s: s.update(config=[])), id="config-a-list"),
    pytest.param(edit_state(lambda s: s["config"].update(model=7)), id="model-not-a-table"),
    pytest.param(edit_state(lambda s: s["config"]["model"].update(hidden=0)), id="hidden-0"),
    pytest.param(edit_state(lambda s: s["config"]["model"].update(bogus=1)), id="unknown-key"),
]


@pytest.mark.parametrize("damage", SHAPELESS_STATES)
@pytest.mark.parametrize("command", ["resynth", "transfer", "evaluate"])
def test_inference_refuses_a_broken_state_json_in_one_line(run_copy, recording, capsys, damage, command):
    damage(run_copy)
    (status, _, err), output = resynth(capsys, run_copy, recording, command)
    assert_one_line_error(command, status, err, 2, "state.json")
    assert not output.exists()


@pytest.mark.parametrize("damage", [p for p in SHAPELESS_STATES if p.id in ("empty", "list", "empty-table", "broken",
                                                                              "step-negative", "step-absurd")])
def test_a_resume_refuses_a_shapeless_state_json_in_one_line(run_copy, tone_data, capsys, damage):
    damage(run_copy)
    before = files_under(run_copy)
    status, _, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    assert_one_line_error("train", status, err, 2, "state.json")
    assert files_under(run_copy) == before


ABSURD_MODELS = {"n-harmonics": {"n_harmonics": 5_000_000}, "hidden-times-layers": {"hidden": 8192, "mlp_layers": 64},
                 "sample-rate": {"sample_rate": 10 ** 12}, "reverb": {"reverb_seconds": 1e9},
                 "hop": {"hop_size": 10 ** 9}}


@pytest.mark.slow
def test_absurd_sizes_in_state_json_fail_fast_without_allocating(short_run, recording, tmp_path):
    """Inference builds the model from ``state.json``: absurd sizes there are refused before any allocation
    (run in a process with memory capped at 2 GiB over its imports)."""
    cases = []
    for name, sizes in ABSURD_MODELS.items():
        run_dir = tmp_path / name / "run"
        shutil.copytree(short_run[0], run_dir)
        edit_state(lambda s, sizes=sizes: s["config"]["model"].update(sizes))(run_dir)
        cases += [["resynth", str(run_dir), str(recording), str(tmp_path / name / "o.wav")],
                  ["transfer", str(run_dir), str(recording), str(tmp_path / name / "t.wav")],
                  ["evaluate", str(run_dir), str(recording), "--f0-tracker", "yin"]]
    results = run_capped(cases, cap=2 << 30)
    failures = []
    for argv in cases:
        result = results[tuple(argv)]
        try:
            assert_one_line_error(argv[0], result["code"], result["err"], 2, "state.json")
            assert result["seconds"] < 20 and result["grown_bytes"] < 1 << 30, result
        except AssertionError as error:
            failures.append(f"{argv[0]} {argv[1]}: {str(error).splitlines()[0][:300]}")
    assert not failures, "\n".join(failures)


def test_a_resume_builds_from_its_config_not_from_an_absurd_state_json(run_copy, tone_data, capsys):
    """Training builds the model from the config (checked); the sizes in ``state.json`` are not used."""
    edit_state(lambda s: s["config"]["model"].update(n_harmonics=5_000_000))(run_copy)
    status, out, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    assert status == 0 and "Traceback" not in err, err
    assert_resumed_cleanly(run_copy, out, 40)


LYING_HEADER = b'{"w": {"dtype": "F32", "shape": [1000000000], "data_offsets": [0, 4000000000]}}'
WEIGHT_DAMAGE = {
    "torn": lambda b: b[:len(b) // 2],
    "empty": lambda b: b"",
    "absurd-header": lambda b: struct.pack("<Q", 2 ** 60) + b"{}",
    "header-lies": lambda b: struct.pack("<Q", len(LYING_HEADER)) + LYING_HEADER,
    "random": lambda b: np.random.default_rng(0).bytes(len(b)),
}


@pytest.mark.parametrize("damage", WEIGHT_DAMAGE)
def test_damaged_weights_are_a_one_line_error(run_copy, tone_data, recording, capsys, damage):
    path = run_copy / "checkpoints" / NEWEST / "model.safetensors"
    path.write_bytes(WEIGHT_DAMAGE[damage](path.read_bytes()))
    (status, _, err), output = resynth(capsys, run_copy, recording)
    assert_one_line_error("resynth", status, err, 2, "model.safetensors")
    status, _, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    assert_one_line_error("train", status, err, 2, "model.safetensors")


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"7", b"\xff\xfe"])
def test_a_broken_run_config_is_a_one_line_error_on_resume(run_copy, tone_data, capsys, content):
    (run_copy / "config.json").write_bytes(content)
    before = files_under(run_copy)
    status, _, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    assert_one_line_error("train", status, err, 2, "config.json")
    assert files_under(run_copy) == before


def test_a_resume_never_deletes_what_links_in_the_run_point_to(run_copy, tone_data, capsys, tmp_path):
    """Links in ``checkpoints/`` to folders outside the run: an old ``step_*`` that keep-3 pruning removes,
    and a ``.tmp_*`` that the clean-up of killed writes removes. Only the links go."""
    outside_step = tmp_path / "outside_step"
    shutil.copytree(run_copy / "checkpoints" / "step_00000020", outside_step)
    shutil.rmtree(run_copy / "checkpoints" / "step_00000020")
    (run_copy / "checkpoints" / "step_00000020").symlink_to(outside_step, target_is_directory=True)
    outside_tmp = tmp_path / "outside_tmp"
    outside_tmp.mkdir()
    (outside_tmp / "precious.txt").write_text("keep me")
    (run_copy / "checkpoints" / ".tmp_evil").symlink_to(outside_tmp, target_is_directory=True)
    before = files_under(outside_step, outside_tmp)
    status, out, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    assert status == 0 and "Traceback" not in err, err
    assert files_under(outside_step, outside_tmp) == before and len(before) == 4
    assert not (run_copy / "checkpoints" / ".tmp_evil").exists()
    assert_resumed_cleanly(run_copy, out, 40)


def test_a_resume_removes_the_temporaries_of_killed_rewrites_of_the_log_and_config(run_copy, tone_data, capsys):
    """A kill while ``losses.csv`` or ``config.json`` was rewritten (each resume rewrites both) leaves a hidden
    temporary beside them; killed checkpoint writes leave ``.tmp_*`` and ``.latest.*``."""
    litter = [run_copy / ".losses.csv.k1ll3d_0.tmp.csv", run_copy / ".config.json.k1ll3d_0.tmp.json",
              run_copy / "checkpoints" / ".latest.k1ll3d_0.tmp", run_copy / "checkpoints" / ".tmp_k1ll3d_0"]
    for path in litter[:3]:
        path.write_text("torn")
    litter[3].mkdir()
    (litter[3] / "model.safetensors").write_bytes(b"torn")
    status, out, err = run_main(capsys, ["train", tone_data, run_copy, *RESUME])
    assert status == 0 and "Traceback" not in err, err
    assert not [p for p in litter if p.exists() or p.is_symlink()]
    assert_resumed_cleanly(run_copy, out, 40)
