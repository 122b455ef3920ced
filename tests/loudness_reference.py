"""Float64 NumPy transcription of A-weighted loudness (IEC 61672-1 A-weighting; Engel et al. 2020's
loudness feature), the reference for ``torchddsp.features.loudness`` and the loudness loss."""

from __future__ import annotations

import math

import numpy as np


def ref_a_weighting(f):
    f = np.asarray(f, np.float64)
    with np.errstate(divide="ignore"):
        ra = (12194.217 ** 2 * f ** 4) / ((f ** 2 + 20.598997 ** 2)
                                          * np.sqrt((f ** 2 + 107.65265 ** 2) * (f ** 2 + 737.86223 ** 2))
                                          * (f ** 2 + 12194.217 ** 2))
        return np.maximum(20 * np.log10(ra) + 2.0, -80.0)


def ref_loudness(x, sr, hop, n_fft, ref_db=0.0, range_db=120.0, amin=1e-20, normalized=True):
    """Direct transcription: frame m centred at m*hop (zeros outside), periodic Hann, rfft."""
    x = np.asarray(x, np.float64)
    frames = math.ceil(x.shape[-1] / hop)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft + frames * hop)])
    out = np.empty(x.shape[:-1] + (frames,))
    weights = ref_a_weighting(np.arange(n_fft // 2 + 1) * sr / n_fft)
    scale = (w.sum() / 2) ** 2 if normalized else 1.0
    for m in range(frames):
        seg = padded[..., m * hop:m * hop + n_fft] * w
        power = np.abs(np.fft.rfft(seg, axis=-1)) ** 2 / scale
        db = 10 * np.log10(np.maximum(power, amin)) + weights - ref_db
        out[..., m] = np.maximum(db, -range_db).mean(axis=-1)
    return out
