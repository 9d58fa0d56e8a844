"""What one group compiles, and one member's pure functions: init, forward, batch, loss, step.

A ``Program`` is built once per group (``group.build``) from the group's config values: its
model, data stream, parameterization, dtype and devices.  Its methods are pure functions of a
member's state and hyperparameters (the vmapped config fields, plus ``lr_effective``), which the
loop (``loop.py``) ``vmap``s over the members of a chunk; it holds no compiled function.

Mixed precision (``train.dtype = "bfloat16"``): the state (parameters, optimizer state, data,
f(theta_0)) is float32, ``dtype``; only the step's forward and backward run ``compute_model``,
the same parameters cast to bfloat16 in its layers, with its output cast back to float32 for
centring and the loss.  Every measurement runs ``model``, in float32.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from scaling import data, measure, models, optim
from scaling.launch import devices
from scaling.keys import INIT_TAG, member_keys
from scaling.parameterization import Parameterization, output
from scaling.trees import flatten


def loss_fn(kind: str, f, y):
    """Mean over the batch of sum_out (f - y)^2 ('mse'), or cross-entropy ('xent').

    A scalar output under 'xent' is a logistic loss on the labels sign(y); several
    outputs take y as one-hot (or probability) targets."""
    if kind == "mse":
        return jnp.mean(jnp.sum((f - y) ** 2, axis=-1))
    if f.shape[-1] == 1:
        return jnp.mean(jax.nn.softplus(-jnp.sign(y) * f))
    return jnp.mean(optax.softmax_cross_entropy(f, y))


@dataclasses.dataclass(frozen=True)
class Program:
    """One group's model, data, optimizer rules and devices; ``shapes``: a member's variables and
    sown features (``jax.eval_shape`` of the model's init)."""

    values: dict[str, Any]
    model: nn.Module  # in ``dtype``: init and every measurement
    compute_model: nn.Module  # what the step trains: ``model`` itself, or its clone in bfloat16 compute
    stream: data.Stream
    rules: Parameterization
    dtype: Any
    placement: devices.Placement  # the devices its members run on (launch/devices.py)
    shapes: dict

    @property
    def steps(self) -> int:
        return self.values["train.steps"]

    @property
    def mixed(self) -> bool:
        """Whether the step computes in another dtype than the state's (``train.dtype = "bfloat16"``)."""
        return self.compute_model is not self.model

    def measurements(self) -> list[measure.Measurement]:
        """The measurements this group takes (``scaling.measure``)."""
        return measure.active(self.values)

    def labels(self) -> dict[str, list[str]]:
        """Names along the ``param`` (trained leaves) and ``feature`` (sown features) dimensions."""
        return {"param": list(flatten(self.shapes["params"])), "feature": list(flatten(self.shapes.get("features", {})))}

    def optimizer(self, member, state):
        """The member's optimizer, with the per-parameter multipliers kept in its state."""
        return optim.optimizer(self.values, member, tuple(state[rule] for rule in optim.RULES))

    def loss(self, f, y):
        """The training loss (``train.loss``) of outputs ``f`` against targets ``y``."""
        return loss_fn(self.values["train.loss"], f, y)

    # ---------------------------------------------------------------- one member
    def init(self, member) -> dict:
        """A member's train state at step 0, from its seeds."""
        key = member_keys(member["train.seed"], INIT_TAG)
        variables = self.model.init(key, self.stream.probe[0][:1], mutable=["params", "frozen", *optim.RULES])
        params = jax.tree.map(lambda p: p * member["model.init_scale"].astype(p.dtype), variables["params"])
        # per-parameter lr, eps and weight-decay multipliers (constants of the parameterization)
        rules = {rule: optim.layer_multipliers(params, variables.get(rule, {})) for rule in optim.RULES}
        state = {
            "params": params,
            "params0": params,
            "frozen": variables.get("frozen", {}),
            **rules,
            "opt": self.optimizer(member, rules).init(params),
            "data": self.stream.member_data(member["data.seed"], member["data.noise"]),  # training set / order
            "diverged": jnp.array(False),
            "diverged_step": jnp.array(-1, jnp.int32),
        }
        if self.values["train.stop_loss"] is not None:  # (only then: a state without them resumes as before)
            state |= {"stopped": jnp.array(False), "stopped_step": jnp.array(-1, jnp.int32)}
        if self.values["model.center"]:  # f(theta_0) on the fixed inputs, computed once
            state["f0"] = {name: self.apply(params, state, x) for name, x in self.fixed_inputs(state).items()}
            if self.mixed and "train" in state["data"]:  # and the step's own on the training set
                state["f0_step"] = self.apply(params, state, state["data"]["train"][0], training=True)
        for measurement in self.measurements():
            state |= measurement.init(self, state)
        return state

    def variables(self, state) -> dict:
        return {"params": state["params"], "frozen": state["frozen"]}

    def fixed_inputs(self, state) -> dict:
        """The inputs a member is evaluated on at every log step."""
        inputs = {"test": self.stream.test[0], "probe": self.stream.probe[0]}
        if "train" in state["data"]:
            inputs["train"] = state["data"]["train"][0]
        return inputs

    def apply(self, params, state, x, training: bool = False):
        """The output on ``x``, in ``dtype``: ``model``'s, or when ``training`` the step's
        ``compute_model``'s, cast back to ``dtype``."""
        variables = {"params": params, "frozen": state["frozen"]}
        if not training:
            return self.model.apply(variables, x)
        f = self.compute_model.apply(variables, x)
        return f if f.dtype == self.dtype else f.astype(self.dtype)

    def f0(self, state, x, training: bool = False):
        """The output at initialization that centring subtracts (0 when not centred), computed
        like the output it is subtracted from (``training``: the step's), so f - f0 = 0 at init."""
        return self.apply(state["params0"], state, x, training) if self.values["model.center"] else 0.0

    def predict(self, state, member, x):
        return output(self.apply(state["params"], state, x), self.f0(state, x), member["model.gamma"])

    def fixed_f0(self, state, name: str):
        """The cached f(theta_0) on one of ``fixed_inputs`` (0 when not centred)."""
        return state["f0"][name] if self.values["model.center"] else 0.0

    def predict_fixed(self, state, member, name: str):
        """``predict`` on one of ``fixed_inputs``, with its cached f(theta_0)."""
        x = self.fixed_inputs(state)[name]
        return output(self.apply(state["params"], state, x), self.fixed_f0(state, name), member["model.gamma"])

    def batch(self, state, member, t, rows=None, training: bool = False):
        """The member's batch at step t and f(theta_0) on it (``rows``: step t's examples of a
        streamed dataset, fed by the host; ``training``: f(theta_0) of the step's forward)."""
        if "train" not in state["data"]:
            x, y = self.stream.batch(state["data"], member, t, rows)
            return x, y, self.f0(state, x, training)
        (x, y), f0 = state["data"]["train"], self.fixed_f0(state, "train")
        if training and self.mixed and self.values["model.center"]:
            f0 = state["f0_step"]
        index = self.stream.batch_index(member["data.seed"], t)
        if index is None:
            return x, y, f0
        return x[index], y[index], f0[index] if self.values["model.center"] else f0

    def objective(self, params, state, member, batch, training: bool = False):
        """The batch loss of ``params`` on ``batch`` = (x, y, f0): measured by ``model``, or when
        ``training`` the step's loss, by ``compute_model`` (f0 then the step's too, ``batch``)."""
        x, y, f0 = batch
        return self.loss(output(self.apply(params, state, x, training), f0, member["model.gamma"]), y)

    def step(self, state, member, t, shared_batch=None, rows=None):
        """One optimizer step; returns the new state and the batch loss before it.

        ``shared_batch``: an online batch drawn once for members that share their data fields;
        ``rows``: the member's examples of step t when the data is streamed."""
        if shared_batch is None:
            batch = self.batch(state, member, t, rows, training=True)
        else:
            batch = (*shared_batch, self.f0(state, shared_batch[0], training=True))
        objective = functools.partial(self.objective, training=True)
        batch_loss, grads = jax.value_and_grad(objective)(state["params"], state, member, batch)
        optimizer = self.optimizer(member, state)
        updates, opt_state = optimizer.update(grads, state["opt"], state["params"])
        new = {**state, "params": optax.apply_updates(state["params"], updates), "opt": opt_state}
        return new, batch_loss

    def batch_loss(self, state, member, t, rows=None):
        """The loss of step t's batch before the step, measured: what the step computes and checks
        (the step's own, in bfloat16 compute under mixed precision, agrees to its rounding)."""
        return self.objective(state["params"], state, member, self.batch(state, member, t, rows))

    # ---------------------------------------------------------------- when the host takes over
    def schedules(self) -> dict[str, np.ndarray]:
        """The steps of each measurement this group takes, by its name."""
        return {m.name: m.steps(self) for m in self.measurements()}

    def events(self) -> np.ndarray:
        """Steps at which the host takes over: every measurement, ``train.segments`` stops and
        ``checkpoint.every_steps`` (splitting the loop there changes no number)."""
        stops = np.round(np.linspace(0, self.steps, self.values["train.segments"] + 1)).astype(np.int64)
        every = self.values["checkpoint.every_steps"]
        saves = np.arange(0, self.steps, every) if every else []
        return np.unique(np.concatenate([stops, saves, *self.schedules().values()]).astype(np.int64))

    def n_layers(self) -> int:
        return models.n_layers(self.values)
