"""Convolutional network: ``model.depth`` weight matrices, the first depth - 1 convolutions of
``model.width`` channels (k x k, 'SAME', stride 1), then global average pooling and a
parameterized readout; the same roles as the MLP (input, hidden, readout)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from scaling.models import layers
from scaling.models.layers import ACTIVATIONS, Conv, Dense
from scaling.models.registry import register
from scaling.parameterization import Parameterization


class CNN(nn.Module):
    width: int
    depth: int
    out_dim: int
    rules: Parameterization
    kernel_size: int = 3
    activation: str = "relu"
    bias: bool = False
    dtype: Any = jnp.float32
    param_dtype: Any = None  # the layers' (layers.Dense): None = dtype

    @nn.compact
    def __call__(self, x):
        act, h = ACTIVATIONS[self.activation], x
        for layer in range(self.depth - 1):
            role = "input" if layer == 0 else "hidden"
            h = act(Conv(self.width, role, self.rules, self.bias, self.dtype, kernel_size=self.kernel_size,
                         param_dtype=self.param_dtype, name=f"conv{layer}")(h))
            self.sow("features", f"h{layer}", h)
        readout = Dense(self.out_dim, "readout", self.rules, False, self.dtype, param_dtype=self.param_dtype, name="readout")
        return readout(jnp.mean(h, axis=(1, 2)))


def build(values: dict[str, Any], out_dim: int, rules: Parameterization, dtype) -> CNN:
    return CNN(width=values["model.width"], depth=values["model.depth"], out_dim=out_dim, rules=rules,
               kernel_size=values["model.kernel_size"], activation=values["model.activation"],
               bias=values["model.bias"], dtype=dtype)


register("cnn", build=build, n_layers=lambda values: values["model.depth"], inputs=("image",),
         fields={"model.activation": layers.ACTIVATION, "model.bias": layers.BIAS, "model.kernel_size": layers.KERNEL_SIZE})
