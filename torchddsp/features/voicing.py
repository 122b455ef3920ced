r"""Does a recording suit a monophonic model? The share of its sounding frames that are clearly periodic.

The DDSP autoencoder follows one f0. A chord, two instruments at once or a noisy, unpitched sound
is resynthesised as one harmonic series that matches none of them, and f0 trackers say little
about it: YIN still finds a common period in a mixture of two instruments and calls every frame
voiced. What changes is how periodic the frames are. With the sounding frames those within
``SOUNDING_RANGE_DB`` of the recording's loudest, the statistic is

.. math:: p = \frac{|\{m \text{ sounding} : c_m > 0.9\}|}{|\{m \text{ sounding}\}|}

with :math:`c_m` YIN's confidence :math:`1 - d'` (:func:`periodicity_confidence`), whatever
tracker gives the model its f0: CREPE's confidence, the peak of a network's activation, is on
another scale (CREPE tiny puts only 4 to 37% of the sounding frames of the solo clarinet, cello
and trumpet recordings above 0.9; YIN 90% and more). Measured with YIN at 16 kHz,
hop 64, on our development recordings: solo instruments 0.91 to 0.98 (a reverberant trumpet solo
0.80); two instruments mixed, or a violin with itself a third, fifth or octave up, 0.59 to 0.73;
speech 0.32 to 0.43; white noise 0.

:func:`warn_if_not_monophonic` compares :math:`p` with that of the model's training data
(``stats.json``'s ``yin_periodic_fraction``; 0.95, a solo instrument's, for runs prepared before
it was recorded) and warns once when it falls below ``WARN_RATIO`` (0.8) of it: a model of
solo instruments warns below 0.76 (mixtures and chords), a model of speech below about 0.3.

The loudness that decides which frames sound is the DDSP one, a mean of A-weighted dB over
frequency, which rates a sparse spectrum (a pure synthetic tone) far below a dense one (a faint
white noise): the calibration holds for real recordings, whose spectra are dense.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

__all__ = ["PERIODIC_CONFIDENCE", "SOUNDING_RANGE_DB", "WARN_RATIO", "VoicingWarning", "periodic_fraction",
           "periodicity_confidence", "warn_if_not_monophonic"]

PERIODIC_CONFIDENCE = 0.9          # f0 confidence of a clearly periodic frame
SOUNDING_RANGE_DB = 30.0           # frames this close to the loudest one are sounding
SILENT_DB = -119.0                 # never louder than this (the loudness floor is -120 dB): nothing sounds
SOLO_INSTRUMENT_FRACTION = 0.95    # the reference when the training data's own is unknown
WARN_RATIO = 0.8


class VoicingWarning(UserWarning):
    """A recording looks polyphonic or unpitched for a monophonic model."""


def periodicity_confidence(audio: torch.Tensor, sample_rate: float, hop_size: int) -> torch.Tensor:
    """YIN's confidence per frame of ``audio`` ``(..., time)`` -> ``(..., ceil(time / hop_size))``: the
    :math:`c_m` of the statistic (search range 50 Hz to ``min(2000, sample_rate / 4)``, as
    :func:`~torchddsp.features.extract_features` uses for YIN)."""
    from torchddsp.features.yin import yin

    fmax = min(2000.0, sample_rate / 4)
    return yin(audio, sample_rate, hop_size, fmin=min(50.0, fmax / 2), fmax=fmax).confidence


def periodic_fraction(f0_confidence: torch.Tensor | np.ndarray, loudness_db: torch.Tensor | np.ndarray) -> float:
    """:math:`p` of the module docstring for one recording's frames ``(frames,)``; NaN when nothing sounds."""
    confidence = torch.as_tensor(f0_confidence).reshape(-1).double()
    loudness = torch.as_tensor(loudness_db).reshape(-1).double()
    if loudness.numel() == 0 or float(loudness.max()) <= SILENT_DB:
        return math.nan
    sounding = loudness > float(loudness.max()) - SOUNDING_RANGE_DB
    return float((confidence[sounding] > PERIODIC_CONFIDENCE).double().mean())


def warn_if_not_monophonic(features: dict, name: str, training_fraction: float | None = None) -> float:
    """Warn (:class:`VoicingWarning`) when ``features`` (``f0_confidence`` and ``loudness_db``) look
    polyphonic or unpitched next to the training data's ``training_fraction``; returns :math:`p`."""
    fraction = periodic_fraction(features["f0_confidence"], features["loudness_db"])
    reference = SOLO_INSTRUMENT_FRACTION if training_fraction is None else float(training_fraction)
    if fraction < WARN_RATIO * reference:
        warnings.warn(f"{name} looks polyphonic or unpitched for this monophonic model: {fraction:.0%} of its "
                      f"sounding frames are clearly periodic (f0 confidence above {PERIODIC_CONFIDENCE}), against "
                      f"{reference:.0%} in the training data; the model follows one f0, so expect a resynthesis "
                      "that matches none of the voices", VoicingWarning, stacklevel=2)
    return fraction
