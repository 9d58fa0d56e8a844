"""How feature learning changes the time exponent of the loss (THEORY.md §5; Bordelon, Atanasov
& Pehlevan, "How Feature Learning Can Improve Neural Scaling Laws", ICLR 2025).

L ∝ t^{-χ}: lazy χ = β; rich χ(β) = β·max(1, 2/(1+β)), a gain only for hard tasks (β < 1).
The solvable proxy is an infinite-width two-layer linear network in the DMFT μP convention under
population gradient flow, integrated here mode by mode.
"""

from __future__ import annotations

import numpy as np
import threadpoolctl
from scipy.linalg import blas

from scaling.theory.spectra import Spectrum


def time_exponent(beta, rich: bool = True):
    """χ with L ∝ t^{-χ}: β lazy, β·max(1, 2/(1+β)) rich (§5)."""
    beta = np.asarray(beta, dtype=float)
    return beta * np.maximum(1.0, 2.0 / (1.0 + beta)) if rich else beta


def task_class(alpha: float, beta: float) -> str:
    """hard (β < 1), easy (1 < β < 2 − 1/α) or super-easy (β > 2 − 1/α, where SGD noise dominates)."""
    if beta < 1:
        return "hard"
    return "easy" if beta < 2 - 1 / alpha else "super-easy"


def compute_optimal_exponent(alpha: float, beta: float, rich: bool = True) -> float:
    """L*(C) ∝ C^{-αβχ/(αβ+χ)} for hard tasks (§5): C^{-2αβ/(α(1+β)+2)} rich, C^{-αβ/(α+1)} lazy."""
    chi = float(time_exponent(beta, rich))
    return alpha * beta * chi / (alpha * beta + chi)


def mode_ode_loss(spectrum: Spectrum, gamma: float, times, dt: float = 0.02) -> np.ndarray:
    """Population gradient flow of f = aᵀWψ/(γN) at infinite width, lr = γ²N, in the eigenbasis
    (§5 "Solvable proxy"): β̇ = −(cI + G)Λv, Ġ = −γ²(Λvβᵀ + βvᵀΛ), ċ = −2γ²βᵀΛv with v = β − w*,
    β(0) = 0, G(0) = I, c(0) = 1; the loss ½vᵀΛv at ``times``, by explicit Euler steps of ``dt``.
    γ = 0 is the lazy kernel 2Λ."""
    lam, teacher = spectrum.eigenvalues, spectrum.teacher
    times = np.asarray(times, float)
    beta = np.zeros_like(lam)
    kernel = np.asfortranarray(np.eye(len(lam)))  # updated in place by BLAS rank-1 updates
    c, t, out = 1.0, 0.0, []
    for target_time in times:
        while t < target_time - 1e-12:
            step = min(dt, target_time - t)
            force = lam * (beta - teacher)
            d_beta = -(c * force + blas.dgemv(1.0, kernel, force))
            rate = -step * gamma**2
            if rate:
                kernel = blas.dger(rate, force, beta, a=kernel, overwrite_a=True)
                kernel = blas.dger(rate, beta, force, a=kernel, overwrite_a=True)
            c, beta = c - step * 2 * gamma**2 * beta @ force, beta + step * d_beta
            t += step
        out.append(0.5 * (beta - teacher) @ (lam * (beta - teacher)))
    return np.asarray(out)


def kernel_bound(spectrum: Spectrum, gamma: float) -> float:
    """A bound on the kernel cI + G along the flow: 2(1 + γ|w*|).  tr G − c is conserved and c
    grows to about γ|β| (the balanced scale of aᵀW/N), so the kernel stays below 2(1 + γ|β|)
    (seen ≈ 1 + γ|w*| in its largest eigenvalue at D = 400, γ = 0.1, 1)."""
    return 2 * (1 + gamma * float(np.linalg.norm(spectrum.teacher)))


def euler_step(spectrum: Spectrum, gamma: float, accuracy: float = 0.01) -> float:
    """The Euler step dt that moves the fastest mode by at most ``accuracy`` of its error:
    dt · λ_max · ``kernel_bound`` = ``accuracy``."""
    return accuracy / (float(spectrum.eigenvalues.max()) * kernel_bound(spectrum, gamma))


def flow_loss(spectrum: Spectrum, gamma: float, times, accuracy: float = 0.01) -> np.ndarray:
    """``mode_ode_loss`` at steps of ``euler_step``, on one BLAS thread (the rank-1 updates of a
    D × D matrix are too small to share, and threads contended by other processes slow them 50×)."""
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        return mode_ode_loss(spectrum, gamma, times, euler_step(spectrum, gamma, accuracy))
