"""The infinite-width NNGP and NTK of the framework's MLP, and kernel regression (THEORY.md §7, §8).

The MLP of ``models/mlp.py`` with L = ``depth`` weight matrices is h_1 = m_0 W_0 x (+ m_b b_0),
h_{l+1} = m_l W_l φ(h_l) (+ m_b b_l), f = m_{L-1} w · φ(h_{L-1}), inputs flattened to D numbers, every
parameter drawn N(0, (s σ)²) with σ, m the layer's init std and forward multiplier (``parameterization``)
and s = ``model.init_scale``; biases (``model.bias``) on the hidden layers only.  At infinite width its
output is a Gaussian process of kernel Σ (the NNGP) and its tangent kernel is the deterministic Θ of the
layer recursions (Neal 1996; Lee et al. 2018, eq. 4; Jacot et al. 2018, Thm 1; Arora et al. 2019, eqs. 3-5),
per unit of each layer, with (u, v) ~ N(0, Σ_l):

    Σ_1 = v_0 x·x'/D + β,                  Θ_1 = t_0 x·x'/D + τ,
    Σ_{l+1} = v_l E[φ(u)φ(v)] + β,         Θ_{l+1} = v_l Θ_l E[φ'(u)φ'(v)] + t_l E[φ(u)φ(v)] + τ,

where a layer of fan-in n has forward gain v = m² (sσ)² n and tangent gain t = m² n (the eNTK is taken
with respect to the stored parameters, as ``measure.ntk`` does), a bias β = (m_b s σ_b)², τ = m_b²; the
readout is the last step, without bias.  For ReLU the expectations are the arc-cosine kernels of degree 1
and 0 (Cho & Saul 2009, eq. 6): with cos θ = Σ_12 / √(Σ_11 Σ_22),

    E[φ(u)φ(v)] = √(Σ_11 Σ_22) (sin θ + (π − θ) cos θ) / 2π,     E[φ'(u)φ'(v)] = (π − θ) / 2π;

for the identity, Σ_12 and 1.

Which kernel: the returned ``ntk`` is the limit of ``measure.ntk``'s plain kernel ``ntk`` of the output
(f − f0)/γ (per output: the traced kernel of C outputs is C times it), at the given width's scaling:
under ``"ntk"`` (v = t = 1) it is width-independent; under ``"mup"`` the readout's 1/N makes it
Θ_ntk / N; under ``"sp"`` the tangent gain t = n makes every weight's share grow with its fan-in.  The
``nngp`` is the prior covariance of f/γ.  Float precision is the inputs'.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from scaling.parameterization import Parameterization

ACTIVATIONS = ("relu", "linear")  # those with closed-form expectations


def _expectations(s12, s11, s22, activation: str):
    """(E[φ(u)φ(v)], E[φ'(u)φ'(v)]) for (u, v) ~ N(0, [[s11, s12], [s12, s22]]), elementwise."""
    if activation == "linear":
        return s12, jnp.ones_like(s12)
    norm = jnp.sqrt(s11 * s22)
    cos = jnp.clip(s12 / jnp.maximum(norm, jnp.finfo(norm.dtype).tiny), -1.0, 1.0)
    angle = jnp.arccos(cos)
    return norm * (jnp.sin(angle) + (math.pi - angle) * cos) / (2 * math.pi), (math.pi - angle) / (2 * math.pi)


def mlp_kernels(x1, x2, depth: int, activation: str = "relu", *, width: int, param: str = "ntk",
                optimizer: str = "sgd", bias: bool = False, init_scale=1.0, gamma=1.0) -> dict:
    """The infinite-width ``{"nngp": Σ, "ntk": Θ}`` between the rows of ``x1`` and ``x2`` (n1, n2) of the
    framework's MLP with ``depth`` weight matrices of ``width`` units under ``param`` / ``optimizer``,
    ``init_scale`` and ``gamma`` (traced values allowed); see the module docstring."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation {activation!r}: closed forms exist for {ACTIVATIONS}")
    rules = Parameterization(param, optimizer)
    x1, x2 = x1.reshape(x1.shape[0], -1), x2.reshape(x2.shape[0], -1)
    dim = x1.shape[-1]
    # the layer input's kernel per unit (E[φφ]; x·x'/D for the first layer), with its diagonals
    a12, a11, a22 = x1 @ x2.T / dim, jnp.sum(x1**2, -1) / dim, jnp.sum(x2**2, -1) / dim
    sigma = theta = None
    for layer in range(depth):
        role = "readout" if layer == depth - 1 else "input" if layer == 0 else "hidden"
        fan_in = dim if layer == 0 else width
        rule = rules.layer(role, fan_in, 1 if role == "readout" else width)
        forward, tangent = rule.mult**2 * (init_scale * rule.std) ** 2 * fan_in, rule.mult**2 * fan_in
        if layer > 0:
            s11, s22 = sigma[1], sigma[2]
            (a12, da12), (a11, _), (a22, _) = (_expectations(sigma[0], s11[:, None], s22[None, :], activation),
                                               _expectations(s11, s11, s11, activation),
                                               _expectations(s22, s22, s22, activation))
            theta = forward * theta * da12 + tangent * a12
        else:
            theta = tangent * a12
        sigma = (forward * a12, forward * a11, forward * a22)
        if bias and role != "readout":
            b = rules.layer("bias", 1, width)
            sigma = tuple(s + (b.mult * init_scale * b.std) ** 2 for s in sigma)
            theta = theta + b.mult**2
    return {"nngp": sigma[0] / gamma**2, "ntk": theta / gamma**2}


def kernel_regression(k_train, k_test_train, y_train, ridge=0.0):
    """Predictions K_*X (K + ridge I)^+ y of kernel (ridge) regression, K = ``k_train`` (n, n),
    K_*X = ``k_test_train`` (m, n), y = ``y_train`` (n, ...).  The pseudo-inverse drops the eigenvalues of
    K + ridge I below n · eps · the largest (numpy's ``lstsq`` cutoff): ridgeless (ridge = 0) it is the
    minimum-norm interpolant, what gradient flow from f = 0 converges to, also for a rank-deficient K."""
    eigenvalues, vectors = jnp.linalg.eigh(k_train)
    shifted = eigenvalues + ridge
    cutoff = k_train.shape[0] * jnp.finfo(shifted.dtype).eps * jnp.max(jnp.abs(shifted))
    kept = shifted > cutoff
    inverse = jnp.where(kept, 1 / jnp.where(kept, shifted, 1), 0)
    coefficients = vectors @ (inverse.reshape(-1, *[1] * (y_train.ndim - 1)) * (vectors.T @ y_train))
    return k_test_train @ coefficients
