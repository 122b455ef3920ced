"""Convolution reverb with a learned or parametric impulse response.

Engel et al., "DDSP: Differentiable Digital Signal Processing", ICLR 2020 model the room as a
long FIR filter, either learned sample by sample or parametrised as exponentially decaying
filtered noise. Convolving audio :math:`x` with an impulse response :math:`h` of ``L`` samples
and mixing with the dry signal:

.. math:: y[n] = g_{dry}\\, x[n] + g_{wet} \\sum_{k=0}^{L-1} h[k]\\, x[n - k], \\qquad n < T,

computed by FFT (``fft_convolve``), output length = input length ``T`` (the reverb tail past
the end is returned separately on request, for block-by-block rendering).

Parametric impulse responses (Moorer, "About this reverberation business", 1979: late
reverberation is well modelled as noise with an exponentially decaying envelope). With the
reverberation time :math:`T_{60}` (the time for the level to fall by 60 dB):

.. math:: h[n] = g\\, u[n]\\, 10^{-3 n / (f_s T_{60})}

(:func:`exponential_decay_ir`, :math:`u` white noise), and a frequency-dependent version
(:func:`band_decay_ir`) where band :math:`k` (of ``K`` bands from 0 to Nyquist) has its own gain
and :math:`T_{60,k}`: the noise is filtered frame by frame (window-design filter, hop ``H``) with
the magnitudes :math:`M_m[k] = g_k\\, 10^{-3 t_m / T_{60,k}}`, :math:`t_m = m H / f_s`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from torchddsp.checks import check_positive, check_positive_int, check_tensor, checking_values
from torchddsp.functional.core.convolution import fft_convolve
from torchddsp.functional.core.noise import white_noise
from torchddsp.functional.filters.fir.window_design import frequency_filter

_LOG_1000 = 3.0 * math.log(10.0)          # 60 dB in nepers of amplitude


def _as_gain(name: str, value, like: torch.Tensor) -> torch.Tensor | float:
    if isinstance(value, torch.Tensor):
        check_tensor(name, value)
        return value.to(like.dtype)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number or a tensor, received {value!r}")
    return float(value)


def convolution_reverb(audio: torch.Tensor, impulse_response: torch.Tensor, *, wet=1.0, dry=0.0,
                       state: torch.Tensor | None = None):
    """Apply ``impulse_response`` ``(..., L)`` to ``audio`` ``(..., time)``; output ``(..., time)``.

    Args:
        audio: ``(..., time)``.
        impulse_response: ``(..., L)``, ``L >= 1``; leading dimensions broadcast with ``audio``'s
            (one learned response ``(L,)`` serves a whole batch).
        wet, dry: gains of the reverberated and the direct signal, floats or tensors broadcastable
            to the output (e.g. ``(batch, 1)``); the default is the wet signal only.
        state: optional streaming state, the tail returned for the previous block (at most
            ``L - 1`` samples; an empty tensor ``(..., 0)`` starts a stream at rest). When given,
            the call returns ``(output, tail)``: the tail is the convolution's last ``L - 1``
            samples (before the wet gain), for the next block.

    Differentiable with respect to the audio, the impulse response and tensor gains.
    """
    check_tensor("audio", audio, min_dim=1)
    check_tensor("impulse_response", impulse_response, min_dim=1)
    if impulse_response.shape[-1] == 0:
        raise ValueError("impulse_response: expected at least one sample in the last dimension, received "
                         f"shape {tuple(impulse_response.shape)}")
    time = audio.shape[-1]
    full = fft_convolve(audio, impulse_response, "full")
    if time == 0:
        full = full.new_zeros(*full.shape[:-1], impulse_response.shape[-1] - 1)
    if state is not None:
        check_tensor("state", state, min_dim=1)
        size = state.shape[-1]
        if size > full.shape[-1]:
            raise ValueError(f"state: expected at most {full.shape[-1]} samples, received {size}")
        full = full + F.pad(state.to(full.dtype), (0, full.shape[-1] - size))
    wet = _as_gain("wet", wet, full)
    dry = _as_gain("dry", dry, full)
    out = wet * full[..., :time]
    if not (isinstance(dry, float) and dry == 0.0):
        out = out + dry * audio.to(full.dtype)
    if state is not None:
        return out, full[..., time:]
    return out


def _decay_checks(length, sample_rate):
    check_positive_int("length", length)
    check_positive("sample_rate", sample_rate)


def _positive_tensor(name: str, value, dtype=None, device=None) -> torch.Tensor:
    t = value if isinstance(value, torch.Tensor) else torch.as_tensor(
        value, dtype=dtype or torch.get_default_dtype(), device=device)
    check_tensor(name, t)
    if t.numel() and checking_values() and not bool((t.detach() > 0).all()):
        raise ValueError(f"{name}: expected values > 0, received a minimum of {float(t.detach().min()):.6g}")
    return t


def exponential_decay_ir(length: int, sample_rate: float, decay_time, gain=1.0, *,
                         distribution: str = "gaussian", seed: int | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """Noise with an exponentially decaying envelope, ``(..., length)``.

    .. math:: h[n] = g\\, u[n]\\, 10^{-3 n / (f_s T_{60})}

    Args:
        length: number of samples.
        sample_rate: in Hz.
        decay_time: :math:`T_{60}` in seconds (> 0), a float or a tensor ``(...)``.
        gain: :math:`g`, a float or a tensor broadcastable with ``decay_time``.
        distribution, seed, generator: of the white noise :math:`u` (see ``white_noise``);
            pass a seed to get the same response on every call.

    Returns ``(*broadcast(decay_time, gain).shape, length)`` in ``decay_time``'s dtype and device
    (a float ``decay_time`` takes ``gain``'s, else the default dtype on the CPU). Differentiable
    with respect to tensor ``decay_time`` and ``gain``.
    """
    _decay_checks(length, sample_rate)
    like = next((v for v in (decay_time, gain) if isinstance(v, torch.Tensor)), None)
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    t60 = _positive_tensor("decay_time", decay_time, dtype, device).to(dtype)
    g = gain.to(dtype) if isinstance(gain, torch.Tensor) else torch.as_tensor(
        _as_gain("gain", gain, t60), dtype=dtype, device=t60.device)
    lead = torch.broadcast_shapes(t60.shape, g.shape)
    noise = white_noise((*lead, length), distribution=distribution, seed=seed, generator=generator,
                        dtype=dtype, device=t60.device)
    n = torch.arange(length, dtype=dtype, device=t60.device)
    envelope = torch.exp(-_LOG_1000 * n / (sample_rate * t60.unsqueeze(-1)))
    return g.unsqueeze(-1) * envelope * noise


def band_decay_ir(length: int, sample_rate: float, decay_times: torch.Tensor, gains: torch.Tensor | None = None,
                  *, hop_size: int = 64, window_size: int | None = None, distribution: str = "gaussian",
                  seed: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Filtered noise whose bands decay at their own rates, ``(..., length)``.

    Args:
        length: number of samples.
        sample_rate: in Hz.
        decay_times: ``(..., n_bands)`` :math:`T_{60}` in seconds (> 0) of ``n_bands >= 2`` bands
            equally spaced from 0 Hz to Nyquist.
        gains: ``(..., n_bands)`` initial band amplitudes (default 1), broadcastable with
            ``decay_times``.
        hop_size: samples per envelope frame; the magnitudes are evaluated at ``t_m = m * hop_size
            / sample_rate`` and applied with the window-design filter (``frequency_filter``,
            delay compensated).
        window_size: of the window-design filter (default ``2 * (n_bands - 1)``).
        distribution, seed, generator: of the white noise (see ``white_noise``).

    Differentiable with respect to ``decay_times`` and ``gains``.
    """
    _decay_checks(length, sample_rate)
    check_positive_int("hop_size", hop_size)
    check_tensor("decay_times", decay_times, min_dim=1)
    t60 = _positive_tensor("decay_times", decay_times)
    if gains is None:
        gains = torch.ones_like(t60)
    check_tensor("gains", gains, min_dim=1)
    if gains.shape[-1] != t60.shape[-1]:
        raise ValueError(f"decay_times and gains: expected the same number of bands, received "
                         f"{t60.shape[-1]} and {gains.shape[-1]}")
    dtype = torch.promote_types(t60.dtype, gains.dtype)
    frames = -(-length // hop_size)
    t = torch.arange(frames, dtype=dtype, device=t60.device) * (hop_size / sample_rate)
    magnitudes = gains.to(dtype).unsqueeze(-2) * torch.exp(
        -_LOG_1000 * t[:, None] / t60.to(dtype).unsqueeze(-2))           # (..., frames, n_bands)
    noise = white_noise((*magnitudes.shape[:-2], length), distribution=distribution, seed=seed,
                        generator=generator, dtype=dtype, device=t60.device)
    return frequency_filter(noise, magnitudes, hop_size, window_size=window_size, compensate_delay=True)
