"""``kill -9`` at random points of ``prepare``, ``train`` and checkpoint writes (issue 12).

Each trial starts the command as a real process, sends SIGKILL at a point drawn from a seeded
``random.Random`` (``TORCHDDSP_FAULT_SEED``, default 12: the same points on every run; set another
seed to explore), checks what the killed process left, then runs the same command again (``train``
with ``--resume``) and checks that it succeeds, lost at most one checkpoint interval (``prepare``: at
most the recording it was working on), and left a loadable folder with no temporary file, each
loss-log step once and no torn row.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from helpers import TINY, cli_command, hidden_files, quiet, read_losses, run_main
from torchddsp.apps.inference import load_trained
from torchddsp.data import PreparedDataset, prepare
from torchddsp.data.prepare import read_manifest
from torchddsp.training import latest_checkpoint
from torchddsp.training.checkpoint import STEP_NAME

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("TORCHDDSP_FAULT_SEED", "12"))
TRIALS = 3
SR, HOP = 16000, 64
FIELDS = ("audio", "f0_hz", "f0_confidence", "loudness_db")
N_RECORDINGS = 8



def start(argv, log: Path) -> subprocess.Popen:
    with open(log, "w") as handle:
        return subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT)


def kill_at(process: subprocess.Popen, ready, delay: float, log: Path, what: str, timeout: float = 180) -> None:
    """Wait until ``ready()`` (polled every 2 ms), then ``delay`` seconds more, then SIGKILL; the process
    must still have been running."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert process.poll() is None, f"{what}: ended (status {process.returncode}) before the kill point:\n" \
                                           f"{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{what}: the kill point never came"
            time.sleep(0.002)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        status = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert status == -signal.SIGKILL, f"{what}: finished (status {status}) before the kill:\n{log.read_text()[-3000:]}"


# ---------------------------------------------------------------------------------------------
# prepare

@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """``N_RECORDINGS`` tones of different pitch and length, and the folder an uninterrupted ``prepare`` makes."""
    root = tmp_path_factory.mktemp("kill_prepare")
    (root / "audio").mkdir()
    for i in range(N_RECORDINGS):
        t = np.arange(int((0.4 + 0.05 * i) * SR)) / SR
        sf.write(str(root / "audio" / f"take{i}.wav"), 0.4 * np.sin(2 * np.pi * (180 + 40 * i) * t), SR)
    prepare(root / "audio", root / "reference", example_seconds=1.0, progress=False, log=quiet)
    return root / "audio", root / "reference"


def array_files(out: Path) -> int:
    try:
        return len(os.listdir(out / "data"))
    except FileNotFoundError:
        return 0


def check_done_entries(out: Path) -> dict:
    """Every ``done`` entry of the manifest has its four arrays, readable and of its length. Returns
    ``{key: (entry, {field: mtime_ns})}``."""
    if not (out / "manifest.json").exists():
        return {}
    manifest = read_manifest(out / "manifest.json")
    done = {}
    for key, entry in manifest["files"].items():
        if entry["status"] != "done":
            continue
        times = {}
        for field in FIELDS:
            path = out / "data" / f"{entry['id']}.{field}.npy"
            array = np.load(path)
            assert array.shape == (entry["frames"] * (HOP if field == "audio" else 1),), (path, array.shape)
            assert np.isfinite(array).all(), path
            times[field] = path.stat().st_mtime_ns
        done[key] = (entry, times)
    return done


@pytest.mark.parametrize("trial", range(TRIALS))
def test_prepare_killed_at_a_random_point_resumes_to_the_same_folder(recordings, tmp_path, capsys, trial):
    audio, reference = recordings
    rng = random.Random(f"{SEED}:prepare:{trial}")
    target, delay = rng.randint(1, 4 * (N_RECORDINGS - 1)), rng.uniform(0.0, 0.02)
    what = f"trial {trial} (seed {SEED}): kill once {target} array files exist, {delay * 1000:.0f} ms later"
    out = tmp_path / "prepared"
    argv = ["prepare", str(audio), str(out), "--quiet", "--example-seconds", "1"]
    process = start([sys.executable, "-m", "torchddsp", *argv], tmp_path / "prepare.log")
    kill_at(process, lambda: array_files(out) >= target, delay, tmp_path / "prepare.log", what)

    before = check_done_entries(out)                                   # consistent even as the kill left it
    assert len(before) < N_RECORDINGS, f"{what}: nothing was left to do"

    status, stdout, err = run_main(capsys, argv)
    assert status == 0 and "Traceback" not in err, f"{what}: {err}"
    assert f"{N_RECORDINGS} file(s) ready, 0 skipped" in stdout, stdout
    after = check_done_entries(out)
    assert len(after) == N_RECORDINGS
    for key, (entry, times) in before.items():                          # finished recordings are not redone
        assert after[key] == (entry, times), f"{what}: {key}, finished before the kill, was prepared again"
    assert hidden_files(out) == [], f"{what}: temporaries of the killed run left behind"
    ids = {entry["id"] for entry, _ in after.values()}
    orphans = [p.name for p in (out / "data").iterdir() if p.name.split(".")[0] not in ids]
    assert orphans == [], f"{what}: arrays no manifest entry names"
    # The same folder as an uninterrupted run: manifest entries, arrays and statistics.
    expected = read_manifest(reference / "manifest.json")
    for key, (entry, _) in after.items():
        assert {k: v for k, v in entry.items() if k != "mtime"} == \
            {k: v for k, v in expected["files"][key].items() if k != "mtime"}, key
        for field in FIELDS:
            np.testing.assert_array_equal(np.load(out / "data" / f"{entry['id']}.{field}.npy"),
                                          np.load(reference / "data" / f"{entry['id']}.{field}.npy"))
    stats = json.loads((out / "stats.json").read_text())
    assert stats == pytest.approx(json.loads((reference / "stats.json").read_text()), rel=1e-6)
    assert len(PreparedDataset(out)) == len(PreparedDataset(reference))


def test_prepare_after_a_kill_mid_write_removes_what_the_kill_left(recordings, tmp_path, capsys):
    """The state a kill inside a file's writes leaves, made by hand (the random kills rarely land there):
    the manifest without that file, two of its four arrays written, the temporaries of the third and of a
    manifest rewrite. Running the command again removes the temporaries and finishes the file."""
    audio, reference = recordings
    out = tmp_path / "prepared"
    shutil.copytree(reference, out)
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["files"].pop("take3.wav")
    (out / "manifest.json").write_text(json.dumps(manifest))
    for field in ("f0_confidence", "loudness_db"):
        (out / "data" / f"{entry['id']}.{field}.npy").unlink()
    litter = [out / "data" / f".{entry['id']}.f0_confidence.npy.k1ll3d_0.tmp.npy",
              out / ".manifest.json.k1ll3d_0.tmp.json"]
    for path in litter:
        path.write_bytes(b"torn")
    status, stdout, err = run_main(capsys, ["prepare", audio, out, "--quiet", "--example-seconds", "1"])
    assert status == 0 and "Traceback" not in err, err
    assert hidden_files(out) == [], "the temporaries of the killed writes are still there"
    done = check_done_entries(out)
    assert len(done) == N_RECORDINGS and done["take3.wav"][0] == entry
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(p.name for p in (reference / "data").iterdir())


# ---------------------------------------------------------------------------------------------
# train

def checkpoint_step(run_dir: Path) -> int:
    """The step the ``latest`` pointer names, -1 when there is none yet (read while the run writes it)."""
    try:
        match = STEP_NAME.fullmatch((run_dir / "checkpoints" / "latest").read_text().strip())
    except OSError:
        return -1
    return int(match.group(1)) if match else -1


def check_every_checkpoint_loads(run_dir: Path, what: str) -> int:
    """Each complete-looking ``step_*`` folder loads whole (weights, optimiser, state): none is torn.
    Returns the step ``latest_checkpoint`` gives."""
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint is not None, f"{what}: no complete checkpoint"
    for folder in sorted((run_dir / "checkpoints").glob("step_*")):
        if (folder / "state.json").exists() and (folder / "model.safetensors").exists():
            state = json.loads((folder / "state.json").read_text())
            assert state["step"] == int(folder.name[5:]), folder
            load_file(str(folder / "model.safetensors"))
            torch.load(folder / "optimizer.pt", weights_only=True)
    trained = load_trained(run_dir)
    assert not trained.model.training
    return json.loads((checkpoint / "state.json").read_text())["step"]


def logged_steps(run_dir: Path) -> list[int]:
    """Steps of the whole rows of the loss log, as the killed process left it."""
    steps = []
    for line in (run_dir / "losses.csv").read_text(errors="replace").splitlines()[1:]:
        parts = line.split(",")
        if len(parts) == 3 and parts[0].isdigit():
            steps.append(int(parts[0]))
    return steps


def check_resumed_run(run_dir: Path, steps: int, what: str) -> None:
    assert latest_checkpoint(run_dir) == run_dir / "checkpoints" / f"step_{steps:08d}", what
    rows = read_losses(run_dir)
    assert [int(r["step"]) for r in rows] == list(range(steps)), f"{what}: a step missing or logged twice"
    assert all(len(r) == 3 and None not in r.values() and math.isfinite(float(r["loss"])) for r in rows), \
        f"{what}: a torn row"
    assert hidden_files(run_dir) == [], f"{what}: temporaries left behind"
    check_every_checkpoint_loads(run_dir, what)


def kill_and_resume(tone_data, tmp_path, capsys, overrides, steps, every, ready, delay, what):
    run_dir = tmp_path / "run"
    process = start(cli_command(tone_data, run_dir, overrides), tmp_path / "train.log")
    seen = []

    def watch():
        seen.append(checkpoint_step(run_dir))
        return ready(seen[-1])

    kill_at(process, watch, delay, tmp_path / "train.log", what)
    completed = check_every_checkpoint_loads(run_dir, what)           # loadable as the kill left it
    assert completed >= max(seen), f"{what}: a checkpoint seen complete before the kill is gone"
    logged = logged_steps(run_dir)

    status, out, err = run_main(capsys, ["train", *cli_command(tone_data, run_dir, overrides, "--resume")[4:]])
    assert status == 0 and "Traceback" not in err, f"{what}: {err}"
    assert f"resuming from {run_dir / 'checkpoints' / f'step_{completed:08d}'} (step {completed})" in out, out
    # At most one checkpoint interval lost: of the steps the killed run had logged, at most `every` were after it.
    assert max(logged, default=-1) + 1 - completed <= every, f"{what}: logged to {max(logged)}, resumed at {completed}"
    check_resumed_run(run_dir, steps, what)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_train_killed_at_a_random_point_resumes_losing_at_most_one_interval(tone_data, tmp_path, capsys, trial):
    rng = random.Random(f"{SEED}:train:{trial}")
    steps, every = 60, 5
    target, delay = rng.choice(range(every, 45, every)), rng.uniform(0.0, 0.25)
    what = f"trial {trial} (seed {SEED}): kill {delay * 1000:.0f} ms after checkpoint {target}"
    overrides = TINY + [f"train.steps={steps}", f"train.checkpoint_every={every}"]
    kill_and_resume(tone_data, tmp_path, capsys, overrides, steps, every, lambda step: step >= target, delay, what)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_kill_during_checkpoint_writes_leaves_a_loadable_run(tone_data, tmp_path, capsys, trial):
    """A checkpoint every step (with the weight average, so three files a checkpoint): most kills land in
    or between checkpoint writes."""
    rng = random.Random(f"{SEED}:checkpoint:{trial}")
    steps, target, delay = 30, rng.randint(1, 20), rng.uniform(0.0, 0.06)      # within the next step or two
    what = f"trial {trial} (seed {SEED}): kill {delay * 1000:.0f} ms after checkpoint {target}"
    overrides = TINY + [f"train.steps={steps}", "train.checkpoint_every=1", "train.average_decay=0.9"]
    kill_and_resume(tone_data, tmp_path, capsys, overrides, steps, 1, lambda step: step >= target, delay, what)
