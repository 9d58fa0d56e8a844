"""Quantities derived from a kernel and a target: spectrum, target power, alignment, distance.

A kernel is (..., P, P), the trace over outputs, with a target Y of shape (P, C); or
(..., P, C, P, C), every output pair, with Y flattened to one column.  Leading axes
(steps, members) are batch axes.  The spectrum is computed on the host in numpy:
eigendecompositions inside compiled XLA:CPU programs were seen to deadlock its thread pool
(a batched LAPACK kernel waits on the pool it runs in).  Alignment and distance take numpy
or jax arrays.  All apply unchanged to kernels loaded from disk.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import eigsh


def as_matrix(kernel, target, full: bool):
    """The kernel as (..., n, n) matrices and the target as (n, m) columns (numpy or jax arrays)."""
    if full:
        batch, n = kernel.shape[:-4], kernel.shape[-4] * kernel.shape[-3]
        return kernel.reshape(batch + (n, n)), target.reshape(n, 1)
    return kernel, target.reshape(kernel.shape[-1], -1)


def eigen(kernel, target, top_k: int | None = None, full: bool = False):
    """Eigenvalues in descending order (all, or the top ``top_k`` by Lanczos iteration) and
    the cumulative power of the target on their eigenvectors,
    C(k) = sum_{m <= k} |v_m^T Y|^2 / |Y|_F^2 (the cumulative power of Canatar, Bordelon &
    Pehlevan 2021)."""
    matrices, target = as_matrix(np.asarray(kernel), np.asarray(target), full)
    batch, n = matrices.shape[:-2], matrices.shape[-1]
    matrices = matrices.reshape((-1, n, n))
    matrices = (matrices + np.swapaxes(matrices, -1, -2)) / 2
    bad = ~np.isfinite(matrices).all(axis=(-2, -1))  # diverged members: NaN results
    matrices = np.where(bad[:, None, None], 0, matrices)
    if top_k is None:
        values, vectors = np.linalg.eigh(matrices)
        values, vectors = values[:, ::-1], vectors[:, :, ::-1]
    else:
        values, vectors = np.zeros((len(matrices), top_k), matrices.dtype), []
        for i, matrix in enumerate(matrices):
            found, found_vectors = eigsh(matrix.astype(np.float64), k=top_k, which="LA")
            order = np.argsort(found)[::-1]
            values[i] = found[order]
            vectors.append(found_vectors[:, order])
        vectors = np.stack(vectors).astype(matrices.dtype)
    power = np.cumsum(np.sum(np.einsum("bnk,nm->bkm", vectors, target) ** 2, axis=-1) / np.sum(target**2), axis=-1)
    values[bad], power[bad] = np.nan, np.nan
    k = values.shape[-1]
    return values.reshape(batch + (k,)), power.reshape(batch + (k,))


def _centre(matrix):
    return (matrix - matrix.mean(-2, keepdims=True) - matrix.mean(-1, keepdims=True)
            + matrix.mean((-2, -1), keepdims=True))


def _cosine(a, b):
    """Frobenius cosine over the last two axes; numpy or jax arrays (features are measured in jit).
    NaN where it is undefined: a zero matrix (0/0) or one whose norm overflowed (inf/inf), as a
    member near divergence has."""
    with np.errstate(invalid="ignore"):
        return (a * b).sum(axis=(-2, -1)) / ((a * a).sum(axis=(-2, -1)) * (b * b).sum(axis=(-2, -1))) ** 0.5


def alignment(kernel, target, centered: bool = False, full: bool = False):
    """Kernel-target alignment A(K, y) = <K, y y^T>_F / (|K|_F |y y^T|_F), which is
    y^T K y / (|K|_F |y|^2) for one output (Cristianini et al. 2001; THEORY.md section 8).
    ``centered``: both Gram matrices centred first (Cortes, Mohri & Rostamizadeh 2012)."""
    matrices, target = as_matrix(kernel, target, full)
    labels = target @ target.T
    if centered:
        matrices, labels = _centre(matrices), _centre(labels)
    return _cosine(matrices, labels)


def cosine_distance(kernel, reference, full: bool = False):
    """1 - <K, K_ref>_F / (|K|_F |K_ref|_F): how far a kernel turned from a reference kernel
    (the kernel distance of Fort et al. 2020; THEORY.md section 8)."""
    if full:
        n = kernel.shape[-4] * kernel.shape[-3]
        kernel, reference = kernel.reshape(kernel.shape[:-4] + (n, n)), reference.reshape(reference.shape[:-4] + (n, n))
    return 1 - _cosine(kernel, reference)


NTK_METRICS = ("ntk_eigenvalues", "ntk_target_power", "ntk_lr_eigenvalues", "ntk_alignment",
               "ntk_alignment_centered", "ntk_distance")


def derived(kernels: dict, target, top_k: int | None, full: bool) -> dict[str, np.ndarray]:
    """The NTK's derived quantities from kernels of shape (steps, members, ...), the first
    step being the reference of ``ntk_distance``."""
    plain = np.asarray(kernels["ntk"])
    eigenvalues, power = eigen(plain, target, top_k, full)
    return {
        "ntk_eigenvalues": eigenvalues,
        "ntk_target_power": power,
        "ntk_lr_eigenvalues": eigen(kernels["ntk_lr"], target, top_k, full)[0],
        "ntk_alignment": alignment(plain, target, full=full),
        "ntk_alignment_centered": alignment(plain, target, centered=True, full=full),
        "ntk_distance": cosine_distance(plain, plain[:1], full=full),
    }
