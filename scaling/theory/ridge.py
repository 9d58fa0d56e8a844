"""Deterministic equivalents of ridge and linear random-feature regression (THEORY.md §1;
Atanasov, Zavatone-Veth & Pehlevan 2024, "Scaling and renormalization in high-dimensional
regression").

Ridge: minimize (1/P)Σ_μ(y_μ − w·ψ_μ)² + λ|w|² on P samples.  Random features: f(x) =
θ·Aψ(x)/√N with A ∈ R^{N×D} iid N(0, 1) and ridge λ on θ.  The empirical covariance's
fluctuations renormalize the ridge to κ; every error below is a function of κ.  Sizes may
be ``np.inf`` (no finite-P or finite-N factor).  Every function broadcasts over its size and
ridge arguments.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from scaling.theory.spectra import Spectrum, df1, df1_df2, df2


def _factors(kappa, sizes, eigenvalues):
    """Π_n (1 − D1(κ)/n) over the finite sizes n."""
    d1 = df1(kappa, eigenvalues)
    return np.prod([1 - d1 / n for n in sizes if np.isfinite(n)], axis=0) if any(np.isfinite(sizes)) else np.ones_like(d1)


def kappa_floor(n: float, eigenvalues: np.ndarray) -> float:
    """κ₀ with D1(κ₀) = n (0 when n ≥ D: nothing left to renormalize)."""
    if n >= len(eigenvalues):
        return 0.0
    lo, hi = np.log(eigenvalues.min() * 1e-12), np.log(eigenvalues.sum() * 1e6 + 1.0)
    return float(np.exp(optimize.brentq(lambda s: df1(np.exp(s), eigenvalues) - n, lo, hi, xtol=1e-14)))


def _kappa_one(ridge: float, sizes: tuple[float, ...], eigenvalues: np.ndarray) -> float:
    floor = kappa_floor(min(sizes), eigenvalues)
    if ridge == 0:
        return floor
    lo = np.log(max(floor, ridge * 1e-12))
    hi = np.log(eigenvalues.sum() + ridge + 10.0)
    equation = lambda s: np.exp(s) * _factors(np.exp(s), sizes, eigenvalues) - ridge  # noqa: E731
    return float(np.exp(optimize.brentq(equation, lo, hi, xtol=1e-14, rtol=1e-13)))


def kappa(ridge, sizes, eigenvalues: np.ndarray):
    """The renormalized ridge: λ = κ Π_n (1 − D1(κ)/n), the root with κ > λ (§1).

    ``sizes``: (P,) for ridge, (N, P) for random features (the two S-transform factors
    multiply).  At λ = 0, D1(κ) = min(N, P) (κ = 0 when that is ≥ D)."""
    sizes = np.broadcast_arrays(*[np.asarray(s, float) for s in sizes])
    solve = np.vectorize(lambda r, *n: _kappa_one(float(r), n, eigenvalues))
    return solve(ridge, *sizes)


def _bias(kappa, spectrum: Spectrum):
    """κ² Σ w̄²λ/(λ+κ)²."""
    k = np.asarray(kappa)[..., None]
    return k[..., 0] ** 2 * np.sum(spectrum.target_power / (spectrum.eigenvalues + k) ** 2, axis=-1)


def ridge_test_error(P, ridge, spectrum: Spectrum, noise: float = 0.0):
    """E_g = [κ² Σ w̄²λ/(λ+κ)² + σ² D2/P] / (1 − D2/P), label noise excluded (§1)."""
    k = kappa(ridge, (P,), spectrum.eigenvalues)
    d2 = df2(k, spectrum.eigenvalues)
    return (_bias(k, spectrum) + noise * d2 / P) / (1 - d2 / P)


def ridge_train_error(P, ridge, spectrum: Spectrum, noise: float = 0.0):
    """E_tr = (λ/κ)² (E_g + σ²) on the noisy training labels (§1)."""
    k = kappa(ridge, (P,), spectrum.eigenvalues)
    return (np.asarray(ridge) / k) ** 2 * (ridge_test_error(P, ridge, spectrum, noise) + noise)


def gcv(train_error, dof, P):
    """The GCV estimate of E_g + σ² from data alone: Ê_tr / (1 − dof/P)², dof = tr[Σ̂(Σ̂+λ)^{-1}] (§1)."""
    return np.asarray(train_error) / (1 - np.asarray(dof) / P) ** 2


def rf_test_error(N, P, ridge, spectrum: Spectrum, noise: float = 0.0):
    """Linear random features, label noise excluded (§1):

    E_g = [κ² Σ w̄²λ/(λ+κ)² + κ (D1−D2)/(N−D2) Σ w̄²λ²/(λ+κ)² + σ² Δ_F/P] / (1 − Δ_F/P),
    Δ_F = (D2 − 2 D1 D2/N + D1²/N) / (1 − D2/N); the middle term is the variance over A."""
    N, P = np.asarray(N, float), np.asarray(P, float)
    k = kappa(ridge, (N, P), spectrum.eigenvalues)
    d1, d2 = df1_df2(k, spectrum.eigenvalues)
    kk = k[..., None]
    aligned = np.sum(spectrum.target_power * spectrum.eigenvalues / (spectrum.eigenvalues + kk) ** 2, axis=-1)
    delta = (d2 - 2 * d1 * d2 / N + d1**2 / N) / (1 - d2 / N)
    return (_bias(k, spectrum) + k * (d1 - d2) / (N - d2) * aligned + noise * delta / P) / (1 - delta / P)
