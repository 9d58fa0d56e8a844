"""The measurements' registry: ``register`` is all a measurement module calls.

A measurement is taken at its own steps (its *step coordinate* in the results: ``step``,
``pred_step``, ...), by a per-member function that the train loop jits over the members of a
chunk, optionally in blocks of members (memory) and post-processed on the host
(eigendecompositions).  Its functions receive the group's ``Program`` (``scaling.train``):
the config values, the model, the data stream and the per-member functions (``predict_fixed``,
``variables``, ``loss``, ...).  A registration declares its config fields: the switch
``measure.NAME``, its schedule ``measure.NAME_every`` / ``measure.NAME_n_logs`` and its
options; says how its metrics appear in the wandb records (history rows and summary); and
names the report figures drawn from it.  A measurement defined elsewhere (a config file, a
test) registers itself the same way.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from scaling import config
from scaling.config import Field, StepsField, at_least


@dataclasses.dataclass(frozen=True)
class Figure:
    """A report figure: its file name, ``draw(ds) -> matplotlib Figure | None``, its caption and the
    swept axes it shows (besides seeds); the report draws it once per value of every other swept axis."""

    file: str
    draw: Callable
    caption: str
    shows: tuple[str, ...] = ("gamma", "width", "lr")


def _none(*args) -> dict:
    return {}


@dataclasses.dataclass(frozen=True)
class Measurement:
    name: str
    step_coord: str  # its step coordinate in the results
    measure: Callable  # (program, state, member, batch_loss) -> {metric: array}, one member, jitted over members
    dims: Callable  # (program) -> {metric: dims after the step}: the metrics stored (after ``host``)
    steps: Callable  # (program) -> the steps it is taken at, sorted
    switch: str | None = None  # its on/off config field; None: always on
    init: Callable = _none  # (program, state) -> what it adds to a member's state at init
    host: Callable | None = None  # (program, metrics (steps, members, ...)) -> the stored metrics, on the host
    block: Callable | None = None  # (program, n_members) -> members per call; None: all at once
    coords: Callable = _none  # (program) -> {dim: labels} of the dims it names (param, feature)
    check: Callable = _none  # (group values) -> None, raising ConfigError
    history: Callable | None = None  # (point) -> {name: values along step_coord}: rows of a wandb run's history;
    # None: its metrics that are one number per step (records.py)
    summary: Callable = _none  # (point) -> {name: value} of a wandb run's summary
    figures: tuple[Figure, ...] = ()


REGISTRY: dict[str, Measurement] = {}


def log_steps(steps: int, n_logs: int, spacing: str) -> np.ndarray:
    """0, ``steps`` and n_logs points spaced between ("log" or "linear")."""
    if spacing == "log":
        grid = np.logspace(0, math.log10(steps), n_logs - 1) if steps > 1 else np.ones(1)
        points = np.concatenate([[0], np.round(grid)])
    else:
        points = np.round(np.linspace(0, steps, n_logs))
    return np.unique(points.astype(np.int64))


def schedule(steps: int, every, n_logs: int) -> np.ndarray:
    """A measurement's steps: every ``every`` steps and the last, the listed steps, or
    ``n_logs`` log-spaced steps (``every`` None)."""
    if every is None:
        return log_steps(steps, n_logs, "log")
    if isinstance(every, int):
        return np.unique(np.append(np.arange(0, steps + 1, every), steps))
    return np.unique(np.asarray(every, np.int64))


def _scheduled(name: str, always: tuple[int, ...]) -> Callable:
    def steps(program) -> np.ndarray:
        values = program.values
        at = schedule(values["train.steps"], values[f"measure.{name}_every"], values[f"measure.{name}_n_logs"])
        return np.union1d(at, always) if always else at

    return steps


def _check_schedule(name: str, check: Callable) -> Callable:
    def checked(values: dict[str, Any]) -> None:
        path = f"measure.{name}_every"
        if isinstance(values[path], list) and max(values[path]) > values["train.steps"]:
            raise config.ConfigError(path, values[path], f"steps <= train.steps ({values['train.steps']})")
        check(values)

    return checked


def register(name: str, step_coord: str, measure: Callable, dims: Callable, *, n_logs: int | None = None,
             always: tuple[int, ...] = (), steps: Callable | None = None, fields: dict[str, Field] | None = None,
             check: Callable = _none, default: bool = True, **hooks) -> None:
    """Register a measurement.  With ``n_logs`` (the default number of log-spaced steps) it is
    switched and scheduled by the fields it declares, ``measure.NAME`` (on unless ``default`` is False),
    ``measure.NAME_every`` and ``measure.NAME_n_logs``, and also taken at the ``always`` steps;
    otherwise ``steps(program)`` gives its steps and it is always on, or with ``default`` False switched
    by ``measure.NAME`` (off unless set).  ``fields``: its options;
    ``hooks``: the optional ``Measurement`` fields (init, host, block, coords, history, summary, figures)."""
    switch = None
    if n_logs is not None:
        switch, steps, check = f"measure.{name}", _scheduled(name, always), _check_schedule(name, check)
        fields = {switch: Field(bool, default), f"measure.{name}_every": StepsField(),
                  f"measure.{name}_n_logs": Field(int, n_logs, check=at_least(2), rule=">= 2")} | (fields or {})
    elif not default:
        switch = f"measure.{name}"
        fields = {switch: Field(bool, False)} | (fields or {})
    if steps is None:
        raise ValueError(f"measurement {name!r}: give n_logs (a scheduled measurement) or steps(program)")
    config.declare(fields or {})
    REGISTRY[name] = Measurement(name=name, step_coord=step_coord, measure=measure, dims=dims, steps=steps,
                                 switch=switch, check=check, **hooks)


def active(values: dict[str, Any]) -> list[Measurement]:
    """The measurements a group with config ``values`` takes."""
    return [m for m in REGISTRY.values() if m.switch is None or values[m.switch]]


def step_coords() -> dict[str, str]:
    """Each measurement's step coordinate, by its name."""
    return {name: m.step_coord for name, m in REGISTRY.items()}
