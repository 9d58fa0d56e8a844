"""The test loss of linear random features trained by gradient flow, L(t, N, P) (THEORY.md §2;
Bordelon, Atanasov & Pehlevan, "A Dynamical Model of Neural Scaling Laws", ICML 2024).

Student f = w·Aψ/√N with A ∈ R^{N×D} iid N(0, 1) frozen, w(0) = 0, trained by gradient flow
on the loss (1/2P)Σ(f − y)² over P samples (P = ∞: the population loss).  Its test loss
(label noise excluded) has a deterministic equivalent in the Laplace domain, F(z, z'),
inverted at (t, t) by a two-dimensional fixed Talbot rule; κ(z) at the complex nodes comes
from damped Newton steps continued outward from the real node.
"""

from __future__ import annotations

import numpy as np

from scaling.theory.ridge import kappa, kappa_floor
from scaling.theory.spectra import Spectrum, df1_df2

TALBOT_NODES = 32  # M: 2M - 1 nodes per dimension
CONTINUATION_STEPS = 16  # sub-steps between neighbouring nodes
NEWTON_STEPS = 2  # per sub-step (error ~1e-5 against 4)
DAMPING = 0.3  # |Δκ| ≤ 0.3 |κ| per Newton step
CONVERGED = 30.0  # λt beyond which a flow with ridge λ has converged (to e^{-30}): its loss is taken there


def talbot(t, nodes: int = TALBOT_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Fixed Talbot contour for times t: nodes s_j and weights w_j = s'_j/(2iM), j = 0..M-1,
    shape (T, M).  The nodes j < 0 are the conjugates (§2 "Numerical inversion")."""
    theta = np.arange(nodes) * np.pi / nodes
    r = 2 * nodes / (5 * np.asarray(t, float))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        cot = np.cos(theta) / np.sin(theta)
        s = np.where(theta > 0, r * theta * cot + 1j * r * theta, r + 0j)
        ds = np.where(theta > 0, r * (cot - theta / np.sin(theta) ** 2) + 1j * r, 1j * r)
    return s, ds / (2j * nodes)


def kappa_on_contour(s: np.ndarray, N: float, P: float, eigenvalues: np.ndarray) -> np.ndarray:
    """κ(z) solving z = κ(1 − D1(κ)/N)(1 − D1(κ)/P) at the nodes ``s`` (T, M): the real root at
    s_0, then damped Newton continued node to node (without it Newton jumps branch at large t)."""
    k = kappa(s[:, 0].real, (N, P), eigenvalues).astype(complex)
    out = [k]
    inv_n, inv_p = (0.0 if np.isinf(N) else 1 / N), (0.0 if np.isinf(P) else 1 / P)
    for j in range(1, s.shape[1]):
        for step in range(1, CONTINUATION_STEPS + 1):
            z = s[:, j - 1] + (s[:, j] - s[:, j - 1]) * step / CONTINUATION_STEPS
            for _ in range(NEWTON_STEPS):
                d1, d2 = df1_df2(k, eigenvalues)
                a, b = 1 - d1 * inv_n, 1 - d1 * inv_p
                delta = (k * a * b - z) / (a * b + (d1 - d2) * (b * inv_n + a * inv_p))
                size = np.abs(delta)
                limit = DAMPING * np.abs(k)
                k = k - np.where(size > limit, delta * limit / np.maximum(size, 1e-300), delta)
        out.append(k)
    return np.stack(out, axis=1)


def rf_gf_loss(t, N: float, P: float, spectrum: Spectrum, noise: float = 0.0, nodes: int = TALBOT_NODES,
               ridge: float = 0.0, offset: float = 0.0) -> np.ndarray:
    """L(t, N, P) = G₀ + 𝓛⁻¹_z 𝓛⁻¹_z' [F](t, t) (§2 "Full test loss"), at the times ``t`` (> 0).

    With u = κ(1 − D1/N), G(κ) = Σ w̄²λκ/(λ+κ), G₀ = G(κ₀) at D1(κ₀) = N (the misspecification
    floor), h(u) = (G − G₀)/u, H = [h(u) − h(u')]/(u' − u), Q = [u'D1' − uD1]/(u' − u):
    F = uu'/(zz') H/(1 − Q/P) + (σ² + G₀)/(zz') (Q/P)/(1 − Q/P).  N, P may be ``np.inf``;
    label noise σ² enters through the P samples only.

    ``ridge`` λ: the flow dθ/dt = −∇[loss + λ|θ|²/2] (minimizing §1's ridge objective).  Its
    error in the Laplace domain is −(z̃/z)(Σ̂+z̃)⁻¹θ* + (1/z)(Σ̂+z̃)⁻¹ε̂ with z̃ = z + λ, so κ,
    u, H, Q above are taken at z̃ while the 1/(zz') stays.  ``offset`` s²: the ridge pulls
    θ towards −o, o ~ N(0, s² I_N) drawn independently (weight decay of a centred network's
    weights θ₀ + θ, o = θ₀); it adds s²λ²/(zz') tr[(Σ̂+z̃)⁻¹Σ_F(Σ̂+z̃')⁻¹] ≃
    s²λ² uu'T/(zz'z̃z̃'(1 − Q/P)), T = Σ_i σ_i/((σ_i+u)(σ_i+u')) over the eigenvalues σ_i of
    Σ_F = AΛAᵀ/N, ≃ [D1(κ) − D1(κ')]/(u' − u) (on the diagonal (D1 − D2)/(κ(1 − D2/N))).
    Every mode relaxes at a rate ≥ λ, so t is capped at ``CONVERGED``/λ (beyond it the nodes
    |z| ≪ λ make the divided differences cancel: 13 % off at λt = 10⁶)."""
    t = np.atleast_1d(np.asarray(t, float))
    if ridge:
        t = np.minimum(t, CONVERGED / ridge)
    lam, power = spectrum.eigenvalues, spectrum.target_power
    inv_n, inv_p = (0.0 if np.isinf(N) else 1 / N), (0.0 if np.isinf(P) else 1 / P)
    half_s, half_w = talbot(t, nodes)
    half_k = kappa_on_contour(half_s + ridge, N, P, lam)
    # the full contour: nodes j = 0..M-1 and their conjugates j = 1..M-1
    s = np.concatenate([half_s, half_s[:, 1:].conj()], axis=1)
    w = np.concatenate([half_w, half_w[:, 1:].conj()], axis=1)  # s'_{-j} = -conj(s'_j), so w_{-j} = conj(w_j)
    k = np.concatenate([half_k, half_k[:, 1:].conj()], axis=1)
    d1, d2 = df1_df2(k, lam)
    u = k * (1 - d1 * inv_n)
    g = np.sum(power * k[..., None] / (lam + k[..., None]), axis=-1)
    g_prime = np.sum(power * lam / (lam + k[..., None]) ** 2, axis=-1)
    g0 = 0.0 if np.isinf(N) or N >= len(lam) else float(np.sum(power * (floor := kappa_floor(N, lam)) / (lam + floor)))
    h = (g - g0) / u
    du, dh, dud1 = u[:, :, None] - u[:, None, :], h[:, :, None] - h[:, None, :], (u * d1)[:, :, None] - (u * d1)[:, None, :]
    diagonal = np.eye(s.shape[1], dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        pair_h = np.where(diagonal, -(g_prime / (u * (1 - d2 * inv_n)) - (g - g0) / u**2)[:, :, None], -dh / du)
        pair_q = np.where(diagonal, (d1 - u * (d1 - d2) / (k * (1 - d2 * inv_n)))[:, :, None], dud1 / du)
    zz = s[:, :, None] * s[:, None, :]
    q = pair_q * inv_p
    f = (u[:, :, None] * u[:, None, :] / zz * pair_h + (noise + g0) / zz * q) / (1 - q)
    if ridge and offset:
        with np.errstate(divide="ignore", invalid="ignore"):
            pair_t = np.where(diagonal, ((d1 - d2) / (k * (1 - d2 * inv_n)))[:, :, None],
                              -(d1[:, :, None] - d1[:, None, :]) / du)
        shifted = (s + ridge)[:, :, None] * (s + ridge)[:, None, :]
        f = f + offset * ridge**2 * u[:, :, None] * u[:, None, :] * pair_t / (zz * shifted * (1 - q))
    weights = w[:, :, None] * w[:, None, :] * np.exp((s[:, :, None] + s[:, None, :]) * t[:, None, None])
    return g0 + np.sum(weights * f, axis=(1, 2)).real


def simulate(t, N: int, P: float, spectrum: Spectrum, noise: float, rng: np.random.Generator, ridge: float = 0.0,
             offset: float = 0.0) -> np.ndarray:
    """One draw of the model L(t, N, P) averages: features A and P noisy samples drawn (P = ∞:
    the population), gradient flow from w = 0 solved exactly in the eigenbasis of the feature
    covariance, and the exact test loss (w̄ known) at the times ``t``.  ``ridge`` λ > 0 adds
    −λ(w + o) to the flow, o ~ N(0, ``offset`` I_N) drawn last (see ``rf_gf_loss``)."""
    lam, teacher = spectrum.eigenvalues, spectrum.teacher
    A = rng.standard_normal((N, len(lam)))
    if np.isinf(P):
        covariance, correlation = (A * lam) @ A.T / N, A @ (lam * teacher) / np.sqrt(N)
    else:
        X = rng.standard_normal((int(P), len(lam))) * np.sqrt(lam)
        y = X @ teacher + np.sqrt(noise) * rng.standard_normal(int(P))
        Z = X @ A.T / np.sqrt(N)
        covariance, correlation = Z.T @ Z / P, Z.T @ y / P
    if ridge and offset:
        correlation = correlation - ridge * np.sqrt(offset) * rng.standard_normal(N)
    e, V = np.linalg.eigh(covariance)
    b = V.T @ correlation  # no component along the null space of the covariance when λ = 0
    rate = e + ridge
    gains = np.where(rate > 1e-12, -np.expm1(-np.outer(np.asarray(t, float), rate)) / np.maximum(rate, 1e-12), 0.0)
    residual = (gains * b) @ V.T @ A / np.sqrt(N) - teacher
    return (residual**2 * lam).sum(1)
