"""Tests for torchddsp.functional.filters.lpc.synthesis: sample-wise and frame-wise LPC synthesis, inverse filtering.

References (float64, outside the project): ``scipy.signal.lfilter`` for fixed filters, NumPy
per-sample loops transcribing the direct-form and normalised-lattice recursions for time-varying
filters, and a NumPy per-segment loop (``lfilter`` / ``numpy.fft``) plus overlap-add for the
frame-wise synthesis. Real speech: CMU ARCTIC a0007 (16 kHz) from the shared recordings.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import (
    DEVICES,
    DTYPES,
    assert_finite,
    assert_matches_reference,
    assert_streaming_equivalent,
    check_batch_consistency,
    check_finite_gradients,
    check_gradcheck,
    seeded_randn,
    shared_audio,
    to_numpy,
)
from torchddsp.functional.core.framing import frame
from torchddsp.functional.filters.lpc import (
    framewise_lpc_synthesis,
    lpc,
    lpc_inverse_filter,
    lpc_synthesis,
    reflection_from_logits,
    reflection_to_lpc,
)


def _reflection(*shape, scale=0.9, seed=0, **kw):
    return scale * torch.tanh(seeded_randn(*shape, seed=seed, **kw))


# ----------------------------------------------------------------------------- references

def ref_step_up(k):
    a = np.zeros(0)
    for ki in k:
        a = np.concatenate([a + ki * a[::-1], [ki]])
    return a


def ref_per_sample(coeffs: np.ndarray, time: int, interpolation: str) -> np.ndarray:
    """(frames, p) -> (time, p): hold each frame for its hop, or np.interp with frame m at sample m * hop."""
    frames = coeffs.shape[0]
    hop = time // frames
    if interpolation == "hold":
        return np.repeat(coeffs, hop, axis=0)
    t = np.arange(time)
    return np.stack([np.interp(t, np.arange(frames) * hop, coeffs[:, i]) for i in range(coeffs.shape[1])], axis=1)


def ref_direct(e: np.ndarray, a: np.ndarray, past=None) -> np.ndarray:
    """y[n] = e[n] - sum_i a[n, i] y[n - 1 - i]; ``past`` = outputs before the start, most recent first."""
    time, order = a.shape
    hist = list(np.zeros(order) if past is None else past)        # hist[i] = y[n - 1 - i]
    y = np.zeros(time)
    for n in range(time):
        y[n] = e[n] - np.dot(a[n], hist[:order])
        hist = [y[n]] + hist[:-1] if order else hist
    return y


def ref_lattice(e: np.ndarray, k: np.ndarray, state=None) -> np.ndarray:
    """Normalised lattice, per sample: F_p = e / prod c; F_{i-1} = c F_i - k S_{i-1}; S_i = k F_i + c S_{i-1}."""
    time, order = k.shape
    s = np.zeros(order) if state is None else np.array(state, dtype=np.float64)
    y = np.zeros(time)
    for n in range(time):
        c = np.sqrt(1 - k[n] ** 2)
        f = e[n] / np.prod(c)
        new = s.copy()
        for i in range(order, 0, -1):
            if i < order:
                new[i] = k[n, i - 1] * f + c[i - 1] * s[i - 1]
            f = c[i - 1] * f - k[n, i - 1] * s[i - 1]
        new[0] = f
        s = new
        y[n] = f
    return y


def ref_inverse_direct(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    time, order = a.shape
    e = x.copy()
    for n in range(time):
        for i in range(order):
            if n - 1 - i >= 0:
                e[n] += a[n, i] * x[n - 1 - i]
    return e


def ref_framewise(e: np.ndarray, a: np.ndarray, window: np.ndarray, tail: int, method: str) -> np.ndarray:
    """Per-segment loop: frame m centred on m * hop (edge frames reuse the first/last coefficients)."""
    time = e.shape[-1]
    frames = a.shape[0]
    hop = time // frames
    length = len(window)
    sums = np.zeros(hop)
    for j in range(length):
        sums[j % hop] += window[j]
    w = window / sums.mean()
    offset = length // 2
    out = np.zeros(time + 2 * length + tail + 2 * hop)
    base = length + hop                                            # out index of sample 0
    m = -((length + hop) // hop)
    while m * hop - offset < time:
        start = m * hop - offset
        if start + length > 0:
            seg = np.zeros(length)
            for j in range(length):
                if 0 <= start + j < time:
                    seg[j] = e[start + j] * w[j]
            poly = np.concatenate([[1.0], a[min(max(m, 0), frames - 1)]])
            span = length + tail
            padded = np.concatenate([seg, np.zeros(tail)])
            if method == "time":
                filtered = scipy.signal.lfilter([1.0], poly, padded)
            else:
                filtered = np.fft.irfft(np.fft.rfft(padded, span) / np.fft.rfft(poly, span), span)
            out[base + start:base + start + span] += filtered
        m += 1
    return out[base:base + time]


# ----------------------------------------------------------------------------- sample-wise synthesis

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["lpc", "reflection"])
@pytest.mark.parametrize("order", [1, 4, 16])
def test_fixed_filter_matches_lfilter(device, dtype, kind, order):
    # Moderate |k| keeps float32 direct-form round-off small (high-Q poles amplify it; see the docs).
    k = _reflection(3, order, scale=0.7, seed=1)
    a = reflection_to_lpc(k)
    e = seeded_randn(3, 300, dtype=dtype, device=device)
    coeffs = (k if kind == "reflection" else a).to(dtype=dtype, device=device)
    y = lpc_synthesis(e, coeffs, kind=kind)
    assert y.shape == e.shape and y.dtype == dtype and y.device.type == device
    # Reference filter: the coefficients as the op received them (float32-rounded where it ran in float32).
    given = to_numpy(coeffs)
    polys = [ref_step_up(given[b]) if kind == "reflection" else given[b] for b in range(3)]
    ref = np.stack([scipy.signal.lfilter([1.0], np.r_[1.0, polys[b]], to_numpy(e)[b]) for b in range(3)])
    assert_matches_reference(y, ref, atol=5e-4 if dtype == torch.float32 else 1e-10,
                             rtol=1e-3 if dtype == torch.float32 else 1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["lpc", "reflection"])
@pytest.mark.parametrize("interpolation", ["hold", "linear"])
def test_time_varying_matches_numpy_loop(device, dtype, kind, interpolation):
    frames, hop, order = 6, 20, 5
    k = _reflection(2, frames, order, seed=2)
    e = seeded_randn(2, frames * hop, seed=3)
    coeffs = k if kind == "reflection" else reflection_to_lpc(k)
    y = lpc_synthesis(e.to(dtype=dtype, device=device), coeffs.to(dtype=dtype, device=device), kind=kind,
                      interpolation=interpolation)
    ref = []
    for b in range(2):
        per_sample = ref_per_sample(coeffs[b].numpy(), frames * hop, interpolation)
        ref.append(ref_lattice(e[b].numpy(), per_sample) if kind == "reflection"
                   else ref_direct(e[b].numpy(), per_sample))
    assert_matches_reference(y, np.stack(ref), atol=1e-4 if dtype == torch.float32 else 1e-11,
                             rtol=1e-3 if dtype == torch.float32 else 1e-9)


@pytest.mark.parametrize("backend", ["compiled", "pure"])
def test_lattice_backends_agree_with_reference(backend):
    k = _reflection(2, 40, 3, scale=0.95, seed=4)                  # one set per sample
    e = seeded_randn(2, 40, seed=5)
    s0 = seeded_randn(2, 3, seed=6)
    y, final = lpc_synthesis(e, k, kind="reflection", state=s0, backend=backend)
    assert_matches_reference(y, np.stack([ref_lattice(e[b].numpy(), k[b].numpy(), s0[b].numpy()) for b in range(2)]))
    # The final state continues the recursion: blocks of 40, 1 and 9 samples equal one call.
    assert_streaming_equivalent(
        lambda lo, hi, state: lpc_synthesis(e[:, lo:hi], k[:, lo:hi], kind="reflection", state=state,
                                            backend=backend),
        40, s0, [30, 1, 9])


@pytest.mark.parametrize("kind", ["lpc", "reflection"])
def test_streaming_blocks_equal_one_call(kind):
    frames, hop, order = 8, 16, 6
    k = _reflection(2, frames, order, seed=9)
    coeffs = k if kind == "reflection" else reflection_to_lpc(k)
    x = seeded_randn(2, frames * hop, seed=10)
    rest = torch.zeros(2, order, dtype=torch.float64)
    for fn in (lpc_synthesis, lpc_inverse_filter):                 # blocks of 2 frames, then 1, 3 and 2
        for blocks in ([2 * hop], [hop, 3 * hop, 2 * hop]):
            assert_streaming_equivalent(
                lambda lo, hi, state: fn(x[:, lo:hi], coeffs[:, lo // hop:hi // hop], kind=kind, state=state),
                frames * hop, rest, blocks, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["lpc", "reflection"])
@pytest.mark.parametrize("interpolation", ["hold", "linear"])
def test_inverse_filter_inverts_synthesis(device, kind, interpolation):
    frames, hop, order = 5, 32, 8
    k = _reflection(3, frames, order, seed=11, device=device)
    coeffs = k if kind == "reflection" else reflection_to_lpc(k)
    x = seeded_randn(3, frames * hop, seed=12, device=device)
    residual = lpc_inverse_filter(x, coeffs, kind=kind, interpolation=interpolation)
    if kind == "lpc":
        ref = np.stack([ref_inverse_direct(x[b].cpu().numpy(), ref_per_sample(coeffs[b].cpu().numpy(), frames * hop,
                                                                             interpolation)) for b in range(3)])
        assert_matches_reference(residual, ref)
    back = lpc_synthesis(residual, coeffs, kind=kind, interpolation=interpolation)
    assert_matches_reference(back, to_numpy(x), rtol=1e-9, atol=1e-11)


def test_gradcheck_sample_wise():
    frames, hop, order = 3, 5, 3
    e = seeded_randn(2, frames * hop).requires_grad_()
    k = _reflection(2, frames, order, seed=13).requires_grad_()
    a = reflection_to_lpc(_reflection(2, frames, order, seed=14)).detach().requires_grad_()
    s0 = seeded_randn(2, order, seed=15).requires_grad_()
    for interpolation in ("hold", "linear"):
        check_gradcheck(lambda e, a, s: lpc_synthesis(e, a, interpolation=interpolation, state=s), [e, a, s0])
        for backend in ("compiled", "pure"):
            check_gradcheck(lambda e, k, s: lpc_synthesis(e, k, kind="reflection", interpolation=interpolation,
                                                          state=s, backend=backend), [e, k, s0])
        check_gradcheck(lambda e, a, s: lpc_inverse_filter(e, a, interpolation=interpolation, state=s),
                        [e, a, s0])
        check_gradcheck(lambda e, k, s: lpc_inverse_filter(e, k, kind="reflection", interpolation=interpolation,
                                                           state=s), [e, k, s0])
    fixed = _reflection(2, order, seed=16).requires_grad_()
    check_gradcheck(lambda e, k: lpc_synthesis(e, k, kind="reflection"), [e, fixed])
    # Through the returned lattice state as well.
    check_gradcheck(lambda e, k, s: lpc_synthesis(e, k, kind="reflection", state=s)[1], [e, k, s0])


def test_batch_consistency_sample_wise():
    frames, hop, order = 4, 10, 5
    e = seeded_randn(3, frames * hop)
    k = _reflection(3, frames, order, seed=17)
    a = reflection_to_lpc(k)
    for kind, c in (("lpc", a), ("reflection", k)):
        for interpolation in ("hold", "linear"):
            check_batch_consistency(lambda e, c: lpc_synthesis(e, c, kind=kind, interpolation=interpolation),
                                    [e, c], rtol=1e-10, atol=1e-12)
            check_batch_consistency(lambda e, c: lpc_inverse_filter(e, c, kind=kind, interpolation=interpolation),
                                    [e, c], rtol=1e-10, atol=1e-12)
    # Shared coefficients broadcast over a batch of excitations.
    y = lpc_synthesis(e, k[:1], kind="reflection")
    assert_matches_reference(y[2], to_numpy(lpc_synthesis(e[2], k[0], kind="reflection")))


@pytest.mark.parametrize("kind", ["lpc", "reflection"])
def test_edge_cases_sample_wise(kind):
    coeffs = _reflection(2, 1, 3, seed=18)                         # one frame, one sample
    coeffs = coeffs if kind == "reflection" else reflection_to_lpc(coeffs)
    y = lpc_synthesis(seeded_randn(2, 1), coeffs, kind=kind)
    assert y.shape == (2, 1)
    assert_matches_reference(y, to_numpy(seeded_randn(2, 1)))             # from rest, the first output is e[0]
    silence = torch.zeros(2, 64, dtype=torch.float64)
    c = _reflection(2, 4, 2, seed=19)
    c = c if kind == "reflection" else reflection_to_lpc(c)
    assert bool((lpc_synthesis(silence, c, kind=kind) == 0).all())
    assert bool((lpc_inverse_filter(silence, c, kind=kind) == 0).all())
    empty = lpc_synthesis(torch.zeros(2, 0, dtype=torch.float64), c[:, 0], kind=kind)
    assert empty.shape == (2, 0)


def test_reflection_close_to_one_stays_finite():
    k = torch.tensor([[[0.9999, -0.9999, 0.9999]], [[-0.99999, 0.5, 0.99999]]], dtype=torch.float32)
    e = seeded_randn(2, 2000, dtype=torch.float32).requires_grad_()
    kk = k.clone().requires_grad_()
    check_finite_gradients(lambda e, k: lpc_synthesis(e, k, kind="reflection"), [e, kk])
    y64 = lpc_synthesis(e.detach().double(), k.double(), kind="reflection")
    back = lpc_inverse_filter(y64, k.double(), kind="reflection")
    assert_matches_reference(back, to_numpy(e), rtol=1e-7, atol=1e-8)
    with pytest.raises(ValueError, match=r"\|k\| < 1"):
        lpc_synthesis(e, torch.tensor([[0.5, 1.0]]).unsqueeze(1), kind="reflection")


def test_rejects_bad_arguments():
    e = torch.randn(2, 100)
    with pytest.raises(ValueError, match="divides the 100 samples"):
        lpc_synthesis(e, torch.zeros(2, 7, 3))
    with pytest.raises(ValueError, match="kind"):
        lpc_synthesis(e, torch.zeros(2, 3), kind="poles")
    with pytest.raises(ValueError, match="interpolation"):
        lpc_synthesis(e, torch.zeros(2, 4, 3), interpolation="cubic")
    with pytest.raises(ValueError, match="^state:"):
        lpc_synthesis(e, torch.zeros(2, 3), state=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="at most 3 dimensions"):
        lpc_synthesis(e, torch.zeros(1, 2, 4, 3))


# ----------------------------------------------------------------------------- frame-wise synthesis

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["time", "fft"])
@pytest.mark.parametrize("hop,length,tail", [(16, 32, 32), (16, 64, 8), (12, 36, 0)])
def test_framewise_matches_numpy_loop(device, dtype, method, hop, length, tail):
    frames, order = 5, 4
    a = reflection_to_lpc(_reflection(2, frames, order, seed=20))
    e = seeded_randn(2, frames * hop, seed=21)
    window = torch.hann_window(length, periodic=True, dtype=torch.float64)
    if length == 36:                                               # a hop of a third of the window
        window = torch.hann_window(length, periodic=True, dtype=torch.float64)
    y = framewise_lpc_synthesis(e.to(dtype=dtype, device=device), a.to(dtype=dtype, device=device),
                                window=window, tail_length=tail, method=method)
    assert y.shape == e.shape and y.dtype == dtype
    ref = np.stack([ref_framewise(e[b].numpy(), a[b].numpy(), window.numpy(), tail, method) for b in range(2)])
    assert_matches_reference(y, ref, atol=1e-4 if dtype == torch.float32 else 1e-11,
                             rtol=1e-3 if dtype == torch.float32 else 1e-9)


def test_framewise_reflection_uses_same_filters():
    k = _reflection(2, 6, 5, seed=22)
    e = seeded_randn(2, 6 * 20, seed=23)
    y = framewise_lpc_synthesis(e, k, kind="reflection")
    ref = framewise_lpc_synthesis(e, reflection_to_lpc(k))
    assert_matches_reference(y, to_numpy(ref), rtol=1e-9, atol=1e-11)
    y_fft = framewise_lpc_synthesis(e, k, kind="reflection", method="fft", tail_length=200)
    assert_matches_reference(y_fft, to_numpy(framewise_lpc_synthesis(e, reflection_to_lpc(k), method="fft",
                                                                   tail_length=200)), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("method", ["time", "fft"])
def test_framewise_constant_filter_equals_lfilter(method):
    """Equal coefficients in every frame and a long tail: COLA overlap-add gives plain LTI filtering."""
    a = reflection_to_lpc(_reflection(6, scale=0.7, seed=24))
    frames, hop = 10, 25
    e = seeded_randn(frames * hop, seed=25)
    y = framewise_lpc_synthesis(e, a.expand(frames, 6), tail_length=1000, method=method)
    ref = scipy.signal.lfilter([1.0], np.r_[1.0, a.numpy()], e.numpy())
    assert_matches_reference(y, ref, rtol=1e-9, atol=1e-10)


def test_framewise_gradcheck_and_batch():
    frames, hop, order = 3, 6, 3
    e = seeded_randn(2, frames * hop).requires_grad_()
    k = _reflection(2, frames, order, seed=26).requires_grad_()
    a = reflection_to_lpc(k.detach()).requires_grad_()
    for method in ("time", "fft"):
        check_gradcheck(lambda e, a: framewise_lpc_synthesis(e, a, method=method, tail_length=5), [e, a])
        check_gradcheck(lambda e, k: framewise_lpc_synthesis(e, k, kind="reflection", method=method,
                                                             tail_length=5), [e, k])
        check_batch_consistency(lambda e, a: framewise_lpc_synthesis(e, a, method=method),
                                [e.detach(), a.detach()], rtol=1e-10, atol=1e-12)


def test_framewise_edge_cases_and_errors():
    a = reflection_to_lpc(_reflection(1, 1, 2, seed=27))
    y = framewise_lpc_synthesis(seeded_randn(1, 1), a)                    # one sample, one frame (hop 1)
    assert_finite(y)
    assert y.shape == (1, 1)
    assert bool((framewise_lpc_synthesis(torch.zeros(1, 40, dtype=torch.float64), a.expand(1, 4, 2)) == 0).all())
    e = torch.randn(2, 64)
    with pytest.raises(ValueError, match="COLA"):
        framewise_lpc_synthesis(e, torch.zeros(2, 4, 3), window=torch.hann_window(20))
    with pytest.raises(ValueError, match="frame-rate coefficients"):
        framewise_lpc_synthesis(e, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="tail_length"):
        framewise_lpc_synthesis(e, torch.zeros(2, 4, 40), method="fft", tail_length=0)
    with pytest.raises(ValueError, match="method"):
        framewise_lpc_synthesis(e, torch.zeros(2, 4, 3), method="ola")


# ----------------------------------------------------------------------------- property: long renders

@settings(max_examples=3, deadline=None)
@given(order=st.integers(1, 20), seed=st.integers(0, 2 ** 31 - 1), scale=st.sampled_from([1.0, 5.0, 1e3]))
def test_property_ten_seconds_from_logits_is_finite(order, seed, scale):
    """Any logits -> reflection coefficients -> 10 s at 16 kHz: finite output and gradients (lattice, float64)."""
    sample_rate, hop = 16000, 160
    frames = 10 * sample_rate // hop
    g = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(frames, order, generator=g, dtype=torch.float64)).requires_grad_()
    e = torch.randn(frames * hop, generator=g, dtype=torch.float64).requires_grad_()
    check_finite_gradients(lambda e, x: lpc_synthesis(e, reflection_from_logits(x), kind="reflection"), [e, logits])


def test_saturated_reflection_direct_form_unstable_lattice_finite():
    """Why ``kind="reflection"`` renders with a lattice: a case from a random search over logits.

    Order 19, logits -> |k| <= 0.999: the float64 direct-form coefficients (the step-up of k,
    rounded) are truly unstable (Schur-Cohn in 200-digit arithmetic: a root near |z| = 1.05), so
    10 s of direct-form synthesis overflows, while the lattice stays finite.
    """
    mpmath = pytest.importorskip("mpmath")
    logits = torch.tensor([4.0, 9, 2, -2, -9, -4, -4, 9, 4, 4, 4, 1e6, 1, 4, 2, -1e6, -2, 1e6, -2], dtype=torch.float64)
    k = reflection_from_logits(logits)
    a = reflection_to_lpc(k)
    with mpmath.workdps(200):
        cur = [mpmath.mpf(float(v)) for v in a]
        ks = []
        while cur:
            ks.append(cur[-1])
            head = cur[:-1]
            cur = [(head[j] - ks[-1] * head[-1 - j]) / (1 - ks[-1] ** 2) for j in range(len(head))]
        assert max(abs(v) for v in ks) > 1                         # the rounded polynomial is unstable
    e = seeded_randn(160000, seed=28)
    direct = lpc_synthesis(e, a)
    assert not bool(torch.isfinite(direct).all()) or float(direct.abs().max()) > 1e100
    assert_finite(lpc_synthesis(e, k, kind="reflection"))


# ----------------------------------------------------------------------------- real speech

def test_real_speech_analysis_synthesis():
    """Order-16 LPC per 25 ms frame of CMU ARCTIC a0007: residual, resynthesis, prediction gain.

    Prediction gain 10 log10(sum x^2 / sum e^2): order-16 LPC of clean 16 kHz read speech
    predicts the spectral envelope (formants, glottal/radiation tilt), typically 15-25 dB on
    voiced frames and a few dB on fricatives; this recording measures about 19.6 dB overall
    with 25 ms Hann analysis frames and coefficients held per frame. We require > 15 dB: a sign
    error, a one-sample misalignment of the inverse filter or analysis on the wrong frames
    drops it far below (negative or near 0 dB), while normal variation does not.
    """
    soundfile = pytest.importorskip("soundfile")
    x, sr = soundfile.read(shared_audio("arctic_a0007.16k.flac"), dtype="float64")
    assert sr == 16000
    hop = int(0.025 * sr)
    x = torch.from_numpy(x[:len(x) // hop * hop])
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        xs = x.to(dtype)
        frames = frame(xs, hop, hop) * torch.hann_window(hop, periodic=False, dtype=dtype)
        a, k, _ = lpc(frames, 16)
        assert bool((k.abs() < 1).all())
        for kind, coeffs in (("lpc", a), ("reflection", k)):
            residual = lpc_inverse_filter(xs, coeffs, kind=kind)
            back = lpc_synthesis(residual, coeffs, kind=kind)
            err = float((back - xs).abs().max())
            assert err < tol * float(xs.abs().max()), f"{kind} {dtype}: reconstruction error {err:.3e}"
            gain = 10 * torch.log10(xs.double().square().sum() / residual.double().square().sum())
            assert gain > 15.0, f"{kind} {dtype}: prediction gain {float(gain):.2f} dB"
