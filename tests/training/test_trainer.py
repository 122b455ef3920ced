"""Tests for torchddsp.training.trainer and the ``train`` command: a short run learns, logs and
checkpoints; a killed run resumes to exactly the weights of an uninterrupted one; existing runs are
not overwritten; bad input is a clear error.

Training data: a synthetic harmonic tone prepared with the real feature extractor (yin): the
``tone_data`` and ``short_run`` fixtures of ``tests/conftest.py`` (shared with ``tests/faults``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from helpers import TINY, cli_command, quiet, read_losses
from torchddsp.apps.cli import main
from torchddsp.data import PreparedDataset
from torchddsp.losses import loudness_l1_loss, multi_resolution_stft_loss
from torchddsp.training import latest_checkpoint, load_config, train
from torchddsp.training.tasks.autoencoder import noise_seed, sample_batch
from torchddsp.training.trainer import build_task, learning_rate

SR = 16000



def test_short_run_on_a_tone_learns(short_run):
    run_dir, config, result, _ = short_run
    rows = read_losses(run_dir)
    assert [int(r["step"]) for r in rows] == list(range(40))
    losses = np.array([float(r["loss"]) for r in rows])
    assert np.isfinite(losses).all()
    first, last = losses[:5].mean(), losses[-5:].mean()
    assert last < 0.6 * first, f"loss did not decrease: first 5 steps {first:.3f}, last 5 {last:.3f}"
    assert result["step"] == 40 and abs(result["loss"] - losses[-1]) < 1e-5
    lrs = [float(r["learning_rate"]) for r in rows]
    np.testing.assert_allclose(lrs, [learning_rate(config.train, s) for s in range(40)], rtol=1e-5)
    np.testing.assert_allclose(lrs[0], 3e-3)                  # small.toml


def test_run_folder_holds_config_checkpoints_and_logs(short_run, tone_data):
    run_dir, config, _, _ = short_run
    assert json.loads((run_dir / "config.json").read_text()) == config.to_dict()
    checkpoints = run_dir / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("step_*")) == ["step_00000020", "step_00000030", "step_00000040"]
    assert latest_checkpoint(run_dir).name == "step_00000040"
    assert not [p for p in checkpoints.iterdir() if p.name.startswith(".")], "temporary files left behind"
    state = json.loads((checkpoints / "step_00000040" / "state.json").read_text())
    dataset = PreparedDataset(tone_data)
    assert state["step"] == 40 and state["world_size"] == 1 and state["f0_method"] == "yin"
    assert state["f0_refine"] is False
    assert state["config"] == config.to_dict() and state["stats"] == dataset.stats
    assert state["config"]["model"]["sample_rate"] == SR and state["config"]["model"]["hop_size"] == 64
    weights = load_file(str(checkpoints / "step_00000040" / "model.safetensors"))
    np.testing.assert_allclose(float(weights["loudness_mean"]), dataset.stats["loudness_mean"], rtol=1e-6)
    np.testing.assert_allclose(float(weights["loudness_std"]), dataset.stats["loudness_std"], rtol=1e-6)
    assert list((run_dir / "logs").glob("events.out.tfevents.*")), "no tensorboard log"


def test_refuses_to_overwrite_an_existing_run(short_run, tone_data, capsys):
    run_dir, config, _, _ = short_run
    before = (run_dir / "losses.csv").read_bytes()
    with pytest.raises(ValueError, match="run_dir") as error:
        train(tone_data, run_dir, config, progress=False, log=quiet)
    assert str(run_dir) in str(error.value) and "--resume" in str(error.value)
    assert (run_dir / "losses.csv").read_bytes() == before
    args = ["train", str(tone_data), str(run_dir), "--quiet"] + sum((["--set", s] for s in TINY), [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "run_dir" in err and str(run_dir) in err and "Traceback" not in err
    assert (run_dir / "losses.csv").read_bytes() == before


def test_resume_of_a_folder_without_a_checkpoint_is_refused(tone_data, tmp_path, capsys):
    """Probe of issue 12: ``--resume`` into a mistyped folder started a fresh run there."""
    config = load_config("small", TINY + ["train.steps=2"])
    with pytest.raises(ValueError, match="^run_dir: nothing to resume"):
        train(tone_data, tmp_path / "typo", config, resume=True, progress=False, log=quiet)
    assert not (tmp_path / "typo").exists()
    args = ["train", str(tone_data), str(tmp_path / "typo"), "--resume", "--quiet"]
    assert main(args + sum((["--set", s] for s in TINY), [])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to resume" in err and "Traceback" not in err


def test_a_run_that_lost_its_checkpoints_is_not_restarted_over_its_log(short_run, tone_data, tmp_path):
    """Probe of issue 12: with no complete checkpoint left, a run restarted at step 0 and cut
    ``losses.csv`` to its header, with or without ``--resume``."""
    source, config, _, _ = short_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    for folder in (run_dir / "checkpoints").glob("step_*"):
        (folder / "model.safetensors").unlink()                        # every checkpoint torn
    before = (run_dir / "losses.csv").read_bytes()
    for resume in (False, True):
        with pytest.raises(ValueError, match="^run_dir: "):
            train(tone_data, run_dir, config, resume=resume, progress=False, log=quiet)
    assert (run_dir / "losses.csv").read_bytes() == before
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("step_*")) == [
        "step_00000020", "step_00000030", "step_00000040"]


@pytest.mark.parametrize("pointer", [None, "", "step_0000", "../../elsewhere", "/tmp", "step_00000099"])
def test_a_missing_or_bad_latest_pointer_resumes_from_the_newest_complete_checkpoint(short_run, tone_data, tmp_path,
                                                                                      pointer):
    source, _, _, _ = short_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    shutil.rmtree(run_dir / "checkpoints" / "step_00000040")
    latest = run_dir / "checkpoints" / "latest"
    latest.unlink()
    if pointer is not None:
        latest.write_text(pointer)
    assert latest_checkpoint(run_dir) == run_dir / "checkpoints" / "step_00000030"
    messages = []
    train(tone_data, run_dir, load_config("small", TINY + ["train.steps=32", "train.checkpoint_every=10"]),
          resume=True, progress=False, log=messages.append)
    assert any("step 30" in m for m in messages)
    assert [int(r["step"]) for r in read_losses(run_dir)] == list(range(32))


@pytest.mark.parametrize("change", ["train.learning_rate=0.001", "train.seed=7", "model.hidden=16",
                                    "losses.multi_resolution_stft.weight=2.0"])
def test_resume_with_different_settings_is_refused(short_run, tone_data, tmp_path, change):
    source, _, _, _ = short_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    before = (run_dir / "losses.csv").read_bytes()
    config = load_config("small", TINY + ["train.steps=45", "train.checkpoint_every=10", change])
    with pytest.raises(ValueError, match=f"^config: resuming .*{change.split('=')[0]}"):
        train(tone_data, run_dir, config, resume=True, progress=False, log=quiet)
    assert (run_dir / "losses.csv").read_bytes() == before
    assert latest_checkpoint(run_dir).name == "step_00000040"


@pytest.mark.parametrize("damage", ["torn last row", "blank line"])
def test_a_damaged_log_does_not_stop_a_resume(short_run, tone_data, tmp_path, damage):
    """Probe of issue 12: a torn last row or a blank line made ``--resume`` fail (IndexError)."""
    source, _, _, _ = short_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    log = run_dir / "losses.csv"
    text = log.read_text()
    log.write_text(text + "40,0.12" if damage == "torn last row" else text.replace("\n5,", "\n\n5,", 1))
    train(tone_data, run_dir, load_config("small", TINY + ["train.steps=42", "train.checkpoint_every=10"]),
          resume=True, progress=False, log=quiet)
    assert [int(r["step"]) for r in read_losses(run_dir)] == list(range(42))


def test_resume_continues_from_the_last_checkpoint(short_run, tone_data, tmp_path):
    source, _, _, _ = short_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    weights = load_file(str(run_dir / "checkpoints" / "step_00000040" / "model.safetensors"))
    # Resuming a finished run does nothing.
    done = train(tone_data, run_dir, load_config("small", TINY + ["train.steps=40"]), resume=True, progress=False,
                 log=quiet)
    assert done["step"] == 40 and len(read_losses(run_dir)) == 40
    # More steps continue from step 40 and append to the same log.
    messages = []
    more = train(tone_data, run_dir, load_config("small", TINY + ["train.steps=43", "train.checkpoint_every=10"]),
                 resume=True, progress=False, log=messages.append)
    assert more["step"] == 43 and any("resuming" in m and "step 40" in m for m in messages)
    assert [int(r["step"]) for r in read_losses(run_dir)] == list(range(43))
    assert latest_checkpoint(run_dir).name == "step_00000043"
    moved = load_file(str(run_dir / "checkpoints" / "step_00000043" / "model.safetensors"))
    assert any(not torch.equal(weights[k], moved[k]) for k in weights)


def test_resume_after_a_crash_that_logged_past_the_checkpoint(short_run, tone_data, tmp_path):
    """A crash after rows past the checkpoint reached the log: on resume the log is cut back to the
    checkpoint, each step is logged once, and the resumed steps draw the same batches and noise
    (hence the same losses) as the uninterrupted run."""
    source, _, _, _ = short_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    original = read_losses(run_dir)                                   # steps 0..39, checkpoints 20, 30, 40
    for name in ("step_00000030", "step_00000040"):                   # the crash came before these
        shutil.rmtree(run_dir / "checkpoints" / name)
    (run_dir / "checkpoints" / "latest").write_text("step_00000020")
    messages = []
    train(tone_data, run_dir, load_config("small", TINY + ["train.steps=23", "train.checkpoint_every=10"]),
          resume=True, progress=False, log=messages.append)
    assert any("step 20" in m for m in messages)
    rows = read_losses(run_dir)
    assert [int(r["step"]) for r in rows] == list(range(23)), "a step logged twice or missing"
    assert rows[:20] == original[:20]
    for resumed, uninterrupted in zip(rows[20:], original[20:23]):
        assert float(resumed["loss"]) == pytest.approx(float(uninterrupted["loss"]), rel=1e-5, abs=1e-6), resumed


def initial_weights(config, tone_data):
    _, modules = build_task(config, tone_data)
    return {k: v.detach().clone() for k, v in modules["model"].state_dict().items()}


@pytest.mark.parametrize("clip", [1e-12, 3.0])
def test_grad_clip_bounds_the_first_update(tone_data, tmp_path, clip):
    """Adam's first update is lr * g / (|g| + 1e-8) per weight: about lr when the gradient is left alone,
    about lr * 1e-4 when the whole gradient is clipped to norm 1e-12. An ignored ``train.grad_clip``
    gives the first for both."""
    config = load_config("small", TINY + ["train.steps=1", f"train.grad_clip={clip}"])
    train(tone_data, tmp_path / "run", config, progress=False, log=quiet)
    before = initial_weights(config, tone_data)
    after = load_file(str(tmp_path / "run" / "checkpoints" / "step_00000001" / "model.safetensors"))
    change = max(float((after[k] - before[k]).abs().max()) for k in before)
    lr = config.train.learning_rate
    if clip < 1e-6:
        assert change < 1e-2 * lr, f"the update ({change:.3g}) was not clipped"
    else:
        assert 0.5 * lr < change < 1.5 * lr


def test_time_limit_stops_early_with_a_checkpoint(tone_data, tmp_path):
    config = load_config("small", TINY + ["train.steps=100000", "train.checkpoint_every=100000",
                                          "train.time_limit_seconds=0.5"])
    messages = []
    result = train(tone_data, tmp_path / "run", config, progress=False, log=messages.append)
    assert 1 <= result["step"] < 100000
    assert latest_checkpoint(tmp_path / "run").name == f"step_{result['step']:08d}"
    assert len(read_losses(tmp_path / "run")) == result["step"]
    assert any("time limit" in m for m in messages)


def test_progress_bar_counts_the_time_budget_when_there_is_one(tone_data, tmp_path, capsys):
    timed = load_config("small", TINY + ["train.steps=100000", "train.checkpoint_every=100000",
                                         "train.time_limit_seconds=1"])
    train(tone_data, tmp_path / "timed", timed, progress=True, log=quiet)
    bar = capsys.readouterr().err
    assert "/1 s [" in bar and "step=" in bar and "100000" not in bar, bar[-500:]
    counted = load_config("small", TINY + ["train.steps=3"])
    train(tone_data, tmp_path / "counted", counted, progress=True, log=quiet)
    assert "3/3" in capsys.readouterr().err


@pytest.mark.parametrize("options", [[], ["losses.loudness_l1.n_fft=512", "losses.loudness_l1.hop_size=128"]])
def test_the_loss_is_the_weighted_sum_of_the_configured_terms(tone_data, tmp_path, options):
    weight = 0.25
    config = load_config("small", TINY + ["train.steps=1", f"losses.loudness_l1.weight={weight}",
                                          "losses.multi_resolution_stft.weight=0.5", *options])
    train(tone_data, tmp_path / "run", config, progress=False, log=quiet)
    logged = float(read_losses(tmp_path / "run")[0]["loss"])
    # the first step's output, rebuilt: initial weights from the seed, step 0's batch and noise
    task, modules = build_task(config, tone_data)
    batch = sample_batch(task.dataset, config.train.seed, 0, 0, config.train.batch_size, task.crop_frames)
    assert task.crop_frames == round(config.train.crop_seconds * SR / 64)
    with torch.no_grad():
        audio = modules["model"](batch["f0_hz"], batch["loudness_db"], noise_seed=noise_seed(config.train.seed, 0, 1, 0))
        spectral = multi_resolution_stft_loss(audio, batch["audio"], config.losses["multi_resolution_stft"]["n_ffts"])
        n_fft, hop = (512, 128) if options else (None, 64)            # defaults: the feature's window, the data's hop
        loud = loudness_l1_loss(audio, batch["audio"], SR, hop, n_fft)
    assert float(loud) > 0.1                       # the term is there to see
    assert logged == pytest.approx(float(0.5 * spectral + weight * loud), rel=1e-5)


def test_batches_are_a_pure_function_of_seed_step_and_rank(tone_data):
    dataset = PreparedDataset(tone_data)
    a = sample_batch(dataset, 3, 17, 0, 4, 30)
    b = sample_batch(dataset, 3, 17, 0, 4, 30)
    for key in a:
        assert torch.equal(a[key], b[key])
        assert a[key].shape[0] == 4
    assert a["audio"].shape == (4, 30 * 64)
    for other in (sample_batch(dataset, 3, 18, 0, 4, 30), sample_batch(dataset, 3, 17, 1, 4, 30),
                  sample_batch(dataset, 4, 17, 0, 4, 30)):
        assert not torch.equal(a["audio"], other["audio"])


def test_same_config_gives_the_same_weights(tone_data, tmp_path):
    config = lambda: load_config("small", TINY + ["train.steps=1"])  # noqa: E731
    train(tone_data, tmp_path / "a", config(), progress=False, log=quiet)
    train(tone_data, tmp_path / "b", config(), progress=False, log=quiet)
    a = load_file(str(tmp_path / "a" / "checkpoints" / "step_00000001" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoints" / "step_00000001" / "model.safetensors"))
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.slow
def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(tone_data, tmp_path):
    overrides = TINY + ["train.steps=30", "train.checkpoint_every=5", "train.average_decay=0.9"]
    killed_dir, full_dir = tmp_path / "killed", tmp_path / "full"
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("killed", "full")}
    killed = subprocess.Popen(cli_command(tone_data, killed_dir, overrides), stdout=logs["killed"],
                              stderr=subprocess.STDOUT)
    full = subprocess.Popen(cli_command(tone_data, full_dir, overrides), stdout=logs["full"],
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while not (killed_dir / "checkpoints" / "latest").exists():
            assert killed.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.time() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        os.kill(killed.pid, signal.SIGKILL)
        assert killed.wait(timeout=60) == -signal.SIGKILL
        assert full.wait(timeout=240) == 0, (tmp_path / "full.log").read_text()
    finally:
        for process in (killed, full):
            if process.poll() is None:
                process.kill()
                process.wait()
        for f in logs.values():
            f.close()
    stopped_at = json.loads((latest_checkpoint(killed_dir) / "state.json").read_text())["step"]
    assert 5 <= stopped_at < 30, "the run was not interrupted part-way"

    resumed = subprocess.run(cli_command(tone_data, killed_dir, overrides, "--resume"), capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout and f"(step {stopped_at})" in resumed.stdout

    for weights in ("model", "average"):                       # the weight average resumes exactly too
        a = load_file(str(killed_dir / "checkpoints" / "step_00000030" / f"{weights}.safetensors"))
        b = load_file(str(full_dir / "checkpoints" / "step_00000030" / f"{weights}.safetensors"))
        assert set(a) == set(b)
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-6, atol=1e-7, msg=lambda m, n=name: f"{weights} {n}: {m}")
    opt_a = torch.load(killed_dir / "checkpoints" / "step_00000030" / "optimizer.pt", weights_only=True)
    opt_b = torch.load(full_dir / "checkpoints" / "step_00000030" / "optimizer.pt", weights_only=True)
    for key, state in opt_a["state"].items():
        torch.testing.assert_close(state["exp_avg_sq"], opt_b["state"][key]["exp_avg_sq"], rtol=1e-6, atol=1e-12)
    # The log holds each step once (rows written after the checkpoint by the killed run are dropped)
    # and the same losses as the uninterrupted run.
    rows_a, rows_b = read_losses(killed_dir), read_losses(full_dir)
    assert [int(r["step"]) for r in rows_a] == list(range(30))
    np.testing.assert_allclose([float(r["loss"]) for r in rows_a], [float(r["loss"]) for r in rows_b],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args, name", [
    (["--set", "nonsense"], "--set"),
    (["--set", "train.bogus=1"], "bogus"),
    (["--set", "model.hidden=0"], "hidden"),
    (["--config", "no_such_config"], "config"),
])
def test_train_command_bad_input_exits_2_naming_the_argument(tone_data, tmp_path, capsys, args, name):
    assert main(["train", str(tone_data), str(tmp_path / "run"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


def test_train_command_on_an_unprepared_folder(tmp_path, capsys):
    assert main(["train", str(tmp_path), str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "data_dir" in err and "torchddsp prepare" in err


@pytest.mark.parametrize("settings, key", [
    (["train.steps=ten"], "steps"), (["train.checkpoint_every=0"], "checkpoint_every"),
    (["train.batch_size=0"], "batch_size"), (["model.amplitude_floor=-1"], "amplitude_floor"),
    (["train.average_decay=1"], "average_decay"), (["train.grad_clip=0"], "grad_clip"),
    (["losses.multi_resolution_stft.eps=0"], "multi_resolution_stft"),
    (["losses.loudness_l1.weight=-0.1"], "losses.loudness_l1.weight"),
    (["losses.loudness_l1.weight=0.1", "losses.loudness_l1.n_fft=1.5"], "n_fft"),
    (["losses.loudness_l1.weight=0.1", "losses.loudness_l1.hop_size=-1"], "hop_size"),
    (["losses.loudness_l1.weight=0.1", "losses.loudness_l1.hop=64"], "hop"),
    (["losses.no_such_loss.weight=1"], "no_such_loss"),
    (["losses.multi_resolution_stft.weight=0"], "at least one term"),
    (["task=no_such_task"], "no_such_task")])
def test_train_command_rejects_invalid_train_values(tone_data, tmp_path, capsys, settings, key):
    code = main(["train", str(tone_data), str(tmp_path / "run"), "--quiet",
                 *sum((["--set", s] for s in TINY + ["train.steps=2", *settings]), [])])
    err = capsys.readouterr().err
    assert code == 2 and key in err and "Traceback" not in err, err


def test_a_diverging_loss_is_a_one_line_error(tone_data, tmp_path, capsys):
    """Probe of issue 12: a non-finite loss printed a good message wrapped in a traceback."""
    huge = ["train.steps=2", "losses.multi_resolution_stft.weight=1e308"]      # weight * loss overflows to inf
    with pytest.raises(FloatingPointError, match="loss became inf at step 0"):
        train(tone_data, tmp_path / "a", load_config("small", TINY + huge), progress=False, log=quiet)
    args = ["train", str(tone_data), str(tmp_path / "b"), "--quiet", *sum((["--set", s] for s in TINY + huge), [])]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "loss became inf" in err and "Traceback" not in err


def test_a_resume_removes_what_killed_writes_left_behind(short_run, tone_data, tmp_path):
    """Probe of issue 12: stale ``.tmp_*`` folders and ``.latest.*`` files were never removed."""
    source, _, _, _ = short_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    checkpoints = run_dir / "checkpoints"
    (checkpoints / ".tmp_abc").mkdir()
    (checkpoints / ".tmp_abc" / "model.safetensors").write_bytes(b"torn")
    (checkpoints / ".latest.x1y2").write_text("step_000")
    messages = []
    train(tone_data, run_dir, load_config("small", TINY + ["train.steps=41", "train.checkpoint_every=10"]),
          resume=True, progress=False, log=messages.append)
    assert not [p.name for p in checkpoints.iterdir() if p.name.startswith(".")]
    assert sum("interrupted write" in m for m in messages) == 2
    assert latest_checkpoint(run_dir).name == "step_00000041"


def test_settings_the_data_decides_are_announced(tone_data, tmp_path):
    """Probe of issue 12: the data's sample rate silently replaced the config's."""
    config = load_config("small", [*TINY, "train.steps=1", "model.sample_rate=22050"])
    messages = []
    train(tone_data, tmp_path / "run", config, progress=False, log=messages.append)
    assert "train: model.sample_rate = 16000 from the prepared data (the config said 22050)" in messages
    assert not [m for m in messages if "model.hop_size" in m]                     # unchanged: not mentioned
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["sample_rate"] == 16000
