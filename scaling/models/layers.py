"""The parameterized dense layer every model is built from."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from scaling.parameterization import Parameterization

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "gelu": nn.gelu, "linear": lambda h: h}


class Dense(nn.Module):
    """y = mult * x @ W (+ b), with W's init std, mult and lr multiplier set by the role.

    The lr multipliers are recorded at init in the ``lr_scale`` collection, a tree that
    mirrors ``params`` and that ``scaling.optim`` multiplies the updates by.  For the
    structured NTK (``scaling.measure.ntk``) each parameter sows the factor a with
    dy/dparam = a (x) identity into ``tangent_factors``, and y is marked by ``perturb``;
    both are no-ops unless those collections are asked for.
    """

    features: int
    role: str
    rules: Parameterization
    bias: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        rule = self.rules.layer(self.role, fan_in, self.features)
        w = self.param("w", nn.initializers.normal(rule.std), (fan_in, self.features), self.dtype)
        self._record_lr("w", rule.lr)
        mult = jnp.asarray(rule.mult, self.dtype)
        y = (x @ w) * mult
        self.sow("tangent_factors", "w", x * mult)
        if self.bias:
            bias_rule = self.rules.layer("bias", fan_in, self.features)
            b = self.param("b", nn.initializers.normal(bias_rule.std), (self.features,), self.dtype)
            self._record_lr("b", bias_rule.lr)
            y = y + bias_rule.mult * b
            self.sow("tangent_factors", "b", jnp.full(x.shape[:-1] + (1,), bias_rule.mult, self.dtype))
        return self.perturb("out", y)

    def _record_lr(self, name: str, lr: float) -> None:
        if self.is_mutable_collection("lr_scale"):
            self.variable("lr_scale", name, lambda: jnp.asarray(lr, self.dtype))
