"""Sharpness: the top eigenvalue of the Hessian of the training loss, plain and weighted by the
learning rates (the edge of stability: Cohen, Kaur, Li, Kolter & Talwalkar, ICLR 2021).

Gradient descent theta <- theta - P grad L, with P = diag(eta_p) and eta_p = lr_effective x
lr_scale_p (the member's lr times its parameter's per-layer multiplier, ``optim.py``), is linearly
stable around a minimum only if every eigenvalue of P H lies below 2, H the Hessian of L (Cohen et
al. 2021, section 2).  P H has the eigenvalues of P^{1/2} H P^{1/2}.  Stored at each step:

- ``sharpness`` = lambda_max(H), the sharpness of the papers;
- ``sharpness_lr`` = lambda_max(P^{1/2} H P^{1/2}), to compare with 2.  With one learning rate
  eta for every parameter it is eta x sharpness, and sharpness_lr < 2 is sharpness < 2 / eta.
  Heavy-ball momentum beta moves the threshold to 2 (1 + beta); Adam's own preconditioner is not
  P (its edge of stability is another quantity, Cohen et al. 2022), nor is weight decay included.

L is the member's training objective (``Program.objective``: the centred output over gamma, the
``train.loss``) on its full training set when it has one (``data.n_train``); trained online (or
streamed) it has none, and L is taken on the probe set with its clean targets, a fixed batch that
is the same at every step.  Each eigenvalue is ``measure.sharpness_iters`` steps of power iteration
on Hessian-vector products (forward-over-reverse: ``jax.jvp`` of ``jax.grad``) from a fixed random
start, read as the Rayleigh quotient of the last vector: the eigenvalue of largest magnitude, the
top one unless a negative eigenvalue is larger (not seen in training, where H's positive part
dominates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from scaling.analysis import mean_over_seeds
from scaling.config import Field, at_least
from scaling.measure.registry import Figure, register
from scaling.report import sharpness as sharpness_figures
from scaling.trees import flatten, unflatten

START_SEED = 0  # the power iteration's start vector: the same for every member, step and width


def hvp(loss: Callable, params, v):
    """H v with H the Hessian of ``loss`` at ``params``: forward-over-reverse, one jvp of the gradient."""
    return jax.jvp(jax.grad(loss), (params,), (v,))[1]


def top_eigenvalue(matvec: Callable, start, iters: int):
    """Power iteration: the Rayleigh quotient v . A v of the unit vector after ``iters`` products
    v <- A v / |A v| from ``start`` (A symmetric, given as ``matvec``)."""

    def power(_, v):
        w = matvec(v)
        return w / jnp.linalg.norm(w)

    v = jax.lax.fori_loop(0, iters, power, start / jnp.linalg.norm(start))
    return jnp.vdot(v, matvec(v))


def sharpness(loss: Callable, params, lr_per_leaf: dict[str, Any], iters: int) -> dict[str, jax.Array]:
    """lambda_max(H) and lambda_max(P^{1/2} H P^{1/2}) of ``loss`` at ``params``; P is diagonal, each
    leaf's entries its learning rate ``lr_per_leaf[path]`` (a scalar)."""
    flat, unravel = ravel_pytree(params)

    def hessian(v):
        return hvp(lambda p: loss(unravel(p)), flat, v)

    root = ravel_pytree(unflatten({path: jnp.full(p.shape, jnp.sqrt(lr_per_leaf[path]), p.dtype)
                                   for path, p in flatten(params).items()}))[0]
    start = jax.random.normal(jax.random.key(START_SEED), flat.shape, flat.dtype)
    return {"sharpness": top_eigenvalue(hessian, start, iters),
            "sharpness_lr": top_eigenvalue(lambda v: root * hessian(root * v), start, iters)}


# ---------------------------------------------------------------- the measurement
def loss_batch(program, state) -> tuple:
    """The batch (x, y, f0) whose loss's Hessian is measured: the training set, else the probe set."""
    name = "train" if "train" in state["data"] else "probe"
    x, y = state["data"]["train"] if name == "train" else program.stream.probe
    return x, y, program.fixed_f0(state, name)


def measure(program, state, member, batch_loss) -> dict:
    """The sharpness and the learning-rate-weighted sharpness of the training loss."""
    batch = loss_batch(program, state)
    lr = {path: member["lr_effective"] * scale for path, scale in flatten(state["lr_scale"]).items()}
    return sharpness(lambda params: program.objective(params, state, member, batch), state["params"], lr,
                     program.values["measure.sharpness_iters"])


def history(point) -> dict:
    """Both sharpnesses, means over seeds."""
    return {f"{name}/mean": mean_over_seeds(point[name]) for name in ("sharpness", "sharpness_lr")}


register(
    "sharpness", "sharpness_step", measure, lambda program: {"sharpness": [], "sharpness_lr": []}, n_logs=12,
    default=False,  # 2 x sharpness_iters Hessian-vector products on the training set per step and member
    fields={"measure.sharpness_iters": Field(int, 20, check=at_least(1), rule=">= 1 (power-iteration steps)")},
    history=history,
    figures=(Figure("sharpness.png", sharpness_figures.sharpness,
                    "Learning-rate-weighted sharpness λ_max(P^½ H P^½) of the training loss against step, a line "
                    "per width at its best lr, a panel per γ; dashed: the edge of stability 2 (1 + β) of gradient "
                    "descent with momentum β (Cohen et al. 2021)."),),
)
