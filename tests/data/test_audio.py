"""Tests for torchddsp.data.audio: the one audio reader and writer (round trips through soundfile)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.data.audio import read_audio, write_wav


def test_round_trip_stereo_and_mono(tmp_path):
    t = torch.arange(1600) / 16000
    stereo = torch.stack([0.5 * torch.sin(2 * torch.pi * 440 * t), -0.25 * torch.ones(1600)])
    write_wav(tmp_path / "a.wav", stereo, 16000)
    audio, rate = read_audio(tmp_path / "a.wav")
    assert rate == 16000 and audio.shape == (2, 1600) and audio.dtype == torch.float32
    torch.testing.assert_close(audio, stereo, rtol=0, atol=1.0 / 32767)       # 16-bit PCM
    mono, _ = read_audio(tmp_path / "a.wav", mono=True)
    torch.testing.assert_close(mono, stereo.mean(0), rtol=0, atol=1.0 / 32767)


def test_write_to_a_file_object_gives_a_wav():
    buffer = io.BytesIO()
    write_wav(buffer, torch.full((100,), 0.5), 8000)
    data, rate = sf.read(io.BytesIO(buffer.getvalue()))
    assert buffer.getvalue()[:4] == b"RIFF" and rate == 8000 and np.allclose(data, 0.5, atol=1e-4)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="audio.*\\[-1, 1\\]"):
        write_wav(tmp_path / "b.wav", torch.full((10,), 1.5), 16000)
    with pytest.raises(ValueError, match="audio.*finite"):
        write_wav(tmp_path / "b.wav", torch.tensor([float("nan")]), 16000)
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="unreadable audio file .*broken.wav"):
        read_audio(tmp_path / "broken.wav")
    with pytest.raises(ValueError, match="unreadable audio file .*missing.flac"):
        read_audio(tmp_path / "missing.flac")


@pytest.mark.parametrize("block", [7, 1000, 1 << 20])
def test_long_audio_is_written_a_block_at_a_time_with_the_same_bytes(tmp_path, monkeypatch, block):
    from torchddsp.data import audio as audio_module

    g = torch.Generator().manual_seed(0)
    signal = (0.4 * torch.randn(2, 3001, generator=g)).clamp(-1, 1)
    write_wav(tmp_path / "whole.wav", signal, 22050)
    monkeypatch.setattr(audio_module, "WRITE_BLOCK", block)
    write_wav(tmp_path / "blocks.wav", signal, 22050)
    assert (tmp_path / "blocks.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()


def test_normalise_divides_by_a_peak_above_one_and_leaves_others(tmp_path, monkeypatch):
    from torchddsp.data import audio as audio_module

    monkeypatch.setattr(audio_module, "WRITE_BLOCK", 10)
    loud = torch.linspace(-3.0, 1.5, 95)
    write_wav(tmp_path / "loud.wav", loud, 8000, normalise=True)
    data, _ = sf.read(str(tmp_path / "loud.wav"))
    np.testing.assert_allclose(data, (loud / 3.0).numpy(), atol=1.0 / 32767)
    quiet = torch.linspace(-0.5, 0.5, 95)
    write_wav(tmp_path / "quiet.wav", quiet, 8000, normalise=True)
    np.testing.assert_allclose(sf.read(str(tmp_path / "quiet.wav"))[0], quiet.numpy(), atol=1.0 / 32767)


def test_a_bad_sample_in_a_late_block_writes_nothing(tmp_path, monkeypatch):
    from torchddsp.data import audio as audio_module

    monkeypatch.setattr(audio_module, "WRITE_BLOCK", 10)
    signal = torch.zeros(95)
    signal[90] = float("inf")
    (tmp_path / "old.wav").write_bytes(b"previous content")
    with pytest.raises(ValueError, match="audio.*finite"):
        write_wav(tmp_path / "old.wav", signal, 8000, normalise=True)
    assert (tmp_path / "old.wav").read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.wav"]
