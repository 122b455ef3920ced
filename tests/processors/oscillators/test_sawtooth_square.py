"""SawtoothSquare: parity with the functional op, harmonic content of both ends of the morph, controls, errors."""

import math

import pytest
import torch

from torchddsp.functional import sawtooth_square
from torchddsp.processors import SawtoothSquare

SR = 8000


def _render_constant(f0, morph, seconds=1.0, hop=80):
    synth = SawtoothSquare(SR, hop, n_harmonics=40).double()
    frames = int(seconds * SR / hop)
    return synth.render(torch.full((frames, 1), f0, dtype=torch.float64),
                        torch.full((frames, 1), morph, dtype=torch.float64))


def test_render_equals_the_functional_op():
    g = torch.Generator().manual_seed(0)
    f0 = 100 + 900 * torch.rand(2, 7, 1, generator=g, dtype=torch.float64)
    morph = torch.rand(2, 7, 1, generator=g, dtype=torch.float64)
    synth = SawtoothSquare(SR, 16, n_harmonics=12, upsampling="hann")
    expected = sawtooth_square(f0, morph, SR, 16, 12, upsampling="hann")
    torch.testing.assert_close(synth.render(f0, morph), expected, rtol=0, atol=0)


@pytest.mark.parametrize("morph, even_share", [(0.0, 0.0), (1.0, 1.0 / math.pi)])
def test_square_has_only_odd_harmonics_and_sawtooth_all_without_aliasing(morph, even_share):
    f0 = 190.0                                  # 1 Hz bins; harmonics past Nyquist would alias off the grid
    y = _render_constant(f0, morph)
    spectrum = torch.fft.rfft(y).abs() / (y.shape[-1] / 2)
    assert float(spectrum[190]) == pytest.approx(4 / math.pi + morph * (2 / math.pi - 4 / math.pi), rel=1e-3)
    assert float(spectrum[380]) == pytest.approx(even_share, abs=1e-3)
    harmonic_bins = torch.arange(190, SR // 2 + 1, 190)
    off_grid = spectrum.clone()
    off_grid[harmonic_bins] = 0
    assert float(off_grid.max()) < 1e-3, "energy off the harmonic grid: aliasing"


def test_get_controls_keeps_the_morph_in_the_unit_interval_for_any_logits():
    synth = SawtoothSquare(SR, 8)
    logits = torch.tensor([[[-1e4], [-3.0], [0.0], [5.0], [1e4]]])
    f0 = torch.full((1, 5, 1), 440.0)
    controls = synth.get_controls(f0, logits)
    assert controls["f0_hz"] is f0
    assert float(controls["morph"].min()) >= 0.0 and float(controls["morph"].max()) <= 1.0
    assert float(controls["morph"][0, 2, 0]) == 0.5


def test_streaming_keeps_the_phase_over_many_blocks():
    synth = SawtoothSquare(SR, 32, n_harmonics=8).double()
    frames = 400
    f0 = torch.linspace(100, 1000, frames, dtype=torch.float64)[:, None]
    morph = torch.linspace(0, 1, frames, dtype=torch.float64)[:, None]
    one_shot = synth.render(f0, morph)
    streamed, state = synth.stream(f0_hz=f0, morph=morph, block_frames=7)
    torch.testing.assert_close(streamed[32:], one_shot[:-32], rtol=1e-9, atol=1e-9)
    assert float(streamed[:32].abs().max()) == 0.0
    assert state["phase"].dtype == torch.float64


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="n_harmonics"):
        SawtoothSquare(SR, 8, n_harmonics=0)
    with pytest.raises(ValueError, match="hop_size"):
        SawtoothSquare(SR, 0)
    synth = SawtoothSquare(SR, 8)
    with pytest.raises(ValueError, match="morph"):
        synth.render(torch.full((3, 1), 220.0), torch.zeros(3, 2))
