"""Tests for the oscillators: harmonic bank (Eq. 9), sinusoidal bank (Eq. 8), band-limited
sawtooth/square (Eqs. 10-11) and the damped complex-sinusoid surrogate (Eq. 12).

References are direct float64 NumPy transcriptions of the equations, with the library's
documented control upsampling (frame m at sample m*hop, values interpolated towards frame m+1,
last frame held).
"""

import math

import numpy as np
import pytest
import torch

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
)
from torchddsp.functional.oscillators.band_limited import sawtooth_square
from torchddsp.functional.oscillators.damped_sinusoid import damped_sinusoid_bank
from torchddsp.functional.oscillators.harmonic import harmonic_bank, harmonic_oscillator
from torchddsp.functional.oscillators.sinusoidal import oscillator_bank

# ----------------------------------------------------------------------------- references

def np_upsample(frames: np.ndarray, hop: int, method: str = "linear") -> np.ndarray:
    """(frames, C) -> (frames*hop, C), frame m at sample m*hop, last frame held."""
    t = np.arange(hop) / hop
    w = t if method == "linear" else 0.5 * (1 - np.cos(np.pi * t))
    nxt = np.concatenate([frames[1:], frames[-1:]], axis=0)
    out = frames[:, None, :] + w[None, :, None] * (nxt - frames)[:, None, :]
    return out.reshape(-1, frames.shape[-1])


def np_harmonic(amps: np.ndarray, f0: np.ndarray, sr: float, hop: int, phi0: float = 0.0,
                method: str = "linear") -> np.ndarray:
    """Eq. 9 for one item: amps (frames, K), f0 (frames,) -> (frames*hop,)."""
    f = np_upsample(f0[:, None], hop)[:, 0]
    a = np_upsample(amps, hop, method)
    phase = phi0 + 2 * np.pi * np.cumsum(f / sr)
    k = np.arange(1, amps.shape[1] + 1)
    audible = k[None, :] * np.abs(f)[:, None] < sr / 2
    return (a * np.sin(k[None, :] * phase[:, None]) * audible).sum(-1)


def random_controls(batch, frames, k, dtype=torch.float64, f_lo=80.0, f_hi=900.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    amps = torch.rand(batch, frames, k, generator=g, dtype=dtype)
    f0 = f_lo + (f_hi - f_lo) * torch.rand(batch, frames, 1, generator=g, dtype=dtype)
    return amps, f0


# ----------------------------------------------------------------------------- harmonic bank

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["linear", "hann"])
def test_harmonic_bank_matches_equation(dtype, method):
    sr, hop = 16000, 32
    amps, f0 = random_controls(3, 20, 24, f_lo=100, f_hi=1500)   # many harmonics cross Nyquist
    y = harmonic_bank(amps.to(dtype), f0.to(dtype), sr, hop, upsampling=method)
    ref = np.stack([np_harmonic(amps[b].numpy(), f0[b, :, 0].numpy(), sr, hop, method=method) for b in range(3)])
    tol = dict(rtol=1e-4, atol=5e-4) if dtype == torch.float32 else {}  # sums of 24 unit-scale harmonics
    assert_matches_reference(y, ref, **tol)


def test_harmonic_bank_large_chunks_and_nyquist_crossing_glide():
    # A glide from 300 Hz to 3 kHz crosses Nyquist for most of 40 harmonics within chunks.
    sr, hop, frames, k = 16000, 64, 300, 40
    f0 = torch.linspace(300, 3000, frames, dtype=torch.float64)[None, :, None]
    amps = torch.rand(1, frames, k, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = harmonic_bank(amps, f0, sr, hop)
    # The float64 reference evaluates sin at unwrapped phases up to ~5e5 rad: its own error is ~5e-11.
    assert_matches_reference(y, np_harmonic(amps[0].numpy(), f0[0, :, 0].numpy(), sr, hop)[None], atol=1e-9)


def test_harmonic_bank_batch_of_different_registers():
    """Chunks are planned per item: a low note (every harmonic audible), a high one (3 of 24), one
    wholly above Nyquist (silent) and a glide across it, in one batch, each equal to Eq. 9 in value
    and gradient (the gradient against autograd through the reference)."""
    sr, hop, frames, k = 16000, 32, 40, 24
    f0 = torch.stack([torch.full((frames,), 200.0), torch.full((frames,), 2200.0),
                      torch.full((frames,), 9000.0), torch.linspace(150.0, 3000.0, frames)]).double()[..., None]
    amps = torch.rand(4, frames, k, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    amps.requires_grad_()
    y = harmonic_bank(amps, f0, sr, hop)
    ref = np.stack([np_harmonic(amps[b].detach().numpy(), f0[b, :, 0].numpy(), sr, hop) for b in range(4)])
    assert_matches_reference(y, ref, atol=1e-10)
    assert torch.equal(y[2], torch.zeros_like(y[2]))

    def naive(a):
        from torchddsp.functional.core.upsample import upsample
        fa, aa = upsample(f0, hop)[..., 0], upsample(a, hop)
        phase = 2 * math.pi * torch.cumsum(fa / sr, -1)
        n = torch.arange(1, k + 1, dtype=torch.float64)
        return (aa * torch.sin(n * phase[..., None]) * (n * fa[..., None] < sr / 2)).sum(-1)

    grad_out = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(torch.autograd.grad(y, amps, grad_out)[0],
                               torch.autograd.grad(naive(amps), amps, grad_out)[0], rtol=1e-8, atol=1e-8)


def test_harmonic_bank_audio_rate_f0_and_state():
    sr, hop = 8000, 16
    amps, f0 = random_controls(2, 6, 5)
    f0_audio = torch.from_numpy(np.stack([np_upsample(f0[b].numpy(), hop) for b in range(2)]))
    y_frames, phase_frames = harmonic_bank(amps, f0, sr, hop, state=torch.tensor([0.3, 1.0], dtype=torch.float64))
    y_audio, _ = harmonic_bank(amps, f0_audio, sr, hop, state=torch.tensor([0.3, 1.0], dtype=torch.float64))
    torch.testing.assert_close(y_frames, y_audio)
    ref = np.stack([np_harmonic(amps[b].numpy(), f0[b, :, 0].numpy(), sr, hop, phi0=p) for b, p in enumerate([0.3, 1.0])])
    assert_matches_reference(y_frames, ref)
    total = np.array([0.3, 1.0]) + 2 * np.pi * f0_audio[..., 0].numpy().sum(-1) / sr
    assert_matches_reference(phase_frames, np.mod(total, 2 * np.pi))


def test_harmonic_bank_block_by_block_equals_one_shot_at_audio_rate():
    sr, hop, n = 16000, 64, 4096
    g = torch.Generator().manual_seed(3)
    f0 = 200 + 50 * torch.rand(2, n, 1, generator=g, dtype=torch.float64)
    amps = torch.rand(2, n // hop, 8, generator=g, dtype=torch.float64)
    amps_audio = torch.from_numpy(np.stack([np_upsample(a.numpy(), hop) for a in amps]))
    whole, _ = harmonic_bank(amps_audio, f0, sr, 1, state=torch.zeros(2, dtype=torch.float64))
    phase, blocks = torch.zeros(2, dtype=torch.float64), []
    for start in range(0, n, 512):
        y, phase = harmonic_bank(amps_audio[:, start:start + 512], f0[:, start:start + 512], sr, 1, state=phase)
        blocks.append(y)
    torch.testing.assert_close(torch.cat(blocks, -1), whole, rtol=1e-10, atol=1e-10)


def test_harmonic_bank_gradcheck_amplitudes_f0_phase():
    sr, hop = 16000, 8
    amps, f0 = random_controls(2, 3, 4, f_lo=1500, f_hi=2500)     # harmonics 4 crosses Nyquist
    amps.requires_grad_()
    f0.requires_grad_()
    phi0 = torch.tensor([0.1, 2.0], dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda a, f, p: harmonic_bank(a, f, sr, hop, state=p)[0], (amps, f0, phi0))
    check_gradcheck(lambda a, f: harmonic_bank(a, f, sr, hop, upsampling="hann"), (amps, f0))


def test_harmonic_bank_gradient_matches_autograd_of_reference():
    # The analytic backward equals autograd through a naive torch transcription of Eq. 9.
    sr, hop = 16000, 16
    amps, f0 = random_controls(2, 10, 12, f_lo=400, f_hi=900)
    amps.requires_grad_()
    f0.requires_grad_()
    grad_out = torch.randn(2, 160, dtype=torch.float64)

    def naive(a, f):
        from torchddsp.functional.core.upsample import upsample
        fa, aa = upsample(f, hop)[..., 0], upsample(a, hop)
        phase = 2 * math.pi * torch.cumsum(fa / sr, -1)
        k = torch.arange(1, 13, dtype=torch.float64)
        audible = (k * fa.detach()[..., None] < sr / 2)
        return (aa * torch.sin(k * phase[..., None]) * audible).sum(-1)

    ga = torch.autograd.grad(harmonic_bank(amps, f0, sr, hop), (amps, f0), grad_out)
    gb = torch.autograd.grad(naive(amps, f0), (amps, f0), grad_out)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)


def test_harmonic_bank_batch_consistency_and_broadcasting():
    amps, f0 = random_controls(3, 12, 10)
    check_batch_consistency(lambda a, f: harmonic_bank(a, f, 16000, 32), (amps, f0))
    # One f0 shared by a batch of amplitudes broadcasts over the leading axis.
    shared = harmonic_bank(amps, f0[:1], 16000, 32)
    single = torch.stack([harmonic_bank(amps[i], f0[0], 16000, 32) for i in range(3)])
    torch.testing.assert_close(shared, single)


@pytest.mark.parametrize("device", DEVICES)
def test_harmonic_bank_edge_cases(device):
    sr = 16000
    # f0 at and above Nyquist: every harmonic silent, output exactly zero, gradients finite.
    amps = torch.rand(2, 4, 6, device=device, requires_grad=True)
    f0 = torch.tensor([8000.0, 12000.0], device=device).view(2, 1, 1).expand(2, 4, 1).clone().requires_grad_()
    y = check_finite_gradients(lambda a, f: harmonic_bank(a, f, sr, 16), (amps, f0))
    assert torch.count_nonzero(y) == 0
    # Zero f0 and silence give silence; a single frame works; zero frames give empty audio.
    assert torch.count_nonzero(harmonic_bank(torch.zeros(1, 3, 4, device=device), torch.full((1, 3, 1), 220.0, device=device), sr, 8)) == 0
    assert harmonic_bank(torch.rand(1, 1, 3, device=device), torch.full((1, 1, 1), 440.0, device=device), sr, 64).shape == (1, 64)
    assert harmonic_bank(torch.rand(1, 0, 3, device=device), torch.zeros(1, 0, 1, device=device), sr, 64).shape == (1, 0)
    # Negative f0 runs the phase backwards: the output is the time-reversed-phase mirror image.
    a = torch.rand(1, 5, 3, device=device, dtype=torch.float64)
    f = torch.full((1, 5, 1), 300.0, device=device, dtype=torch.float64)
    torch.testing.assert_close(harmonic_bank(a, -f, sr, 16), -harmonic_bank(a, f, sr, 16))


def test_harmonic_bank_errors_name_the_argument():
    amps, f0 = random_controls(1, 4, 3)
    with pytest.raises(ValueError, match="f0"):
        harmonic_bank(amps, f0[:, :3], 16000, 8)
    with pytest.raises(ValueError, match="hop_size"):
        harmonic_bank(amps, f0, 16000, 0)
    with pytest.raises(ValueError, match="sample_rate"):
        harmonic_bank(amps, f0, -1.0, 8)
    with pytest.raises(ValueError, match="upsampling"):
        harmonic_bank(amps, f0, 16000, 8, upsampling="cubic")
    with pytest.raises(ValueError, match="harmonic_distribution"):
        harmonic_oscillator(torch.rand(1, 4, 1), torch.rand(1, 5, 3), f0, 16000, 8)


def test_harmonic_oscillator_is_amplitude_times_distribution():
    amps, f0 = random_controls(2, 5, 6)
    total = torch.rand(2, 5, 1, dtype=torch.float64)
    torch.testing.assert_close(harmonic_oscillator(total, amps, f0, 16000, 16),
                               harmonic_bank(total * amps, f0, 16000, 16))


def test_long_render_phase_stays_exact_in_float32():
    # 60 s at 48 kHz of a 440 Hz fundamental with 3 harmonics, float32 vs exact integer phase.
    sr, hop, seconds = 48000, 480, 60
    frames = seconds * sr // hop
    amps = torch.tensor([1.0, 0.5, 0.25]).expand(1, frames, 3)
    y = harmonic_bank(amps, torch.full((1, frames, 1), 440.0), sr, hop)[0]
    idx = np.arange(len(y) - 48000, len(y), dtype=np.int64)       # the last second
    phase = 2 * np.pi * ((440 * (idx + 1)) % sr) / sr
    ref = sum(a * np.sin(k * phase) for k, a in zip((1, 2, 3), (1.0, 0.5, 0.25)))
    assert np.abs(y[-48000:].double().numpy() - ref).max() < 1e-4


# ----------------------------------------------------------------------------- sinusoidal bank

@pytest.mark.parametrize("dtype", DTYPES)
def test_oscillator_bank_matches_equation(dtype):
    sr, hop = 16000, 16
    g = torch.Generator().manual_seed(5)
    amps = torch.rand(2, 10, 5, generator=g, dtype=torch.float64)
    freqs = 8500 * torch.rand(2, 10, 5, generator=g, dtype=torch.float64)     # some above Nyquist
    phi0 = torch.rand(2, 5, generator=g, dtype=torch.float64)
    y, final = oscillator_bank(amps.to(dtype), freqs.to(dtype), sr, phi0.to(dtype), hop_size=hop)
    ref, ref_final = [], []
    for b in range(2):
        a, f = np_upsample(amps[b].numpy(), hop), np_upsample(freqs[b].numpy(), hop)
        ph = phi0[b].numpy()[None] + 2 * np.pi * np.cumsum(f / sr, axis=0)
        ref.append((a * np.sin(ph) * (np.abs(f) < sr / 2)).sum(-1))
        ref_final.append(np.mod(ph[-1], 2 * np.pi))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    assert_matches_reference(y, np.stack(ref), **tol)
    assert_matches_reference(final, np.stack(ref_final), **tol)


def test_oscillator_bank_gradcheck_batch_and_edges():
    g = torch.Generator().manual_seed(6)
    amps = torch.rand(2, 12, 3, generator=g, dtype=torch.float64, requires_grad=True)
    freqs = (100 + 2000 * torch.rand(2, 12, 3, generator=g, dtype=torch.float64)).requires_grad_()
    phi0 = torch.rand(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda a, f, p: oscillator_bank(a, f, 16000, p)[0], (amps, freqs, phi0))
    check_batch_consistency(lambda a, f: oscillator_bank(a, f, 16000, hop_size=4), (amps.detach(), freqs.detach()))
    with pytest.raises(ValueError, match="amplitudes and frequencies"):
        oscillator_bank(amps, freqs[..., :2], 16000)
    silent = oscillator_bank(amps, torch.full_like(freqs, 8000.0), 16000)
    assert torch.count_nonzero(silent) == 0


@pytest.mark.parametrize("device", DEVICES)
def test_oscillator_bank_block_by_block(device):
    g = torch.Generator().manual_seed(7)
    amps = torch.rand(2, 1000, 4, generator=g, dtype=torch.float64).to(device)
    freqs = (50 + 3000 * torch.rand(2, 1000, 4, generator=g, dtype=torch.float64)).to(device)
    start = torch.zeros(2, 4, dtype=torch.float64, device=device)
    whole, _ = oscillator_bank(amps, freqs, 16000, start)
    phase, parts = start, []
    for i in range(0, 1000, 250):
        y, phase = oscillator_bank(amps[:, i:i + 250], freqs[:, i:i + 250], 16000, phase)
        parts.append(y)
    torch.testing.assert_close(torch.cat(parts, -1), whole, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- sawtooth / square

def test_sawtooth_square_matches_equations_10_11():
    sr, hop, frames, K = 16000, 32, 12, 30
    f0 = torch.linspace(150, 700, frames, dtype=torch.float64)[None, :, None]
    p = torch.linspace(0, 1, frames, dtype=torch.float64)[None, :, None]
    y = sawtooth_square(f0, p, sr, hop, K)
    f = np_upsample(f0[0].numpy(), hop)[:, 0]
    pa = np_upsample(p[0].numpy(), hop)[:, 0]
    phase = 2 * np.pi * np.cumsum(f / sr)
    saw = sum(2 / (np.pi * k) * np.sin(k * phase) * (k * f < sr / 2) for k in range(1, K + 1))
    # Eq. 11 written over its own index: the (2k-1)-th harmonics, as long as 2k-1 <= K.
    square = sum(4 / (np.pi * (2 * k - 1)) * np.sin((2 * k - 1) * phase) * ((2 * k - 1) * f < sr / 2)
                 for k in range(1, (K + 1) // 2 + 1))
    assert_matches_reference(y, (pa * saw + (1 - pa) * square)[None])


def test_sawtooth_square_waveform_shape_and_gradients():
    # Power of each waveform equals the power of its Fourier series (Parseval), a check
    # independent of the phase reference used above.
    sr, hop, frames = 16000, 64, 250
    f0 = torch.full((1, frames, 1), 100.0, dtype=torch.float64)
    square = sawtooth_square(f0, torch.zeros(1, frames, 1, dtype=torch.float64), sr, hop, 79)
    saw = sawtooth_square(f0, torch.ones(1, frames, 1, dtype=torch.float64), sr, hop, 79)
    # Parseval: RMS^2 = sum of squared amplitudes / 2.
    k = np.arange(1, 80)
    assert abs(float(square.pow(2).mean()) - (np.where(k % 2 == 1, 4 / (np.pi * k), 0) ** 2).sum() / 2) < 1e-3
    assert abs(float(saw.pow(2).mean()) - ((2 / (np.pi * k)) ** 2).sum() / 2) < 1e-3
    f = torch.full((2, 3, 1), 900.0, dtype=torch.float64, requires_grad=True)
    m = torch.rand(2, 3, 1, dtype=torch.float64, requires_grad=True)
    check_gradcheck(lambda f, m: sawtooth_square(f, m, 16000, 8, 12), (f, m))
    check_batch_consistency(lambda f, m: sawtooth_square(f, m, 16000, 8, 12), (f.detach(), m.detach()))
    with pytest.raises(ValueError, match="morph"):
        sawtooth_square(f, m[..., :1, :].expand(2, 3, 2), 16000, 8, 12)


# ----------------------------------------------------------------------------- damped sinusoid

@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_damped_sinusoid_matches_equation_12(dtype):
    g = np.random.default_rng(8)
    z = g.uniform(0.5, 1.0, (3, 4)) * np.exp(1j * g.uniform(-np.pi, np.pi, (3, 4)))
    y = damped_sinusoid_bank(torch.from_numpy(z).to(dtype), 64)
    ref = np.real(z[..., None] ** np.arange(64)).sum(-2)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.complex64 else {}
    assert_matches_reference(y, ref, **tol)


@pytest.mark.parametrize("device", DEVICES)
def test_damped_sinusoid_gradcheck_batch_edges(device):
    g = np.random.default_rng(9)
    z = g.uniform(0.3, 0.99, (2, 3)) * np.exp(1j * g.uniform(-3, 3, (2, 3)))
    zt = torch.from_numpy(z).to(device).requires_grad_()
    check_gradcheck(lambda z: damped_sinusoid_bank(z, 16), (zt,))
    check_batch_consistency(lambda z: damped_sinusoid_bank(z, 16), (zt.detach(),))
    zero = torch.zeros(2, dtype=torch.complex128, device=device, requires_grad=True)
    y = check_finite_gradients(lambda z: damped_sinusoid_bank(z, 8), (zero,))
    torch.testing.assert_close(y, torch.tensor([2.0] + [0.0] * 7, dtype=torch.float64, device=device))
    with pytest.raises(ValueError, match="z"):
        damped_sinusoid_bank(torch.rand(3), 8)
    assert_finite(damped_sinusoid_bank(torch.full((1,), 0.999 + 0j, dtype=torch.complex64), 48000))


def test_phase_state_carried_over_60_seconds_of_512_sample_blocks_stays_exact():
    # Issue 11: a float32 phase carried block by block drifted to 2.9e-4 rad after 60 s at 48 kHz;
    # the state is float64 now, so blocks keep one-shot accuracy (one call: ~2.4e-7 in float32).
    sr, block, blocks = 48000, 512, 5625
    f0 = torch.full((1, block, 1), 440.0)
    amps = torch.ones(1, block, 1)
    state, worst = torch.zeros(1, dtype=torch.float64), 0.0
    n = torch.arange(block, dtype=torch.float64)
    for i in range(blocks):
        y, state = harmonic_bank(amps, f0, sr, 1, state=state)
        if i % 125 == 124 or i == blocks - 1:             # compare a block every 1.3 s against the exact sine
            cycles = 440.0 * (i * block + n + 1) / sr
            exact = torch.sin(2 * math.pi * (cycles - torch.floor(cycles)))
            worst = max(worst, float((y[0].double() - exact).abs().max()))
    assert state.dtype == torch.float64
    exact_final = 2 * math.pi * math.fmod(440.0 * blocks * block / sr, 1.0)
    assert abs(float(state[0]) - exact_final) < 1e-9
    assert worst < 1e-6, worst


@pytest.mark.parametrize("backend", ["auto", "pure"])
def test_harmonic_exactly_at_nyquist_is_silent_and_just_below_sounds(backend):
    # k f0 = fs / 2 exactly must be silent (k f0 < fs / 2 sounds). The initial phase is not 0, so
    # a harmonic at Nyquist would not sample to zeros by itself.
    from torchddsp.kernels import use_backend
    sr, hop, frames = 16000, 16, 4
    f0 = torch.full((1, frames, 1), sr / 8, dtype=torch.float64)            # harmonic 4 at Nyquist
    at_nyquist = torch.zeros(1, frames, 4, dtype=torch.float64)
    at_nyquist[..., 3] = 1.0
    below = torch.zeros(1, frames, 4, dtype=torch.float64)
    below[..., 2] = 1.0
    with use_backend(backend):
        silent, _ = harmonic_bank(at_nyquist, f0, sr, hop, state=torch.tensor([0.3], dtype=torch.float64))
        sounding, _ = harmonic_bank(below, f0, sr, hop, state=torch.tensor([0.3], dtype=torch.float64))
        just_below, _ = harmonic_bank(at_nyquist, f0 * (1 - 1e-9), sr, hop, state=torch.tensor([0.3], dtype=torch.float64))
    assert float(silent.abs().max()) == 0.0
    n = torch.arange(1, frames * hop + 1, dtype=torch.float64)
    assert_matches_reference(sounding[0], torch.sin(3 * (0.3 + 2 * math.pi * n / 8)).numpy())
    assert float(just_below.abs().max()) > 0.5
