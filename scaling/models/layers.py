"""The parameterized layers every model is built from: dense (and embedding), convolution."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from scaling.config import Field, at_least, positive
from scaling.optim import RULES
from scaling.parameterization import LayerRule, Parameterization

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "gelu": nn.gelu, "linear": lambda h: h}
IMAGE_DIMS = ("NHWC", "HWIO", "NHWC")

# Config fields several architectures read; each architecture declares those it reads.
ACTIVATION = Field(str, "relu", choices=tuple(ACTIVATIONS))
BIAS = Field(bool, False)
KERNEL_SIZE = Field(int, 3, check=at_least(1), rule=">= 1 (convolutions)")
NORM = Field(str, "layer", choices=("layer", "none"))
RESIDUAL_ALPHA = Field(float, 0.0, check=lambda alpha: alpha == 0 or 0.5 <= alpha <= 1,
                       rule="0 (plain residual) or in [0.5, 1]: each of the L residual branches is multiplied by "
                            "L^-alpha (1/2: depth-muP, 1: CompleteP), with muP's depth rules for lr and Adam's eps")
RESIDUAL_BETA = Field(float, 1.0, check=positive, rule="> 0 (residual-branch multiplier)")


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
    ``blocks``: L when the layer sits in one of the L residual branches of a deep residual
    network (its depth rules, ``Parameterization.layer``).

    Mixed precision follows flax: ``dtype`` is the compute dtype, ``param_dtype`` the one its
    parameters are created in (None: ``dtype``); float parameters and inputs are cast to ``dtype``
    for the product, so gradients reach the parameters in their own dtype through the casts.
    """

    features: int
    role: str
    rules: Parameterization
    bias: bool = False
    dtype: Any = jnp.float32
    vocab: int | None = None
    blocks: int = 0
    param_dtype: Any = None

    @nn.compact
    def __call__(self, x):
        if self.vocab is not None:
            x = jax.nn.one_hot(x, self.vocab, dtype=self.dtype)
        x = in_dtype(x, self.dtype)
        rule = self.rules.layer(self.role, 1 if self.vocab else x.shape[-1], self.features, self.blocks)
        w = self.param("w", nn.initializers.normal(rule.std), (x.shape[-1], self.features), parameter_dtype(self))
        mult = jnp.asarray(rule.mult, self.dtype)
        self.sow("tangent_factors", "w", x * mult)
        return self._finish((x @ in_dtype(w, self.dtype)) * mult, rule, x.shape[:-1])

    def _finish(self, y, rule: LayerRule, batch_shape: tuple):
        """Record W's optimizer multipliers, add the bias, mark the output."""
        record_rule(self, "w", rule)
        if self.bias:
            bias_rule = self.rules.layer("bias", 1, self.features, self.blocks)
            b = self.param("b", nn.initializers.normal(bias_rule.std), (self.features,), parameter_dtype(self))
            record_rule(self, "b", bias_rule)
            y = y + bias_rule.mult * in_dtype(b, self.dtype)
            self.sow("tangent_factors", "b", jnp.full(batch_shape + (1,), bias_rule.mult, self.dtype))
        return self.perturb("out", y)


class Conv(Dense):
    """A 2-d convolution of NHWC images with 'SAME' padding (``conv2d``), parameterized like
    ``Dense`` with fan-in k * k * channels.  Its NTK factor is the image patches
    (P, H', W', k*k*C): the convolution is patches @ W, so its kernel is structured like a
    dense layer's."""

    kernel_size: int = 3
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        k, channels, x = self.kernel_size, x.shape[-1], in_dtype(x, self.dtype)
        rule = self.rules.layer(self.role, k * k * channels, self.features, self.blocks)
        w = self.param("w", nn.initializers.normal(rule.std), (k, k, channels, self.features), parameter_dtype(self))
        mult = jnp.asarray(rule.mult, self.dtype)
        if self.is_mutable_collection("tangent_factors"):
            self.sow("tangent_factors", "w", image_patches(x, k, self.stride) * mult)
        y = conv2d(x, in_dtype(w, self.dtype), self.stride) * mult
        return self._finish(y, rule, y.shape[:-1])


def conv2d(x, w, stride: int = 1):
    """'SAME' convolution of NHWC images with an HWIO kernel.  On CPU it is patches @ W: under
    ``vmap`` over members a convolution becomes a grouped one, which XLA:CPU runs about 10x
    slower than this batched matmul (benchmarks/throughput.py); elsewhere the native
    convolution, since the patches take k * k times the memory of the image."""
    if jax.default_backend() == "cpu":
        return image_patches(x, w.shape[0], stride) @ w.reshape(-1, w.shape[-1])
    return jax.lax.conv_general_dilated(x, w, (stride, stride), "SAME", dimension_numbers=IMAGE_DIMS)


def image_patches(x, k: int, stride: int = 1):
    """The k x k patches of NHWC images with 'SAME' padding, (N, H', W', k*k*C) ordered (row, column,
    channel) like an HWIO kernel reshaped to (k*k*C, O): shifted strided slices of the padded images,
    whose gradient is a pad (``lax.conv_general_dilated_patches`` is a grouped convolution)."""
    (top, bottom), (left, right) = jax.lax.padtype_to_pads(x.shape[1:3], (k, k), (stride, stride), "SAME")
    padded = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    rows, cols = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
    shifted = [padded[:, i: i + stride * (rows - 1) + 1: stride, j: j + stride * (cols - 1) + 1: stride]
               for i in range(k) for j in range(k)]
    return jnp.concatenate(shifted, axis=-1)


def in_dtype(x, dtype):
    """Float ``x`` in the compute ``dtype`` (integer ids stay ids); ``x`` itself when it is in it
    already, so a float32 model's program has no cast at all."""
    return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype != dtype else x


def parameter_dtype(module: nn.Module):
    """The dtype a module's parameters (and their optimizer multipliers) are created in:
    ``param_dtype``, or ``dtype`` when it is None."""
    return module.dtype if module.param_dtype is None else module.param_dtype


def record_rule(module: nn.Module, name: str, rule: LayerRule) -> None:
    """Record a parameter's optimizer multipliers (lr, Adam's eps, weight decay) in their
    collections, ``optim.RULES`` (at init only)."""
    for collection, field in RULES.items():
        if module.is_mutable_collection(collection):
            module.variable(collection, name,
                            lambda value=getattr(rule, field): jnp.asarray(value, parameter_dtype(module)))


def normalization(kind: str):
    """``model.norm``: ``layer_norm`` for "layer", the identity for "none"."""
    return layer_norm if kind == "layer" else (lambda h: h)


def layer_norm(h, eps: float = 1e-6):
    """Parameter-free layer normalization over the last axis (no gain or offset to parameterize)."""
    mean = jnp.mean(h, axis=-1, keepdims=True)
    return (h - mean) * jax.lax.rsqrt(jnp.var(h, axis=-1, keepdims=True) + eps)
