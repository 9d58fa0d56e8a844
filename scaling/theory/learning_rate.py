"""The optimal learning rate across the feature-learning strength γ, and the scalar-chain toy
model that explains it (THEORY.md §4; Atanasov, Meterez, Simon & Pehlevan, ICLR 2025).

With f divided by γ and the raw η of the papers (μP SGD at lr = N·η): η* ∝ γ² for γ ≪ 1 (lazy:
the loss landscape's sharpness is L/γ²) and η* ∝ γ^{2/L} for γ ≫ 1 (rich), L = number of
weight matrices; Adam: γ and γ^{1/L}.
"""

from __future__ import annotations

import numpy as np


def gamma_lr_exponents(n_layers: int, optimizer: str = "sgd") -> tuple[float, float]:
    """The exponents of η* in γ below and above γ = 1: (2, 2/L) for SGD, (1, 1/L) for Adam."""
    return (2.0, 2.0 / n_layers) if optimizer == "sgd" else (1.0, 1.0 / n_layers)


def gamma_lr_factor(gamma, n_layers: int, optimizer: str = "sgd"):
    """η*(γ)/η*(1): γ² below γ = 1 and γ^{2/L} above (Adam: γ and γ^{1/L})."""
    gamma = np.asarray(gamma, dtype=float)
    small, large = gamma_lr_exponents(n_layers, optimizer)
    return np.where(gamma <= 1, gamma**small, gamma**large)


def chain_max_lr(gamma, n_layers: int, target: float = 1.0):
    """Linear-stability bound of gradient descent on the chain f = γ^{-1}Π_ℓ a_ℓ, a_ℓ(0) = 1, loss
    ½(f − y)²: η < 2/sharpness, the sharpness being L/γ² at the start (lazy, γ ≪ 1) and
    L y²(γy)^{-2/L} at the solution a_ℓ = (γy)^{1/L} (rich, γ ≫ 1), whichever is larger."""
    gamma = np.asarray(gamma, dtype=float)
    lazy = 2 * gamma**2 / n_layers
    rich = 2 * (gamma * target) ** (2 / n_layers) / (n_layers * target**2)
    return np.minimum(lazy, rich)


def chain_losses(gamma: float, lrs, n_layers: int, target: float = 1.0, steps: int = 2000) -> np.ndarray:
    """Gradient descent on the scalar chain at each learning rate of ``lrs`` (vectorized): the loss
    ½(f − y)² after every step, (steps + 1, len(lrs)); inf once a run has blown up."""
    lrs = np.asarray(lrs, float)
    a = np.ones((n_layers, len(lrs)))
    losses = np.empty((steps + 1, len(lrs)))
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(steps + 1):
            f = np.prod(a, axis=0) / gamma
            losses[n] = 0.5 * (f - target) ** 2
            if n < steps:
                a = a - lrs * (f - target) * f / a
    return np.where(np.isfinite(losses), losses, np.inf)


def chain_divergence_lr(gamma: float, n_layers: int, target: float = 1.0, steps: int = 2000,
                        grid: int = 200) -> float:
    """The largest η on a log grid (10⁻³ to 10³ times the stability bound) at which gradient
    descent on the chain still converges (final loss below 10⁻⁶ of the first)."""
    bound = float(chain_max_lr(gamma, n_layers, target))
    lrs = bound * np.logspace(-3, 3, grid)
    final = chain_losses(gamma, lrs, n_layers, target, steps)
    converged = final[-1] < 1e-6 * final[0]
    return float(lrs[converged].max()) if converged.any() else float("nan")


def chain_plateau_time(gamma, n_layers: int, lr: float, target: float = 1.0):
    """Steps of the rich chain's plateau before the loss falls: with τ = ηγ^{-2/L} t, τ ≈ ln(γ^{1/2})/y
    for L = 2 and γ^{(L-2)/L}/((L−2)y) for L ≥ 3 (from b(0) = γ^{-1/L}), so n ≈ τγ^{2/L}/η."""
    gamma = np.asarray(gamma, dtype=float)
    if n_layers == 2:
        tau = np.log(np.sqrt(gamma)) / target
    else:
        tau = gamma ** ((n_layers - 2) / n_layers) / ((n_layers - 2) * target)
    return tau * gamma ** (2 / n_layers) / lr
