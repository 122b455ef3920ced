"""Tests for torchddsp.training.checkpoint: atomic layout, the ``latest`` pointer, keep-N, round trips,
and safe loading (a malicious pickle is refused and never runs)."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import load_file

from helpers import Payload
from torchddsp.apps.inference import load_trained
from torchddsp.models import DDSPAutoencoder, ModelConfig
from torchddsp.training import latest_checkpoint, load_checkpoint, save_checkpoint


def trained_pair(seed=0, steps=2):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model.register_buffer("scale", torch.tensor(float(seed) + 0.5))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):                       # give the optimiser some state (moments, step counts)
        optimizer.zero_grad()
        model(torch.randn(5, 3)).pow(2).sum().backward()
        optimizer.step()
    return model, optimizer


def test_layout_pointer_and_state(tmp_path):
    model, optimizer = trained_pair()
    path = save_checkpoint(tmp_path, 7, model, optimizer, {"note": "hello", "numbers": [1, 2]})
    assert path == tmp_path / "checkpoints" / "step_00000007"
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "optimizer.pt", "state.json"]
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_00000007"
    assert latest_checkpoint(tmp_path) == path
    assert json.loads((path / "state.json").read_text()) == {"note": "hello", "numbers": [1, 2], "step": 7}
    weights = load_file(str(path / "model.safetensors"))
    assert set(weights) == set(model.state_dict())
    for name, value in model.state_dict().items():
        torch.testing.assert_close(weights[name], value, rtol=0, atol=0)
    # Nothing but checkpoints and the pointer: no temporary folders or files left behind.
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step_00000007"]


def test_round_trip_restores_weights_buffers_and_optimiser(tmp_path):
    model, optimizer = trained_pair(seed=1)
    save_checkpoint(tmp_path, 3, model, optimizer, {"x": 1})
    fresh, fresh_optimizer = trained_pair(seed=2, steps=0)
    state = load_checkpoint(latest_checkpoint(tmp_path), fresh, fresh_optimizer)
    assert state == {"x": 1, "step": 3}
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=lambda m, n=name: f"{n}: {m}")
    # Identical optimiser state: one more identical step gives identical weights.
    data = torch.randn(5, 3, generator=torch.Generator().manual_seed(9))
    for m, o in ((model, optimizer), (fresh, fresh_optimizer)):
        o.zero_grad()
        m(data).pow(2).sum().backward()
        o.step()
    for a, b in zip(model.parameters(), fresh.parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_keeps_the_newest_n(tmp_path):
    model, optimizer = trained_pair()
    for step in (10, 20, 30, 40, 50):
        save_checkpoint(tmp_path, step, model, optimizer, {}, keep=3)
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*"))
    assert names == ["step_00000030", "step_00000040", "step_00000050"]
    assert latest_checkpoint(tmp_path).name == "step_00000050"
    save_checkpoint(tmp_path, 60, model, optimizer, {}, keep=1)
    assert [p.name for p in (tmp_path / "checkpoints").glob("step_*")] == ["step_00000060"]
    assert json.loads((latest_checkpoint(tmp_path) / "state.json").read_text())["step"] == 60


def test_latest_is_none_without_a_valid_pointer(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest").write_text("step_00000099")
    assert latest_checkpoint(tmp_path) is None


def test_pointer_is_replaced_in_one_rename_so_readers_never_see_a_partial_name(tmp_path):
    model, optimizer = trained_pair()
    save_checkpoint(tmp_path, 1, model, optimizer, {})
    pointer = tmp_path / "checkpoints" / "latest"
    with open(pointer) as before:                 # a reader that opened the pointer before the next save
        save_checkpoint(tmp_path, 2, model, optimizer, {})
        assert before.read() == "step_00000001"   # an in-place rewrite would show it a new or torn name
    assert pointer.read_text() == "step_00000002"


def test_a_crash_while_replacing_the_pointer_keeps_the_old_one_and_no_temporary(tmp_path, monkeypatch):
    model, optimizer = trained_pair()
    first = save_checkpoint(tmp_path, 1, model, optimizer, {})
    replace = os.replace

    def crash_on_pointer(src, dst):
        if os.path.basename(dst) == "latest":
            raise OSError("killed while replacing the pointer (simulated)")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_pointer)
    with pytest.raises(OSError, match="pointer"):
        save_checkpoint(tmp_path, 2, model, optimizer, {})
    monkeypatch.undo()
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_00000001"
    assert latest_checkpoint(tmp_path) == first
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step_00000001",
                                                                              "step_00000002"]


@pytest.mark.parametrize("pointer", ["", "\n", "step_000", "step_0000000", "step_00000099", "../elsewhere", "latest"])
def test_an_empty_torn_or_dangling_pointer_falls_back_to_the_newest_checkpoint(tmp_path, pointer):
    model, optimizer = trained_pair()
    for step in (10, 9, 30):                      # newest by step number, not by creation order
        save_checkpoint(tmp_path, step, model, optimizer, {}, keep=5)
    (tmp_path / "checkpoints" / "latest").write_text(pointer)
    found = latest_checkpoint(tmp_path)
    assert found == tmp_path / "checkpoints" / "step_00000030"
    assert load_checkpoint(found)["step"] == 30


def test_the_pointer_wins_when_it_names_a_complete_checkpoint_and_incomplete_ones_are_skipped(tmp_path):
    model, optimizer = trained_pair()
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, optimizer, {}, keep=5)
    root = tmp_path / "checkpoints"
    (root / "latest").write_text("step_00000002")
    assert latest_checkpoint(tmp_path) == root / "step_00000002"
    (root / "step_00000003" / "model.safetensors").unlink()          # not a complete checkpoint any more
    (root / "latest").write_text("step_00000003")
    assert latest_checkpoint(tmp_path) == root / "step_00000002"
    (root / "latest").unlink()                                       # no pointer at all: the newest complete one
    assert latest_checkpoint(tmp_path) == root / "step_00000002"


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model, optimizer = trained_pair()
    first = save_checkpoint(tmp_path, 1, model, optimizer, {"good": True})

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, 2, model, optimizer, {"good": False})
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path) == first
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step_00000001"]
    assert load_checkpoint(first)["good"] is True


def test_missing_files_are_named(tmp_path):
    model, optimizer = trained_pair()
    path = save_checkpoint(tmp_path, 1, model, optimizer, {})
    (path / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="model.safetensors"):
        load_checkpoint(path, model)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("format", ["raw_pickle", "torch_zip"])
def test_malicious_optimizer_pickle_is_refused_and_never_runs(tmp_path, format):
    model, optimizer = trained_pair()
    path = save_checkpoint(tmp_path, 1, model, optimizer, {})
    marker = tmp_path / "PWNED"
    if format == "raw_pickle":
        (path / "optimizer.pt").write_bytes(pickle.dumps({"state": Payload(marker), "param_groups": []}))
    else:
        torch.save({"state": Payload(marker), "param_groups": []}, path / "optimizer.pt")
    # Sanity: the payload is live (an unsafe load would run it).
    with open(path / "optimizer.pt", "rb") as f:
        head = f.read(2)
    assert head in (b"\x80\x04", b"PK") and not marker.exists()
    fresh, fresh_optimizer = trained_pair(steps=0)
    with pytest.raises(ValueError, match="optimizer.pt") as error:
        load_checkpoint(path, fresh, fresh_optimizer)
    assert "safe" in str(error.value)
    assert "weights_only" not in str(error.value), "the refusal must not suggest the unsafe way round it"
    assert not marker.exists(), "the pickled payload ran"


def test_the_payload_would_run_under_an_unsafe_load(tmp_path):
    """Control for the test above: the same file does run code when loaded unsafely."""
    marker = tmp_path / "PWNED"
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Payload(marker)))
    pickle.loads((tmp_path / "evil.pt").read_bytes())
    assert marker.exists()


def test_inference_loading_never_unpickles_the_optimizer(tmp_path):
    config = ModelConfig(hidden=8, mlp_layers=1, n_harmonics=4, n_noise_bands=5, reverb_seconds=0.05)
    torch.manual_seed(0)
    model = DDSPAutoencoder(config)
    model.set_statistics(-50.0, 7.0)
    optimizer = torch.optim.Adam(model.parameters())
    state = {"config": {"model": config.to_dict()}, "stats": {"loudness_mean": -50.0}, "f0_method": "yin"}
    path = save_checkpoint(tmp_path, 5, model, optimizer, state)
    marker = tmp_path / "PWNED"
    (path / "optimizer.pt").write_bytes(pickle.dumps(Payload(marker)))
    trained = load_trained(tmp_path)
    assert not marker.exists()
    assert trained.stats == {"loudness_mean": -50.0} and trained.f0_method == "yin"
    assert float(trained.model.loudness_mean) == -50.0 and float(trained.model.loudness_std) == 7.0
    for name, value in model.state_dict().items():
        torch.testing.assert_close(trained.model.state_dict()[name], value, rtol=0, atol=0,
                                   msg=lambda m, n=name: f"{n}: {m}")
    assert not trained.model.training


def test_corrupt_weights_file_is_a_clear_error(tmp_path):
    model, optimizer = trained_pair()
    path = save_checkpoint(tmp_path, 1, model, optimizer, {})
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="model.safetensors"):
        load_checkpoint(path, trained_pair(steps=0)[0])


def test_extra_modules_round_trip_beside_the_model_and_cannot_take_its_names(tmp_path):
    model, optimizer = trained_pair(seed=0)
    critic, critic_optimizer = trained_pair(seed=3)
    path = save_checkpoint(tmp_path, 2, model, optimizer, {}, extras={"critic": (critic, critic_optimizer)})
    assert {"critic.safetensors", "critic.optimizer.pt"} <= {p.name for p in path.iterdir()}
    fresh, fresh_optimizer = trained_pair(seed=4, steps=0)
    load_checkpoint(path, extras={"critic": (fresh, fresh_optimizer)})
    for name, value in critic.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[name], value, rtol=0, atol=0)
    assert fresh_optimizer.state_dict()["state"][0]["step"] == critic_optimizer.state_dict()["state"][0]["step"]
    for name in ("model", "average", "state", "has.dot"):
        with pytest.raises(ValueError, match="extras"):
            save_checkpoint(tmp_path, 3, model, optimizer, {}, extras={name: (critic, critic_optimizer)})
    with pytest.raises(ValueError, match="other.safetensors"):
        load_checkpoint(path, extras={"other": (fresh, fresh_optimizer)})


def test_checkpoints_get_the_usual_permissions(tmp_path):
    """Probe of issue 12: checkpoints were written 0700/0600 (private to the writer), unlike other files."""
    model = torch.nn.Linear(2, 2)
    final = save_checkpoint(tmp_path, 1, model, torch.optim.Adam(model.parameters()), {})
    umask = os.umask(0)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o777 & ~umask
    for name in ("model.safetensors", "state.json"):
        assert (final / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert (tmp_path / "checkpoints" / "latest").stat().st_mode & 0o777 == 0o666 & ~umask
