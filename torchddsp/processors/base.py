"""The processor contract: declared controls, ``get_controls``, ``render`` with streaming state.

Every processor in torchddsp is a :class:`Processor` (an ``nn.Module``) with two public halves:

- ``get_controls(**unconstrained) -> dict``: raw network outputs (any real values) to valid
  controls (activations, stability constraints, softmax). A network drives the synth through it.
- ``render(*inputs, state=None, **controls)``: valid controls (and input signals, for an effect
  or filter) to audio. A person, a random patch or ``get_controls`` drives it.
- ``forward(...)`` does both.

**Declared controls.** ``controls()`` lists each control once as a :class:`Control` (name, rate,
size, valid range, scale, default, unit). The declaration is what random-patch sampling
(:meth:`Processor.sample_controls`), default patches (:meth:`Processor.default_controls`),
documentation and plugin or web knobs read.

**Streaming.** ``render(..., state=s)`` returns ``(audio, new_state)``; ``initial_state(...)``
makes the first ``s``. States are dicts of tensors (nested for composite processors).
Rendering a signal block by block, passing each block's returned state to the next, gives the
output of one call on the whole signal *delayed by* ``latency`` samples (silence before):
``streamed[..., latency:] == one_shot[..., :time - latency]`` to float tolerance. The latency is
the look-ahead a processor needs: a synthesiser that interpolates its controls between frames
cannot finish a frame before it has seen the next one (``latency = hop_size``). :meth:`stream`
runs a whole signal through blocks, for tests and offline use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from torchddsp.checks import check_positive_int
from torchddsp.functional.core.phase import advance_phase
from torchddsp.functional.core.upsample import upsample

RATES = ("frame", "sample", "static", "signal")
SCALES = ("linear", "log")


@dataclass(frozen=True)
class Control:
    """One input of a processor's ``render``, declared once.

    Attributes:
        name: the keyword of ``render`` (and the key ``get_controls`` returns).
        rate: ``"frame"``: ``(..., frames, size)`` at control rate; ``"sample"``: ``(..., time,
            size)`` at audio rate; ``"static"``: ``(..., size)``, one value per patch (e.g. a
            filter's coefficients); ``"signal"``: an audio input ``(..., time)`` to process (no
            range; not sampled as a patch).
        size: channels on the last axis, or a tuple of trailing axes (e.g. ``(n_sections, 6)``
            for second-order sections per frame); ignored for ``"signal"``.
        low, high: the valid range (the domain ``render`` accepts for sensible output).
        scale: ``"linear"`` or ``"log"``: how a knob moves and how random patches are drawn
            (log: uniform in ``log(value)``, for frequencies and gains; needs ``low > 0``).
        default: the value of a default patch.
        unit: e.g. ``"Hz"``, ``"dB"``, ``""``.
        description: one line for docs and knobs.
    """

    name: str
    rate: str
    size: int | tuple[int, ...] = 1
    low: float = 0.0
    high: float = 1.0
    scale: str = "linear"
    default: float = 0.0
    unit: str = ""
    description: str = ""

    def __post_init__(self):
        if self.rate not in RATES:
            raise ValueError(f"Control {self.name!r}: rate expected one of {RATES}, received {self.rate!r}")
        if self.scale not in SCALES:
            raise ValueError(f"Control {self.name!r}: scale expected one of {SCALES}, received {self.scale!r}")
        if self.rate != "signal":
            if not self.low <= self.default <= self.high:
                raise ValueError(f"Control {self.name!r}: expected low <= default <= high, received "
                                 f"{self.low}, {self.default}, {self.high}")
            if self.scale == "log" and self.low <= 0:
                raise ValueError(f"Control {self.name!r}: a log scale needs low > 0, received {self.low}")

    @property
    def trailing(self) -> tuple[int, ...]:
        """The per-step axes: ``size`` as a tuple (empty for a signal)."""
        if self.rate == "signal":
            return ()
        return tuple(self.size) if isinstance(self.size, (tuple, list)) else (self.size,)

    def time_axis(self) -> int | None:
        """The (negative) axis that runs over frames or samples; ``None`` for static controls."""
        return None if self.rate == "static" else -1 - len(self.trailing)

    def shape(self, batch_shape: tuple[int, ...], frames: int, hop_size: int) -> tuple[int, ...]:
        """The tensor shape of this control for ``frames`` frames of ``hop_size`` samples."""
        steps = {"frame": (frames,), "sample": (frames * hop_size,), "static": (), "signal": (frames * hop_size,)}
        return (*batch_shape, *steps[self.rate], *self.trailing)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None, dtype, device) -> torch.Tensor:
        """Values drawn uniformly on the control's scale within ``[low, high]``."""
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        if self.scale == "log":
            value = torch.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return value.to(dtype=dtype, device=device)


class Processor(nn.Module):
    """Base class of every torchddsp processor (see the module docstring for the contract).

    Subclasses set ``hop_size`` (audio samples per control frame; 1 for processors without
    frame-rate controls) and ``latency`` (samples, default 0), and implement ``controls``,
    ``get_controls``, ``render`` and, when they keep state between blocks, ``initial_state``.
    """

    hop_size: int = 1
    latency: int = 0

    def controls(self) -> tuple[Control, ...]:
        """The declared inputs of ``render``, in order."""
        raise NotImplementedError

    def get_controls(self, **unconstrained) -> dict[str, torch.Tensor]:
        """Unconstrained values (network outputs) -> valid controls for ``render``."""
        raise NotImplementedError

    def render(self, *args, state: dict | None = None, **controls):
        """Valid controls -> audio ``(..., time)``; ``(audio, new_state)`` when ``state`` is given."""
        raise NotImplementedError

    def initial_state(self, batch_shape: tuple[int, ...] = (), *, dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> dict:
        """The state before the first block (a stateless processor: ``{}``)."""
        return {}

    def forward(self, *args, state: dict | None = None, **unconstrained):
        """``render(*signals, **get_controls(*rest, **unconstrained), state=state)``.

        The first positional arguments are the declared input signals (``rate="signal"``), the
        rest go to ``get_controls``.
        """
        n_signals = sum(c.rate == "signal" for c in self.controls())
        controls = self.get_controls(*args[n_signals:], **unconstrained)
        return self.render(*args[:n_signals], **controls, state=state)

    # Patches ---------------------------------------------------------------------------------

    def _patch(self, frames: int, batch_shape, make) -> dict[str, torch.Tensor]:
        batch_shape = tuple(batch_shape)
        return {c.name: make(c, c.shape(batch_shape, frames, self.hop_size))
                for c in self.controls() if c.rate != "signal"}

    def default_controls(self, frames: int, batch_shape: tuple[int, ...] = (), *,
                         dtype: torch.dtype = torch.float32, device=None) -> dict[str, torch.Tensor]:
        """A patch of every declared control (not signals) at its default, for ``frames`` frames."""
        check_positive_int("frames", frames)
        return self._patch(frames, batch_shape,
                           lambda c, shape: torch.full(shape, float(c.default), dtype=dtype, device=device))

    def sample_controls(self, frames: int, batch_shape: tuple[int, ...] = (), *,
                        generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
                        device=None) -> dict[str, torch.Tensor]:
        """A random patch: each declared control (not signals) drawn uniformly on its scale.

        Frame-rate controls are drawn independently per frame (use ``frames=1`` and repeat for a
        static patch). Processors whose controls must satisfy more than a range (a distribution
        that sums to one) override this.
        """
        check_positive_int("frames", frames)
        return self._patch(frames, batch_shape, lambda c, shape: c.sample(shape, generator, dtype, device))

    # Streaming ---------------------------------------------------------------------------------

    def stream(self, *signals: torch.Tensor, block_frames: int, state: dict | None = None,
               **controls) -> tuple[torch.Tensor, dict]:
        """Render block by block (``block_frames`` frames a block), carrying the state.

        Takes the whole signal's inputs, as ``render`` would; returns ``(audio, final_state)``
        where ``audio`` is the one-shot output delayed by ``latency`` samples. ``state=None``
        starts from ``initial_state``. Block boundaries cut frame-rate controls every
        ``block_frames`` frames and audio-rate inputs every ``block_frames * hop_size`` samples.
        """
        check_positive_int("block_frames", block_frames)
        if not isinstance(self.hop_size, int):
            raise ValueError(f"stream: {type(self).__name__} needs a hop_size to cut blocks; construct it with "
                             f"hop_size=..., received {self.hop_size!r}")
        declared = {c.name: c for c in self.controls()}
        signal_names = [c.name for c in self.controls() if c.rate == "signal"]
        if len(signals) != len(signal_names):
            raise ValueError(f"signals: expected {len(signal_names)} positional signal(s) {signal_names}, "
                             f"received {len(signals)}")
        inputs = dict(zip(signal_names, signals), **controls)
        frames = _frames_of(inputs, declared, self.hop_size)
        if state is None:
            reference = next(v for v in inputs.values() if isinstance(v, torch.Tensor))
            batch = _batch_shape_of(inputs, declared)
            state = self.initial_state(batch, dtype=reference.dtype, device=reference.device)
        blocks = []
        for first in range(0, frames, block_frames):
            last = min(first + block_frames, frames)
            part = {name: cut_block(value, declared.get(name), first, last, self.hop_size)
                    for name, value in inputs.items()}
            args = [part.pop(name) for name in signal_names]
            audio, state = self.render(*args, state=state, **part)
            blocks.append(audio)
        return torch.cat(blocks, dim=-1), state


def _frames_of(inputs: dict, declared: dict, hop_size: int) -> int:
    for name, value in inputs.items():
        control = declared.get(name)
        if control is None or not isinstance(value, torch.Tensor) or control.rate == "static":
            continue
        steps = value.shape[control.time_axis()]
        return steps if control.rate == "frame" else steps // hop_size
    raise ValueError("stream: expected at least one frame-rate, sample-rate or signal input to cut into blocks")


def _batch_shape_of(inputs: dict, declared: dict) -> tuple[int, ...]:
    shapes = []
    for name, value in inputs.items():
        control = declared.get(name)
        if control is None or not isinstance(value, torch.Tensor):
            continue
        own = len(control.trailing) + (control.rate != "static")
        shapes.append(value.shape[:value.dim() - own])
    return tuple(torch.broadcast_shapes(*shapes))


def cut_block(value, control: Control | None, first: int, last: int, hop_size: int):
    """Frames ``first .. last`` of one input (static controls and non-tensors pass whole)."""
    if control is None or not isinstance(value, torch.Tensor) or control.rate == "static":
        return value
    scale = 1 if control.rate == "frame" else hop_size
    return value.narrow(control.time_axis(), first * scale, (last - first) * scale)


class FrameLookahead:
    """The streaming rule of a synthesiser that interpolates frame-rate controls.

    One-shot rendering moves frame ``m``'s hop from control ``c_m`` towards ``c_{m+1}``, so a
    block that ends at frame ``m`` can only finish frames before ``m``: each block renders the
    previous block's last frame followed by its own frames, and keeps its own last frame for
    the next block (``latency = hop_size``). The first block emits one hop of silence instead.

    ``extend(controls, state)`` returns the frames to render (previous last frame prepended) and
    whether a previous frame existed; ``carry(controls)`` is the state entry for the next block.
    The caller renders the extended frames and drops the last hop.
    """

    @staticmethod
    def extend(controls: dict[str, torch.Tensor], state: dict) -> tuple[dict[str, torch.Tensor], bool]:
        previous = state.get("previous")
        if not previous:
            return controls, False
        return {name: torch.cat([previous[name].expand(*value.shape[:-2], 1, value.shape[-1]).to(value.dtype),
                                 value], dim=-2)
                for name, value in controls.items()}, True

    @staticmethod
    def carry(controls: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: value[..., -1:, :] for name, value in controls.items()}


def mute_before_latency(audio: torch.Tensor, position: torch.Tensor, latency: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Silence the samples of a block that come before ``latency`` in the stream.

    A processor that removes a filter's delay in one-shot rendering runs the causal filter when
    streaming; its first ``latency`` output samples precede the one-shot output and are muted.
    ``position`` (an int64 0-dim tensor) counts the samples emitted before this block; returns the
    block and the new position.
    """
    emitted = position.to(audio.device) + torch.arange(audio.shape[-1], device=audio.device)
    return audio * (emitted >= latency).to(audio.dtype), position + audio.shape[-1]


def fir_initial_state(batch_shape, taps: int, *, dtype=torch.float32, device=None) -> dict:
    """The state at rest of a streaming FIR processor of ``taps`` taps: nothing emitted yet and a
    zero overlap-add tail of ``taps - 1`` samples (see :func:`stream_delay_compensated`)."""
    return {"position": torch.tensor(0, dtype=torch.int64),
            "tail": torch.zeros((*batch_shape, taps - 1), dtype=dtype, device=device)}


def stream_delay_compensated(filter_block, state: dict, latency: int) -> tuple[torch.Tensor, dict]:
    """One streamed block of a FIR processor whose one-shot output removes ``latency`` samples of delay.

    ``filter_block(tail)`` runs the causal filter on the block, continuing the overlap-add
    ``tail``, and returns ``(audio, new_tail)``. The output before ``latency`` is muted
    (:func:`mute_before_latency`), so the stream equals the one-shot output delayed by ``latency``.
    """
    audio, tail = filter_block(state["tail"])
    audio, position = mute_before_latency(audio, state["position"], latency)
    return audio, {"position": position, "tail": tail}


def stream_phase_oscillator(render, controls: dict[str, torch.Tensor], state: dict, hop_size: int,
                            sample_rate: float) -> tuple[torch.Tensor, dict]:
    """One streamed block of an oscillator driven by frame-rate ``f0_hz`` with a phase state.

    ``render(extended_controls, f0_audio, phase)`` renders the extended frames (the previous
    block's last frame first, ``FrameLookahead``) from ``phase`` with f0 upsampled linearly to
    audio rate. The last hop is dropped (it needs the next frame), the float64 phase advances
    over the samples kept, and the first block starts with one hop of silence.
    """
    extended, continued = FrameLookahead.extend(controls, state)
    f0_audio = upsample(extended["f0_hz"], hop_size, "linear")
    keep = f0_audio.shape[-2] - hop_size
    audio = render(extended, f0_audio, state["phase"])[..., :keep]
    phase = advance_phase(state["phase"], f0_audio[..., :keep, 0], sample_rate)
    if not continued:
        audio = torch.nn.functional.pad(audio, (hop_size, 0))
    return audio, {"phase": phase, "previous": FrameLookahead.carry(controls)}
