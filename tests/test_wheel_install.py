"""The README's main job from a wheel: build the wheel, install it (not editable) into a fresh virtual
environment outside the source tree, and from a folder outside the tree run ``torchddsp prepare``,
``torchddsp train --config small`` for a few steps and ``torchddsp demo --steps 20``.

The fresh environment has no pip and no dependencies of its own: a ``.pth`` line points it at this
environment's site-packages for torch and the rest. A plain path line does not run the editable
install's import hook (only ``.pth`` files in a site directory run), so ``torchddsp`` itself can
only come from the installed wheel; the test checks that it does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import REPO_ROOT


def run(command: list, cwd: Path, env: dict, timeout: float = 300) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of the fresh environment, environment variables, a working folder outside the tree)."""
    root = tmp_path_factory.mktemp("wheel")
    assert REPO_ROOT not in root.parents
    source = root / "source"                      # build from a copy: nothing is written into the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "torchddsp", source / "torchddsp", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TORCHDDSP_EXAMPLE_AUDIO")}
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", root / "dist", source], root, env)
    wheel, = (root / "dist").glob("torchddsp-*.whl")

    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], root, env)
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env).strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheel], root, env)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = root / "work"
    work.mkdir()
    location = run([python, "-c", "import torchddsp; print(torchddsp.__file__)"], work, env).strip()
    assert Path(location).is_relative_to(venv), f"torchddsp was imported from {location}, not the wheel"
    return python, env, work


@pytest.mark.slow
def test_wheel_runs_train_with_a_shipped_config_and_the_demo(installed):
    python, env, work = installed
    torchddsp = python.parent / "torchddsp"                    # the console script the wheel installed
    assert torchddsp.exists()
    assert "small_44k" in run([python, "-c", "from torchddsp.training import config_names; print(config_names())"],
                              work, env)
    sr = 16000
    t = np.arange(sr) / sr
    (work / "audio").mkdir()
    sf.write(str(work / "audio" / "tone.wav"), sum(0.3 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 6)),
             sr, subtype="FLOAT")
    run([torchddsp, "prepare", "audio", "data", "--example-seconds", "0.5", "--quiet"], work, env)
    sets = ["model.hidden=16", "model.mlp_layers=1", "model.n_harmonics=10", "train.crop_seconds=0.25",
            "train.batch_size=1", "train.steps=2", "train.checkpoint_every=2", "train.threads=1"]
    printed = run([torchddsp, "train", "data", "run", "--config", "small", "--quiet",
                   *sum((["--set", s] for s in sets), [])], work, env)
    assert "trained to step 2" in printed
    assert (work / "run" / "checkpoints" / "step_00000002" / "model.safetensors").exists()

    printed = run([torchddsp, "demo", "--steps", "20", "--out", "demo"], work, env, timeout=600)
    assert f"report: {Path('demo') / 'report.html'}" in printed
    assert (work / "demo" / "report.html").stat().st_size > 10_000
