"""The architectures' registry: ``register`` is all an architecture file calls.

A model is a flax module built from the group's config values, the task's output
dimension, the parameterization and the dtype; its layers are ``layers.Dense`` and
``layers.Conv`` with a role, so ``scaling.parameterization`` alone decides init, forward
multipliers and per-layer learning rates.  Frozen random weights (the random-feature
projection) live in the ``frozen`` collection and are never trained.  Hidden features a
model ``sow``s into ``features`` are what coord checks and feature measurements see.
A registration names the task kinds (``scaling.data.KINDS``) the model takes and declares
the config fields only it (or it and a few others) reads.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from flax import linen as nn

from scaling import config
from scaling.parameterization import Parameterization


def _no_check(values: dict[str, Any], kind: str) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    build: Callable[[dict[str, Any], int, Parameterization, Any], nn.Module]
    n_layers: Callable[[dict[str, Any]], int]  # L of the lr rule: trained weight matrices in series
    inputs: tuple[str, ...] = ("vector", "image")  # task kinds it takes
    check: Callable[[dict[str, Any], str], None] = _no_check  # (values, task kind): raise ConfigError on bad values


REGISTRY: dict[str, ModelSpec] = {}
config.declare({"model.arch": config.Field(str, "mlp", choices=lambda: tuple(sorted(REGISTRY)))})


def register(name: str, build, n_layers, inputs=("vector", "image"), check=_no_check,
             fields: dict[str, config.Field] | None = None) -> None:
    """Register an architecture under ``model.arch = name``: ``build(values, out_dim, rules, dtype)``
    returns the flax module, ``n_layers(values)`` the L of the lr rule, ``inputs`` the task
    kinds it takes, ``check(values, kind)`` raises ``ConfigError`` on values it cannot build
    (``kind``: the task's); ``fields``: the config fields it reads beyond the core ones."""
    config.declare(fields or {})
    REGISTRY[name] = ModelSpec(build=build, n_layers=n_layers, inputs=tuple(inputs), check=check)


def n_layers(values: dict[str, Any]) -> int:
    """The L of the lr rule (THEORY.md section 4) of the config's architecture."""
    return REGISTRY[values["model.arch"]].n_layers(values)
