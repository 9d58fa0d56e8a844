"""The task in its eigenbasis and its degrees of freedom (THEORY.md §0).

Features ψ ~ N(0, Λ), Λ = diag(λ_k); target y = w̄·ψ + ε with Var ε = σ².  A task is
described by ``eigenvalues`` λ_k and ``target_power`` w̄_k²λ_k (the target's variance
along mode k); power laws λ_k = k^{-α}, w̄_k²λ_k = k^{-(1+αβ)} (capacity α, source β).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Spectrum:
    eigenvalues: np.ndarray  # λ_k, shape (D,)
    target_power: np.ndarray  # w̄_k² λ_k, shape (D,)

    @property
    def teacher(self) -> np.ndarray:
        """w̄_k, the target's weights on the features (taken ≥ 0)."""
        return np.sqrt(self.target_power / self.eigenvalues)


def powerlaw(dim: int, alpha: float, beta: float) -> Spectrum:
    """λ_k = k^{-α}, w̄_k²λ_k = k^{-(1+αβ)}, k = 1..dim: the ``powerlaw`` task of ``scaling.data``."""
    k = np.arange(1, dim + 1, dtype=np.float64)
    return Spectrum(k**-alpha, k ** -(1 + alpha * beta))


def df1(kappa, eigenvalues: np.ndarray):
    """D1(κ) = Σ_k λ_k/(λ_k+κ), for real or complex κ of any shape (modes on a new last axis)."""
    kappa = np.asarray(kappa)[..., None]
    return np.sum(eigenvalues / (eigenvalues + kappa), axis=-1)


def df2(kappa, eigenvalues: np.ndarray):
    """D2(κ) = Σ_k λ_k²/(λ_k+κ)²."""
    return df1_df2(kappa, eigenvalues)[1]


def df1_df2(kappa, eigenvalues: np.ndarray):
    """(D1(κ), D2(κ)) from one pass over the modes."""
    ratio = eigenvalues / (eigenvalues + np.asarray(kappa)[..., None])
    return ratio.sum(-1), (ratio**2).sum(-1)
