"""Processors: controls are valid for any network output, rendering equals the functional op,
gradients reach every input, and the modules learn."""

import math

import numpy as np
import pytest
import torch

from helpers import DEVICES, assert_finite, check_batch_consistency, check_finite_gradients, check_gradcheck
from torchddsp.functional.core.noise import indexed_noise
from torchddsp.functional.filters.fir import frequency_filter
from torchddsp.functional.oscillators.harmonic import harmonic_oscillator
from torchddsp.functional.oscillators.sinusoidal import oscillator_bank
from torchddsp.losses import MultiResolutionSTFTLoss
from torchddsp.processors import FilteredNoise, Harmonic, HarmonicPlusNoise, Reverb, Sinusoidal


def test_harmonic_controls_are_valid_for_any_logits():
    synth = Harmonic(16000, 64, n_harmonics=40)
    logits = 1e3 * torch.randn(3, 10, 40, dtype=torch.float64)
    f0 = torch.tensor([100.0, 500.0, 9000.0], dtype=torch.float64).view(3, 1, 1).expand(3, 10, 1)
    c = synth.get_controls(1e3 * torch.randn(3, 10, 1, dtype=torch.float64), logits, f0)
    k = torch.arange(1, 41, dtype=torch.float64)
    above = k * f0 >= 8000
    assert torch.all(c["harmonic_distribution"][above.expand(3, 10, 40)] == 0)
    sums = c["harmonic_distribution"].sum(-1)
    torch.testing.assert_close(sums[:2], torch.ones_like(sums[:2]))      # f0 = 9 kHz: nothing below Nyquist
    assert torch.all(sums[2] == 0)
    assert torch.all(c["amplitude"] > 0) and torch.all(c["amplitude"] <= 2 + 1e-6)


def test_harmonic_render_equals_functional_and_gradcheck():
    synth = Harmonic(16000, 8, n_harmonics=6)
    amp = torch.randn(2, 4, 1, dtype=torch.float64, requires_grad=True)
    dist = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    f0 = torch.full((2, 4, 1), 1500.0, dtype=torch.float64)
    c = synth.get_controls(amp, dist, f0)
    torch.testing.assert_close(synth.render(**c), harmonic_oscillator(c["amplitude"], c["harmonic_distribution"],
                                                                      f0, 16000, 8))
    check_gradcheck(lambda a, d: synth(a, d, f0), (amp, dist))
    check_batch_consistency(lambda a, d, f: synth(a, d, f), (amp.detach(), dist.detach(), f0))


def test_sinusoidal_controls_and_render():
    synth = Sinusoidal(16000, 16, n_sinusoids=3, hz_min=30.0, hz_max=7000.0)
    c = synth.get_controls(torch.randn(2, 5, 3) * 50, torch.randn(2, 5, 3) * 50)
    assert torch.all(c["frequencies"] >= 30.0 - 1e-3) and torch.all(c["frequencies"] <= 7000.0 + 1e-2)
    torch.testing.assert_close(synth.render(**c), oscillator_bank(c["amplitudes"], c["frequencies"], 16000, hop_size=16))
    with pytest.raises(ValueError, match="hz_min"):
        Sinusoidal(16000, 16, hz_min=-1.0)


def test_filtered_noise_is_seeded_and_equals_the_functional_filter():
    noise = FilteredNoise(64, n_bands=33)
    logits = torch.randn(2, 20, 33)
    c = noise.get_controls(logits)
    a, b = noise.render(**c, noise_seed=3), noise.render(**c, noise_seed=3)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, noise.render(**c, noise_seed=4))
    expected = frequency_filter(indexed_noise((2, 20 * 64), 3), c["noise_magnitudes"], 64)
    torch.testing.assert_close(a, expected)
    with pytest.raises(ValueError, match="noise_logits"):
        noise.get_controls(torch.randn(2, 20, 32))


def test_filtered_noise_spectrum_follows_the_magnitudes():
    # Low-pass magnitudes: almost all energy lands below the cut band.
    noise = FilteredNoise(64, n_bands=65)
    mags = torch.zeros(1, 500, 65)
    mags[..., :16] = 1.0                                       # bands 0..15 of 64: up to ~1.9 kHz at 16 kHz
    y = noise.render(mags, noise_seed=0)[0].double().numpy()
    spec = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / 16000)
    assert spec[freqs < 2500].sum() / spec.sum() > 0.99


@pytest.mark.parametrize("mode", ["learned", "parametric"])
def test_reverb_adds_a_decaying_tail_and_learns(mode):
    reverb = Reverb(16000, seconds=0.5, mode=mode, initial_decay=0.3, initial_gain=0.1).double()
    impulse = torch.zeros(1, 16000, dtype=torch.float64)
    impulse[0, 0] = 1.0
    y = reverb(impulse)[0]
    assert y[0] == 1.0                                          # the direct sound passes unchanged
    ir = reverb.get_controls()["impulse_response"].detach()
    torch.testing.assert_close(y[1:ir.shape[-1]], ir[1:])
    # Energy of the tail decays: the last 0.1 s is > 30 dB below the first 0.1 s (T60 = 0.3 s).
    first, last = ir[1:1600].pow(2).sum(), ir[-1600:].pow(2).sum()
    assert 10 * math.log10(float(first / last)) > 30
    x = torch.randn(2, 4000, dtype=torch.float64)
    reverb(x).pow(2).sum().backward()
    grads = [p.grad for p in reverb.parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_harmonic_plus_noise_gradients_reach_every_logit_and_silence_is_finite():
    synth = HarmonicPlusNoise(16000, 64, n_harmonics=20, n_noise_bands=17,
                              reverb=Reverb(16000, seconds=0.1))
    inputs = (torch.randn(2, 10, 1, requires_grad=True), torch.randn(2, 10, 20, requires_grad=True),
              torch.full((2, 10, 1), 220.0), torch.randn(2, 10, 17, requires_grad=True))
    out = check_finite_gradients(lambda a, d, f, n: synth(a, d, f, n, noise_seed=0), inputs)
    assert out.shape == (2, 640)
    silent = synth(torch.full((1, 10, 1), -1e4), torch.zeros(1, 10, 20), torch.zeros(1, 10, 1),
                   torch.full((1, 10, 17), -1e4), noise_seed=0)
    assert_finite(silent)
    assert float(silent.detach().abs().max()) < 1e-5


def test_threshold_is_the_floor_of_amplitude_and_noise_magnitudes():
    very_negative = torch.full((1, 4, 1), -1e4, dtype=torch.float64)
    for threshold in (1e-7, 1e-12, 0.0):
        synth = HarmonicPlusNoise(16000, 16, n_harmonics=3, n_noise_bands=5, threshold=threshold)
        c = synth.get_controls(very_negative, torch.zeros(1, 4, 3, dtype=torch.float64),
                               torch.full((1, 4, 1), 200.0, dtype=torch.float64), very_negative.expand(1, 4, 5))
        torch.testing.assert_close(c["amplitude"], torch.full_like(c["amplitude"], threshold), rtol=1e-6, atol=0)
        torch.testing.assert_close(c["noise_magnitudes"], torch.full_like(c["noise_magnitudes"], threshold),
                                   rtol=1e-6, atol=0)
        assert float(synth.render(**c, noise_seed=0).abs().max()) <= 2 * threshold
    for make in (lambda: Harmonic(16000, 16, threshold=-1e-9), lambda: FilteredNoise(16, threshold=float("nan"))):
        with pytest.raises(ValueError, match="threshold"):
            make()


def test_harmonic_plus_noise_learns_a_target_spectrum():
    # Learnability: fit the harmonic distribution and noise of a target rendered by the same synth.
    torch.manual_seed(0)
    synth = HarmonicPlusNoise(16000, 64, n_harmonics=16, n_noise_bands=9)
    f0 = torch.full((1, 40, 1), 196.0)
    target_logits = (torch.randn(1, 1, 1).expand(1, 40, 1), 3 * torch.randn(1, 1, 16).expand(1, 40, 16),
                     torch.randn(1, 1, 9).expand(1, 40, 9))
    with torch.no_grad():
        target = synth(target_logits[0], target_logits[1], f0, target_logits[2], noise_seed=1)
    params = [torch.zeros(1, 1, 1, requires_grad=True), torch.zeros(1, 1, 16, requires_grad=True),
              torch.zeros(1, 1, 9, requires_grad=True)]
    loss_fn = MultiResolutionSTFTLoss(n_ffts=(512, 256, 128))
    optimizer = torch.optim.Adam(params, lr=0.1)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        y = synth(params[0].expand(1, 40, 1), params[1].expand(1, 40, 16), f0, params[2].expand(1, 40, 9), noise_seed=1)
        loss = loss_fn(y, target)
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.3 * losses[0]


@pytest.mark.parametrize("device", DEVICES)
def test_processors_run_on_device(device):
    synth = HarmonicPlusNoise(16000, 32, n_harmonics=8, n_noise_bands=9).to(device)
    y = synth(torch.zeros(1, 5, 1, device=device), torch.zeros(1, 5, 8, device=device),
              torch.full((1, 5, 1), 330.0, device=device), torch.zeros(1, 5, 9, device=device), noise_seed=0)
    assert y.device.type == torch.device(device).type
    assert_finite(y)


def test_harmonic_controls_silence_a_harmonic_exactly_at_nyquist():
    synth = Harmonic(16000, 8, n_harmonics=4)
    f0 = torch.tensor([2000.0, 2000.0 * (1 - 1e-6)], dtype=torch.float64).view(2, 1, 1)   # k = 4: at / below
    c = synth.get_controls(torch.zeros(2, 1, 1, dtype=torch.float64), torch.zeros(2, 1, 4, dtype=torch.float64), f0)
    assert float(c["harmonic_distribution"][0, 0, 3]) == 0.0
    assert float(c["harmonic_distribution"][1, 0, 3]) > 0.2
