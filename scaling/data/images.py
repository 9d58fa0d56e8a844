"""Synthetic images generated on the device: a random-CNN teacher."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from scaling.data import tasks
from scaling.data.tasks import class_targets, register
from scaling.models.layers import conv2d

TEACHER_CHANNELS, NORMALIZATION_SAMPLES = 16, 4096


@dataclasses.dataclass(frozen=True)
class CNNTeacher:
    """White-noise images x ~ N(0, 1)^(H x W x C) and a random one-hidden-layer CNN teacher,
    z = A^T mean_positions relu(conv3x3(x, W) / sqrt(9 C)) / sqrt(M), W and A iid N(0, 1),
    M = 16 channels; each output is standardized to zero mean and unit variance.

    ``n_classes`` None: the regression target z (one output).  K >= 2: the label
    argmax_k z_k over K outputs (a scalar +-1 for K = 2, one-hot otherwise).  The teacher is translation
    invariant (global average pooling), so a CNN student can represent it exactly."""

    size: int
    channels: int
    n_classes: int | None
    dtype: Any

    @property
    def out_dim(self) -> int:
        return 1 if self.n_classes in (None, 2) else self.n_classes

    def teacher(self, key):
        k_filter, k_readout, k_norm = jax.random.split(key, 3)
        filters = jax.random.normal(k_filter, (3, 3, self.channels, TEACHER_CHANNELS), self.dtype)
        readout = jax.random.normal(k_readout, (TEACHER_CHANNELS, self.n_classes or 1), self.dtype)
        raw = self._raw((filters, readout), self.inputs(None, k_norm, NORMALIZATION_SAMPLES))
        return filters, readout, raw.mean(0), raw.std(0)

    def inputs(self, teacher, key, n):
        return jax.random.normal(key, (n, self.size, self.size, self.channels), self.dtype)

    def _raw(self, teacher, x):
        filters, readout = teacher[:2]
        h = conv2d(x, filters)
        pooled = jnp.mean(jax.nn.relu(h / jnp.sqrt(9.0 * self.channels)), axis=(1, 2))
        return pooled @ readout / jnp.sqrt(float(TEACHER_CHANNELS))

    def targets(self, teacher, x):
        z = (self._raw(teacher, x) - teacher[2]) / teacher[3]
        if self.n_classes is None:
            return z
        return class_targets(jnp.argmax(z, axis=-1), self.n_classes, self.dtype)


register("cnn_teacher", lambda v, dtype: CNNTeacher(v["data.image_size"], v["data.channels"], v["data.n_classes"], dtype),
         kind="image", fields={"data.image_size": tasks.IMAGE_SIZE, "data.channels": tasks.CHANNELS,
                               "data.n_classes": tasks.N_CLASSES})
