"""Tests for torchddsp.training.config: shipped configs read from the package, layers (``include``),
overrides, and the errors for unknown names, include cycles and bad values."""

from __future__ import annotations

import sys

import pytest

from torchddsp.training import config_names, load_config
from torchddsp.training.config import read_layered

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_shipped_configs_are_listed_and_load_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                    # nothing of the source tree is reachable by a relative path
    assert config_names() == ["engel2020_solo_instrument", "resynthesis", "resynthesis_44k", "small", "small_44k",
                              "transfer", "transfer_44k"]
    small = load_config("small")
    assert (small.model.hidden, small.train.steps, small.train.batch_size) == (128, 1500, 8)
    paper = load_config("engel2020_solo_instrument")
    assert (paper.model.hidden, paper.model.n_harmonics, paper.model.reverb_seconds) == (512, 100, 1.0)
    assert (paper.train.batch_size, paper.train.crop_seconds, paper.train.learning_rate) == (16, 4.0, 1e-3)


def flatten(table: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize("name, base", [("small_44k", "small"), ("transfer", "small"), ("resynthesis", "transfer"),
                                        ("transfer_44k", "small_44k"), ("resynthesis_44k", "transfer_44k")])
def test_a_layered_config_is_its_base_with_only_its_differences(name, base):
    from importlib import resources

    raw = tomllib.loads((resources.files("torchddsp.configs") / f"{name}.toml").read_text())
    assert raw.pop("include") == base
    own = flatten(raw)
    below, layered = flatten(load_config(base).to_dict()), flatten(load_config(name).to_dict())
    for key, value in own.items():
        assert below.get(key) != value, f"{key} repeats {base}'s value"
        assert layered[key] == value
    assert {k: v for k, v in layered.items() if k not in own} == {k: v for k, v in below.items() if k not in own}


def test_small_44k_changes_the_rate_and_adds_a_loudness_term():
    small, layered = flatten(load_config("small").to_dict()), flatten(load_config("small_44k").to_dict())
    assert layered["model.sample_rate"] == 44100 and layered["losses.loudness_l1.weight"] == 0.02
    assert layered["losses.multi_resolution_stft.n_ffts"] == small["losses.multi_resolution_stft.n_ffts"]


@pytest.mark.parametrize("rate, suffix", [(16000, ""), (44100, "_44k")])
def test_the_recommended_configs_read_what_their_names_promise(rate, suffix):
    """Transfer: f0 and loudness only (another recording drives it). Resynthesis: also z from MFCCs."""
    transfer, resynthesis = load_config(f"transfer{suffix}"), load_config(f"resynthesis{suffix}")
    assert transfer.model.sample_rate == resynthesis.model.sample_rate == rate
    assert transfer.model.z_size == 0 and resynthesis.model.z_size > 0
    for config in (transfer, resynthesis):
        assert config.train.average_decay > 0 and config.model.reverb_seconds <= 0.05
        assert config.losses["multi_resolution_stft"]["log_eps"] == 1e-7


def test_a_user_file_includes_a_shipped_config_and_overrides_win_over_both(tmp_path):
    (tmp_path / "mine.toml").write_text('include = "small"\n[model]\nhidden = 64\n[train]\nsteps = 7\n')
    config = load_config(tmp_path / "mine.toml", ["train.steps=9"])
    assert config.model.hidden == 64                              # the file over its base
    assert config.model.n_harmonics == 60 and config.train.learning_rate == 3e-3   # from small
    assert config.train.steps == 9                                # --set over the file


def test_includes_chain_relative_to_the_including_file(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.toml").write_text('include = "small_44k"\n[train]\nbatch_size = 3\n')
    (tmp_path / "sub" / "top.toml").write_text('include = "base.toml"\n[train]\nsteps = 5\n')
    monkeypatch.chdir(tmp_path)
    config = load_config("sub/top.toml")
    assert (config.train.steps, config.train.batch_size, config.model.hop_size) == (5, 3, 176)
    assert config.model.hidden == 128                             # small, two layers down


def test_merge_is_per_key_inside_tables(tmp_path):
    (tmp_path / "base.toml").write_text('[train]\nsteps = 1\n[extra]\na = 1\n[extra.inner]\nx = 1\ny = 2\n')
    (tmp_path / "top.toml").write_text('include = "base.toml"\n[extra.inner]\ny = 3\n')
    assert read_layered(tmp_path / "top.toml") == {"train": {"steps": 1}, "extra": {"a": 1, "inner": {"x": 1, "y": 3}}}


def test_unknown_name_lists_the_shipped_configs():
    with pytest.raises(ValueError, match="config") as error:
        load_config("no_such_config")
    message = str(error.value)
    assert "no_such_config" in message and all(name in message for name in config_names())


def test_include_cycle_is_named(tmp_path):
    (tmp_path / "a.toml").write_text('include = "b.toml"\n')
    (tmp_path / "b.toml").write_text('include = "a.toml"\n')
    with pytest.raises(ValueError, match="include cycle") as error:
        load_config(tmp_path / "a.toml")
    assert str(error.value).count("a.toml") == 2 and "b.toml" in str(error.value)
    (tmp_path / "self.toml").write_text('include = "self.toml"\n')
    with pytest.raises(ValueError, match="include cycle"):
        load_config(tmp_path / "self.toml")


@pytest.mark.parametrize("text, match", [('include = 3\n', "include.*string.*3"),
                                         ('include = "missing_base"\n', "missing_base"),
                                         ('[model\n', "not valid TOML")])
def test_bad_files_are_clear_errors(tmp_path, text, match):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ValueError, match=match):
        load_config(tmp_path / "bad.toml")
