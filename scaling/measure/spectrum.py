"""Quantities derived from a kernel and a target: spectrum, target power, alignment, distance.

A kernel is (P, P), the trace over outputs, with a target Y of shape (P, C); or (P, C, P, C),
every output pair, with Y flattened to one column.  The functions are pure and work on one
kernel; ``jax.vmap`` them over members, or apply them to loaded kernels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.experimental.sparse.linalg import lobpcg_standard

LOBPCG_ITERATIONS = 200


def as_matrix(kernel, target):
    """The kernel as an (n, n) matrix and the target as (n, m) columns."""
    target = jnp.asarray(target)
    if kernel.ndim == 4:
        n = kernel.shape[0] * kernel.shape[1]
        return kernel.reshape(n, n), target.reshape(n, 1)
    return kernel, target.reshape(kernel.shape[0], -1)


def eigen(kernel, target, top_k: int | None = None):
    """Eigenvalues in descending order (all, or the top ``top_k`` by LOBPCG) and the cumulative
    power of the target on their eigenvectors, C(k) = sum_{m <= k} |v_m^T Y|^2 / |Y|^2
    (the cumulative power of Canatar, Bordelon & Pehlevan 2021)."""
    matrix, target = as_matrix(kernel, target)
    matrix = (matrix + matrix.T) / 2
    if top_k is None:
        values, vectors = jnp.linalg.eigh(matrix)
        values, vectors = values[::-1], vectors[:, ::-1]
    else:
        start = jax.random.normal(jax.random.key(0), (matrix.shape[0], top_k), matrix.dtype)
        values, vectors, _ = lobpcg_standard(matrix, start, m=LOBPCG_ITERATIONS)
    power = jnp.sum((vectors.T @ target) ** 2, axis=1) / jnp.sum(target**2)
    return values, jnp.cumsum(power)


def _centre(matrix):
    return matrix - matrix.mean(0, keepdims=True) - matrix.mean(1, keepdims=True) + matrix.mean()


def alignment(kernel, target, centered: bool = False):
    """Kernel-target alignment A(K, y) = <K, y y^T>_F / (|K|_F |y y^T|_F), which is
    y^T K y / (|K|_F |y|^2) for one output (Cristianini et al. 2001; THEORY.md section 8).
    ``centered``: both Gram matrices centred first (Cortes, Mohri & Rostamizadeh 2012)."""
    matrix, target = as_matrix(kernel, target)
    labels = target @ target.T
    if centered:
        matrix, labels = _centre(matrix), _centre(labels)
    return jnp.sum(matrix * labels) / (jnp.linalg.norm(matrix) * jnp.linalg.norm(labels))


def cosine_distance(kernel, reference):
    """1 - <K, K_ref>_F / (|K|_F |K_ref|_F): how far a kernel turned from a reference kernel
    (the kernel distance of Fort et al. 2020; THEORY.md section 8)."""
    return 1 - jnp.sum(kernel * reference) / (jnp.linalg.norm(kernel) * jnp.linalg.norm(reference))
