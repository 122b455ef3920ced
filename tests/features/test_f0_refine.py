"""Tests for torchddsp.features.refine_f0: instantaneous-frequency refinement of an f0 track.

References: harmonic signals whose f0 is known at every sample (steady tones, vibrato, a glide),
started from a deliberately wrong track (off in pitch, or late in time, as a smoothing tracker is).
"""

from __future__ import annotations

import math

import pytest
import torch

from helpers import DEVICES, check_batch_consistency, shared_audio
from torchddsp.data.audio import read_audio
from torchddsp.features import crepe_weights_path, extract_features, harvest, refine_f0


def harmonic_signal(f0_per_sample: torch.Tensor, sample_rate: float, n_harmonics: int = 12) -> torch.Tensor:
    """sum_k sin(k phi) / k with phi the running phase of ``f0_per_sample`` (float64)."""
    phase = 2 * math.pi * torch.cumsum(f0_per_sample, 0) / sample_rate
    return sum(torch.sin(k * phase) / k for k in range(1, n_harmonics + 1))


def frames_of(f0_per_sample: torch.Tensor, hop: int) -> torch.Tensor:
    """The true f0 at frame centres ``m * hop`` (frame count ``ceil(time / hop)``)."""
    return f0_per_sample[::hop]


def cents(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 1200 * torch.log2(a / b).abs()


@pytest.mark.parametrize("sample_rate, f0", [(16000, 110.0), (16000, 440.0), (44100, 196.0), (44100, 1500.0)])
@pytest.mark.parametrize("offset_cents", [-40.0, 25.0])
def test_steady_tone_is_found_within_half_a_cent(sample_rate, f0, offset_cents):
    hop = round(sample_rate / 250)
    true = torch.full((sample_rate,), f0, dtype=torch.float64)
    x = harmonic_signal(true, sample_rate)
    start = frames_of(true, hop) * 2 ** (offset_cents / 1200)
    refined = refine_f0(x, sample_rate, hop, start)
    inner = slice(25, -25)                        # frames whose window lies inside the signal
    assert cents(refined, frames_of(true, hop))[inner].max() < 0.5


def test_vibrato_is_followed():
    """5.5 Hz vibrato of +-50 cents, started 30 cents sharp: within 3 cents everywhere, 0.3 on average."""
    sr, hop = 44100, 176
    t = torch.arange(2 * sr, dtype=torch.float64) / sr
    true = 440 * 2 ** (50 / 1200 * torch.sin(2 * math.pi * 5.5 * t))
    x = harmonic_signal(true, sr)
    start = frames_of(true, hop) * 2 ** (30 / 1200)
    error = cents(refine_f0(x, sr, hop, start, iterations=3), frames_of(true, hop))[25:-25]
    assert error.max() < 3.0 and error.mean() < 0.3


def test_a_late_track_is_brought_back_in_time():
    """A tracker that lags 4 frames on a glide of 2 octaves per second (32 cents late) is corrected."""
    sr, hop = 16000, 64
    t = torch.arange(sr, dtype=torch.float64) / sr
    true = 150 * 2 ** (2 * t)
    x = harmonic_signal(true, sr)
    truth = frames_of(true, hop)
    late = torch.cat([truth[:1].expand(4), truth[:-4]])
    before = cents(late, truth)[25:-25]
    after = cents(refine_f0(x, sr, hop, late), truth)[25:-25]
    assert before.mean() > 30 and after.mean() < 1.0


def test_frames_without_a_usable_estimate_keep_their_input():
    sr, hop = 16000, 64
    x = torch.cat([torch.zeros(sr // 2, dtype=torch.float64),
                   harmonic_signal(torch.full((sr // 2,), 300.0, dtype=torch.float64), sr)])
    start = torch.full((math.ceil(len(x) / hop),), 305.0, dtype=torch.float64)
    start[200] = 0.0                                            # "no f0" in a sounding frame
    start[201] = -300.0
    refined = refine_f0(x, sr, hop, start)
    silent = slice(0, 100)                                      # windows that see only zeros
    torch.testing.assert_close(refined[silent], start[silent], rtol=0, atol=0)
    assert refined[200] == 0.0 and refined[201] == -300.0
    assert cents(refined[180:199], torch.tensor(300.0, dtype=torch.float64)).max() < 0.5


def test_changes_beyond_the_limit_are_refused():
    """A 40-cent correction is made with the default limit (100 cents) and refused with a limit of 10."""
    sr, hop = 16000, 64
    x = harmonic_signal(torch.full((sr // 2,), 300.0, dtype=torch.float64), sr)
    start = torch.full((math.ceil(len(x) / hop),), 300.0 * 2 ** (40 / 1200), dtype=torch.float64)
    assert cents(refine_f0(x, sr, hop, start)[20:-20], torch.tensor(300.0, dtype=torch.float64)).max() < 0.5
    torch.testing.assert_close(refine_f0(x, sr, hop, start, max_change_cents=10.0), start, rtol=0, atol=0)


def test_octave_decision_of_the_tracker_stands():
    """Started an octave high, refinement measures the even harmonics and stays an octave high."""
    sr, hop = 16000, 64
    x = harmonic_signal(torch.full((sr // 2,), 200.0, dtype=torch.float64), sr)
    start = torch.full((math.ceil(len(x) / hop),), 400.0 * 2 ** (20 / 1200), dtype=torch.float64)
    refined = refine_f0(x, sr, hop, start)[20:-20]
    assert cents(refined, torch.tensor(400.0, dtype=torch.float64)).max() < 20


def test_dtype_shape_and_batch_consistency():
    sr, hop = 16000, 64
    x = torch.stack([harmonic_signal(torch.full((4000,), f, dtype=torch.float64), sr) for f in (180.0, 260.0)])
    start = torch.stack([torch.full((63,), f) for f in (185.0, 255.0)]).float()
    refined = refine_f0(x.float(), sr, hop, start)
    assert refined.dtype == torch.float32 and refined.shape == (2, 63)
    check_batch_consistency(lambda a, f: refine_f0(a, sr, hop, f), [x, start.double()])
    # one recording, two candidate tracks: the audio broadcasts against the f0's leading shape
    torch.testing.assert_close(refine_f0(x[0], sr, hop, start.double()),
                               torch.stack([refine_f0(x[0], sr, hop, s) for s in start.double()]))


def test_chunking_does_not_change_the_result():
    sr, hop = 16000, 64
    t = torch.arange(sr, dtype=torch.float64) / sr
    true = 220 * 2 ** (30 / 1200 * torch.sin(2 * math.pi * 5 * t))
    x = harmonic_signal(true, sr)
    start = frames_of(true, hop) * 1.01
    torch.testing.assert_close(refine_f0(x, sr, hop, start, frames_per_chunk=7), refine_f0(x, sr, hop, start))


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    sr, hop = 16000, 64
    x = harmonic_signal(torch.full((4000,), 250.0, dtype=torch.float64), sr)
    start = torch.full((63,), 252.0, dtype=torch.float64)
    out = refine_f0(x.to(device), sr, hop, start.to(device))
    assert out.device.type == device
    torch.testing.assert_close(out.cpu(), refine_f0(x, sr, hop, start))


def test_extract_features_refines_on_request():
    sr, hop = 16000, 64
    t = torch.arange(sr, dtype=torch.float64) / sr
    true = 220 * 2 ** (60 / 1200 * torch.sin(2 * math.pi * 6 * t))
    x = harmonic_signal(true, sr).float()
    plain = extract_features(x, sr, hop, "yin")
    refined = extract_features(x, sr, hop, "yin", f0_refine=True)
    torch.testing.assert_close(refined["f0_hz"], refine_f0(x, sr, hop, plain["f0_hz"]))
    for key in ("f0_confidence", "voiced", "loudness_db"):
        torch.testing.assert_close(refined[key], plain[key])
    truth = frames_of(true, hop)[25:-25]
    assert cents(refined["f0_hz"][25:-25], truth).mean() < 0.5 * cents(plain["f0_hz"][25:-25], truth).mean()


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated:UserWarning")
@pytest.mark.parametrize("name", ["fluid_violin.16k.flac", "fluid_violin.44k.flac"])
def test_real_recording_refined_crepe_tiny_moves_towards_harvest(name):
    """On the violin, refining CREPE tiny's f0 halves its median distance to WORLD's Harvest (measured
    3.1-3.2 -> 1.4-1.6 cents), an independent tracker that refines from instantaneous frequency too."""
    pytest.importorskip("pyworld")
    try:
        crepe_weights_path("tiny")
    except FileNotFoundError:
        pytest.skip("CREPE weights not installed")
    audio, sr = read_audio(shared_audio(name))
    x = audio.double().reshape(-1)[: 8 * sr]
    hop = round(sr / 250)
    plain = extract_features(x, sr, hop, "crepe-tiny")
    refined = refine_f0(x, sr, hop, plain["f0_hz"])
    reference, _, reference_voiced = harvest(x, sr, hop)
    both = plain["voiced"] & reference_voiced
    assert both.sum() > 1000
    plain_error = cents(plain["f0_hz"], reference)[both].median()
    refined_error = cents(refined, reference)[both].median()
    assert refined_error < 0.6 * plain_error, (float(refined_error), float(plain_error))


def test_errors():
    x, f0 = torch.zeros(1000), torch.full((16,), 200.0)
    for name, kwargs in [("sample_rate", dict(sample_rate=0)), ("hop_size", dict(hop_size=0)),
                         ("n_harmonics", dict(n_harmonics=0)), ("periods", dict(periods=-1.0)),
                         ("iterations", dict(iterations=0)), ("fmin", dict(fmin=0.0)),
                         ("max_change_cents", dict(max_change_cents=0.0)),
                         ("frames_per_chunk", dict(frames_per_chunk=0))]:
        args = {"sample_rate": 16000, "hop_size": 64, **kwargs}
        with pytest.raises(ValueError, match=name):
            refine_f0(x, args.pop("sample_rate"), args.pop("hop_size"), f0, **args)
    with pytest.raises(ValueError, match="f0_hz"):
        refine_f0(x, 16000, 64, [200.0])
    with pytest.raises(ValueError, match="audio"):
        refine_f0(torch.tensor([1.0, float("nan")]), 16000, 64, f0)
