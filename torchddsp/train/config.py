"""Run configuration: a TOML file with ``[model]`` and ``[train]`` tables, plus overrides.

Overrides are ``section.key=value`` strings (``train.steps=200``, ``model.hidden=256``); the
value is parsed as TOML (numbers, booleans, arrays, quoted strings) or taken as a bare string.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._checks import check_nonnegative, check_nonnegative_int, check_positive, check_positive_int, dataclass_from_dict
from ..models import ModelConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass
class TrainConfig:
    steps: int = 30000
    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_decay_rate: float = 0.98
    lr_decay_steps: int = 10000
    crop_seconds: float = 4.0
    n_ffts: list = field(default_factory=lambda: [2048, 1024, 512, 256, 128, 64])
    loss_eps: float = 1e-8              # power floor of the spectral loss (magnitudes floored at its root)
    loss_log_eps: float = 0.0           # offset inside the log of the log-magnitude term
    loudness_weight: float = 0.0        # > 0: add this times the loudness L1 in dB (losses/loudness.py) to the loss
    loudness_n_fft: int = 0             # its window in samples (0: the loudness feature's, 128 ms)
    loudness_hop: int = 0               # its hop in samples (0: the model's hop)
    average_decay: float = 0.0          # > 0: keep a moving average of the weights for inference (train/averaging.py)
    grad_clip: float = 3.0
    checkpoint_every: int = 500
    log_every: int = 25
    audio_every: int = 1000
    seed: int = 0
    threads: int = 2
    time_limit_seconds: float = 0.0     # > 0: stop (and checkpoint) once training has run this long

    def __post_init__(self):
        for name in ("steps", "batch_size", "lr_decay_steps", "checkpoint_every", "log_every", "audio_every",
                     "threads"):
            check_positive_int(f"train.{name}", getattr(self, name))
        for name in ("learning_rate", "lr_decay_rate", "crop_seconds", "grad_clip", "loss_eps"):
            check_positive(f"train.{name}", getattr(self, name))
        check_nonnegative("train.loss_log_eps", self.loss_log_eps)
        check_nonnegative("train.loudness_weight", self.loudness_weight)
        for name in ("loudness_n_fft", "loudness_hop"):
            check_nonnegative_int(f"train.{name}", getattr(self, name))
        if not isinstance(self.average_decay, (int, float)) or not 0 <= self.average_decay < 1:
            raise ValueError(f"train.average_decay: expected a number in [0, 1) (0: no average), "
                             f"received {self.average_decay!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"train.seed: expected an integer, received {self.seed!r}")
        if not isinstance(self.time_limit_seconds, (int, float)) or self.time_limit_seconds < 0:
            raise ValueError(f"train.time_limit_seconds: expected a number >= 0 (0: no limit), "
                             f"received {self.time_limit_seconds!r}")
        if not self.n_ffts or not all(isinstance(n, int) and n >= 2 for n in self.n_ffts):
            raise ValueError(f"train.n_ffts: expected a list of FFT sizes >= 2, received {self.n_ffts!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        return dataclass_from_dict(cls, values, "train config")


@dataclass
class RunConfig:
    model: ModelConfig
    train: TrainConfig

    def to_dict(self) -> dict:
        return {"model": asdict(self.model), "train": asdict(self.train)}

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        unknown = sorted(set(values) - {"model", "train"})
        if unknown:
            raise ValueError(f"config: unknown sections {unknown}; expected [model] and [train]")
        return cls(ModelConfig.from_dict(values.get("model", {})), TrainConfig.from_dict(values.get("train", {})))


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> RunConfig:
    """Read a TOML config (a path, or a name in ``configs/`` such as ``small``) and apply overrides."""
    values: dict = {"model": {}, "train": {}}
    if path is not None:
        candidate = Path(path)
        if not candidate.exists() and (CONFIG_DIR / f"{path}.toml").exists():
            candidate = CONFIG_DIR / f"{path}.toml"
        if not candidate.exists():
            names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
            raise ValueError(f"config: expected a TOML file or one of {names}, received {str(path)!r}")
        loaded = tomllib.loads(candidate.read_text())
        for section, table in loaded.items():
            values.setdefault(section, {}).update(table)
    for item in overrides:
        key, sep, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or section not in ("model", "train"):
            raise ValueError(f"--set: expected section.key=value with section model or train, received {item!r}")
        values[section][name] = _parse_value(text.strip())
    return RunConfig.from_dict(values)
