"""Config schema, defaults, loading, overrides and validation.

Every config field is declared once in ``SCHEMA`` with its type, its default, what
values it allows and whether it is *static* (it changes shapes or the compiled
program, so each value is its own group) or *vmapped* (a scalar that can be a traced
array, so its values become members of one group).  Nothing is guessed: a field that
is not in the schema is an error.  ``SCHEMA`` holds the core fields below, which the
framework itself reads, and the fields each registration declares where it is
registered (``declare``): a model's, a task's, a measurement's, a theory's.  This module
validates each field alone; checks across fields and registries are ``scaling.checks``.

A config file defines ``get_config()`` returning an ``ml_collections.ConfigDict``
with any of the sections below; missing fields take their defaults.  The ``sweep``
section mirrors the config's nesting, each leaf a list of values
(``sweep.model.width = [64, 256]``); axes are crossed unless listed together in
``sweep.zip`` (e.g. ``[["model.width", "optim.lr"]]``).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import importlib.util
import math
from pathlib import Path
from typing import Any, Callable

import ml_collections

from scaling.errors import ConfigError

SECTIONS = ("model", "data", "optim", "train", "measure", "theory", "checkpoint", "launch", "log")
# Fields that change no result: never swept, and not part of a sweep's identity.
NOT_RESULTS = ("checkpoint.", "launch.", "log.")
WANDB_MODES = ("online", "offline", "disabled")


@dataclasses.dataclass(frozen=True)
class Field:
    """One config field: its type, default, allowed values and sweep kind."""

    type: type
    default: Any
    vmapped: bool = False
    optional: bool = False  # None is allowed
    choices: Callable[[], tuple] | tuple | None = None
    check: Callable[[Any], bool] | None = None
    rule: str = ""  # the human-readable form of `check`

    def allowed(self) -> str:
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[self.type]
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self._choices())
        else:
            text = f"{kind}{' ' + self.rule if self.rule else ''}"
        return text + (" or None" if self.optional else "")

    def _choices(self) -> tuple:
        return self.choices() if callable(self.choices) else self.choices

    def coerce(self, path: str, value: Any) -> Any:
        """Return ``value`` as this field's type, or raise ConfigError."""
        if value is None and self.optional:
            return None
        ok_type = (
            isinstance(value, bool) if self.type is bool
            else isinstance(value, (int, float)) and not isinstance(value, bool) if self.type is float
            else isinstance(value, int) and not isinstance(value, bool) if self.type is int
            else isinstance(value, str)
        )
        if not ok_type:
            raise ConfigError(path, value, self.allowed())
        value = self.type(value)
        if self.type is float and not math.isfinite(value):
            raise ConfigError(path, value, self.allowed())
        if self.choices is not None and value not in self._choices():
            raise ConfigError(path, value, self.allowed())
        if self.check is not None and not self.check(value):
            raise ConfigError(path, value, self.allowed())
        return value


class StepsField(Field):
    """A measurement's schedule: every k steps (an int k >= 1), the listed steps (a list of
    ints >= 0), or None for ``n_logs`` log-spaced steps from the field named alongside."""

    def __init__(self):
        super().__init__(type=int, default=None, optional=True)

    def allowed(self) -> str:
        return "an integer >= 1 (every k steps), a non-empty list of steps >= 0, or None (log-spaced)"

    def coerce(self, path: str, value: Any) -> Any:
        is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
        if value is None or (is_int(value) and value >= 1):
            return value
        if isinstance(value, (list, tuple)) and value and all(is_int(v) and v >= 0 for v in value):
            return sorted(set(value))
        raise ConfigError(path, value, self.allowed())


class ClassesField(Field):
    """A subset of class labels: a list of two or more distinct integers >= 0, or None (all)."""

    def __init__(self):
        super().__init__(type=int, default=None, optional=True)

    def allowed(self) -> str:
        return "a list of two or more distinct labels >= 0, or None (every class)"

    def coerce(self, path: str, value: Any) -> Any:
        is_label = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
        if value is None:
            return None
        if (isinstance(value, (list, tuple)) and len(value) >= 2 and all(is_label(v) for v in value)
                and len(set(value)) == len(value)):
            return list(value)
        raise ConfigError(path, value, self.allowed())


class StringsField(Field):
    """A list of strings (e.g. wandb tags), each one of ``choices`` when given."""

    def __init__(self, choices: Callable[[], tuple] | None = None):
        super().__init__(type=str, default=(), choices=choices)

    def allowed(self) -> str:
        return "a list of strings" + (f", each one of {', '.join(map(repr, self._choices()))}" if self.choices else "")

    def coerce(self, path: str, value: Any) -> Any:
        if (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
                and (self.choices is None or set(value) <= set(self._choices()))):
            return list(value)
        raise ConfigError(path, value, self.allowed())


def positive(x):
    return x > 0


def nonneg(x):
    return x >= 0


def at_least(n):
    return lambda x: x >= n


def unit(x):
    return 0 <= x < 1


# The core fields: what the framework itself reads (the sweep, parameterization, optimizer,
# train loop, checkpoints, launchers and logging).  Registrations add their own (``declare``).
SCHEMA: dict[str, Field] = {
    # model: what every architecture is built from; the rest is each architecture's (scaling/models/)
    "model.width": Field(int, 128, check=at_least(1), rule=">= 1"),
    "model.depth": Field(int, 3, check=at_least(1), rule=">= 1 (number of weight matrices)"),
    "model.param": Field(str, "mup", choices=("sp", "ntk", "mup")),
    "model.gamma": Field(float, 1.0, vmapped=True, check=positive, rule="> 0"),
    "model.center": Field(bool, True),
    "model.init_scale": Field(float, 1.0, vmapped=True, check=positive, rule="> 0"),
    # data: what every task's stream is made of; the rest is each task's (scaling/data/)
    "data.batch_size": Field(int, 64, optional=True, check=at_least(1),
                             rule=">= 1 (None = the full batch: all data.n_train points at every step)"),
    "data.n_train": Field(int, None, optional=True, check=at_least(1), rule=">= 1 (None = online)"),
    "data.n_test": Field(int, 1000, check=at_least(1), rule=">= 1"),
    "data.n_probe": Field(int, 64, check=at_least(1), rule=">= 1"),
    "data.seed": Field(int, 0, vmapped=True, check=nonneg, rule=">= 0"),
    "data.task_seed": Field(int, 0, check=nonneg, rule=">= 0"),
    "data.noise": Field(float, 0.0, vmapped=True, check=nonneg, rule=">= 0 (label-noise variance)"),
    # optim
    "optim.name": Field(str, "sgd", choices=("sgd", "adam", "adam_atan2", "lion")),
    "optim.lr": Field(float, 0.1, vmapped=True, check=positive, rule="> 0"),
    "optim.lr_rule": Field(str, "none", choices=("none", "gamma")),
    "optim.schedule": Field(str, "constant", choices=("constant", "cosine", "linear", "wsd")),
    "optim.warmup_steps": Field(int, 0, check=nonneg, rule=">= 0 (linear warmup from 0 to the lr)"),
    "optim.horizon": Field(int, None, optional=True, check=at_least(1),
                           rule=">= 1 (the step at which the schedule reaches its end; None = train.steps)"),
    "optim.decay_steps": Field(int, None, optional=True, check=at_least(1),
                               rule=">= 1 (wsd: the length of the final decay; None = a fifth of the horizon)"),
    "optim.final_lr": Field(float, 0.0, check=lambda x: 0 <= x <= 1,
                            rule="in [0, 1] (the lr at the horizon, a fraction of the peak)"),
    "optim.momentum": Field(float, 0.0, vmapped=True, check=unit, rule="in [0, 1)"),
    "optim.weight_decay": Field(float, 0.0, vmapped=True, check=nonneg, rule=">= 0"),
    "optim.weight_decay_rule": Field(str, "coupled", choices=("coupled", "independent")),
    "optim.b1": Field(float, 0.9, vmapped=True, check=unit, rule="in [0, 1)"),
    "optim.b2": Field(float, 0.999, vmapped=True, check=unit, rule="in [0, 1)"),
    "optim.eps": Field(float, 1e-8, vmapped=True, check=positive, rule="> 0"),
    # train
    "train.steps": Field(int, 1000, check=at_least(1), rule=">= 1"),
    "train.seed": Field(int, 0, vmapped=True, check=nonneg, rule=">= 0"),
    "train.loss": Field(str, "mse", choices=("mse", "xent")),
    # bfloat16: mixed precision, the state in float32 and the step's forward and backward in bfloat16
    "train.dtype": Field(str, "float32", choices=("float32", "float64", "bfloat16")),
    "train.max_members": Field(int, None, optional=True, check=at_least(1), rule=">= 1 (None = automatic)"),
    "train.n_logs": Field(int, 30, check=at_least(2), rule=">= 2"),
    "train.log_spacing": Field(str, "log", choices=("log", "linear")),
    "train.max_loss": Field(float, 1e4, check=positive, rule="> 0 (a member whose loss passes it diverged)"),
    "train.segments": Field(int, 10, check=at_least(1), rule=">= 1 (progress stops per chunk, besides the measurements' steps)"),
    "train.stop_loss": Field(float, None, optional=True, check=positive,
                             rule="> 0 (a member whose batch loss falls below it stops training, its step stored "
                                  "in stopped_step; None = never)"),
    # checkpoint: when a group in training saves its state (scaling/checkpoint.py) and when a
    # claim on a group is stale (scaling/launch/lock.py); like log, never swept and not part of a
    # sweep's identity (a group's numbers are the same whatever its checkpoints)
    "checkpoint.every_steps": Field(int, None, optional=True, check=at_least(1), rule=">= 1 (steps between checkpoints)"),
    "checkpoint.every_seconds": Field(float, 300.0, optional=True, check=positive, rule="> 0 (seconds between checkpoints)"),
    "checkpoint.keep": Field(int, 2, check=at_least(1), rule=">= 1 (checkpoints kept per group)"),
    "checkpoint.stale_lock_s": Field(float, 600.0, check=positive,
                                     rule="> 0 (seconds without a heartbeat after which a claim on a group is stale)"),
    # launch: where groups run (scaling/launch/devices.py, scaling/launch/slurm.py); like log, never
    # swept and not part of a sweep's identity
    "launch.devices": Field(int, None, optional=True, check=at_least(1),
                            rule=">= 1 (devices a group is sharded over; None = every device)"),
    "launch.shard": Field(str, "members", choices=("members", "width")),  # what is split over the devices
    # JAX's persistent compilation cache (scaling/launch/compile_cache.py): a rerun compiles nothing
    "launch.compile_cache": Field(bool, True),
    "launch.compile_cache_dir": Field(str, None, optional=True, check=lambda path: path.strip() != "",
                                      rule="naming a directory (None: $SCALING_CACHE_DIR, else "
                                           "$XDG_CACHE_HOME/scaling/jax, else ~/.cache/scaling/jax)"),
    "launch.slurm.partition": Field(str, None, optional=True),  # None: the cluster's default partition
    "launch.slurm.time_min": Field(int, 60, check=at_least(1), rule=">= 1 (minutes per task before it is requeued)"),
    "launch.slurm.gpus_per_task": Field(int, 0, check=nonneg, rule=">= 0"),
    "launch.slurm.cpus_per_task": Field(int, 1, check=at_least(1), rule=">= 1"),
    "launch.slurm.mem_gb": Field(float, None, optional=True, check=positive, rule="> 0 (None: the partition's default)"),
    "launch.slurm.array_parallelism": Field(int, 64, check=at_least(1), rule=">= 1 (array tasks running at once)"),
    "launch.slurm.groups_per_task": Field(int, 1, check=at_least(1), rule=">= 1 (groups one array task runs)"),
    "launch.slurm.nodes": Field(int, 1, check=at_least(1),
                                rule=">= 1 (hosts per task, one process each, joined by jax.distributed)"),
    # log
    "log.progress": Field(bool, True),
    "log.report": Field(bool, True),  # draw `scaling report` at the end of a sweep
    "log.wandb.mode": Field(str, None, optional=True, choices=WANDB_MODES),  # None: $WANDB_MODE, else disabled
    "log.wandb.project": Field(str, "scaling"),
    "log.wandb.entity": Field(str, None, optional=True),
    "log.wandb.group": Field(str, None, optional=True),  # None: the sweep directory's name
    "log.wandb.tags": StringsField(),
    "log.wandb.notes": Field(str, None, optional=True),
    "log.wandb.max_runs": Field(int, 256, check=at_least(1), rule=">= 1 (more points: one run per group, with tables)"),
    "log.wandb.timeout": Field(float, 120.0, check=positive, rule="> 0 (seconds wandb may take to finish a sweep's logging)"),
}


def declare(fields: dict[str, Field]) -> None:
    """Add a registration's fields to ``SCHEMA``.  A field several registrations share (a
    model's activation, a task's spectral decay) is one ``Field`` object that each declares."""
    for path, field in fields.items():
        if path.split(".")[0] not in SECTIONS or path.count(".") < 1:
            raise ValueError(f"config field {path!r}: its path must start with a section, one of {SECTIONS}")
        known = SCHEMA.setdefault(path, field)
        if known is not field and known != field:
            raise ValueError(f"config field {path!r} is declared twice, differently: {known} and {field}")


def leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """``{"model.width": 64, "log.wandb.mode": None}`` -> ``{"model": {"width": 64}, "log": {"wandb": {...}}}``."""
    tree: dict[str, Any] = {}
    for path, value in values.items():
        *sections, name = path.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    return tree


def defaults() -> ml_collections.ConfigDict:
    """The full default config, with an empty sweep."""
    return ml_collections.ConfigDict(nest({path: field.default for path, field in SCHEMA.items()}) | {"sweep": {}})


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _as_list(path: str, values: Any) -> list:
    if isinstance(values, (list, tuple)) and len(values) > 0:
        return list(values)
    raise ConfigError(path, values, "a non-empty list of values")


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A validated config: base values for every field plus the sweep axes.

    ``axes`` is a list of (fields, points): ``fields`` a tuple of field paths swept
    together, ``points`` a list of value tuples, one per point of that axis.
    """

    values: dict[str, Any]
    axes: list[tuple[tuple[str, ...], list[tuple]]]

    def to_json(self) -> dict:
        return {
            "values": self.values,
            "axes": [{"fields": list(f), "points": [list(p) for p in pts]} for f, pts in self.axes],
        }

    @classmethod
    def from_json(cls, blob: dict) -> Resolved:
        return cls(
            values={path: field.default for path, field in SCHEMA.items()} | blob["values"],  # fields added since: defaults
            axes=[(tuple(a["fields"]), [tuple(p) for p in a["points"]]) for a in blob["axes"]],
        )


def resolve(config: ml_collections.ConfigDict | dict) -> Resolved:
    """Validate a user config against the schema, each field alone, and expand its sweep axes;
    raise ConfigError on the first problem.  ``scaling.checks.resolve`` also checks every
    group across fields and registries."""
    tree = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else copy.deepcopy(dict(config))
    sweep = tree.pop("sweep", {}) or {}
    if not isinstance(sweep, dict):
        raise ConfigError("sweep", sweep, "a section mirroring the config, each leaf a list of values")
    values = {path: field.default for path, field in SCHEMA.items()}
    for section, body in tree.items():
        if section not in SECTIONS:
            raise ConfigError(section, body, "a config section: " + ", ".join(SECTIONS + ("sweep",)))
        if not isinstance(body, dict):
            raise ConfigError(section, body, "a section of fields")
    for path, value in _flatten(tree).items():
        if path not in SCHEMA:
            raise ConfigError(path, value, _unknown_field(path))
        values[path] = SCHEMA[path].coerce(path, value)

    zipped = [list(group) for group in _as_list("sweep.zip", sweep.pop("zip"))] if "zip" in sweep else []
    swept: dict[str, list] = {}
    for path, vals in _flatten(sweep).items():
        if path not in SCHEMA:
            raise ConfigError("sweep." + path, vals, _unknown_field(path))
        if path.startswith(NOT_RESULTS + ("theory.",)):
            raise ConfigError("sweep." + path, vals,
                              "a model, data, optim, train or measure field (theory, checkpoint, launch and log fields are not swept)")
        swept[path] = [SCHEMA[path].coerce(f"sweep.{path}", v) for v in _as_list("sweep." + path, vals)]

    axes, used = [], set()
    for group in zipped:
        if len(group) < 2 or any(p not in swept or p in used for p in group):
            raise ConfigError("sweep.zip", group, "lists of two or more swept fields, each in one list")
        lengths = {len(swept[p]) for p in group}
        if len(lengths) != 1:
            raise ConfigError("sweep.zip", group, "fields whose value lists have equal lengths")
        used.update(group)
        axes.append((tuple(group), list(zip(*(swept[p] for p in group)))))
    for path, vals in swept.items():
        if path not in used:
            if any(vals.count(v) > 1 for v in vals):
                raise ConfigError("sweep." + path, vals, "a list without repeated values")
            axes.append(((path,), [(v,) for v in vals]))
    return Resolved(values=values, axes=axes)


def changes(old: Resolved, new: Resolved) -> list[str]:
    """How ``new`` differs from ``old`` in what results depend on, one line per field: the
    ``NOT_RESULTS`` fields and values added to a sweep axis are not changes (an extended sweep
    keeps every result of the old one).  Empty: ``new`` may run in ``old``'s directory."""
    old_axes, new_axes = dict(old.axes), dict(new.axes)
    swept = {path for fields in [*old_axes, *new_axes] for path in fields}
    out = []
    for path in SCHEMA:
        if not path.startswith(NOT_RESULTS) and path not in swept and old.values[path] != new.values[path]:
            out.append(f"{path}: {old.values[path]!r} there, {new.values[path]!r} here")
    for fields in [*old_axes, *(f for f in new_axes if f not in old_axes)]:
        name, before, after = "sweep." + "+".join(fields), old_axes.get(fields), new_axes.get(fields)
        shown = lambda points: [p[0] if len(p) == 1 else list(p) for p in points]  # noqa: E731
        if after is None:
            out.append(f"{name}: {shown(before)} there, not swept here")
        elif before is None:
            out.append(f"{name}: not swept there, {shown(after)} here")
        elif not set(before) <= set(after):
            out.append(f"{name}: {shown(before)} there, {shown(after)} here (without "
                       f"{shown([p for p in before if p not in after])})")
    return out


def _unknown_field(path: str) -> str:
    section = path.split(".")[0]
    names = [p for p in SCHEMA if p.startswith(section + ".")] or list(SCHEMA)
    close = difflib.get_close_matches(path, list(SCHEMA), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"no such field{hint}; known fields: " + ", ".join(names)


# ---------------------------------------------------------------- loading
def load_file(path: str | Path) -> ml_collections.ConfigDict:
    """Import a config file and call its ``get_config()``; ``FILE:ARG`` calls ``get_config("ARG")``
    (ml_collections' convention: a paper config's ``FILE:full`` for the paper's sizes)."""
    path, arg = Path(path), None
    if not path.is_file() and ":" in path.name:
        name, arg = path.name.rsplit(":", 1)
        path = path.with_name(name)
    if not path.is_file():
        raise ConfigError("config", str(path), "a path to a Python config file defining get_config() (FILE or FILE:ARG)")
    spec = importlib.util.spec_from_file_location(f"scaling_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        config = module.get_config() if arg is None else module.get_config(arg)
    except Exception as error:  # the user's file: report it as a config error, not a traceback
        raise ConfigError("config", str(path), f"a file whose get_config() runs ({type(error).__name__}: {error})")
    if not isinstance(config, (ml_collections.ConfigDict, dict)):
        raise ConfigError("config", str(path), "a get_config() that returns an ml_collections.ConfigDict")
    return config


def parse_value(text: str) -> Any:
    """Parse an override value: a Python literal ('512', '[0.1, 1]', 'None') or a bare string."""
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(config: ml_collections.ConfigDict | dict, overrides: dict[str, str]) -> dict:
    """Apply ``{"model.width": "512", "sweep.optim.lr": "[0.1, 1]"}`` to a config; return a plain dict."""
    tree = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else copy.deepcopy(dict(config))
    for path, text in overrides.items():
        node, parts = tree, path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(path, text, "a path to a config field")
        node[parts[-1]] = parse_value(text)
    return tree


# ---------------------------------------------------------------- documentation
SECTION_NOTES = {"theory": "not swept", **{prefix.rstrip("."): "not swept; changing them reruns nothing"
                                           for prefix in NOT_RESULTS}}


def fields_table() -> str:
    """The README's table of every field in ``SCHEMA`` (core and registered), by section: its
    static and its vmapped fields, with the values a field of choices allows."""
    def shown(path: str, field: Field) -> str:
        name = f"`{path.split('.', 1)[1]}`"
        if field.choices is None:
            return name
        return f"{name} ({', '.join(map(str, ([None] if field.optional else []) + list(field._choices())))})"

    rows = ["| section | static fields | vmapped fields |", "|---|---|---|"]
    for section in SECTIONS:
        fields = {path: field for path, field in SCHEMA.items() if path.split(".")[0] == section}
        static = ", ".join(shown(p, f) for p, f in fields.items() if not f.vmapped)
        note = f" ({SECTION_NOTES[section]})" if section in SECTION_NOTES else ""
        rows.append(f"| `{section}` | {static}{note} | {', '.join(shown(p, f) for p, f in fields.items() if f.vmapped)} |")
    return "\n".join(rows)
