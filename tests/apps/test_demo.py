"""The README's main job: ``torchddsp demo`` prepares example audio, trains briefly, resynthesises,
transfers a melody and writes a self-contained report. Once with pysptk's shipped ARCTIC sentence
(TORCHDDSP_EXAMPLE_AUDIO unset), once with the shared development recordings."""

from __future__ import annotations

import base64
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import shared_audio, shared_audio_root
from torchddsp.apps.cli import main
from torchddsp.apps.workflows import example_audio


def check_demo_outputs(out: Path, source: Path, printed: str):
    assert f"report: {out / 'report.html'}" in printed
    page = (out / "report.html").read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == ["Metrics", f"Resynthesis of {source.name}", "Timbre transfer of a synthesised melody",
                        "Training loss"]
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, flags=re.I)
    uris = re.findall(r'src="([^"]*)"', page)
    assert uris and all(u.startswith(("data:audio/wav;base64,", "data:image/png;base64,")) for u in uris)
    wavs = [u for u in uris if u.startswith("data:audio/wav;base64,")]
    assert len(wavs) == 4
    for uri in wavs:
        data, rate = sf.read(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        assert rate == 16000 and len(data) > 0 and np.isfinite(data).all()

    info = sf.info(str(source))
    resynthesis, rate = sf.read(str(out / "resynthesis.wav"))
    assert rate == 16000 and np.isfinite(resynthesis).all() and np.abs(resynthesis).max() > 0
    assert info.duration <= len(resynthesis) / rate < info.duration + 64 / 16000
    transfer, rate = sf.read(str(out / "transfer.wav"))
    assert rate == 16000 and abs(len(transfer) / rate - 4.0) < 64 / 16000 and np.abs(transfer).max() > 0

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.pop("f0_tracker") in ("crepe-tiny", "yin")
    assert set(metrics) == {"loudness_l1_db", "loudness_bias_db", "f0_l1_cents", "f0_outlier_ratio", "mss", "seconds"}
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert metrics["seconds"] == pytest.approx(info.duration, abs=64 / 16000)
    assert metrics["mss"] > 0 and 0 <= metrics["f0_outlier_ratio"] <= 1
    assert (out / "run" / "checkpoints" / "latest").exists()
    assert [p.name for p in (out / "audio").iterdir()] == [source.name]


@pytest.mark.slow
def test_demo_with_the_shipped_example(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TORCHDDSP_EXAMPLE_AUDIO", raising=False)
    source = example_audio()
    assert source.name == "arctic_a0007.wav" and "pysptk" in str(source)
    assert main(["demo", "--out", str(tmp_path), "--steps", "20"]) == 0
    check_demo_outputs(tmp_path, source, capsys.readouterr().out)


@pytest.mark.slow
def test_demo_with_the_shared_recordings(tmp_path, monkeypatch, capsys):
    source = shared_audio("fluid_violin.16k.flac")                  # skips (or fails on CI) when absent
    monkeypatch.setenv("TORCHDDSP_EXAMPLE_AUDIO", str(shared_audio_root()))
    assert example_audio() == source
    assert main(["demo", "--out", str(tmp_path), "--steps", "20"]) == 0
    check_demo_outputs(tmp_path, source, capsys.readouterr().out)


def test_example_audio_from_a_folder_without_the_recording_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHDDSP_EXAMPLE_AUDIO", str(tmp_path))
    with pytest.raises(ValueError, match="TORCHDDSP_EXAMPLE_AUDIO"):
        example_audio()
    (tmp_path / "fluid_violin.16k.flac").write_bytes(b"")
    assert example_audio() == tmp_path / "fluid_violin.16k.flac"


def test_demo_with_a_bad_example_folder_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCHDDSP_EXAMPLE_AUDIO", str(tmp_path / "nowhere"))
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "TORCHDDSP_EXAMPLE_AUDIO" in err and "Traceback" not in err


def test_demo_with_a_missing_audio_file_exits_2(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "out"), "--audio", str(tmp_path / "missing.wav")]) == 2
    assert "missing.wav" in capsys.readouterr().err


@pytest.mark.parametrize("steps", ["0", "-1"])
def test_demo_rejects_a_non_positive_number_of_steps(tmp_path, monkeypatch, capsys, steps):
    import torchddsp.data
    import torchddsp.training

    def no_prepare(*args, **kwargs):
        return {}

    def must_not_train(data_dir, run_dir, config, **kwargs):
        raise AssertionError(f"demo went on to train with steps={config.train.steps}")

    monkeypatch.setattr(torchddsp.data, "prepare", no_prepare)
    monkeypatch.setattr(torchddsp.training, "train", must_not_train)
    monkeypatch.delenv("TORCHDDSP_EXAMPLE_AUDIO", raising=False)
    assert main(["demo", "--out", str(tmp_path), "--steps", steps]) == 2
    assert "steps" in capsys.readouterr().err


@pytest.mark.slow
def test_the_demo_gives_the_same_model_on_a_quiet_and_a_loaded_machine(tmp_path, monkeypatch, capsys):
    """Issue 13: a wall-clock budget turned a busy machine into fewer steps and a worse model; a fixed
    number of steps (and fixed threads) gives the same weights and metrics whatever the load."""
    import subprocess
    import sys

    from safetensors.torch import load_file

    monkeypatch.delenv("TORCHDDSP_EXAMPLE_AUDIO", raising=False)
    assert main(["demo", "--out", str(tmp_path / "quiet"), "--steps", "12"]) == 0
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        assert main(["demo", "--out", str(tmp_path / "loaded"), "--steps", "12"]) == 0
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    capsys.readouterr()
    metrics = [json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("quiet", "loaded")]
    assert metrics[0] == metrics[1]
    weights = [load_file(str(tmp_path / name / "run" / "checkpoints" / "step_00000012" / "model.safetensors"))
               for name in ("quiet", "loaded")]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], rtol=0, atol=0)
