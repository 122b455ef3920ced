"""The DDSP autoencoder (Engel et al., "DDSP", ICLR 2020; review §2.1.1-2.1.2).

f0 and loudness (and optionally a latent ``z`` from MFCCs) -> ``Decoder`` -> harmonic
amplitude, harmonic distribution, noise magnitudes -> harmonic + filtered noise + learned reverb.
f0 is given to the synthesiser directly (it is not learned), so the model learns timbre: how the
spectrum depends on pitch and loudness. Timbre transfer feeds another recording's f0 and
loudness through a trained model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from torchddsp.checks import checking_values, dataclass_from_dict
from torchddsp.features.mel import mfcc
from torchddsp.functional.controls.scaling import hz_to_midi
from torchddsp.models.decoder import Decoder
from torchddsp.processors import HarmonicPlusNoise, Reverb

# Valid ranges of the architecture's settings, checked before anything is allocated (a config or a
# checkpoint from elsewhere could otherwise ask for gigabytes). Generous: far beyond published models.
MODEL_LIMITS = {"sample_rate": (1000, 384000), "hop_size": (1, 65536), "n_harmonics": (1, 4096),
                "n_noise_bands": (1, 4096), "hidden": (1, 8192), "mlp_layers": (1, 64), "z_size": (0, 4096),
                "n_mfcc": (1, 512), "reverb_seconds": (0.0, 60.0), "amplitude_floor": (0.0, 1.0)}
# Each size may be within its range while their combination is not (hidden=8192 with mlp_layers=64 is
# 13 billion weights): the whole network is limited too, to 2 GiB of float32 weights.
MAX_PARAMETERS = 2 ** 29


def _linear(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def _mlp(inputs: int, hidden: int, layers: int) -> int:
    return _linear(inputs, hidden) + (layers - 1) * _linear(hidden, hidden) + layers * 2 * hidden


def _gru(inputs: int, hidden: int) -> int:
    return 3 * (inputs * hidden + hidden * hidden + 2 * hidden)


@dataclass
class ModelConfig:
    """Architecture; the defaults reproduce Engel et al.'s solo-instrument model (16 kHz, 250 frames/s)."""

    sample_rate: int = 16000
    hop_size: int = 64
    n_harmonics: int = 100
    n_noise_bands: int = 65
    hidden: int = 512
    mlp_layers: int = 3
    z_size: int = 0
    n_mfcc: int = 30
    reverb_seconds: float = 1.0         # length of the learned impulse response (0: no reverb)
    amplitude_floor: float = 1e-7       # smallest harmonic amplitude / noise magnitude (exp_sigmoid threshold)
    loudness_anchor: bool = False       # scale the output by the input loudness (see DDSPAutoencoder.controls)

    def __post_init__(self):
        if not isinstance(self.loudness_anchor, bool):
            raise ValueError(f"model.loudness_anchor: expected true or false, received {self.loudness_anchor!r}")
        for name, (low, high) in MODEL_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
                    or (isinstance(low, int) and not isinstance(value, int)):
                kind = "an integer" if isinstance(low, int) else "a number"
                raise ValueError(f"model.{name}: expected {kind} in [{low}, {high}], received {value!r}")
        if self.hop_size > self.sample_rate:
            raise ValueError(f"model.hop_size: expected at most model.sample_rate = {self.sample_rate} samples, "
                             f"received {self.hop_size}")
        if self.parameter_count() > MAX_PARAMETERS:
            raise ValueError(f"model.hidden and model.mlp_layers: expected a network of at most {MAX_PARAMETERS} "
                             f"weights (2 GiB of float32), received sizes giving {self.parameter_count()} "
                             f"(hidden={self.hidden}, mlp_layers={self.mlp_layers})")

    def parameter_count(self) -> int:
        """The number of trained weights of ``DDSPAutoencoder(self)``, computed without building it."""
        hidden, layers, z = self.hidden, self.mlp_layers, self.z_size
        decoder = (2 * _mlp(1, hidden, layers) + (_mlp(z, hidden, layers) if z else 0)
                   + _gru((3 if z else 2) * hidden, hidden) + _mlp(hidden + 2 + z, hidden, layers)
                   + _linear(hidden, 1 + self.n_harmonics + self.n_noise_bands))
        encoder = 2 * self.n_mfcc + _gru(self.n_mfcc, hidden) + _linear(hidden, z) if z else 0
        reverb = int(self.reverb_seconds * self.sample_rate) if self.reverb_seconds > 0 else 0
        return decoder + encoder + reverb

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        return dataclass_from_dict(cls, values, "model config")

    def to_dict(self) -> dict:
        return asdict(self)


def anchor_gain(loudness_db: torch.Tensor, reference_db: torch.Tensor | float) -> torch.Tensor:
    r"""The gain :math:`g = 10^{(L - L_{ref})/20}` that anchors a synthesiser's level to loudness ``L`` (dB).

    The loudness feature is a mean of dB over frequency (:mod:`torchddsp.features.loudness`), so
    scaling a sound by :math:`g` adds :math:`20\log_{10} g` dB to it (wherever no bin sits on the
    floor): multiplying the controls by this gain makes the output's loudness follow the input's
    one for one, and the network only learns the level at :math:`L_{ref}` (the training data's mean
    loudness) and how timbre changes it. ``loudness_db`` any shape, finite; returns the same shape.
    """
    return torch.pow(10.0, (loudness_db - reference_db) / 20.0)


def mfcc_frames(audio: torch.Tensor, config: "ModelConfig") -> torch.Tensor:
    """The encoder's input: MFCCs of ``audio`` ``(..., time)`` -> ``(..., ceil(time / hop_size), n_mfcc)``.

    Engel et al.'s encoder features (30 MFCCs of a 128-band log-mel spectrogram, 1024-sample
    frames at 16 kHz), with the FFT scaled to 64 ms at other rates; frame ``m`` is centred at
    sample ``m * hop_size`` like the f0 and loudness frames (:func:`torchddsp.features.mfcc`).
    """
    n_fft = 2 * round(0.032 * config.sample_rate)
    frames = -(-audio.shape[-1] // config.hop_size)
    coefficients = mfcc(audio, config.sample_rate, n_mfcc=config.n_mfcc, n_fft=n_fft, hop_length=config.hop_size,
                        n_mels=max(128, config.n_mfcc))
    return coefficients[..., :frames, :]


class MfccEncoder(nn.Module):
    """MFCCs ``(batch, frames, n_mfcc)`` -> latent ``z`` ``(batch, frames, z_size)`` (normalise, GRU, linear)."""

    def __init__(self, n_mfcc: int, z_size: int, hidden: int = 512):
        super().__init__()
        self.norm = nn.LayerNorm(n_mfcc)
        self.gru = nn.GRU(n_mfcc, hidden, batch_first=True)
        self.out = nn.Linear(hidden, z_size)

    def forward(self, mfcc: torch.Tensor, state: torch.Tensor | None = None):
        """``z``, or ``(z, new_state)`` when the GRU ``state`` ``(1, batch, hidden)`` is given."""
        hidden, new_state = self.gru(self.norm(mfcc), state)
        z = self.out(hidden)
        return z if state is None else (z, new_state)


class DDSPAutoencoder(nn.Module):
    """f0/loudness(/MFCC) -> audio. ``loudness_mean``/``loudness_std`` are dataset statistics
    (buffers, saved with the weights) used to standardise loudness."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.decoder = Decoder(config.hidden, config.mlp_layers, config.n_harmonics, config.n_noise_bands,
                               config.z_size)
        self.encoder = MfccEncoder(config.n_mfcc, config.z_size, config.hidden) if config.z_size else None
        reverb = Reverb(config.sample_rate, config.reverb_seconds) if config.reverb_seconds > 0 else None
        self.synth = HarmonicPlusNoise(config.sample_rate, config.hop_size, config.n_harmonics,
                                       config.n_noise_bands, reverb=reverb, threshold=config.amplitude_floor)
        self.register_buffer("loudness_mean", torch.tensor(-40.0))
        self.register_buffer("loudness_std", torch.tensor(20.0))

    def set_statistics(self, loudness_mean: float, loudness_std: float) -> None:
        self.loudness_mean.fill_(float(loudness_mean))
        self.loudness_std.fill_(max(float(loudness_std), 1e-3))

    @property
    def latency(self) -> int:
        """Samples of look-ahead when streaming (the synthesiser's; the networks are causal)."""
        return self.synth.latency

    def initial_state(self, batch_size: int, *, dtype: torch.dtype = torch.float32, device=None,
                      noise_seed: int | None = None) -> dict:
        """The streaming state before the first block: GRU states at zero and the synthesiser's."""
        def gru(module):
            return torch.zeros(1, batch_size, module.hidden_size, dtype=dtype, device=device)
        state = {"decoder": gru(self.decoder.gru),
                 "synth": self.synth.initial_state((batch_size,), dtype=dtype, device=device, noise_seed=noise_seed)}
        if self.encoder is not None:
            state["encoder"] = gru(self.encoder.gru)
        return state

    def controls(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, mfcc: torch.Tensor | None = None,
                 state: dict | None = None):
        """Synthesiser controls from features ``(batch, frames)`` (and MFCCs ``(batch, frames, n_mfcc)``);
        with ``state`` also the networks' new states.

        ``f0_hz`` must be finite and in ``[0, sample_rate / 2]`` (0 Hz: an unpitched frame); outside
        that the pitch input would be NaN (negative) or every harmonic silenced (above Nyquist).

        With ``config.loudness_anchor`` the harmonic amplitude and the noise magnitudes are multiplied
        by :func:`anchor_gain` of the input loudness, so the networks learn the level *relative* to
        the input: a dynamic the training data never reached renders at the level asked for.
        """
        nyquist = self.config.sample_rate / 2
        if f0_hz.numel() and checking_values():
            low, high = float(f0_hz.detach().min()), float(f0_hz.detach().max())
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low and high <= nyquist):
                raise ValueError(f"f0_hz: expected finite frequencies in [0, {nyquist:g}] Hz (the model's Nyquist), "
                                 f"received values from {low:g} to {high:g} Hz")
        f0 = f0_hz.unsqueeze(-1)
        f0_unit = hz_to_midi(f0) / 127.0
        loud = ((loudness_db - self.loudness_mean) / self.loudness_std).unsqueeze(-1)
        new_state = {}
        z = None
        if self.encoder is not None:
            if mfcc is None:
                raise ValueError(f"mfcc: this model was built with z_size={self.config.z_size}, received None")
            z = self.encoder(mfcc) if state is None else self.encoder(mfcc, state["encoder"])
            if state is not None:
                z, new_state["encoder"] = z
        if state is None:
            logits = self.decoder(f0_unit, loud, z)
        else:
            logits, new_state["decoder"] = self.decoder(f0_unit, loud, z, state["decoder"])
        controls = self.synth.get_controls(f0_hz=f0, **logits)
        if self.config.loudness_anchor:
            gain = anchor_gain(loudness_db, self.loudness_mean).unsqueeze(-1)
            controls["amplitude"] = controls["amplitude"] * gain
            controls["noise_magnitudes"] = controls["noise_magnitudes"] * gain
        return controls if state is None else (controls, new_state)

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, mfcc: torch.Tensor | None = None,
                noise_seed: int | None = None, state: dict | None = None):
        """Audio ``(batch, frames * hop_size)``; with ``state`` (``initial_state``), ``(audio, new_state)``.

        Block by block, each call taking the previous call's state, the joined output equals
        one call on the whole signal delayed by ``latency`` samples (silence before), with the
        noise of ``initial_state(noise_seed=...)``.
        """
        if state is None:
            return self.synth.render(**self.controls(f0_hz, loudness_db, mfcc), noise_seed=noise_seed)
        if f0_hz.shape[-1] == 0:                                   # an empty block changes nothing
            return f0_hz.new_zeros(*f0_hz.shape[:-1], 0), state
        controls, new_state = self.controls(f0_hz, loudness_db, mfcc, state)
        audio, new_state["synth"] = self.synth.render(**controls, state=state["synth"])
        return audio, new_state
