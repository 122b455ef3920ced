"""Tests for torchddsp.training.losses (the ``[losses]`` table and its registry) and for reading configs
written before it (per-loss ``[train]`` fields), as old run folders and checkpoints hold them."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from torchddsp.apps.inference import load_trained
from torchddsp.losses import LoudnessL1Loss, loudness_l1_loss, multi_resolution_stft_loss, waveform_l1_loss
from torchddsp.models import DDSPAutoencoder, ModelConfig
from torchddsp.training import RunConfig, load_config, save_checkpoint
from torchddsp.training.losses import LOSSES, WeightedLosses, check_loss_table, register_loss

SR, HOP = 16000, 64


def signals():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 4096, generator=g) * 0.3, torch.randn(2, 4096, generator=g) * 0.2


def test_terms_are_weighted_in_table_order_with_the_data_rate_and_hop_filled_in():
    output, target = signals()
    terms = WeightedLosses({"loudness_l1": {"weight": 0.5}, "waveform_l1": {"weight": 2.0},
                            "multi_resolution_stft": {"weight": 1.0, "n_ffts": [512, 128], "eps": 1e-6}}, SR, HOP)
    values = terms(output, target)
    assert list(values) == ["loudness_l1", "waveform_l1", "multi_resolution_stft"]
    assert isinstance(terms.terms["loudness_l1"], LoudnessL1Loss) and terms.terms["loudness_l1"].hop_size == HOP
    torch.testing.assert_close(values["loudness_l1"], 0.5 * loudness_l1_loss(output, target, SR, HOP))
    torch.testing.assert_close(values["waveform_l1"], 2.0 * waveform_l1_loss(output, target))
    torch.testing.assert_close(values["multi_resolution_stft"],
                               multi_resolution_stft_loss(output, target, (512, 128), eps=1e-6))


def test_an_option_overrides_the_data_hop_and_a_zero_weight_drops_the_term():
    terms = WeightedLosses({"loudness_l1": {"weight": 1.0, "hop_size": 256, "n_fft": 1024},
                            "waveform_l2": {"weight": 0}}, SR, HOP)
    assert list(terms.terms) == ["loudness_l1"]
    assert (terms.terms["loudness_l1"].hop_size, terms.terms["loudness_l1"].n_fft) == (256, 1024)


@pytest.mark.parametrize("table, match", [
    ({"spectral": {"weight": 1.0}}, r"losses.spectral: expected one of \[.*multi_resolution_stft"),
    ({"waveform_l1": {"weight": -1.0}}, r"losses.waveform_l1.weight: expected a number >= 0, received -1.0"),
    ({"waveform_l1": {}}, r"losses.waveform_l1.weight: expected a number >= 0, received None"),
    ({"waveform_l1": 1.0}, r"losses.waveform_l1: expected a table"),
    ({"waveform_l1": {"weight": 1.0, "n_fft": 3}}, r"losses.waveform_l1: unknown options \['n_fft'\].*reduction"),
    ({"multi_resolution_stft": {"weight": 1.0, "eps": 0.0}}, r"losses.multi_resolution_stft: eps"),
    ({"waveform_l1": {"weight": 0.0}}, r"at least one term"),
])
def test_bad_tables_name_the_term_and_what_was_expected(table, match):
    with pytest.raises(ValueError, match=match):
        WeightedLosses(table, SR, HOP)


def test_register_loss_adds_a_name_once(monkeypatch):
    monkeypatch.setattr("torchddsp.training.losses.LOSSES", dict(LOSSES))
    from torchddsp.training import losses as registry

    class Half(torch.nn.Module):
        def forward(self, output, target):
            return 0.5 * (output - target).abs().mean()

    register_loss("half_l1", Half)
    output, target = signals()
    value = WeightedLosses({"half_l1": {"weight": 4.0}}, SR, HOP)(output, target)["half_l1"]
    torch.testing.assert_close(value, 2.0 * (output - target).abs().mean())
    with pytest.raises(ValueError, match="half_l1"):
        register_loss("half_l1", Half)
    assert "half_l1" in registry.LOSSES
    assert check_loss_table({"half_l1": {"weight": 1}}) == {"half_l1": {"weight": 1}}


# The [train] table of small_44k as torchddsp saved it in config.json and state.json before [losses].
OLD_SMALL_44K_TRAIN = {
    "steps": 1500, "batch_size": 8, "learning_rate": 0.003, "lr_decay_rate": 0.9, "lr_decay_steps": 500,
    "crop_seconds": 1.0, "n_ffts": [2048, 1024, 512, 256, 128, 64], "loss_eps": 1e-20, "loss_log_eps": 1e-07,
    "loudness_weight": 0.02, "loudness_n_fft": 2048, "loudness_hop": 704, "average_decay": 0.999, "grad_clip": 3.0,
    "checkpoint_every": 250, "log_every": 25, "audio_every": 1000, "seed": 0, "threads": 2,
    "time_limit_seconds": 0.0}


def test_old_per_loss_train_fields_become_the_same_loss_table_with_a_one_line_notice():
    new = load_config("small_44k")
    with pytest.warns(FutureWarning, match="loss_eps.*loudness_weight") as notice:
        old = RunConfig.from_dict({"model": new.to_dict()["model"], "train": OLD_SMALL_44K_TRAIN})
    assert len(notice) == 1 and "\n" not in str(notice[0].message)
    assert old.to_dict() == new.to_dict()


def test_old_defaults_convert_to_the_defaults_they_stood_for():
    old_small_train = {k: v for k, v in OLD_SMALL_44K_TRAIN.items() if not k.startswith(("loss", "loudness"))}
    with pytest.warns(FutureWarning):
        config = RunConfig.from_dict({"train": {**old_small_train, "loss_eps": 1e-8, "loss_log_eps": 0.0,
                                                "loudness_weight": 0.0, "loudness_n_fft": 0, "loudness_hop": 0}})
    assert config.losses == {"multi_resolution_stft": {"weight": 1.0, "n_ffts": [2048, 1024, 512, 256, 128, 64],
                                                       "eps": 1e-8, "log_eps": 0.0}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")                             # no notice for a config without old fields
        assert RunConfig.from_dict({}).losses == {"multi_resolution_stft": {"weight": 1.0}}


def test_old_fields_beside_a_loss_table_are_refused():
    with pytest.raises(ValueError, match="train.loss_eps.*move them"):
        load_config("small", ["train.loss_eps=1e-6"])


def test_a_checkpoint_saved_with_old_fields_still_loads_for_inference(tmp_path):
    model_config = ModelConfig(hidden=8, mlp_layers=1, n_harmonics=4, n_noise_bands=5, reverb_seconds=0.05)
    torch.manual_seed(0)
    model = DDSPAutoencoder(model_config)
    state = {"config": {"model": model_config.to_dict(), "train": OLD_SMALL_44K_TRAIN}, "stats": {},
             "f0_method": "yin", "world_size": 1, "averaged_steps": 0}
    path = save_checkpoint(tmp_path, 4, model, torch.optim.Adam(model.parameters()), state)
    trained = load_trained(tmp_path)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(trained.model.state_dict()[name], value, rtol=0, atol=0)
    with pytest.warns(FutureWarning):
        config = RunConfig.from_dict(json.loads((path / "state.json").read_text())["config"])
    assert config.losses["loudness_l1"] == {"weight": 0.02, "n_fft": 2048, "hop_size": 704}
