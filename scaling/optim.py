"""Optimizers: optax, with each member's hyperparameters traced and each parameter's rules.

Every parameter gets its own optax optimizer (``per_parameter``), made from the member's
hyperparameters (arrays under ``vmap``: one compiled step serves members with different lr,
momentum, b1, ...) and from its layer's multipliers of the parameterization: lr, Adam's eps
and weight decay (``RULES``, recorded by ``models.layers.Dense``).  The lr schedule is an
optax schedule of the optimizer's step count, evaluated inside the compiled step with the
member's lr as its peak.  A member's chain is the one a user would write with plain optax:
``sgd`` = add_decayed_weights -> sgd (torch's SGD: decay enters the momentum),
``adam`` = optax.adamw, ``lion`` = optax.lion, then the layer's lr multiplier.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scaling.errors import ConfigError
from scaling.trees import flatten, unflatten

# The per-parameter multipliers: the flax collection (and train-state key) each is recorded in by
# ``models.layers.record_rule`` -> the ``LayerRule`` field it holds.
RULES = {"lr_scale": "lr", "eps_scale": "eps", "decay_scale": "decay"}


def layer_multipliers(params, recorded) -> dict:
    """One multiplier per parameter: the one its layer recorded, else 1 (a parameter outside
    the parameterized layers trains at the member's lr, eps and decay)."""
    flat = flatten(recorded)
    ones = flatten(params)
    return unflatten({path: flat.get(path, jnp.ones((), p.dtype)) for path, p in ones.items()})


def horizon(values: dict[str, Any]) -> int:
    return values["optim.horizon"] or values["train.steps"]


def decay_steps(values: dict[str, Any]) -> int:
    """The length of warmup-stable-decay's final decay (Hägele et al. 2024: a fifth by default)."""
    return values["optim.decay_steps"] or max(1, horizon(values) // 5)


def check(values: dict[str, Any]) -> None:
    """The schedule's lengths fit in its horizon (before any compute)."""
    warmup, kind = values["optim.warmup_steps"], values["optim.schedule"]
    if kind != "constant" and warmup >= horizon(values):
        raise ConfigError("optim.warmup_steps", warmup, f"< the schedule's horizon ({horizon(values)} steps: "
                          f"optim.horizon, else train.steps) for optim.schedule = {kind!r}")
    if kind == "wsd" and decay_steps(values) > horizon(values) - warmup:
        raise ConfigError("optim.decay_steps", values["optim.decay_steps"],
                          f"<= the horizon minus the warmup ({horizon(values) - warmup} steps)")


def schedule(values: dict[str, Any], peak):
    """``optim.schedule`` as an optax schedule peaking at ``peak`` (a member's lr, traced):
    a linear warmup over ``optim.warmup_steps``, then constant, cosine or linear decay to
    ``optim.final_lr`` x peak at the horizon, or warmup-stable-decay (constant, then a linear
    decay over the last ``optim.decay_steps``).  Constant without warmup is ``peak`` itself."""
    kind, warmup, length = values["optim.schedule"], values["optim.warmup_steps"], horizon(values)
    end = values["optim.final_lr"] * peak
    if kind == "constant":
        if not warmup:
            return peak
        after = optax.constant_schedule(peak)
    elif kind == "cosine":
        after = optax.cosine_decay_schedule(peak, length - warmup, alpha=values["optim.final_lr"])
    elif kind == "linear":
        after = optax.linear_schedule(peak, end, length - warmup)
    else:
        stable = length - warmup - decay_steps(values)
        after = optax.join_schedules([optax.constant_schedule(peak), optax.linear_schedule(peak, end, decay_steps(values))],
                                     [stable])
    if warmup:
        after = optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])
    return at_float_count(after, peak)


def at_float_count(fn: Callable, peak) -> Callable:
    """``fn`` of the step count as a float of ``peak``'s precision: optax's schedules divide the
    optimizer's int32 count by an int, which JAX does in float32 even under x64, so a float64
    run's lr would be rounded to float32's precision."""
    dtype = jnp.result_type(peak, float)
    return lambda count: fn(jnp.asarray(count, dtype))


def peak_fraction_sum(values: dict[str, Any], steps) -> np.ndarray:
    """At each n of ``steps``: the sum over steps s < n of the schedule's fraction of its peak,
    the gradient-flow time in units of 2 x peak lr / gamma^2 (n itself at a constant lr)."""
    steps = np.asarray(steps)
    fraction = schedule(values, 1.0)
    if not callable(fraction):
        return steps.astype(float)
    cumulative = np.concatenate([[0.0], np.cumsum(np.asarray(fraction(np.arange(int(steps.max()))), float))])
    return cumulative[steps]


def scale_by_adam_atan2(b1, b2) -> optax.GradientTransformation:
    """Adam without epsilon: atan2(m_hat, sqrt(v_hat)) in place of m_hat / (sqrt(v_hat) + eps),
    invariant to the gradient's scale (Everett et al. 2024, "Scaling exponents across
    parameterizations and optimizers", section 4.3, with a = b = 1).  The moments are
    optax's ``scale_by_adam``'s."""
    adam = optax.scale_by_adam(b1, b2, eps=0.0)

    def update(updates, state, params=None):
        _, state = adam.update(updates, state, params)
        mu = optax.tree_utils.tree_bias_correction(state.mu, b1, state.count)
        nu = optax.tree_utils.tree_bias_correction(state.nu, b2, state.count)
        return jax.tree.map(lambda m, v: jnp.arctan2(m, jnp.sqrt(v)), mu, nu), state

    return optax.GradientTransformation(adam.init, update)


def direction(name: str, member: dict[str, Any], eps) -> optax.GradientTransformation:
    """The optimizer's update before the lr and the weight decay."""
    if name == "sgd":
        return optax.trace(decay=member["optim.momentum"])
    if name == "adam":
        return optax.scale_by_adam(member["optim.b1"], member["optim.b2"], eps)
    if name == "adam_atan2":
        return scale_by_adam_atan2(member["optim.b1"], member["optim.b2"])
    return optax.scale_by_lion(member["optim.b1"], member["optim.b2"])


def parameter_optimizer(values: dict[str, Any], member: dict[str, Any], lr_scale, eps_scale,
                        decay_scale) -> optax.GradientTransformation:
    """One parameter's optimizer.  Coupled weight decay (``optim.weight_decay_rule``) is added
    to the update before the lr (AdamW's, and SGD's L2 term); independent decay shrinks the
    weight by the schedule's fraction of its peak times ``optim.weight_decay``, not by the lr
    (Loshchilov & Hutter 2019; Wortsman et al. 2024)."""
    name, decay = values["optim.name"], member["optim.weight_decay"]
    step = direction(name, member, member["optim.eps"] * eps_scale)
    if values["optim.weight_decay_rule"] == "independent":
        return optax.chain(step, optax.scale(member["lr_effective"] * lr_scale), optax.add_decayed_weights(decay),
                           optax.scale_by_learning_rate(schedule(values, 1.0)))
    decayed = optax.add_decayed_weights(decay * decay_scale)
    steps = [decayed, step] if name == "sgd" else [step, decayed]
    return optax.chain(*steps, optax.scale_by_learning_rate(schedule(values, member["lr_effective"])),
                       optax.scale(lr_scale))


def per_parameter(make: Callable[..., optax.GradientTransformation], rules: tuple) -> optax.GradientTransformation:
    """Each parameter its own optimizer ``make(*its rules)``, ``rules`` being trees shaped like
    the parameters.  (``optax.multi_transform`` groups parameters by static labels; these
    rules are arrays of the member's state.)"""

    def init(params):
        return jax.tree.map(lambda p, *r: make(*r).init(p), params, *rules)

    def update(updates, state, params=None):
        pairs = jax.tree.map(lambda u, s, p, *r: make(*r).update(u, s, p), updates, state, params, *rules)
        return (jax.tree.map(lambda _, pair: pair[0], updates, pairs),
                jax.tree.map(lambda _, pair: pair[1], updates, pairs))

    return optax.GradientTransformation(init, update)


def optimizer(values: dict[str, Any], member: dict[str, Any], rules: tuple) -> optax.GradientTransformation:
    """A member's optimizer from the group's values, its hyperparameters (with ``lr_effective``)
    and the per-parameter ``RULES`` trees."""
    return per_parameter(lambda *r: parameter_optimizer(values, member, *r), rules)
