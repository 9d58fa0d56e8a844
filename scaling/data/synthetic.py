"""Synthetic tasks generated on the device (THEORY.md sections 0, 5, 7, 8)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
from scipy import special

from scaling.config import Field, at_least, nonneg, positive
from scaling.data import tasks
from scaling.data.tasks import register
from scaling.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class PowerLaw:
    """Gaussian features psi ~ N(0, Lambda), lambda_k = k^-alpha, target y = w.psi with
    w_k^2 lambda_k = k^-(1 + alpha beta) (THEORY.md section 0: capacity alpha, source beta)."""

    dim: int
    alpha: float
    beta: float
    dtype: Any
    out_dim: int = 1

    def spectrum(self):
        k = jnp.arange(1, self.dim + 1, dtype=self.dtype)
        return k**-self.alpha, k ** (-(1 + self.alpha * self.beta - self.alpha) / 2)

    def teacher(self, key):
        return self.spectrum()[1]

    def inputs(self, teacher, key, n):
        eigenvalues, _ = self.spectrum()
        return jax.random.normal(key, (n, self.dim), self.dtype) * jnp.sqrt(eigenvalues)

    def targets(self, teacher, x):
        return (x @ teacher)[:, None]


@dataclasses.dataclass(frozen=True)
class Circle:
    """x = (cos t, sin t), y = sum_k k^-((alpha beta + 1)/2) cos(k t) scaled to unit variance.

    The ReLU NTK on the circle has alpha = 2 (THEORY.md section 5): set data.alpha = 2."""

    n_modes: int
    alpha: float
    beta: float
    dtype: Any
    out_dim: int = 1

    def teacher(self, key):
        k = jnp.arange(1, self.n_modes + 1, dtype=self.dtype)
        coef = k ** (-(self.alpha * self.beta + 1) / 2)
        return coef / jnp.sqrt(jnp.sum(coef**2) / 2)

    def inputs(self, teacher, key, n):
        angle = jax.random.uniform(key, (n,), self.dtype, 0, 2 * math.pi)
        return jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)

    def targets(self, teacher, x):
        angle = jnp.arctan2(x[:, 1], x[:, 0])
        k = jnp.arange(1, teacher.shape[0] + 1, dtype=x.dtype)
        return (jnp.cos(angle[:, None] * k) @ teacher)[:, None]


def gegenbauer(degree: int, a: float, t):
    """C_k^a(t) by the three-term recurrence."""
    previous, current = jnp.ones_like(t), 2 * a * t
    if degree == 0:
        return previous
    for n in range(2, degree + 1):
        previous, current = current, (2 * t * (n + a - 1) * current - (n + 2 * a - 2) * previous) / n
    return current


def gegenbauer_rms(degree: int, dim: int) -> float:
    """sqrt(E[C_k^a(beta.x)^2]) for x uniform on S^{dim-1}, a = (dim - 2)/2 (dim >= 3)."""
    a = (dim - 2) / 2
    log_norm = (math.log(math.pi) + (1 - 2 * a) * math.log(2) + special.gammaln(degree + 2 * a)
                - special.gammaln(degree + 1) - math.log(degree + a) - 2 * special.gammaln(a))
    log_mass = 0.5 * math.log(math.pi) + special.gammaln(a + 0.5) - special.gammaln(a + 1)
    return math.exp(0.5 * (log_norm - log_mass))


@dataclasses.dataclass(frozen=True)
class Gegenbauer:
    """x uniform on S^{D-1}, y = Q_k(beta.x) with a random unit beta, unit RMS (THEORY.md section 7)."""

    dim: int
    degree: int
    dtype: Any
    out_dim: int = 1

    def teacher(self, key):
        beta = jax.random.normal(key, (self.dim,), self.dtype)
        return beta / jnp.linalg.norm(beta)

    def inputs(self, teacher, key, n):
        x = jax.random.normal(key, (n, self.dim), self.dtype)
        return x / jnp.linalg.norm(x, axis=-1, keepdims=True)

    def targets(self, teacher, x):
        a = (self.dim - 2) / 2
        return (gegenbauer(self.degree, a, x @ teacher) / gegenbauer_rms(self.degree, self.dim))[:, None]


@dataclasses.dataclass(frozen=True)
class Whitened:
    """Whitened Gaussian inputs (X^T X / n = I whenever n >= D) and a linear teacher of norm
    ``data.signal`` (THEORY.md section 8)."""

    dim: int
    signal: float
    dtype: Any
    out_dim: int = 1

    def teacher(self, key):
        beta = jax.random.normal(key, (self.dim,), self.dtype)
        return self.signal * beta / jnp.linalg.norm(beta)

    def inputs(self, teacher, key, n):
        x = jax.random.normal(key, (n, self.dim), self.dtype)
        if n < self.dim:
            return x
        eigenvalues, vectors = jnp.linalg.eigh(x.T @ x / n)
        return x @ (vectors * eigenvalues**-0.5) @ vectors.T

    def targets(self, teacher, x):
        return (x @ teacher)[:, None]


def _needs_dim(task: str, allowed: str, ok):
    def check(values):
        if not ok(values["data.dim"]):
            raise ConfigError("data.dim", values["data.dim"], f"{allowed} for data.task = {task!r}")

    return check


DIM = Field(int, 32, check=at_least(1), rule=">= 1")
BETA = Field(float, 0.8, check=positive, rule="> 0 (source exponent)")
register("powerlaw", lambda v, dtype: PowerLaw(v["data.dim"], v["data.alpha"], v["data.beta"], dtype),
         fields={"data.dim": DIM, "data.alpha": tasks.ALPHA, "data.beta": BETA})
register("circle", lambda v, dtype: Circle(v["data.n_modes"], v["data.alpha"], v["data.beta"], dtype),
         check=_needs_dim("circle", "2", lambda d: d == 2),
         fields={"data.dim": DIM, "data.alpha": tasks.ALPHA, "data.beta": BETA,
                 "data.n_modes": Field(int, 256, check=at_least(1), rule=">= 1")})
register("gegenbauer", lambda v, dtype: Gegenbauer(v["data.dim"], v["data.degree"], dtype),
         check=_needs_dim("gegenbauer", ">= 3", lambda d: d >= 3),
         fields={"data.dim": DIM, "data.degree": Field(int, 2, check=nonneg, rule=">= 0")})
register("whitened", lambda v, dtype: Whitened(v["data.dim"], v["data.signal"], dtype),
         fields={"data.dim": DIM, "data.signal": Field(float, 1.0, check=positive, rule="> 0 (teacher norm)")})
