"""Phaser: a cascade of first-order all-pass stages with swept break frequency, mixed with the dry signal.

After Carson et al. (2023), "Differentiable grey-box modelling of phaser effects using
frame-based spectral processing" (review: Hayes et al. 2023, §3.1.1.2 and Table 2). With
:math:`K` stages :math:`A_k(z) = (a_k + z^{-1})/(1 + a_k z^{-1})`,
:math:`a_k = (\\tan(\\pi f_k/f_s) - 1)/(\\tan(\\pi f_k/f_s) + 1)` (``allpass.py``), thru (dry) gain
:math:`g_1`, wet gain :math:`g_w` and feedback gain :math:`g_2` around the cascade
(delay-free loop, as in the analog circuit):

.. math::

    P(z) = \\prod_{k=1}^{K} A_k(z), \\qquad
    H(z) = g_1 + g_w\\,\\frac{P(z)}{1 - g_2 P(z)}.

:math:`|g_2| < 1` keeps :math:`H` stable (on and outside the unit circle :math:`|P| \\le 1`, so
:math:`1 - g_2 P \\ne 0`); ``feedback_from_unconstrained`` gives such a :math:`g_2` from any
real value. :math:`g_2 = 0` is the feedback-free structure. With :math:`g_1 = g_w = 1` the
notches sit where the cascade's phase is an odd multiple of :math:`\\pi`.

Two evaluations:

``phaser`` (framewise, Carson et al.): the signal is cut into windowed segments
(``framing.frame``; a window that satisfies the constant-overlap-add condition, checked with
``framing.cola_constant``); segment :math:`m` is filtered by its own time-invariant
:math:`H^{(m)}`, sampled at ``n_fft`` frequencies (one real FFT, a product, one inverse FFT);
the segments are overlap-added (``framing.overlap_add``) and divided by the COLA constant.
Approximations: (1) the sweep is piecewise constant, each segment's filter is applied to the
whole windowed segment and transitions are cross-faded by the window; (2) frequency sampling
makes each segment's convolution circular: impulse-response energy beyond
``n_fft - frame_length`` samples wraps around. With a constant break frequency only (2)
remains, and it vanishes as ``n_fft`` grows (the impulse response decays like :math:`r^n`,
:math:`r` the largest pole radius). The first segment starts ``frame_length - hop_length``
samples before the signal, so every sample is covered by a full COLA sum; the output is causal.

``phaser_exact``: per-sample (or per-frame) time-varying coefficients, no windowing. Without
feedback: one ``lfilter`` call per stage with per-sample coefficients (direct form I,
BIBO-stable for any sweep since :math:`|a_k[n]| < 1`). With feedback: the cascade is realised in
normalised (lossless, orthogonal) first-order sections and the delay-free loop is closed
algebraically, giving a state-space system per step that ``state_space.py`` evaluates exactly
(``method="block"``: powers of the state matrix and FFT convolution, so the closely clustered
poles of identical stages cause no direct-form ill-conditioning); in these coordinates the state
norm never grows without input, for any sweep. For a constant break frequency both evaluations
equal :math:`H` applied to the signal.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import (
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_steps,
    check_tensor,
    checking_values,
)
from torchddsp.functional.core.framing import cola_constant, frame, overlap_add
from torchddsp.functional.filters.iir.allpass import (
    allpass_cascade,
    allpass_coefficient_from_break_frequency,
    as_tensor_argument,
)
from torchddsp.functional.filters.iir.state_space import state_space_filter


def feedback_from_unconstrained(raw: torch.Tensor, max_feedback: float = 0.95) -> torch.Tensor:
    """:math:`g_2 = g_{max}\\tanh(u)`: any real ``raw`` gives a stable feedback gain, :math:`|g_2| \\le g_{max} < 1`."""
    check_tensor("raw", raw)
    if not isinstance(max_feedback, (int, float)) or not 0 < max_feedback < 1:
        raise ValueError(f"max_feedback: expected a number in (0, 1), received {max_feedback!r}")
    return max_feedback * torch.tanh(raw)


def lfo_break_frequency(num_frames: int, frame_rate: float, rate, min_frequency: float, max_frequency: float,
                        phase=0.0) -> torch.Tensor:
    """A sinusoidal LFO sweeping the break frequency log-linearly between two frequencies.

    .. math::

        f[m] = f_{min}\\,(f_{max}/f_{min})^{(1 + \\sin(2\\pi r m / f_{frame} + \\phi))/2}

    with ``rate`` :math:`r` and ``frame_rate`` :math:`f_{frame}`.

    ``rate`` (Hz) and ``phase`` (radians) are numbers or tensors ``(...)``; returns
    ``(..., num_frames)``. Differentiable with respect to ``rate`` and ``phase``. Expand a
    last axis for the stages: ``f[..., None].expand(*f.shape, stages)``.
    """
    check_positive_int("num_frames", num_frames)
    check_positive("frame_rate", frame_rate)
    check_positive("min_frequency", min_frequency)
    check_positive("max_frequency", max_frequency)
    like = next((v for v in (rate, phase) if isinstance(v, torch.Tensor)), None)
    rate = as_tensor_argument("rate", rate, like)
    phase = as_tensor_argument("phase", phase, like)
    m = torch.arange(num_frames, dtype=rate.dtype, device=rate.device)
    angle = 2 * math.pi * rate[..., None] * m / frame_rate + phase[..., None]
    return min_frequency * torch.exp(math.log(max_frequency / min_frequency) * (1 + torch.sin(angle)) / 2)


def phaser_num_frames(time: int, frame_length: int, hop_length: int) -> int:
    """Frames ``phaser`` expects for ``time`` samples: ``ceil((time + frame_length - hop_length) / hop_length)``.

    Frame :math:`m` covers samples :math:`mH - (L - H) \\dots mH + H - 1`.
    """
    check_positive_int("frame_length", frame_length)
    check_positive_int("hop_length", hop_length)
    check_nonnegative_int("time", time)
    return max(1, -(-(time + frame_length - hop_length) // hop_length))


def _gain(name: str, value, x: torch.Tensor) -> torch.Tensor:
    value = as_tensor_argument(name, value, x)
    if value.dim() >= x.dim():
        raise ValueError(f"{name}: expected a number or a tensor broadcasting with x.shape[:-1] = "
                         f"{tuple(x.shape[:-1])} (fixed over time), received shape {tuple(value.shape)}")
    return value


def _check_feedback(feedback: torch.Tensor) -> None:
    f = feedback.detach()
    if f.numel() and checking_values() and (not bool(torch.isfinite(f).all())
                                                            or bool((f.abs() >= 1).any())):
        raise ValueError(f"feedback: expected |feedback| < 1 for a stable loop, received max |feedback| = "
                         f"{float(f.abs().max()):g} (map unconstrained values with feedback_from_unconstrained)")


def _check_break_frequency(break_frequency) -> torch.Tensor:
    check_tensor("break_frequency", break_frequency, min_dim=1)
    if break_frequency.shape[-1] == 0:
        raise ValueError(f"break_frequency: expected at least one stage on the last axis, received shape "
                         f"{tuple(break_frequency.shape)}")
    return break_frequency


def phaser_response(break_frequency: torch.Tensor, sample_rate: float, n_fft: int, *, dry_gain=1.0, wet_gain=1.0,
                    feedback=0.0) -> torch.Tensor:
    """Frequency response :math:`H(e^{j\\omega_k})` at :math:`\\omega_k = 2\\pi k / n_{fft}`, ``k = 0 .. n_fft // 2``.

    ``break_frequency`` ``(..., stages)`` in Hz (``(0, sample_rate / 2)``); gains and
    ``feedback`` are numbers or tensors broadcasting with ``break_frequency.shape[:-1]``.
    Returns a complex tensor ``(..., n_fft // 2 + 1)``.
    """
    _check_break_frequency(break_frequency)
    check_positive_int("n_fft", n_fft)
    coefficients = allpass_coefficient_from_break_frequency(break_frequency, sample_rate)
    dry = as_tensor_argument("dry_gain", dry_gain, coefficients)
    wet = as_tensor_argument("wet_gain", wet_gain, coefficients)
    feedback = as_tensor_argument("feedback", feedback, coefficients)
    _check_feedback(feedback)
    return _response(coefficients, n_fft, dry, wet, feedback)


def _response(coefficients, n_fft, dry, wet, feedback):
    omega = 2 * math.pi * torch.arange(n_fft // 2 + 1, dtype=coefficients.dtype, device=coefficients.device) / n_fft
    delay = torch.polar(torch.ones_like(omega), -omega)                      # e^{-j omega}
    a = coefficients[..., None].to(delay.dtype)                             # (..., stages, bins)
    cascade = ((a + delay) / (1 + a * delay)).prod(dim=-2)                  # (..., bins)
    dry, wet, feedback = dry[..., None], wet[..., None], feedback[..., None]
    return dry + wet * cascade / (1 - feedback * cascade)


def _window(window, frame_length: int, x: torch.Tensor) -> torch.Tensor:
    if isinstance(window, str):
        if window != "hann":
            raise ValueError(f"window: expected 'hann' or a 1-D tensor, received {window!r}")
        return torch.hann_window(frame_length, periodic=True, dtype=x.dtype, device=x.device)
    check_tensor("window", window, min_dim=1)
    if window.shape != (frame_length,):
        raise ValueError(f"window: expected shape ({frame_length},) (frame_length), received {tuple(window.shape)}")
    return window.to(dtype=x.dtype, device=x.device)


def phaser(x: torch.Tensor, break_frequency: torch.Tensor, sample_rate: float, *, frame_length: int = 1024,
           hop_length: int | None = None, window="hann", n_fft: int | None = None, dry_gain=1.0, wet_gain=1.0,
           feedback=0.0) -> torch.Tensor:
    """Framewise phaser (Carson et al. 2023): COLA-windowed segments, each filtered by its own :math:`H^{(m)}`.

    Args:
        x: signal ``(..., time)``.
        break_frequency: ``(..., frames, stages)`` in Hz, in ``(0, sample_rate / 2)``, with
            ``frames == phaser_num_frames(time, frame_length, hop_length)``; frame :math:`m`
            covers samples :math:`mH - (L - H) \\dots mH + H - 1`. Leading dimensions broadcast
            with ``x``'s.
        sample_rate: Hz.
        frame_length: segment length :math:`L`.
        hop_length: hop :math:`H` (default ``frame_length // 2``); ``window`` must satisfy COLA
            for it (a ``ValueError`` otherwise).
        window: ``"hann"`` (periodic; COLA for ``H = L/2, L/4, ...``) or a tensor ``(L,)``.
        n_fft: frequency-sampling size, at least ``frame_length`` (default: the power of two
            at least ``2 * frame_length``). Larger values shrink the circular aliasing of
            long impulse responses (low break frequencies, strong feedback).
        dry_gain, wet_gain, feedback: :math:`g_1, g_w, g_2` (numbers or tensors broadcasting with
            ``x.shape[:-1]``); :math:`|g_2| < 1`.

    Returns ``(..., time)``. Differentiable with respect to ``x``, ``break_frequency``, the gains
    and ``feedback``. See the module docstring for the approximation.
    """
    check_tensor("x", x, min_dim=1)
    check_positive("sample_rate", sample_rate)
    check_positive_int("frame_length", frame_length)
    hop_length = frame_length // 2 if hop_length is None else hop_length
    check_positive_int("hop_length", hop_length)
    if hop_length > frame_length:
        raise ValueError(f"hop_length: expected at most frame_length = {frame_length}, received {hop_length}")
    if n_fft is None:
        n_fft = 1 << (2 * frame_length - 1).bit_length()
    check_positive_int("n_fft", n_fft)
    if n_fft < frame_length:
        raise ValueError(f"n_fft: expected at least frame_length = {frame_length}, received {n_fft}")
    _check_break_frequency(break_frequency)
    if break_frequency.dim() < 2:
        raise ValueError(f"break_frequency: expected (..., frames, stages), received shape "
                         f"{tuple(break_frequency.shape)}")
    time = x.shape[-1]
    frames = phaser_num_frames(time, frame_length, hop_length)
    if break_frequency.shape[-2] != frames:
        raise ValueError(f"break_frequency: expected {frames} frames on axis -2 for {time} samples "
                         f"(phaser_num_frames(time, frame_length={frame_length}, hop_length={hop_length})), "
                         f"received shape {tuple(break_frequency.shape)}")
    w = _window(window, frame_length, x)
    constant = cola_constant(w, hop_length)
    coefficients = allpass_coefficient_from_break_frequency(break_frequency, sample_rate)
    dtype = torch.promote_types(x.dtype, coefficients.dtype)
    x, coefficients, w = x.to(dtype), coefficients.to(dtype), w.to(dtype)
    dry = _gain("dry_gain", dry_gain, x).to(dtype)
    wet = _gain("wet_gain", wet_gain, x).to(dtype)
    feedback = _gain("feedback", feedback, x).to(dtype)
    _check_feedback(feedback)
    response = _response(coefficients, n_fft, dry[..., None], wet[..., None], feedback[..., None])  # (..., F, bins)

    lead_pad = frame_length - hop_length
    tail_pad = (frames - 1) * hop_length + frame_length - time - lead_pad
    padded = torch.nn.functional.pad(x, (lead_pad, tail_pad))
    segments = frame(padded, frame_length, hop_length) * w                    # (..., F, L)
    spectrum = torch.fft.rfft(segments, n=n_fft)
    filtered = torch.fft.irfft(spectrum * response, n=n_fft)                  # (..., F, n_fft)
    out = overlap_add(filtered, hop_length)
    return out[..., lead_pad:lead_pad + time] / constant


def _lattice_system(coefficients: torch.Tensor):
    """Normalised first-order sections in cascade: an orthogonal ``[[A, B], [C, D]]`` with the cascade's response."""
    stages = coefficients.shape[-1]
    k = torch.sqrt(1 - coefficients * coefficients)
    eye = torch.eye(stages, dtype=coefficients.dtype, device=coefficients.device)
    v_state = torch.zeros_like(coefficients)              # the current section's input, as a row over states
    v_input = torch.ones_like(coefficients[..., 0])       # ... and its weight on the cascade input
    rows, inputs = [], []
    for j in range(stages):                                # loop over stages, not samples
        a_j, k_j = coefficients[..., j:j + 1], k[..., j:j + 1]
        rows.append(-a_j * eye[j] + k_j * v_state)        # s_j' = -a_j s_j + k_j v_j
        inputs.append(k_j[..., 0] * v_input)
        v_state = k_j * eye[j] + a_j * v_state             # y_j = k_j s_j + a_j v_j
        v_input = a_j[..., 0] * v_input
    return torch.stack(rows, dim=-2), torch.stack(inputs, dim=-1), v_state, v_input


def phaser_exact(x: torch.Tensor, break_frequency: torch.Tensor, sample_rate: float, *, dry_gain=1.0,
                 wet_gain=1.0, feedback=0.0, zi: torch.Tensor | None = None):
    """Phaser with per-sample (or per-frame) time-varying all-pass coefficients, no windowing.

    Args:
        x: signal ``(..., time)``.
        break_frequency: Hz in ``(0, sample_rate / 2)``: ``(..., stages)`` fixed, or
            ``(..., steps, stages)`` time-varying (``dim == x.dim() + 1``) with ``steps == time``
            (per sample) or dividing it (held for ``time / steps`` samples).
        dry_gain, wet_gain, feedback: :math:`g_1, g_w, g_2`, numbers or tensors broadcasting with
            ``x.shape[:-1]``; :math:`|g_2| < 1`. A tensor ``feedback`` (even zero) selects the
            feedback structure so that it receives a gradient.
        zi: optional state; the call then returns ``(y, zf)``. Without feedback it is the
            per-stage ``lfilter`` state ``(..., stages, K)`` (``K = 1`` fixed, ``2``
            time-varying, see ``allpass_cascade``); with feedback the normalised-section state
            ``(..., stages)``.

    Without feedback: ``stages`` ``lfilter`` calls with per-sample coefficients. With feedback:
    the exact state-space evaluation described in the module docstring (per-sample variation
    then costs memory ``O(time * stages^2 * log2(time))``; prefer per-frame steps). Differentiable
    with respect to ``x``, ``break_frequency``, the gains, ``feedback`` and ``zi``.
    """
    check_tensor("x", x, min_dim=1)
    _check_break_frequency(break_frequency)
    varying = check_steps("break_frequency", break_frequency, x, "stages")
    coefficients = allpass_coefficient_from_break_frequency(break_frequency, sample_rate)
    dtype = torch.promote_types(x.dtype, coefficients.dtype)
    x, coefficients = x.to(dtype), coefficients.to(dtype)
    dry = _gain("dry_gain", dry_gain, x).to(dtype)
    wet = _gain("wet_gain", wet_gain, x).to(dtype)
    with_feedback = isinstance(feedback, torch.Tensor) or feedback != 0
    if not with_feedback:
        out = allpass_cascade(x, coefficients, zi)
        wet_signal, zf = out if zi is not None else (out, None)
        y = dry[..., None] * x + wet[..., None] * wet_signal
        return y if zi is None else (y, zf)

    feedback = _gain("feedback", feedback, x).to(dtype)
    _check_feedback(feedback)
    A, B, C, D = _lattice_system(coefficients)
    steps = 1 if varying else 0

    def up(t, n):                                           # append n singleton axes (steps, stages, ...)
        return t.reshape(t.shape + (1,) * n)

    scale = 1 / (1 - up(feedback, steps) * D)              # the delay-free loop, solved: 1 / (1 - g2 D)
    A = A + up(feedback, steps + 2) * up(scale, 2) * B[..., :, None] * C[..., None, :]
    B = B * up(scale, 1)
    C = up(wet, steps + 1) * C * up(scale, 1)
    D = up(dry, steps) + up(wet, steps) * D * scale
    if zi is not None:
        check_tensor("zi", zi, min_dim=1)
        if zi.shape[-1] != coefficients.shape[-1]:
            raise ValueError(f"zi: expected (..., {coefficients.shape[-1]}) (one normalised-section state per "
                             f"stage, with feedback), received shape {tuple(zi.shape)}")
    return state_space_filter(A, B, C, D, x, zi, method="block")
