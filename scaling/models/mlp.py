"""Multilayer perceptron: ``model.depth`` weight matrices of width ``model.width``."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from scaling.models import layers
from scaling.models.layers import ACTIVATIONS, Dense
from scaling.models.registry import register
from scaling.parameterization import Parameterization


class MLP(nn.Module):
    width: int
    depth: int  # number of weight matrices; depth = 1 is a linear readout of the inputs
    out_dim: int
    rules: Parameterization
    activation: str = "relu"
    bias: bool = False
    dtype: Any = jnp.float32
    param_dtype: Any = None  # the layers' (layers.Dense): None = dtype

    @nn.compact
    def __call__(self, x):
        h = x.reshape(x.shape[0], -1)
        act = ACTIVATIONS[self.activation]
        for layer in range(self.depth - 1):
            role = "input" if layer == 0 else "hidden"
            h = act(Dense(self.width, role, self.rules, self.bias, self.dtype, param_dtype=self.param_dtype,
                           name=f"layer{layer}")(h))
            self.sow("features", f"h{layer}", h)
        return Dense(self.out_dim, "readout", self.rules, False, self.dtype, param_dtype=self.param_dtype,
                     name="readout")(h)


def build(values: dict[str, Any], out_dim: int, rules: Parameterization, dtype) -> MLP:
    return MLP(
        width=values["model.width"],
        depth=values["model.depth"],
        out_dim=out_dim,
        rules=rules,
        activation=values["model.activation"],
        bias=values["model.bias"],
        dtype=dtype,
    )


register("mlp", build=build, n_layers=lambda values: values["model.depth"],
         fields={"model.activation": layers.ACTIVATION, "model.bias": layers.BIAS})
