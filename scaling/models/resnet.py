"""Residual network (pre-activation, He et al. 2016) for images.

A stem convolution (role ``input``) to ``model.width`` channels, then ``model.stages``
stages of ``model.depth`` residual blocks; stage s has width * 2^s channels and its first
block (s >= 1) halves the resolution, its shortcut a strided 1 x 1 convolution.  A block
is x + m * conv(act(norm(conv(act(norm(x)))))), with m = beta L^-alpha the residual-branch
multiplier over the L blocks (``model.residual_beta``, ``model.residual_alpha``: 0 plain,
1/2 depth-muP, 1 CompleteP); ``model.norm = "none"`` with alpha > 0 is the normalization-free network.  Then
act(norm(.)), global average pooling and the readout.  Norms are parameter-free layer
norms over channels.  For the lr rule L = 3 (stem, residual trunk, readout), as the
paper's code counts its ResNet18 (THEORY.md section 4).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from scaling.config import Field
from scaling.models import layers
from scaling.models.layers import ACTIVATIONS, Conv, Dense, normalization
from scaling.models.registry import register
from scaling.parameterization import Parameterization


class ResNet(nn.Module):
    width: int
    depth: int  # residual blocks per stage
    stages: int
    out_dim: int
    rules: Parameterization
    norm: str = "layer"
    residual_beta: float = 1.0
    kernel_size: int = 3
    activation: str = "relu"
    dtype: Any = jnp.float32
    param_dtype: Any = None  # the layers' (layers.Dense): None = dtype

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        norm = normalization(self.norm)
        blocks = self.stages * self.depth
        multiplier = self.rules.branch_multiplier(self.residual_beta, blocks)
        conv = lambda features, role, name, k=self.kernel_size, stride=1, blocks=0: Conv(  # noqa: E731
            features, role, self.rules, dtype=self.dtype, kernel_size=k, stride=stride, blocks=blocks,
            param_dtype=self.param_dtype, name=name)
        h = conv(self.width, "input", "stem")(x)
        self.sow("features", "h_stem", h)
        for stage in range(self.stages):
            channels = self.width * 2**stage
            for block in range(self.depth):
                name, stride = f"stage{stage}_block{block}", 2 if stage > 0 and block == 0 else 1
                branch = conv(channels, "hidden", name + "_conv0", stride=stride, blocks=blocks)(act(norm(h)))
                branch = conv(channels, "hidden", name + "_conv1", blocks=blocks)(act(norm(branch)))
                if stride > 1:
                    h = conv(channels, "hidden", name + "_shortcut", k=1, stride=stride)(h)
                h = h + multiplier * branch
                self.sow("features", "h_" + name, h)
        pooled = jnp.mean(act(norm(h)), axis=(1, 2))
        return Dense(self.out_dim, "readout", self.rules, False, self.dtype, param_dtype=self.param_dtype,
                     name="readout")(pooled)


def build(values: dict[str, Any], out_dim: int, rules: Parameterization, dtype) -> ResNet:
    return ResNet(width=values["model.width"], depth=values["model.depth"], stages=values["model.stages"],
                  out_dim=out_dim, rules=rules, norm=values["model.norm"],
                  residual_beta=values["model.residual_beta"], kernel_size=values["model.kernel_size"],
                  activation=values["model.activation"], dtype=dtype)


register("resnet", build=build, n_layers=lambda values: 3, inputs=("image",), fields={
    "model.activation": layers.ACTIVATION, "model.kernel_size": layers.KERNEL_SIZE, "model.norm": layers.NORM,
    "model.residual_alpha": layers.RESIDUAL_ALPHA, "model.residual_beta": layers.RESIDUAL_BETA,
    "model.stages": Field(int, 2, check=lambda x: 1 <= x <= 4, rule="in 1..4 (resnet: stages of width, 2 width, ...)"),
})
