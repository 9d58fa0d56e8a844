"""Residual MLP, the model of depth transfer (Bordelon, Noci, Li, Hanin & Pehlevan 2024,
"Depthwise hyperparameter transfer in residual networks", eq. 1):

    h_0 = W_in x / sqrt(D),   h_{l+1} = h_l + beta L^-alpha W_l phi(h_l) / sqrt(N),   f = w . phi(h_L) / N

with L = ``model.depth`` residual blocks of one hidden layer each, ``model.residual_alpha``
(0 plain, 1/2 depth-muP, 1 CompleteP) and ``model.residual_beta``; the multipliers shown are
muP's.  For the lr rule L = 3 (input, residual trunk, readout), as for the ResNet.
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from scaling.models import layers
from scaling.models.layers import ACTIVATIONS, Dense
from scaling.models.registry import register
from scaling.parameterization import Parameterization


class ResMLP(nn.Module):
    width: int
    depth: int  # residual blocks
    out_dim: int
    rules: Parameterization
    activation: str = "relu"
    residual_beta: float = 1.0
    dtype: Any = jnp.float32
    param_dtype: Any = None  # the layers' (layers.Dense): None = dtype

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        dense = functools.partial(Dense, rules=self.rules, dtype=self.dtype, param_dtype=self.param_dtype)
        h = dense(self.width, "input", name="input")(x.reshape(x.shape[0], -1))
        self.sow("features", "h_in", h)
        multiplier = self.rules.branch_multiplier(self.residual_beta, self.depth)
        for block in range(self.depth):
            h = h + multiplier * dense(self.width, "hidden", blocks=self.depth, name=f"block{block}")(act(h))
            self.sow("features", f"h_block{block}", h)
        return dense(self.out_dim, "readout", name="readout")(act(h))


def build(values: dict[str, Any], out_dim: int, rules: Parameterization, dtype) -> ResMLP:
    return ResMLP(width=values["model.width"], depth=values["model.depth"], out_dim=out_dim, rules=rules,
                  activation=values["model.activation"], residual_beta=values["model.residual_beta"], dtype=dtype)


register("resmlp", build=build, n_layers=lambda values: 3, fields={
    "model.activation": layers.ACTIVATION, "model.residual_alpha": layers.RESIDUAL_ALPHA,
    "model.residual_beta": layers.RESIDUAL_BETA})
