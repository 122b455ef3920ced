"""Distributed data-parallel training: two CPU processes (gloo) launched by torchrun.

Only rank 0 writes checkpoints, so a small launcher script creates the process group, runs the
``train`` command on every rank, keeps a handle on each rank's model, then gathers a hash of
every rank's weights with ``all_gather_object``; rank 0 writes them to a file. Both ranks must
end with identical weights, equal to the checkpoint rank 0 wrote. A second test runs the
command itself, ``torchrun -m torchddsp train``, and checks that the job exits cleanly.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from safetensors.torch import load_file

from torchddsp.data import prepare

TORCHRUN = Path(sys.executable).parent / "torchrun"

LAUNCHER = r'''
import hashlib, json, os, sys
import torch.distributed as dist
from torchddsp.training.tasks import AutoencoderTask
from torchddsp.apps.cli import main

models = []
build = AutoencoderTask.build_modules
def keep(self):
    modules = build(self)
    models.append(modules["model"])
    return modules
AutoencoderTask.build_modules = keep

dist.init_process_group("gloo")       # ours, so train() leaves it open for the gather below
data, run, out = sys.argv[1:4]
code = main(["train", data, run, "--quiet", *sys.argv[4:]])
digest = hashlib.sha256()
for name, value in sorted(models[0].state_dict().items()):
    digest.update(name.encode())
    digest.update(value.detach().contiguous().numpy().tobytes())
gathered = [None] * dist.get_world_size()
dist.all_gather_object(gathered, {"rank": dist.get_rank(), "hash": digest.hexdigest(), "code": code})
if dist.get_rank() == 0:
    with open(out, "w") as f:
        json.dump(gathered, f)
dist.destroy_process_group()
sys.stdout.flush()
os._exit(0)                           # as torchddsp.apps.cli.entry: skip gloo's racy interpreter shutdown
'''

CANNOT_START = ("Address already in use", "RendezvousConnectionError", "RendezvousTimeoutError",
                "Connection refused", "Cannot assign requested address", "Operation not permitted")


def weights_hash(path):
    digest = hashlib.sha256()
    for name, value in sorted(load_file(str(path)).items()):
        digest.update(name.encode())
        digest.update(value.contiguous().numpy().tobytes())
    return digest.hexdigest()


STEPS = 4
OVERRIDES = ["model.hidden=32", "model.mlp_layers=1", "model.n_harmonics=20", "train.crop_seconds=0.25",
             "train.batch_size=2", "train.threads=1", f"train.steps={STEPS}", "train.checkpoint_every=2"]


@pytest.fixture
def prepared(tmp_path):
    if not TORCHRUN.exists():
        pytest.skip(f"torchrun not found next to {sys.executable}")
    sr = 16000
    t = np.arange(sr) / sr
    (tmp_path / "audio").mkdir()
    sf.write(str(tmp_path / "audio" / "tone.wav"), sum(0.3 / k * np.sin(2 * np.pi * 196 * k * t) for k in range(1, 5)),
             sr, subtype="FLOAT")
    prepare(tmp_path / "audio", tmp_path / "data", example_seconds=0.5, progress=False, log=lambda m: None)
    return tmp_path / "data"


def run_two_ranks(program: list[str], cwd: Path) -> str:
    """``torchrun`` two CPU ranks of ``program``; its combined output (skips where torchrun cannot start)."""
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", *program,
               *sum((["--set", s] for s in OVERRIDES), [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    output = done.stdout + done.stderr
    if done.returncode != 0 and any(reason in output for reason in CANNOT_START):
        pytest.skip(f"torchrun could not start two processes here: {output[-500:]}")
    assert done.returncode == 0, output[-4000:]
    return output


def check_run(run_dir: Path) -> Path:
    """The last checkpoint is rank 0's, at the last step, from a 2-rank job; one loss row per step."""
    checkpoint = run_dir / "checkpoints" / f"step_{STEPS:08d}"
    state = json.loads((checkpoint / "state.json").read_text())
    assert state["world_size"] == 2 and state["step"] == STEPS
    with open(run_dir / "losses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(STEPS)), "one writer, one row per step"
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    return checkpoint


@pytest.mark.slow
def test_two_rank_run_keeps_identical_weights(prepared, tmp_path):
    (tmp_path / "launch.py").write_text(LAUNCHER)
    run_two_ranks([str(tmp_path / "launch.py"), str(prepared), str(tmp_path / "run"), str(tmp_path / "hashes.json")],
                  tmp_path)
    gathered = json.loads((tmp_path / "hashes.json").read_text())
    assert [g["rank"] for g in gathered] == [0, 1] and [g["code"] for g in gathered] == [0, 0]
    assert gathered[0]["hash"] == gathered[1]["hash"], "ranks ended with different weights"
    checkpoint = check_run(tmp_path / "run")
    assert weights_hash(checkpoint / "model.safetensors") == gathered[0]["hash"]


@pytest.mark.slow
def test_torchrun_train_command_exits_cleanly(prepared, tmp_path):
    """``torchrun -m torchddsp train``: the job succeeds, only rank 0 reports, the run is complete."""
    output = run_two_ranks(["-m", "torchddsp", "train", str(prepared), str(tmp_path / "run"), "--quiet"], tmp_path)
    assert output.count("trained to step") == 1, output[-2000:]
    check_run(tmp_path / "run")
