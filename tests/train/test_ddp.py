"""Distributed data-parallel training: two CPU processes (gloo) launched by torchrun.

Only rank 0 writes checkpoints, so a small launcher script runs the ``train`` command on every
rank, keeps a handle on each rank's model, then gathers a hash of every rank's weights with
``all_gather_object``; rank 0 writes them to a file. Both ranks must end with identical weights,
equal to the checkpoint rank 0 wrote.
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
import hashlib, json, sys
import torch.distributed as dist
import torchddsp.train.trainer as trainer
from torchddsp.cli import main

models = []
build = trainer.build_model
def keep(config, dataset):
    model = build(config, dataset)
    models.append(model)
    return model
trainer.build_model = keep

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
'''

CANNOT_START = ("Address already in use", "RendezvousConnectionError", "RendezvousTimeoutError",
                "Connection refused", "Cannot assign requested address", "Operation not permitted")


def weights_hash(path):
    digest = hashlib.sha256()
    for name, value in sorted(load_file(str(path)).items()):
        digest.update(name.encode())
        digest.update(value.contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_two_rank_run_keeps_identical_weights(tmp_path):
    if not TORCHRUN.exists():
        pytest.skip(f"torchrun not found next to {sys.executable}")
    sr = 16000
    t = np.arange(sr) / sr
    (tmp_path / "audio").mkdir()
    sf.write(str(tmp_path / "audio" / "tone.wav"), sum(0.3 / k * np.sin(2 * np.pi * 196 * k * t) for k in range(1, 5)),
             sr, subtype="FLOAT")
    prepare(tmp_path / "audio", tmp_path / "data", example_seconds=0.5, progress=False, log=lambda m: None)
    (tmp_path / "launch.py").write_text(LAUNCHER)
    steps = 4
    overrides = ["model.hidden=32", "model.mlp_layers=1", "model.n_harmonics=20", "train.crop_seconds=0.25",
                 "train.batch_size=2", "train.threads=1", f"train.steps={steps}", "train.checkpoint_every=2"]
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(tmp_path / "launch.py"),
               str(tmp_path / "data"), str(tmp_path / "run"), str(tmp_path / "hashes.json"),
               *sum((["--set", s] for s in overrides), [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    output = done.stdout + done.stderr
    if done.returncode != 0 and any(reason in output for reason in CANNOT_START):
        pytest.skip(f"torchrun could not start two processes here: {output[-500:]}")
    assert done.returncode == 0, output[-4000:]

    gathered = json.loads((tmp_path / "hashes.json").read_text())
    assert [g["rank"] for g in gathered] == [0, 1] and [g["code"] for g in gathered] == [0, 0]
    assert gathered[0]["hash"] == gathered[1]["hash"], "ranks ended with different weights"
    checkpoint = tmp_path / "run" / "checkpoints" / f"step_{steps:08d}"
    assert weights_hash(checkpoint / "model.safetensors") == gathered[0]["hash"]
    state = json.loads((checkpoint / "state.json").read_text())
    assert state["world_size"] == 2 and state["step"] == steps
    with open(tmp_path / "run" / "losses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(steps)), "one writer, one row per step"
    assert all(np.isfinite(float(r["loss"])) for r in rows)
