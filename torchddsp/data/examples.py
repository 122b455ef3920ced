"""Hand-made synthesiser controls for examples and the ``torchddsp render`` command.

A short phrase: notes of a scale with glides and vibrato, a loudness envelope per note, a
harmonic spectrum whose brightness follows loudness, and breath noise that is strongest at note
onsets. Everything is computed from closed-form curves, so no data or network is needed.
"""

from __future__ import annotations

import math

import torch

from torchddsp.checks import check_positive, check_positive_int
from torchddsp.functional.controls.scaling import midi_to_hz

MAX_OSCILLATOR_SAMPLES = 2 ** 28


def example_controls(seconds: float, sample_rate: int, hop_size: int, n_harmonics: int,
                     n_noise_bands: int) -> dict[str, torch.Tensor]:
    """Controls for ``HarmonicPlusNoise.render``: ``amplitude`` ``(1, frames, 1)``,
    ``harmonic_distribution`` ``(1, frames, K)``, ``f0_hz`` ``(1, frames, 1)`` and
    ``noise_magnitudes`` ``(1, frames, bands)``.

    The phrase is refused (``ValueError`` naming the arguments) when rendering it would take more
    than ``MAX_OSCILLATOR_SAMPLES`` oscillator samples (``seconds * sample_rate * n_harmonics``),
    before anything is allocated.
    """
    check_positive("seconds", seconds)
    check_positive("sample_rate", sample_rate)
    check_positive_int("hop_size", hop_size)
    check_positive_int("n_harmonics", n_harmonics)
    check_positive_int("n_noise_bands", n_noise_bands)
    if seconds * sample_rate * n_harmonics > MAX_OSCILLATOR_SAMPLES:
        raise ValueError(f"seconds, sample_rate and n_harmonics: expected at most {MAX_OSCILLATOR_SAMPLES} oscillator "
                         f"samples (seconds * sample_rate * n_harmonics, about 1 GiB per buffer), received "
                         f"{seconds} * {sample_rate} * {n_harmonics}; render fewer seconds or harmonics")
    frame_rate = sample_rate / hop_size
    frames = max(1, int(round(seconds * frame_rate)))
    t = torch.arange(frames, dtype=torch.float64) / frame_rate
    notes = torch.tensor([60, 62, 64, 67, 65, 64, 62, 60], dtype=torch.float64)
    note_length = seconds / len(notes)
    index = torch.clamp((t / note_length).long(), max=len(notes) - 1)
    position = (t - index * note_length) / note_length                      # 0..1 within a note
    # Glide into each note over its first 8%, vibrato growing after the onset.
    previous = notes[torch.clamp(index - 1, min=0)]
    glide = torch.clamp(position / 0.08, max=1.0)
    pitch = previous + (notes[index] - previous) * glide
    pitch = pitch + 0.25 * torch.clamp(position * 2, max=1.0) * torch.sin(2 * math.pi * 5.5 * t)
    f0 = midi_to_hz(pitch)
    # Loudness: fast attack, slow decay, release at the end of the note.
    envelope = (torch.clamp(position / 0.05, max=1.0) * torch.exp(-1.5 * position)
                * torch.clamp((1 - position) / 0.1, max=1.0))
    amplitude = 0.5 * envelope
    # Harmonic spectrum: 1/k^tilt with tilt falling (brighter) as the note gets louder.
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float64)
    tilt = 2.2 - 1.0 * envelope
    distribution = k[None, :] ** (-tilt[:, None])
    distribution = distribution / distribution.sum(-1, keepdim=True)
    # Breath noise: a gentle high-pass shape, loudest at onsets.
    bands = torch.linspace(0, 1, n_noise_bands, dtype=torch.float64)
    onset = torch.exp(-position / 0.06)
    noise = (0.002 + 0.01 * onset)[:, None] * (0.2 + bands[None, :])
    return {
        "amplitude": amplitude[None, :, None].float(),
        "harmonic_distribution": distribution[None].float(),
        "f0_hz": f0[None, :, None].float(),
        "noise_magnitudes": noise[None].float(),
    }
