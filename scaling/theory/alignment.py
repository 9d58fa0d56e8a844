"""Silent alignment in two-layer linear networks (THEORY.md §8; Atanasov, Bordelon & Pehlevan,
"Neural Networks as Kernel Learners: The Silent Alignment Effect", ICLR 2022).

f = aᵀWx, every weight N(0, σ²) at init, whitened inputs (XᵀX/P = I), target slope β* with
s = |β*|, gradient flow on ½ the mean squared error.  The tangent kernel K = X(WᵀW + |a|²I)Xᵀ
turns towards the target while it is still small (time O(1/s), independent of σ), and only
then grows, when the loss falls at t₂ ≈ (1/2s) ln(s/(Nσ²)).
"""

from __future__ import annotations

import numpy as np


def initial_alignment(dim: int) -> float:
    """A(0) ≈ 1/√D: the random initial kernel is close to a multiple of the identity."""
    return 1 / np.sqrt(dim)


def final_alignment(dim: int) -> float:
    """A_final = 2/√(D + 3), for the final kernel M = sβ̂β̂ᵀ + sI."""
    return 2 / np.sqrt(dim + 3)


def loss_drop_time(s: float, sigma, width: int):
    """t₂ ≈ (1/2s) ln(s/(Nσ²)), the Saxe solution's escape from the small initialization."""
    return np.log(s / (width * np.asarray(sigma, float) ** 2)) / (2 * s)


def deep_loss_drop_time(s: float, sigma, depth: int):
    """For depth L > 2, u̇ = Lu^{2−2/L}(s − u) with u₀ ~ σ^L gives t₂ ~ σ^{−(L−2)}/((L−2)s): a power
    law in σ instead of a logarithm (§8), the leading term of the loss-half time of the scalar chain
    f = Π_ℓ a_ℓ, a_ℓ(0) = σ (an O(1/s) offset)."""
    return np.asarray(sigma, float) ** (-(depth - 2)) / ((depth - 2) * s)


def simulate(dim: int, width: int, s: float, sigma: float, times, rng: np.random.Generator,
             dt: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """Gradient flow (Euler steps of ``dt``) of the two-layer linear net on whitened data, in the
    population form (XᵀX/P = I): loss ½|Wᵀa − β*|², and the alignment of the tangent kernel
    M = WᵀW + |a|²I with the target direction, A = β̂ᵀMβ̂/‖M‖_F (§8).  Returns (loss, alignment)
    at ``times``."""
    target = np.zeros(dim)
    target[0] = s
    W = sigma * rng.standard_normal((width, dim))
    a = sigma * rng.standard_normal(width)
    times = np.asarray(times, float)
    losses, alignments, t = [], [], 0.0
    for target_time in times:
        while t < target_time - 1e-12:
            step = min(dt, target_time - t)
            residual = W.T @ a - target
            W, a = W - step * np.outer(a, residual), a - step * W @ residual
            t += step
        residual = W.T @ a - target
        kernel = W.T @ W + (a @ a) * np.eye(dim)
        losses.append(0.5 * residual @ residual)
        alignments.append(kernel[0, 0] / np.linalg.norm(kernel))
    return np.asarray(losses), np.asarray(alignments)
