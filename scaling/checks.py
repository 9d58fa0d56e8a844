"""Validation across fields and registries, in one place: every group of a sweep is checked
before any compute, against its task, its model, its measurements and its theory.

``config`` checks each field alone; here the fields meet the registrations that read them
(``scaling.models``, ``scaling.data``, ``scaling.measure``, ``scaling.theory.curves``, ``scaling.claims``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaling import claims, config, data, measure, models, optim, sweep  # noqa: F401 (claims declares log.claims)
from scaling.errors import ConfigError
from scaling.launch import compile_cache
from scaling.theory import curves


def check_group(values: dict[str, Any]) -> None:
    """Checks that involve several fields, run on every group before any compute."""
    n_train, batch = values["data.n_train"], values["data.batch_size"]
    if batch is None and n_train is None:
        raise ConfigError("data.batch_size", None, "an integer >= 1 when data.n_train is None (None, the full "
                          "batch, needs a training set of data.n_train points)")
    if n_train is not None and batch is not None and batch > n_train:
        raise ConfigError("data.batch_size", batch, f"<= data.n_train ({n_train}), or None (the full batch)")
    optim.check(values)
    check_mixed_precision(values)
    for measurement in measure.active(values):
        measurement.check(values)
    model, task = models.REGISTRY[values["model.arch"]], data.REGISTRY[values["data.task"]]
    task.check(values)
    kind = data.task_kind(values)
    if kind not in model.inputs:
        raise ConfigError("model.arch", values["model.arch"],
                          f"an architecture for {kind} inputs of data.task = {values['data.task']!r}: "
                          + ", ".join(n for n, m in models.REGISTRY.items() if kind in m.inputs))
    model.check(data.with_derived(values), kind)


def check_mixed_precision(values: dict[str, Any]) -> None:
    """``train.dtype = "bfloat16"`` rounds the step's forward and backward to 8 bits of mantissa
    (relative 2^-8 per product); refused where a run is compared with exact linear algebra."""
    if values["train.dtype"] != "bfloat16":
        return
    if values["theory.name"] is not None:  # the overlays' curves match runs to a few percent or better
        raise ConfigError("train.dtype", "bfloat16", f"'float32' or 'float64' with theory.name = {values['theory.name']!r}: "
                          "a theory overlay is compared with the run at float32 tolerances, beyond bfloat16 training's")
    if values["model.arch"] == "rf":  # the model of the linear-algebra theory (THEORY.md section 2), nothing else
        raise ConfigError("train.dtype", "bfloat16", "'float32' or 'float64' with model.arch = 'rf': the random-feature "
                          "model is there to match exact linear algebra, which bfloat16 features Ax would blur")


def check(resolved: config.Resolved) -> config.Resolved:
    """Check the compile cache's directory and every group of a resolved config (and the theory
    it names against the values its members take: a vmapped field zipped with a static one takes
    only its own group's)."""
    compile_cache.check(resolved.values)
    for group in sweep.groups(resolved):
        check_group(group.values)
        if resolved.values["theory.name"] is not None:
            swept = {path: list(dict.fromkeys(m[path] for m in group.members)) for path in group.members[0]}
            curves.check(group.values, swept)
    return resolved


def resolve(source, overrides: dict[str, str] | None = None) -> config.Resolved:
    """A config file path, ConfigDict or dict plus ``--config.*`` overrides -> a validated config:
    each field (``config.resolve``), then every group across fields and registries."""
    if isinstance(source, (str, Path)):
        source = config.load_file(source)
    return check(config.resolve(config.apply_overrides(source, overrides) if overrides else source))
