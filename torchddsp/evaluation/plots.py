"""Figures for people: spectrograms written as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from torchddsp.functional.spectral.stft import padding_for, stft


def save_spectrogram_png(path: str | Path, audio: torch.Tensor, sample_rate: int, title: str = "",
                         n_fft: int = 1024, hop_length: int = 256) -> None:
    """Save a log-magnitude spectrogram of mono ``audio`` ``(time,)`` with axes in s and Hz."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = audio.detach().cpu().to(torch.float32).reshape(-1)
    spec = stft(x, n_fft, hop_length, window="hann", pad_mode=padding_for(len(x), n_fft)).abs()
    db = 20 * torch.log10(spec.clamp_min(1e-6)).numpy()
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    extent = (0.0, len(x) / sample_rate, 0.0, sample_rate / 2)
    image = ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma",
                      vmin=float(np.max(db)) - 90, vmax=float(np.max(db)))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="dB")
    fig.tight_layout()
    fig.savefig(str(path))
    plt.close(fig)
