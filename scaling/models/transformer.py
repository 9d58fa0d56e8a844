"""Transformers: a decoder language model and a classifier of images or token sequences.

Width = d_model (``model.width``), ``model.heads`` heads of d_head = width / heads,
``model.depth`` pre-norm blocks x + m * attention(norm(x)), x + m * mlp(norm(x)) with the
residual-branch multiplier m = beta L^-alpha over the L = 2 * depth branches, a
4 * width MLP with ``model.activation``, parameter-free layer norms (``model.norm``).
Roles: token / patch and position embeddings are ``input`` layers (one-hot ids have
fan-in 1), every projection is ``hidden``, the unembedding ``readout`` (1/width under
muP).  The attention logits are scaled by ``Parameterization.attention_scale``: 1/d_head
under muP, 1/sqrt(d_head) otherwise (Yang et al. 2022).  For the lr rule L = 3
(embedding, residual trunk, readout), as for the ResNet.

``transformer``: causal, next-token logits at every position, (n, T, vocab); its
measurements see the last position.  ``transformer_classifier``: bidirectional, mean-pooled
over positions; images are cut into ``model.patch_size`` patches (a ViT), tokens embedded.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from scaling.config import Field, at_least
from scaling.errors import ConfigError
from scaling.models import layers
from scaling.models.layers import ACTIVATIONS, Dense, normalization
from scaling.models.registry import register
from scaling.parameterization import Parameterization

MLP_RATIO = 4


class Attention(nn.Module):
    width: int
    heads: int
    causal: bool
    rules: Parameterization
    dtype: Any = jnp.float32
    blocks: int = 0  # the residual branches it is one of (Dense.blocks)
    param_dtype: Any = None  # the layers' (layers.Dense): None = dtype

    @nn.compact
    def __call__(self, h):
        n, length, _ = h.shape
        head_dim = self.width // self.heads
        dense = functools.partial(Dense, rules=self.rules, dtype=self.dtype, blocks=self.blocks, param_dtype=self.param_dtype)
        q, k, v = (dense(self.width, "hidden", name=name)(h).reshape(n, length, self.heads, head_dim)
                   for name in ("query", "key", "value"))
        logits = jnp.einsum("nthd,nshd->nhts", q, k) * jnp.asarray(self.rules.attention_scale(head_dim), self.dtype)
        if self.causal:
            logits = jnp.where(jnp.tril(jnp.ones((length, length), bool)), logits, jnp.finfo(self.dtype).min)
        mixed = jnp.einsum("nhts,nshd->nthd", jax.nn.softmax(logits, axis=-1), v).reshape(n, length, self.width)
        return dense(self.width, "hidden", name="out")(mixed)


class Transformer(nn.Module):
    width: int
    depth: int
    heads: int
    out_dim: int
    rules: Parameterization
    causal: bool
    vocab: int = 16  # the vocabulary of token inputs (integer ids); image inputs are cut into patches
    patch_size: int = 2
    norm: str = "layer"
    residual_beta: float = 1.0
    activation: str = "gelu"
    dtype: Any = jnp.float32
    param_dtype: Any = None  # the layers' (layers.Dense): None = dtype

    @nn.compact
    def __call__(self, x):
        dense = functools.partial(Dense, rules=self.rules, dtype=self.dtype, param_dtype=self.param_dtype)
        norm = normalization(self.norm)
        act = ACTIVATIONS[self.activation]
        is_tokens = jnp.issubdtype(x.dtype, jnp.integer)  # else images, cut into patches
        tokens = x if is_tokens else patches(x, self.patch_size)
        h = dense(self.width, "input", name="embed", vocab=self.vocab if is_tokens else None)(tokens)
        positions = jnp.broadcast_to(jnp.arange(h.shape[1]), h.shape[:2])
        h = h + dense(self.width, "input", name="position", vocab=h.shape[1])(positions)
        self.sow("features", "h_embed", h)
        blocks = 2 * self.depth
        multiplier = self.rules.branch_multiplier(self.residual_beta, blocks)
        for block in range(self.depth):
            attention = Attention(self.width, self.heads, self.causal, self.rules, self.dtype, blocks,
                                  param_dtype=self.param_dtype, name=f"block{block}_attn")
            h = h + multiplier * attention(norm(h))
            self.sow("features", f"h_block{block}_attn", h)
            hidden = act(dense(MLP_RATIO * self.width, "hidden", name=f"block{block}_fc", blocks=blocks)(norm(h)))
            h = h + multiplier * dense(self.width, "hidden", name=f"block{block}_proj", blocks=blocks)(hidden)
            self.sow("features", f"h_block{block}_mlp", h)
        h = norm(h)
        if not self.causal:
            h = jnp.mean(h, axis=1)
        return dense(self.out_dim, "readout", name="readout")(h)


def patches(images, size: int):
    """(n, H, W, C) images -> (n, (H/size) (W/size), size * size * C) patches."""
    n, height, width, channels = images.shape
    grid = images.reshape(n, height // size, size, width // size, size, channels)
    return grid.transpose(0, 1, 3, 2, 4, 5).reshape(n, (height // size) * (width // size), -1)


def build(causal: bool):
    def build_model(values: dict[str, Any], out_dim: int, rules: Parameterization, dtype) -> Transformer:
        return Transformer(width=values["model.width"], depth=values["model.depth"], heads=values["model.heads"],
                           out_dim=out_dim, rules=rules, causal=causal, vocab=values["data.vocab"],
                           patch_size=values["model.patch_size"], norm=values["model.norm"],
                           residual_beta=values["model.residual_beta"],
                           activation=values["model.activation"], dtype=dtype)

    return build_model


def check(values: dict[str, Any], kind: str) -> None:
    width, heads = values["model.width"], values["model.heads"]
    if width % heads:
        raise ConfigError("model.heads", heads, f"a divisor of model.width ({width})")
    if kind == "image":
        size, patch = values["data.image_size"], values["model.patch_size"]
        if size % patch:
            raise ConfigError("model.patch_size", patch, f"a divisor of data.image_size ({size})")


FIELDS = {
    "model.activation": layers.ACTIVATION, "model.norm": layers.NORM, "model.residual_alpha": layers.RESIDUAL_ALPHA,
    "model.residual_beta": layers.RESIDUAL_BETA,
    "model.heads": Field(int, 4, check=at_least(1), rule=">= 1 (attention heads)"),
    "model.patch_size": Field(int, 2, check=at_least(1), rule=">= 1 (image patches of the transformer classifier)"),
}
register("transformer", build=build(causal=True), n_layers=lambda values: 3, inputs=("language",), check=check,
         fields=FIELDS)
register("transformer_classifier", build=build(causal=False), n_layers=lambda values: 3,
         inputs=("image", "sequence"), check=check, fields=FIELDS)
