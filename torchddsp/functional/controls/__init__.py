"""Control scalings: network outputs to synthesis controls (``exp_sigmoid``), and unit conversions
(Hz, MIDI, dB) and distributions."""

from torchddsp.functional.controls.scaling import (
                                                   amplitude_to_db,
                                                   db_to_amplitude,
                                                   exp_sigmoid,
                                                   hz_to_midi,
                                                   midi_to_hz,
                                                   normalize_distribution,
                                                   unit_to_hz,
)

__all__ = ["amplitude_to_db", "db_to_amplitude", "exp_sigmoid", "hz_to_midi", "midi_to_hz", "normalize_distribution",
           "unit_to_hz"]
