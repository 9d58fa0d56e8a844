"""Optimizers: optax with per-member hyperparameters as arrays and per-layer lr multipliers.

``optax.inject_hyperparams`` keeps each member's learning rate, momentum, ... in its
optimizer state, so one compiled step serves members with different values; the
per-layer multipliers of the parameterization (the ``lr_scale`` tree recorded by
``models.layers.Dense``) scale the updates last.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from scaling.trees import flatten, unflatten

HYPERPARAMS = {  # optax argument -> member field
    "learning_rate": "lr_effective",
    "momentum": "optim.momentum",
    "weight_decay": "optim.weight_decay",
    "b1": "optim.b1",
    "b2": "optim.b2",
    "eps": "optim.eps",
}


def layer_multipliers(params, recorded) -> dict:
    """The lr multiplier of every parameter: the one its layer recorded, else 1 (a parameter
    outside the parameterized layers trains at the member's lr)."""
    flat = flatten(recorded)
    ones = flatten(params)
    return unflatten({path: flat.get(path, jnp.ones((), p.dtype)) for path, p in ones.items()})


def scale_by_layer(multipliers) -> optax.GradientTransformation:
    """Multiply each parameter's update by its layer's lr multiplier."""
    return optax.stateless(lambda updates, params=None: jax.tree.map(lambda u, m: u * m, updates, multipliers))


def optimizer(name: str, multipliers):
    """A factory ``f(**hyperparams) -> GradientTransformation`` whose hyperparameters live in its state."""

    def chain(learning_rate, momentum, weight_decay, b1, b2, eps):
        if name == "sgd":
            base = optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(learning_rate, momentum))
        else:
            base = optax.adamw(learning_rate, b1, b2, eps, weight_decay=weight_decay)
        return optax.chain(base, scale_by_layer(multipliers))

    return optax.inject_hyperparams(chain)


def hyperparams(member: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's hyperparameters from a member's values."""
    return {arg: member[field] for arg, field in HYPERPARAMS.items()}
