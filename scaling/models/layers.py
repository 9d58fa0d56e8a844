"""The parameterized layers every model is built from: dense (and embedding), convolution."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from scaling.parameterization import Parameterization

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "gelu": nn.gelu, "linear": lambda h: h}
IMAGE_DIMS = ("NHWC", "HWIO", "NHWC")


class Dense(nn.Module):
    """y = mult * x @ W (+ b) over the last axis of x, with W's init std, mult and lr
    multiplier set by the role.

    The lr multipliers are recorded at init in the ``lr_scale`` collection, a tree that
    mirrors ``params`` and that ``scaling.optim`` multiplies the updates by.  For the
    structured NTK (``scaling.measure.ntk``) each parameter sows the factor a with
    dy/dparam = a (x) identity into ``tangent_factors``, and y is marked by ``perturb``;
    both are no-ops unless those collections are asked for.

    With ``vocab`` set, x holds integer ids and the layer is a learned embedding,
    one-hot(x) @ W: an ``input`` layer of fan-in 1 (a one-hot vector has unit norm).
    """

    features: int
    role: str
    rules: Parameterization
    bias: bool = False
    dtype: Any = jnp.float32
    vocab: int | None = None

    @nn.compact
    def __call__(self, x):
        if self.vocab is not None:
            x = jax.nn.one_hot(x, self.vocab, dtype=self.dtype)
        rule = self.rules.layer(self.role, 1 if self.vocab else x.shape[-1], self.features)
        w = self.param("w", nn.initializers.normal(rule.std), (x.shape[-1], self.features), self.dtype)
        mult = jnp.asarray(rule.mult, self.dtype)
        self.sow("tangent_factors", "w", x * mult)
        return self._finish((x @ w) * mult, rule.lr, x.shape[:-1])

    def _finish(self, y, lr: float, batch_shape: tuple):
        """Record W's lr multiplier, add the bias, mark the output."""
        record_lr(self, "w", lr)
        if self.bias:
            bias_rule = self.rules.layer("bias", 1, self.features)
            b = self.param("b", nn.initializers.normal(bias_rule.std), (self.features,), self.dtype)
            record_lr(self, "b", bias_rule.lr)
            y = y + bias_rule.mult * b
            self.sow("tangent_factors", "b", jnp.full(batch_shape + (1,), bias_rule.mult, self.dtype))
        return self.perturb("out", y)


class Conv(Dense):
    """A 2-d convolution of NHWC images with 'SAME' padding, parameterized like ``Dense``
    with fan-in k * k * channels.  Its NTK factor is the image patches (P, H', W', k*k*C):
    the convolution is patches @ W, so its kernel is structured like a dense layer's."""

    kernel_size: int = 3
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        k, channels = self.kernel_size, x.shape[-1]
        rule = self.rules.layer(self.role, k * k * channels, self.features)
        w = self.param("w", nn.initializers.normal(rule.std), (k, k, channels, self.features), self.dtype)
        mult = jnp.asarray(rule.mult, self.dtype)
        strides = (self.stride, self.stride)
        if self.is_mutable_collection("tangent_factors"):
            patches = jax.lax.conv_general_dilated_patches(x, (k, k), strides, "SAME", dimension_numbers=IMAGE_DIMS)
            self.sow("tangent_factors", "w", patches * mult)
        y = jax.lax.conv_general_dilated(x, w, strides, "SAME", dimension_numbers=IMAGE_DIMS) * mult
        return self._finish(y, rule.lr, y.shape[:-1])


def record_lr(module: nn.Module, name: str, lr: float) -> None:
    """Record a parameter's lr multiplier in ``lr_scale`` (at init only)."""
    if module.is_mutable_collection("lr_scale"):
        module.variable("lr_scale", name, lambda: jnp.asarray(lr, module.dtype))


def layer_norm(h, eps: float = 1e-6):
    """Parameter-free layer normalization over the last axis (no gain or offset to parameterize)."""
    mean = jnp.mean(h, axis=-1, keepdims=True)
    return (h - mean) * jax.lax.rsqrt(jnp.var(h, axis=-1, keepdims=True) + eps)
