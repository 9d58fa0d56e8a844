"""Deep linear network (THEORY.md section 8): an MLP with identity activations and no biases.

Small initialization, the regime of silent alignment, is ``model.init_scale`` (a
vmapped multiplier of every initial weight).
"""

from __future__ import annotations

from typing import Any

from scaling.models import mlp
from scaling.models.registry import register


def build(values: dict[str, Any], out_dim: int, rules, dtype):
    return mlp.build({**values, "model.activation": "linear", "model.bias": False}, out_dim, rules, dtype)


register("deep_linear", build=build, n_layers=lambda values: values["model.depth"])
