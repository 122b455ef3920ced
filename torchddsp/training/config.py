"""Run configuration: layered TOML files naming a task, with ``[model]``, ``[train]`` and ``[losses]`` tables.

``task = "autoencoder"`` (the default) picks the task (``tasks/``), which reads the ``[model]``
table; ``[train]`` holds the loop's settings (``TrainConfig``); ``[losses.NAME]`` tables list the
weighted loss terms (``losses.py``). Configs written before the ``[losses]`` table, with per-loss
``[train]`` fields (``n_ffts``, ``loss_eps``, ``loss_log_eps``, ``loudness_*``), still load: the
fields are converted to the table, with a one-line ``FutureWarning`` saying so.

A config is a path to a TOML file or the name of one shipped in ``torchddsp/configs/`` (``small``,
``small_44k``, ``engel2020_solo_instrument``; :func:`config_names` lists them). Shipped configs are
read through ``importlib.resources``, so they work from an installed wheel as from a checkout.

Layers: a top-level ``include = "base"`` names another config (a shipped name, or a TOML path
relative to the including file) whose tables are read first; the including file's values then
override them key by key, tables merging recursively (DAC's and gin's composable configs do the
same). ``small_44k`` is ``small`` plus the few values that differ.

Overrides are ``section.key=value`` strings (``train.steps=200``, ``model.hidden=256``,
``losses.loudness_l1.weight=0.05``) applied last; the value is parsed as TOML (numbers, booleans, arrays, quoted strings) or taken as a bare string.
"""

from __future__ import annotations

import copy
import math
import sys
import warnings
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from torchddsp.checks import check_positive, check_positive_int, dataclass_from_dict
from torchddsp.training.losses import check_loss_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_PACKAGE = "torchddsp.configs"


@dataclass
class TrainConfig:
    """The ``[train]`` table: the loop's settings, the same for every task."""

    steps: int = 30000
    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_decay_rate: float = 0.98
    lr_decay_steps: int = 10000
    crop_seconds: float = 4.0
    average_decay: float = 0.0          # > 0: keep a moving average of the weights for inference (averaging.py)
    grad_clip: float = 3.0              # the gradient norm of each module is clipped to this
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
        for name in ("learning_rate", "lr_decay_rate", "crop_seconds", "grad_clip"):
            check_positive(f"train.{name}", getattr(self, name))
        if not isinstance(self.average_decay, (int, float)) or not 0 <= self.average_decay < 1:
            raise ValueError(f"train.average_decay: expected a number in [0, 1) (0: no average), "
                             f"received {self.average_decay!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2 ** 63:
            raise ValueError(f"train.seed: expected an integer in [0, 2**63), received {self.seed!r}")
        if (not isinstance(self.time_limit_seconds, (int, float)) or isinstance(self.time_limit_seconds, bool)
                or not math.isfinite(self.time_limit_seconds) or self.time_limit_seconds < 0):
            raise ValueError(f"train.time_limit_seconds: expected a finite number >= 0 (0: no limit), "
                             f"received {self.time_limit_seconds!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        return dataclass_from_dict(cls, values, "train config")


# Per-loss [train] fields of torchddsp before the [losses] table, and where each went.
LEGACY_LOSS_FIELDS = {"n_ffts": ("multi_resolution_stft", "n_ffts"), "loss_eps": ("multi_resolution_stft", "eps"),
                      "loss_log_eps": ("multi_resolution_stft", "log_eps"),
                      "loudness_weight": ("loudness_l1", "weight"), "loudness_n_fft": ("loudness_l1", "n_fft"),
                      "loudness_hop": ("loudness_l1", "hop_size")}


def convert_legacy_losses(train: dict) -> tuple[dict, dict]:
    """``(train table, [losses] table)`` from a ``[train]`` table with the old per-loss fields.

    The spectral loss keeps its weight of 1; the loudness term exists when ``loudness_weight`` > 0,
    and its 0 ("the default") window and hop are left to the loss's defaults, as before.
    """
    train = dict(train)
    old = {key: train.pop(key) for key in LEGACY_LOSS_FIELDS if key in train}
    losses: dict = {"multi_resolution_stft": {"weight": 1.0}}
    if old.get("loudness_weight", 0):
        losses["loudness_l1"] = {}
    for key, value in old.items():
        name, option = LEGACY_LOSS_FIELDS[key]
        if name in losses and not (key in ("loudness_n_fft", "loudness_hop") and value == 0):
            losses[name][option] = value
    return train, losses


@dataclass
class RunConfig:
    """A whole run: the task's name, its ``[model]`` table, the loop's ``[train]`` table and the ``[losses]`` terms."""

    task: str
    model: object
    train: TrainConfig
    losses: dict

    def to_dict(self) -> dict:
        return {"task": self.task, "model": asdict(self.model), "train": asdict(self.train),
                "losses": copy.deepcopy(self.losses)}

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Build and check a config; old per-loss ``[train]`` fields become a ``[losses]`` table (with a notice)."""
        from torchddsp.training.tasks import get_task

        unknown = sorted(set(values) - {"task", "model", "train", "losses"})
        if unknown:
            raise ValueError(f"config: unknown sections {unknown}; expected task, [model], [train] and [losses]")
        task = get_task(values.get("task", "autoencoder"))
        train, losses = values.get("train", {}), values.get("losses", {})
        legacy = sorted(set(train) & set(LEGACY_LOSS_FIELDS))
        if legacy:
            if losses:
                raise ValueError(f"config: train.{', train.'.join(legacy)} are the old per-loss fields; with a "
                                 "[losses] table, move them into it")
            train, losses = convert_legacy_losses(train)
            warnings.warn(f"config: old per-loss fields train.{', train.'.join(legacy)} read as the loss table "
                          f"{losses} (write [losses.NAME] tables instead; see docs/training.md)", FutureWarning,
                          stacklevel=2)
        losses = check_loss_table(copy.deepcopy(losses or task.default_losses))
        return cls(task.name, task.model_config.from_dict(values.get("model", {})), TrainConfig.from_dict(train),
                   losses)


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
    """Read a config (a TOML path or a shipped name such as ``small``), resolve its includes, apply overrides.

    An override is ``task=NAME`` or ``SECTION.KEY=VALUE`` with section ``model``, ``train`` or
    ``losses`` (``losses.NAME.OPTION=VALUE``, e.g. ``losses.loudness_l1.weight=0.05``).
    """
    values: dict = {}
    if path is not None:
        values = read_layered(path)
    for item in overrides:
        key, sep, text = item.partition("=")
        keys = key.strip().split(".")
        depth = {"task": 1, "model": 2, "train": 2, "losses": 3}.get(keys[0])
        if not sep or len(keys) != depth or not all(keys):
            raise ValueError(f"--set: expected task=NAME, model.KEY=VALUE, train.KEY=VALUE or "
                             f"losses.NAME.OPTION=VALUE, received {item!r}")
        table = values
        for name in keys[:-1]:
            table = table.setdefault(name, {})
        table[keys[-1]] = _parse_value(text.strip())
    return RunConfig.from_dict(values)
