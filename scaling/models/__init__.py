"""Model registry: each architecture is one file that calls ``register``.

A model is a flax module built from the group's config values, the task's output
dimension and the parameterization; its layers are ``layers.Dense`` with a role, so
``scaling.parameterization`` alone decides init, forward multipliers and per-layer
learning rates.  Frozen random weights (the random-feature projection) live in the
``frozen`` collection and are never trained.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from flax import linen as nn

from scaling.parameterization import Parameterization


def _no_check(values: dict[str, Any]) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    build: Callable[[dict[str, Any], int, Parameterization], nn.Module]
    n_layers: Callable[[dict[str, Any]], int]  # L of the lr rule: trained weight matrices in series
    check: Callable[[dict[str, Any]], None] = _no_check  # raise ConfigError on bad values


REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, build, n_layers, check=_no_check) -> None:
    """Register an architecture under ``model.arch = name``."""
    REGISTRY[name] = ModelSpec(build=build, n_layers=n_layers, check=check)


from scaling.models import deep_linear, mlp, rf  # noqa: E402,F401  (they register themselves)
