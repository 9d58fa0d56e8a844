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


def balanced(sigma_w: float, sigma_a: float, rate_w: float, rate_a: float) -> tuple[float, float, float]:
    """A net f = aᵀWx whose W and a move at rates ρ_W, ρ_a (dW/dn = −ρ_W ∂L/∂W) is, after
    W → W(ρ_a/ρ_W)^{1/4}, a → a(ρ_W/ρ_a)^{1/4} (f unchanged), the net of ``simulate`` at time
    T = 2√(ρ_Wρ_a) n on the mean squared error without ½.  Returns its init stds and dT/dn."""
    ratio = np.sqrt(rate_a / rate_w)
    return sigma_w * np.sqrt(ratio), sigma_a / np.sqrt(ratio), 2 * np.sqrt(rate_w * rate_a)


def _growth(times, s: float, scale: float):
    """E(T) = exp(2∫(s − u)): the factor by which |z + a|² grows, z = Wβ̂.  Along the target,
    ż = a(s − u), ȧ = z(s − u) (the O(Dσ²) pull of the other directions dropped), so z ± a grow
    and shrink by E^{±1/2} and u = zᵀa = A E − B/E, A = |z₀ + a₀|²/4, B = |z₀ − a₀|²/4, both
    ``scale`` = N(σ_W² + σ_a²)/4 in expectation: Ė = 2(sE − AE² + B), a Riccati equation with
    roots E± = (s ± Δ)/2A, Δ = √(s² + 4AB), solved by (E − E₊)/(E − E₋) ∝ e^{−2ΔT}."""
    delta = np.sqrt(s**2 + 4 * scale**2)
    upper, lower = (s + delta) / (2 * scale), (s - delta) / (2 * scale)
    ratio = (1 - upper) / (1 - lower) * np.exp(-2 * delta * np.asarray(times, float))
    return (upper - ratio * lower) / (1 - ratio)


def saxe_loss(times, s: float, width: int, sigma_w: float, sigma_a: float) -> np.ndarray:
    """½(s − u)², the loss of the aligned mode u = β̂ᵀWᵀa of the net of ``simulate`` (init stds
    σ_W, σ_a) at ``times``, with u = AE − B/E from ``_growth``: Saxe's sigmoid, rising from 0
    to s around (1/2s) ln(s/A), A = N(σ_W² + σ_a²)/4 (``loss_drop_time`` at σ_W = σ_a, up to
    the O(1/s) ln 2/(2s)).  The directions orthogonal to the target hold O(Dσ²) of the loss."""
    scale = width * (sigma_w**2 + sigma_a**2) / 4
    growth = _growth(times, s, scale)
    return 0.5 * (s - scale * (growth - 1 / growth)) ** 2


def alignment_curve(times, s: float, dim: int, width: int, sigma_w: float, sigma_a: float) -> np.ndarray:
    """The kernel-target alignment A = β̂ᵀMβ̂/‖M‖_F, M = WᵀW + |a|²I, of the same solution, with
    the random parts at their expected sizes: |z|², |a|² = AE + B/E ± N(σ_W² − σ_a²)/2, W's other
    D − 1 columns unchanged, E‖W_⊥ᵀW_⊥‖²_F = σ_W⁴N(D − 1)(N + D) and |W_⊥ᵀz|² = (D − 1)σ_W²|z|².
    From ≈ 1/√D (N ≫ D) it rises, as E grows, to 2/√(D + 3); A cancels from every ratio until
    AE nears s, so the rise ends at a time O(1/s) independent of σ (§8)."""
    scale = width * (sigma_w**2 + sigma_a**2) / 4
    growth = _growth(times, s, scale)
    offset = width * (sigma_w**2 - sigma_a**2) / 2
    z2, a2 = scale * (growth + 1 / growth) + offset, scale * (growth + 1 / growth) - offset
    rest = dim - 1
    norm2 = (sigma_w**4 * width * rest * (width + dim) + 2 * a2 * rest * width * sigma_w**2 + rest * a2**2
             + 2 * rest * sigma_w**2 * z2 + (z2 + a2) ** 2)
    return (z2 + a2) / np.sqrt(norm2)


def alignment_time(s: float, dim: int, width: int, sigma_w: float, sigma_a: float, fraction: float = 0.95) -> float:
    """t₁: when ``alignment_curve`` has made ``fraction`` of its rise (bisection in T)."""
    start, end = alignment_curve([0.0, 1e9], s, dim, width, sigma_w, sigma_a)
    goal = start + fraction * (end - start)
    low, high = 0.0, float(loss_drop_time(s, min(sigma_w, sigma_a), width)) * 2 + 10 / s
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if alignment_curve([middle], s, dim, width, sigma_w, sigma_a)[0] < goal else (low, middle)
    return (low + high) / 2


def crossing(t, y, level: float) -> float:
    """The first t at which the measured y crosses ``level`` (either way), linearly interpolated;
    NaN if it never does."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    side = np.sign(y - level)
    crossed = np.flatnonzero(side[1:] != side[0])
    if not crossed.size:
        return float("nan")
    i = crossed[0]
    return float(t[i] + (level - y[i]) * (t[i + 1] - t[i]) / (y[i + 1] - y[i]))


def measured_timescales(t, loss, t_kernel, alignment, fraction: float = 0.95) -> tuple[float, float, float]:
    """(t₁, t₂, L(t₁)/L₀) of a measured run: the time its kernel alignment has made ``fraction`` of
    its rise, the time its loss has halved, and the loss at t₁ relative to the start (§8)."""
    loss, alignment = np.asarray(loss, float), np.asarray(alignment, float)
    t1 = crossing(t_kernel, alignment, alignment[0] + fraction * (alignment[-1] - alignment[0]))
    return t1, crossing(t, loss, loss[0] / 2), float(np.interp(t1, t, loss)) / loss[0]
