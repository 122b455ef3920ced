"""Run configuration: layered TOML files with ``[model]`` and ``[train]`` tables, plus overrides.

A config is a path to a TOML file or the name of one shipped in ``torchddsp/configs/`` (``small``,
``small_44k``, ``engel2020_solo_instrument``; :func:`config_names` lists them). Shipped configs are
read through ``importlib.resources``, so they work from an installed wheel as from a checkout.

Layers: a top-level ``include = "base"`` names another config (a shipped name, or a TOML path
relative to the including file) whose tables are read first; the including file's values then
override them key by key, tables merging recursively (DAC's and gin's composable configs do the
same). ``small_44k`` is ``small`` plus the few values that differ.

Overrides are ``section.key=value`` strings (``train.steps=200``, ``model.hidden=256``) applied last;
the value is parsed as TOML (numbers, booleans, arrays, quoted strings) or taken as a bare string.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from .._checks import check_nonnegative, check_nonnegative_int, check_positive, check_positive_int, dataclass_from_dict
from ..models import ModelConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_PACKAGE = "torchddsp.configs"


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


def config_names() -> list[str]:
    """Names of the configs shipped in the package, e.g. ``["engel2020_solo_instrument", "small", ...]``."""
    return sorted(entry.name[:-len(".toml")] for entry in resources.files(CONFIG_PACKAGE).iterdir()
                  if entry.name.endswith(".toml"))


def _locate(source: str | Path, folder: Path | None) -> tuple[str, str, Path | None]:
    """``(identity, text, folder for its includes)`` of config ``source``.

    ``folder``: where a path in ``source`` is relative to (the working directory for the config
    named on the command line, the including file's folder for an include), or ``None`` when only
    shipped names are allowed (includes inside a shipped config). A path that exists wins over a
    shipped name.
    """
    if folder is not None and (folder / source).is_file():
        path = (folder / source).resolve()
        return str(path), path.read_text(), path.parent
    resource = resources.files(CONFIG_PACKAGE) / f"{source}.toml"
    if isinstance(source, str) and resource.is_file():
        return f"{CONFIG_PACKAGE}:{source}", resource.read_text(), None
    raise ValueError(f"config: expected a TOML file or one of {config_names()}, received {str(source)!r}")


def _merge(base: dict, top: dict) -> dict:
    """``top`` over ``base``: tables merge recursively, any other value replaces the base's."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_layered(source: str | Path, folder: Path | None = Path("."), chain: tuple[str, ...] = ()) -> dict:
    """The tables of config ``source`` with its ``include`` chain resolved (see the module docstring).

    ``folder`` and ``chain`` are for the recursion: where ``source`` is looked for (see ``_locate``)
    and the configs that include it, outermost first (to report cycles).
    """
    identity, text, own_folder = _locate(source, folder)
    if identity in chain:
        raise ValueError(f"config: include cycle {' -> '.join(chain + (identity,))}")
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"config: {identity} is not valid TOML ({error})") from None
    include = values.pop("include", None)
    if include is None:
        return values
    if not isinstance(include, str):
        raise ValueError(f"config: {identity}: include: expected a config name or TOML path as a string, "
                         f"received {include!r}")
    return _merge(read_layered(include, own_folder, chain + (identity,)), values)


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> RunConfig:
    """Read a config (a TOML path or a shipped name such as ``small``), resolve its includes, apply overrides."""
    values: dict = {"model": {}, "train": {}}
    if path is not None:
        values = _merge(values, read_layered(path))
    for item in overrides:
        key, sep, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or section not in ("model", "train"):
            raise ValueError(f"--set: expected section.key=value with section model or train, received {item!r}")
        values[section][name] = _parse_value(text.strip())
    return RunConfig.from_dict(values)
