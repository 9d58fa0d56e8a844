"""Model registry: each architecture is one file that calls ``register``.

A model is a flax module built from the group's config values, the task's output
dimension, the parameterization and the dtype; its layers are ``layers.Dense`` and
``layers.Conv`` with a role, so ``scaling.parameterization`` alone decides init, forward
multipliers and per-layer learning rates.  Frozen random weights (the random-feature
projection) live in the ``frozen`` collection and are never trained.  Hidden features a
model ``sow``s into ``features`` are what coord checks and feature measurements see.
A registration names the task kinds (``scaling.data.KINDS``) the model takes.  Every
module of this package is imported on first use, so an architecture is one file here;
one defined elsewhere (a config file, a test) registers itself the same way.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable

from flax import linen as nn

from scaling.parameterization import Parameterization


def _no_check(values: dict[str, Any]) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    build: Callable[[dict[str, Any], int, Parameterization], nn.Module]
    n_layers: Callable[[dict[str, Any]], int]  # L of the lr rule: trained weight matrices in series
    inputs: tuple[str, ...] = ("vector", "image")  # task kinds it takes
    check: Callable[[dict[str, Any]], None] = _no_check  # raise ConfigError on bad values


REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, build, n_layers, inputs=("vector", "image"), check=_no_check) -> None:
    """Register an architecture under ``model.arch = name``: ``build(values, out_dim, rules, dtype)``
    returns the flax module, ``n_layers(values)`` the L of the lr rule, ``inputs`` the task
    kinds it takes, ``check(values)`` raises ``ConfigError`` on values it cannot build."""
    REGISTRY[name] = ModelSpec(build=build, n_layers=n_layers, inputs=tuple(inputs), check=check)


def _import_all() -> None:
    """Import every module of this package: each architecture file registers itself, so adding
    one is adding a file."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_all()
