"""Online SGD on linear models: the exact recursion of the mode errors (THEORY.md §3;
Atanasov, Bordelon, Zavatone-Veth, Paquette & Pehlevan 2025, "Two-point deterministic
equivalence for SGD in linear models").

A fresh batch of B Gaussian samples each step, learning rate η on the loss ½(f − y)²
averaged over the batch, θ(0) = 0.  In the eigenbasis (λ_i, u_i) of the feature covariance
Σ_F, with θ* the best predictor, σ_F² its misspecification error and c_i(0) = (u_i·θ*)²:

    c_i(n+1) = ρ_i c_i(n) + (η²/B) λ_i (E_n + σ² + σ_F²),  ρ_i = (1 − ηλ_i)² + η²λ_i²/B,

E_n = Σ_i λ_i c_i(n), and the test loss (label noise excluded) is L_n = σ_F² + E_n.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize

from scaling.theory.spectra import Spectrum


@dataclasses.dataclass(frozen=True)
class LinearProblem:
    eigenvalues: np.ndarray  # λ_i of Σ_F
    initial: np.ndarray  # c_i(0) = (u_i·θ*)²
    misspecification: float = 0.0  # σ_F²


def linear(spectrum: Spectrum, feature_scale: float = 1.0) -> LinearProblem:
    """The linear model f = θ·ψ√s on the task (s = ``feature_scale``; 1/D for a readout W x/√D):
    Σ_F = sΛ, θ* = w̄/√s, nothing misspecified."""
    return LinearProblem(spectrum.eigenvalues * feature_scale, spectrum.teacher**2 / feature_scale)


def random_features(spectrum: Spectrum, width: int, rng: np.random.Generator) -> LinearProblem:
    """Linear random features z = Aψ/√N for one draw of A ∈ R^{N×D} iid N(0, 1): Σ_F = AΛAᵀ/N,
    θ* = Σ_F⁺AΛw̄/√N, σ_F² = w̄ᵀΛw̄ − θ*ᵀΣ_Fθ*."""
    lam, teacher = spectrum.eigenvalues, spectrum.teacher
    A = rng.standard_normal((width, len(lam)))
    eigenvalues, vectors = np.linalg.eigh((A * lam) @ A.T / width)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    projection = vectors.T @ (A @ (lam * teacher)) / np.sqrt(width)  # u_iᵀ AΛw̄/√N = λ_i (u_i·θ*)
    keep = eigenvalues > eigenvalues.max() * 1e-12
    theta = np.where(keep, projection / np.where(keep, eigenvalues, 1.0), 0.0)
    misspecification = float(spectrum.target_power.sum() - np.sum(eigenvalues * theta**2))
    return LinearProblem(eigenvalues, theta**2, max(misspecification, 0.0))


def sgd_loss(steps, lr, batch: int, problem: LinearProblem, noise: float = 0.0) -> np.ndarray:
    """L_n = σ_F² + E_n at the steps n (§3), by the recursion above; ``lr`` may be an array of
    learning rates (the result then has its shape followed by the steps')."""
    steps = np.asarray(steps, int)
    lr = np.asarray(lr, float)[..., None]
    lam = problem.eigenvalues
    rho = (1 - lr * lam) ** 2 + lr**2 * lam**2 / batch
    drive = lr**2 / batch * lam
    c = np.broadcast_to(problem.initial.astype(float), rho.shape)
    errors = np.empty((steps.max() + 1,) + lr.shape[:-1])
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(len(errors)):
            errors[n] = c @ lam
            c = rho * c + drive * (errors[n][..., None] + noise + problem.misspecification)
    return problem.misspecification + np.moveaxis(errors[steps], 0, -1)


def stability_sum(lr: float, batch: int, eigenvalues: np.ndarray) -> float:
    """k_η = (η/B) Σ_i λ_i / (2 − ηλ_i(1 + 1/B)): SGD is stable when every ρ_i < 1 and k_η < 1 (§3)."""
    return float(lr / batch * np.sum(eigenvalues / (2 - lr * eigenvalues * (1 + 1 / batch))))


def max_stable_lr(batch: int, eigenvalues: np.ndarray) -> float:
    """The largest stable η (§3; ≈ 2B/tr Σ_F for small B): k_η grows with η, so SGD is stable
    exactly below it."""
    edge = 2 / (eigenvalues.max() * (1 + 1 / batch))  # where the top mode's denominator vanishes
    return float(optimize.brentq(lambda lr: stability_sum(lr, batch, eigenvalues) - 1, 1e-12 * edge, edge * (1 - 1e-12)))


def noise_floor(lr: float, batch: int, problem: LinearProblem, noise: float) -> float:
    """The excess error SGD settles at, E_∞ = (σ² + σ_F²) k_η/(1 − k_η) (§3)."""
    k = stability_sum(lr, batch, problem.eigenvalues)
    return (noise + problem.misspecification) * k / (1 - k)
