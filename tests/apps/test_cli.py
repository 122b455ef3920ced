"""The ``torchddsp`` command: the README's main job and its error handling."""

import numpy as np
import soundfile as sf

from torchddsp.apps.cli import main


def test_render_writes_a_playable_wav_and_a_png(tmp_path, capsys):
    assert main(["render", "--out", str(tmp_path), "--seconds", "1.5", "--sample-rate", "22050"]) == 0
    wav, png = tmp_path / "harmonic_plus_noise.wav", tmp_path / "harmonic_plus_noise.png"
    audio, sample_rate = sf.read(wav)
    assert sample_rate == 22050
    assert abs(len(audio) - 1.5 * 22050) <= 64
    assert np.isfinite(audio).all() and 0.5 < np.abs(audio).max() <= 0.91
    # Harmonic content: the strongest spectral peak is a note of the phrase (C4..G4, 255-400 Hz).
    spectrum = np.abs(np.fft.rfft(audio[: 22050 // 4]))
    peak = np.fft.rfftfreq(22050 // 4, 1 / 22050)[spectrum.argmax()]
    assert 250 < peak < 410
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(wav) in capsys.readouterr().out


def test_bad_arguments_give_a_clear_error_and_exit_code_2(tmp_path, capsys):
    assert main(["render", "--out", str(tmp_path), "--hop-size", "0"]) == 2
    assert "hop_size" in capsys.readouterr().err
