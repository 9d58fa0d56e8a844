"""Linear random-feature model (THEORY.md section 2; Bordelon, Atanasov & Pehlevan 2024).

f(x) = w . (A x) / sqrt(N) under NTK parameterization, with A in R^{D x N} iid N(0, 1)
drawn from the member's init key and frozen; only the readout w (role ``readout``,
fan-in N = ``model.width``) is trained.  Centred, this is training from w(0) = 0.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from scaling.models.registry import register
from scaling.models.layers import Dense, in_dtype, parameter_dtype
from scaling.parameterization import Parameterization


class RandomFeatures(nn.Module):
    width: int
    out_dim: int
    rules: Parameterization
    dtype: Any = jnp.float32
    param_dtype: Any = None  # A's and the readout's (layers.Dense): None = dtype

    @nn.compact
    def __call__(self, x):
        x = in_dtype(x.reshape(x.shape[0], -1), self.dtype)
        projection = self.variable(
            "frozen", "A",
            lambda: jax.random.normal(self.make_rng("params"), (x.shape[-1], self.width), parameter_dtype(self)),
        )
        features = x @ in_dtype(projection.value, self.dtype)
        self.sow("features", "z", features)
        readout = Dense(self.out_dim, "readout", self.rules, False, self.dtype, param_dtype=self.param_dtype, name="readout")
        return readout(features)


def build(values: dict[str, Any], out_dim: int, rules: Parameterization, dtype) -> RandomFeatures:
    return RandomFeatures(width=values["model.width"], out_dim=out_dim, rules=rules, dtype=dtype)


register("rf", build=build, n_layers=lambda values: 1)
