"""A full disk (issue 12): commands writing into a tiny tmpfs, sized so the write fails part-way.

Each must exit with status 1 and one line saying ``No space left on device``, no traceback, leave
no temporary file, and keep what was complete before (an earlier WAV, report or checkpoint); given
room again, the same command completes. Needs root and a platform that allows ``mount -t tmpfs``
(CI runs as root in a container that may or may not): skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import (
    TINY,
    assert_one_line_error,
    cli_command,
    harmonic_tone,
    hidden_files,
    read_losses,
    run_cli,
    run_main,
)
from torchddsp.apps.inference import load_trained
from torchddsp.data.prepare import read_manifest
from torchddsp.training import latest_checkpoint

pytestmark = pytest.mark.slow

SR = 16000
FULL = "No space left on device"


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(size, name)``: a tmpfs of ``size`` (``mount -o size=``) at ``tmp_path/name``; ``resize(point,
    size)`` makes room. Everything is unmounted at teardown."""
    if not sys.platform.startswith("linux"):
        pytest.skip("tmpfs is Linux only")
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount/umount command")
    mounted = []

    def mount(size: str, name: str = "full"):
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"this platform does not allow mounting a tmpfs: {done.stderr.strip()}")
        mounted.append(point)
        return point

    def resize(point, size: str):
        subprocess.run(["mount", "-o", f"remount,size={size}", str(point)], check=True, capture_output=True)

    mount.resize = resize
    yield mount
    for point in reversed(mounted):
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def contents(folder) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def footprint(folder) -> int:
    """Bytes the files under ``folder`` take on a tmpfs (whole 4 KiB pages)."""
    return sum(-(-p.stat().st_size // 4096) * 4096 for p in Path(folder).rglob("*") if p.is_file())


def test_render_on_a_full_disk_keeps_the_previous_files(tmpfs, tmp_path, capsys):
    status, _, err = run_main(capsys, ["render", "--out", tmp_path / "measure", "--seconds", "0.5"])
    assert status == 0, err
    disk = tmpfs(str(footprint(tmp_path / "measure") + 48 * 1024))   # a 0.5 s render fits, a 4 s WAV (128 KB) not
    status, _, err = run_main(capsys, ["render", "--out", disk, "--seconds", "0.5"])
    assert status == 0, err
    before = contents(disk)
    status, _, err = run_main(capsys, ["render", "--out", disk, "--seconds", "4"])
    assert_one_line_error("render", status, err, 1, FULL)
    assert contents(disk) == before, "the previous WAV or PNG was changed"
    assert hidden_files(disk) == []


def test_resynth_on_a_full_disk_keeps_the_previous_output_and_report(short_run, tmpfs, tmp_path, capsys):
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(str(short), harmonic_tone(seconds=0.3), SR)
    sf.write(str(long), harmonic_tone(seconds=5.0), SR)
    status, _, err = run_main(capsys, ["resynth", short_run[0], short, tmp_path / "measure" / "out.wav"])
    assert status == 0, err
    disk = tmpfs(str(footprint(tmp_path / "measure") + 48 * 1024))   # WAV and report of 0.3 s fit, a 5 s WAV not
    status, _, err = run_main(capsys, ["resynth", short_run[0], short, disk / "out.wav"])
    assert status == 0, err
    before = contents(disk)
    assert sorted(str(p) for p in before) == ["out.html", "out.wav"]
    status, _, err = run_main(capsys, ["resynth", short_run[0], long, disk / "out.wav"])
    assert_one_line_error("resynth", status, err, 1, FULL)
    assert contents(disk) == before, "the previous WAV or report was changed"
    assert hidden_files(disk) == []


def check_manifest(out) -> int:
    """The manifest is readable and every ``done`` entry's arrays load whole; returns how many are done."""
    manifest = read_manifest(out / "manifest.json")
    done = [e for e in manifest["files"].values() if e["status"] == "done"]
    for entry in done:
        for field in ("audio", "f0_hz", "f0_confidence", "loudness_db"):
            array = np.load(out / "data" / f"{entry['id']}.{field}.npy")
            assert array.shape == (entry["frames"] * (64 if field == "audio" else 1),)
    return len(done)


def test_prepare_on_a_full_disk_keeps_a_consistent_folder_and_resumes(tmpfs, tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(6):                          # about 36 KB of arrays each
        sf.write(str(audio / f"take{i}.wav"), harmonic_tone(f0=180 + 40 * i, seconds=0.5), SR)
    disk = tmpfs("100k")
    argv = ["prepare", audio, disk / "prepared", "--quiet"]
    done = run_cli(argv)                        # a process: all of stderr until it exits
    assert_one_line_error("prepare", done.returncode, done.stderr, 1, FULL)
    assert 1 <= check_manifest(disk / "prepared") < 6, "the disk did not fill part-way"
    assert hidden_files(disk) == [], "temporaries left on the full disk"
    tmpfs.resize(disk, "4m")
    done = run_cli(argv)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert check_manifest(disk / "prepared") == 6 and hidden_files(disk) == []


def test_train_on_a_full_disk_keeps_the_last_checkpoint_and_resumes(tone_data, tmpfs):
    disk = tmpfs("700k")                        # two checkpoints of the tiny model (about 280 KB each) fit
    run_dir = disk / "run"
    overrides = TINY + ["train.steps=12", "train.checkpoint_every=2"]
    done = subprocess.run(cli_command(tone_data, run_dir, overrides), capture_output=True, text=True, timeout=300)
    assert_one_line_error("train", done.returncode, done.stderr, 1, FULL)
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint is not None and 2 <= int(checkpoint.name[5:]) < 12, checkpoint
    load_trained(run_dir)
    torch.load(checkpoint / "optimizer.pt", weights_only=True)
    assert hidden_files(disk) == [], "temporaries left on the full disk"

    tmpfs.resize(disk, "8m")
    done = subprocess.run(cli_command(tone_data, run_dir, overrides, "--resume"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"(step {int(checkpoint.name[5:])})" in done.stdout
    assert latest_checkpoint(run_dir).name == "step_00000012"
    assert [int(r["step"]) for r in read_losses(run_dir)] == list(range(12))
    assert hidden_files(disk) == []
