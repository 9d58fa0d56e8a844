"""The train loop of one group: ``jit(fori_loop(vmap(step)))`` over members (on each device
that ``devices.Placement`` shards them over).

A member's step is a pure function of (member state, member hyperparameters, step).
All members of a chunk advance together under ``vmap``; a ``fori_loop`` runs the steps
between the host's stops, which are the steps where some measurement is scheduled (and
``train.segments`` stops for progress).  At a stop each due measurement is one jitted call
over the chunk, its results copied to the host, where the NTK's spectrum is computed.  A
member whose batch loss turns non-finite or exceeds ``train.max_loss`` is frozen from that
step on and flagged with it; the others are untouched.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import traverse_util

from scaling import data, devices, models, optim
from scaling.config import SCHEMA
from scaling.measure import features as features_lib
from scaling.measure import ntk as ntk_lib
from scaling.measure import spectrum
from scaling.parameterization import Parameterization, lr_factor, output
from scaling.sweep import INIT_TAG, member_keys, stack


def log_steps(steps: int, n_logs: int, spacing: str) -> np.ndarray:
    """The steps at which losses are recorded: 0, ``steps`` and n_logs points spaced between."""
    if spacing == "log":
        grid = np.logspace(0, math.log10(steps), n_logs - 1) if steps > 1 else np.ones(1)
        points = np.concatenate([[0], np.round(grid)])
    else:
        points = np.round(np.linspace(0, steps, n_logs))
    return np.unique(points.astype(np.int64))


def schedule(steps: int, every, n_logs: int) -> np.ndarray:
    """A measurement's steps: every ``every`` steps and the last, the listed steps, or
    ``n_logs`` log-spaced steps (``every`` None)."""
    if every is None:
        return log_steps(steps, n_logs, "log")
    if isinstance(every, int):
        return np.unique(np.append(np.arange(0, steps + 1, every), steps))
    return np.unique(np.asarray(every, np.int64))


# Each schedule's step coordinate in the results.
STEP_COORDS = {"loss": "step", "predictions": "pred_step", "ntk": "ntk_step", "features": "feature_step"}
NTK_MEMORY_BYTES = 2**31  # members per NTK call are chosen so one call stays below this


def loss_fn(kind: str, f, y):
    """Mean over the batch of sum_out (f - y)^2 ('mse'), or cross-entropy ('xent').

    A scalar output under 'xent' is a logistic loss on the labels sign(y); several
    outputs take y as one-hot (or probability) targets."""
    if kind == "mse":
        return jnp.mean(jnp.sum((f - y) ** 2, axis=-1))
    if f.shape[-1] == 1:
        return jnp.mean(jax.nn.softplus(-jnp.sign(y) * f))
    return jnp.mean(optax.softmax_cross_entropy(f, y))


def jit(fn: Callable, **jit_kwargs) -> Callable:
    """``jax.jit`` for the group's programs.  On CPU with LLVM at -O2 instead of -O3: compiling a
    transformer group's functions takes about half the time (the NTK call 15 s instead of 28 s),
    and the training steps run no slower (benchmarks/compile.py)."""
    options = {"xla_backend_optimization_level": 2} if jax.default_backend() == "cpu" else None
    return jax.jit(fn, compiler_options=options, **jit_kwargs)


MAX_CHUNK = 4096  # members per compiled call when train.max_members is None
CPU_UNBATCHED_WIDTH = 512


def over_members(fn: Callable, in_axes: tuple) -> Callable:
    """``vmap(fn)`` over the leading member axis; a chunk of one member runs unbatched
    (same numbers; on CPU a batched matmul of batch 1 is markedly slower than a plain one)."""
    batched = jax.vmap(fn, in_axes=in_axes)

    def run(*args):
        n_members = jax.tree.leaves([a for a, axis in zip(args, in_axes) if axis == 0])[0].shape[0]
        if n_members > 1:
            return batched(*args)
        single = [jax.tree.map(lambda a: a[0], a) if axis == 0 else a for a, axis in zip(args, in_axes)]
        return jax.tree.map(lambda a: a[None], fn(*single))

    return run


def _bad(batch_loss, max_loss):
    """A batch loss that marks divergence: non-finite or above ``train.max_loss``."""
    return ~jnp.isfinite(batch_loss) | (batch_loss > max_loss)


def _select(mask, new, old):
    """Per member: ``new`` where mask else ``old`` (mask has the leading member axis)."""

    def pick(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, new, old)


@dataclasses.dataclass(frozen=True)
class Program:
    """What one group compiles: its model, data, optimizer and schedule."""

    values: dict[str, Any]
    model: nn.Module
    stream: data.Stream
    rules: Parameterization
    log_steps: np.ndarray
    dtype: Any
    placement: devices.Placement  # the devices its members run on (devices.py)
    compiled: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)  # jitted fns by key

    @property
    def steps(self) -> int:
        return self.values["train.steps"]

    def n_layers(self) -> int:
        return models.REGISTRY[self.values["model.arch"]].n_layers(self.values)

    def optimizer(self, member, lr_scale):
        return optim.optimizer(self.values["optim.name"], lr_scale)(**optim.hyperparams(member))

    # ---------------------------------------------------------------- one member
    def init(self, member) -> dict:
        key = member_keys(member["train.seed"], INIT_TAG)
        variables = self.model.init(key, self.stream.probe[0][:1], mutable=["params", "frozen", "lr_scale"])
        params = jax.tree.map(lambda p: p * member["model.init_scale"].astype(p.dtype), variables["params"])
        lr_scale = optim.layer_multipliers(params, variables.get("lr_scale", {}))
        state = {
            "params": params,
            "params0": params,
            "frozen": variables.get("frozen", {}),
            "lr_scale": lr_scale,  # per-layer lr multipliers (constants of the parameterization)
            "opt": self.optimizer(member, lr_scale).init(params),
            "data": self.stream.member_data(member["data.seed"], member["data.noise"]),  # training set / order
            "diverged": jnp.array(False),
            "diverged_step": jnp.array(-1, jnp.int32),
        }
        if self.values["model.center"]:  # f(theta_0) on the fixed inputs, computed once
            state["f0"] = {name: self.apply(params, state, x) for name, x in self.fixed_inputs(state).items()}
        if self.values["measure.features"]:
            state["features0"] = features_lib.probe_features(self.model, self.variables(state), self.stream.probe[0])
        return state

    def variables(self, state) -> dict:
        return {"params": state["params"], "frozen": state["frozen"]}

    def fixed_inputs(self, state) -> dict:
        """The inputs a member is evaluated on at every log step."""
        inputs = {"test": self.stream.test[0], "probe": self.stream.probe[0]}
        if "train" in state["data"]:
            inputs["train"] = state["data"]["train"][0]
        return inputs

    def apply(self, params, state, x):
        return self.model.apply({"params": params, "frozen": state["frozen"]}, x)

    def f0(self, state, x):
        """The output at initialization that centring subtracts (0 when not centred)."""
        return self.apply(state["params0"], state, x) if self.values["model.center"] else 0.0

    def predict(self, state, member, x):
        return output(self.apply(state["params"], state, x), self.f0(state, x), member["model.gamma"])

    def fixed_f0(self, state, name: str):
        """The cached f(theta_0) on one of ``fixed_inputs`` (0 when not centred)."""
        return state["f0"][name] if self.values["model.center"] else 0.0

    def predict_fixed(self, state, member, name: str):
        """``predict`` on one of ``fixed_inputs``, with its cached f(theta_0)."""
        x = self.fixed_inputs(state)[name]
        return output(self.apply(state["params"], state, x), self.fixed_f0(state, name), member["model.gamma"])

    def batch(self, state, member, t, rows=None):
        """The member's batch at step t and f(theta_0) on it (``rows``: step t's examples of a
        streamed dataset, fed by the host)."""
        if "train" not in state["data"]:
            x, y = self.stream.batch(state["data"], member, t, rows)
            return x, y, self.f0(state, x)
        (x, y), f0 = state["data"]["train"], self.fixed_f0(state, "train")
        index = self.stream.batch_index(member["data.seed"], t)
        if index is None:
            return x, y, f0
        return x[index], y[index], f0[index] if self.values["model.center"] else f0

    def objective(self, params, state, member, batch):
        """The batch loss of ``params`` on ``batch`` = (x, y, f0)."""
        x, y, f0 = batch
        return loss_fn(self.values["train.loss"], output(self.apply(params, state, x), f0, member["model.gamma"]), y)

    def step(self, state, member, t, shared_batch=None, rows=None):
        """One optimizer step; returns the new state and the batch loss before it.

        ``shared_batch``: an online batch drawn once for members that share their data fields;
        ``rows``: the member's examples of step t when the data is streamed."""
        if shared_batch is None:
            batch = self.batch(state, member, t, rows)
        else:
            batch = (*shared_batch, self.f0(state, shared_batch[0]))
        batch_loss, grads = jax.value_and_grad(self.objective)(state["params"], state, member, batch)
        optimizer = self.optimizer(member, state["lr_scale"])
        updates, opt_state = optimizer.update(grads, state["opt"], state["params"])
        new = {**state, "params": optax.apply_updates(state["params"], updates), "opt": opt_state}
        return new, batch_loss

    def batch_loss(self, state, member, t, rows=None):
        """The loss of step t's batch before the step: what the step computes and checks."""
        return self.objective(state["params"], state, member, self.batch(state, member, t, rows))

    def evaluate(self, state, member, batch_loss):
        """Test loss and train loss (the step's batch loss online, the full training set otherwise)."""
        kind = self.values["train.loss"]
        metrics = {"test_loss": loss_fn(kind, self.predict_fixed(state, member, "test"), self.stream.test[1])}
        if "train" not in state["data"]:
            metrics["train_loss"] = batch_loss
        else:
            metrics["train_loss"] = loss_fn(kind, self.predict_fixed(state, member, "train"), state["data"]["train"][1])
        return metrics

    def predictions(self, state, member):
        """Probe predictions, (P,) for a single-output task, else (P, C)."""
        pred = self.stream.measured(self.predict_fixed(state, member, "probe"))
        return {"probe_pred": pred if self.stream.out_dim > 1 else pred[:, 0]}

    def ntk(self, state, member) -> dict:
        """The NTK and the learning-rate-weighted NTK of the output on the probe set."""
        leaves = ntk_lib.leaf_kernels(self.model, self.variables(state), self.stream.probe[0], self.full_kernels(),
                                      select=self.stream.measured)
        lr = {path: member["lr_effective"] * scale for path, scale in flatten(state["lr_scale"]).items()}
        return ntk_lib.kernels(leaves, lr, member["model.gamma"])

    def feature_metrics(self, state, member) -> dict:
        """Relative weight change per parameter; RMS, change and target alignment per feature."""
        labels = self.labels()
        features = features_lib.probe_features(self.model, self.variables(state), self.stream.probe[0])
        signals = features_lib.signals(features, state["features0"], self.stream.probe_target)
        change = features_lib.relative_change(state["params"], state["params0"])
        metrics = {"weight_change": jnp.stack([change[path] for path in labels["param"]])}
        for name in ("rms", "update_rms", "alignment") if labels["feature"] else ():
            metrics[f"feature_{name}"] = jnp.stack([signals[f][name] for f in labels["feature"]])
        return metrics

    # ---------------------------------------------------------------- a chunk of members
    def schedules(self) -> dict[str, np.ndarray]:
        """The steps of each measurement that is on: losses at the log steps, the others at their
        own.  The NTK is always measured at step 0, the reference of ``ntk_distance``."""
        out = {"loss": self.log_steps}
        for name in ("predictions", "ntk", "features"):
            if self.values[f"measure.{name}"]:
                every, n_logs = self.values[f"measure.{name}_every"], self.values[f"measure.{name}_n_logs"]
                out[name] = schedule(self.steps, every, n_logs)
        if "ntk" in out:
            out["ntk"] = np.union1d(out["ntk"], [0])
        return out

    def events(self) -> np.ndarray:
        """Steps at which the host takes over: every measurement, ``train.segments`` stops and
        ``checkpoint.every_steps`` (splitting the loop there changes no number)."""
        stops = np.round(np.linspace(0, self.steps, self.values["train.segments"] + 1)).astype(np.int64)
        every = self.values["checkpoint.every_steps"]
        saves = np.arange(0, self.steps, every) if every else []
        return np.unique(np.concatenate([stops, saves, *self.schedules().values()]).astype(np.int64))

    def shapes(self) -> dict:
        """The shapes of a member's variables and sown features (no compute)."""
        if "shapes" not in self.compiled:
            init = functools.partial(self.model.init, mutable=["params", "frozen", "lr_scale", "features"])
            self.compiled["shapes"] = jax.eval_shape(init, jax.random.key(0), self.stream.probe[0][:1])
        return self.compiled["shapes"]

    def labels(self) -> dict[str, list[str]]:
        """Names along the ``param`` (trained leaves) and ``feature`` (sown features) dimensions."""
        shapes = self.shapes()
        return {"param": list(flatten(shapes["params"])), "feature": list(flatten(shapes.get("features", {})))}

    def full_kernels(self) -> bool:
        """Kernels over every output pair: asked for, and there are several outputs (else the trace is it)."""
        return self.values["measure.ntk_outputs"] == "full" and self.stream.out_dim > 1

    def ntk_block(self, n_members: int) -> int:
        """Members per NTK call: as many as keep its kernels and layer factors under NTK_MEMORY_BYTES."""
        shapes = self.shapes()
        variables = {"params": shapes["params"], "frozen": shapes.get("frozen", {})}
        per_member = ntk_lib.memory_bytes(self.model, variables, self.stream.probe[0], self.stream.out_dim,
                                          self.full_kernels())
        return int(max(1, min(n_members, NTK_MEMORY_BYTES // per_member)))

    def measure_fn(self, name: str) -> Callable:
        """The compiled ``measure_program(name)``, cached."""
        key = ("measure", name)
        if key not in self.compiled:
            self.compiled[key] = jit(self.placement.wrap(self.measure_program(name), (True, True, False, False)))
        return self.compiled[key]

    def measure_program(self, name: str) -> Callable:
        """``(states, members, t, rows) -> metrics`` of one schedule over a chunk; NaN for members
        diverged by step t (their batch loss at t included).  ``rows``: step t's examples of a
        streamed dataset, per data seed (None otherwise)."""
        per_member = {"loss": self.evaluate, "predictions": lambda s, m, _: self.predictions(s, m),
                      "ntk": lambda s, m, _: self.ntk(s, m), "features": lambda s, m, _: self.feature_metrics(s, m)}
        fn, max_loss = per_member[name], self.values["train.max_loss"]

        def measure(states, members, t, rows):
            batch_loss = over_members(self.batch_loss, in_axes=(0, 0, None, 0))(states, members, t,
                                                                                member_rows(rows, members))
            if name == "ntk":  # in blocks of members, to bound the kernels' memory
                block = self.ntk_block(members["train.seed"].shape[0])
                metrics = jax.lax.map(lambda args: fn(*args), (states, members, batch_loss), batch_size=block)
            else:
                metrics = over_members(fn, in_axes=(0, 0, 0))(states, members, batch_loss)
            bad = states["diverged"] | _bad(batch_loss, max_loss)
            return _select(bad, jax.tree.map(lambda v: jnp.full_like(v, jnp.nan), metrics), metrics)

        return measure

    def metric_names(self) -> dict[str, list[str]]:
        """The metrics each schedule records, as stored."""
        names = {"loss": ["train_loss", "test_loss"], "predictions": ["probe_pred"],
                 "ntk": list(spectrum.NTK_METRICS) + (["ntk", "ntk_lr"] if self.values["measure.ntk_kernels"] else []),
                 "features": ["weight_change"] + (["feature_rms", "feature_update_rms", "feature_alignment"]
                                                  if self.labels()["feature"] else [])}
        return {name: names[name] for name in self.schedules()}

    def result_dims(self) -> dict[str, list[str]]:
        """Each metric's dimensions after the member axis; output dimensions of size 1 are dropped."""
        outputs = ["output"] if self.stream.out_dim > 1 else []
        kernel = ["probe", "output", "probe2", "output2"] if self.full_kernels() else ["probe", "probe2"]
        trailing = {
            "train_loss": [], "test_loss": [], "probe_pred": ["probe"] + outputs, "ntk": kernel, "ntk_lr": kernel,
            "ntk_eigenvalues": ["eigen"], "ntk_lr_eigenvalues": ["eigen"], "ntk_target_power": ["eigen"],
            "ntk_alignment": [], "ntk_alignment_centered": [], "ntk_distance": [], "weight_change": ["param"],
            "feature_rms": ["feature"], "feature_update_rms": ["feature"], "feature_alignment": ["feature"],
        }
        return {metric: [STEP_COORDS[name]] + trailing[metric]
                for name, metrics in self.metric_names().items() for metric in metrics}

    def init_fn(self) -> Callable:
        """jit(vmap(init)), compiled once per program."""
        if "init" not in self.compiled:
            self.compiled["init"] = jit(self.placement.wrap(jax.vmap(self.init), (True,)))
        return self.compiled["init"]

    def advance_fn(self, shared_data: bool = False) -> Callable:
        """jit of ``(states, members, t0, t1, block) -> states``: steps t0 .. t1 - 1 in one
        ``fori_loop`` over ``vmap(step)``, the chunk's compiled training program.  A member whose
        batch loss turns non-finite or exceeds ``train.max_loss`` is frozen and flagged with that
        step (at step ``train.steps`` the loss is only checked).  ``block``: the examples of steps
        t0, t0 + 1, ... of a streamed dataset, (K, data seeds, B, ...), None otherwise.

        ``shared_data``: every member of the chunk trains online on the same data seed and
        label noise, so each batch is drawn once for all of them (same numbers, less work)."""
        key = ("advance", shared_data)
        if key not in self.compiled:
            self.compiled[key] = jit(self.placement.wrap(self.advance_program(shared_data), (True, True, False, False, False)),
                                     donate_argnums=(0,))
        return self.compiled[key]

    def chunk_advance_fn(self, members: list[dict]) -> Callable:
        """The advance function for a chunk of ``members``."""
        data_fields = {(m["data.seed"], m["data.noise"]) for m in members}
        synthetic = isinstance(self.stream, data.SyntheticStream)
        return self.advance_fn(shared_data=synthetic and self.stream.n_train is None and len(data_fields) == 1)

    def advance_program(self, shared_data: bool) -> Callable:
        """The function ``advance_fn`` compiles."""
        steps, max_loss = self.steps, self.values["train.max_loss"]
        vstep = over_members(self.step, in_axes=(0, 0, None, None, 0))

        def advance(states, members, t0, t1, block):
            def body(t, states):
                shared = None
                if shared_data:
                    shared = self.stream.batch({}, jax.tree.map(lambda a: a[0], members), t)
                rows = None if block is None else member_rows(jax.tree.map(lambda a: a[t - t0], block), members)
                new, batch_loss = vstep(states, members, t, shared, rows)
                bad = _bad(batch_loss, max_loss)
                newly = ~states["diverged"] & bad
                trained = {k: new[k] for k in ("params", "opt")}  # nothing else changes in a step
                keep = (t < steps) & ~(states["diverged"] | bad)  # step `steps` only checks its loss
                new = {**states, **_select(keep, trained, {k: states[k] for k in trained})}
                new["diverged"] = states["diverged"] | bad
                new["diverged_step"] = jnp.where(newly, t, states["diverged_step"]).astype(jnp.int32)
                return new

            return jax.lax.fori_loop(t0, t1, body, states)

        return advance

    def chunk_size(self) -> int:
        """``train.max_members``, or when None: every member at once, except one per device at a
        time on CPU at width >= 512, where XLA's batched matmuls run at about half the speed of
        single ones (benchmarks/throughput.py measures both), unless the data is streamed: every
        chunk reads the stream again (benchmarks/pipeline.py)."""
        if self.values["train.max_members"] is not None:
            return self.values["train.max_members"]
        wide = self.values["model.width"] >= CPU_UNBATCHED_WIDTH and jax.default_backend() == "cpu"
        return self.placement.padded(1) if wide and not self.stream.streamed else MAX_CHUNK

    def run_chunk(self, members: list[dict], on_progress: Callable[[int], None], resume: Snapshot | None = None,
                  at_stop: Callable[[int, Callable[[], Snapshot]], None] = lambda t, snapshot: None) -> tuple[dict, dict]:
        """Train one chunk from init (or from ``resume``) to ``train.steps``, measuring at each
        schedule's steps.  ``at_stop(t, snapshot)`` is called at every host stop t, before its
        measurements; ``snapshot()`` copies the chunk to the host (for a checkpoint).

        The chunk is padded to a multiple of the devices (devices.py) with copies of its last
        member, left out of everything returned or snapshot.

        Returns the final divergence flags (``diverged``, ``diverged_step``) and, per schedule,
        its metrics stacked as (steps, members, ...), on the host."""
        n, place = len(members), self.placement
        members = members + [members[-1]] * (place.padded(n) - n)
        unpad = functools.partial(jax.tree.map, lambda a: a[:n])
        arrays = place.put(stack(members, self.dtype))
        advance = self.chunk_advance_fn(members)
        schedules, events = self.schedules(), self.events()
        if resume is None:
            start, states, recorded, position = 0, self.init_fn()(arrays), {name: [] for name in schedules}, None
        else:
            start, position = resume.step, resume.data_position
            states = place.put(jax.tree.map(lambda a: np.concatenate([a, np.repeat(a[-1:], len(members) - n, 0)]),
                                            resume.states))
            recorded = {name: [{k: v[i] for k, v in resume.recorded[name].items()}
                               for i in range(int(np.sum(steps < start)))] for name, steps in schedules.items()}
            events = np.union1d(events, [start])
            on_progress(start)
        loader = None
        if self.stream.streamed and self.stream.n_train is None:
            seeds, slots = np.unique([m["data.seed"] for m in members], return_inverse=True)
            arrays["data.slot"] = place.put(slots)
            loader = self.stream.loader(seeds, states=position)
        for t, following in zip(events, list(events[1:]) + [self.steps + 1]):
            t, following = int(t), int(following)  # python ints: one jit signature
            if t < start:
                continue
            at_stop(t, lambda: Snapshot(t, unpad(place.to_host(states)), stack_recorded(recorded),
                                        loader.state() if loader else None))
            blocks = loader.blocks(t, following) if loader else [(t, following, None)]
            for start, stop, block in blocks:
                block = None if block is None else place.put(block, members=False)
                if start == t:
                    first = None if block is None else jax.tree.map(lambda a: a[0], block)
                    for name, at in schedules.items():
                        if t in at:
                            recorded[name].append(unpad(place.to_host(self.measure_fn(name)(states, arrays, t, first))))
                states = advance(states, arrays, start, stop, block)
                if loader and loader.serial:  # read the next block only once these steps are done
                    jax.block_until_ready(states)
            on_progress(following - t)
        stacked = stack_recorded(recorded)
        if "ntk" in stacked:
            kernels = stacked["ntk"]
            kept = {k: kernels[k] for k in ("ntk", "ntk_lr")} if self.values["measure.ntk_kernels"] else {}
            stacked["ntk"] = kept | spectrum.derived(kernels, np.asarray(self.stream.probe_target),
                                                     self.values["measure.ntk_top_k"], self.full_kernels())
        return unpad(place.to_host({k: states[k] for k in ("diverged", "diverged_step")})), stacked

    def member_arrays(self, members: list[dict]) -> dict:
        arrays = stack(members, self.dtype)
        return {k: jnp.asarray(v) for k, v in arrays.items()}

    def with_effective_lr(self, members: list[dict]) -> list[dict]:
        """Each member's raw lr times the lr rule's gamma factor (the per-layer multipliers apply on top)."""
        gammas = [m["model.gamma"] for m in members]
        factors = lr_factor(self.values["optim.lr_rule"], self.values["optim.name"], gammas, self.n_layers())
        return [m | {"lr_effective": float(m["optim.lr"] * f)} for m, f in zip(members, factors)]

    def train(self, members: list[dict], on_progress: Callable[[int], None] = lambda n: None,
              on_chunk: Callable[[int, dict], None] = lambda n, r: None, chunk: int | None = None,
              checkpoints: Any = None) -> dict[str, np.ndarray]:
        """Train ``members`` in chunks of ``chunk`` (default: ``train.max_members``, at most all of
        them); return their metrics as numpy arrays, (members, steps, ...).  ``on_chunk(n_done,
        results_so_far)`` is called after each chunk.  ``checkpoints``: ``resume(members) ->
        Snapshot | None`` and ``at_stop(members, t, snapshot)`` for each chunk (checkpoint.py)."""
        members = self.with_effective_lr(members)
        chunk = chunk or min(self.chunk_size(), len(members))
        results: dict[str, list] = {}
        for start in range(0, len(members), chunk):
            part = members[start:start + chunk]
            padded = part + [part[-1]] * (chunk - len(part))  # one compiled shape for every chunk
            if checkpoints is None:
                flags, stacked = self.run_chunk(padded, on_progress)
            else:
                flags, stacked = self.run_chunk(padded, on_progress, checkpoints.resume(padded),
                                                 functools.partial(checkpoints.at_stop, padded))
            chunk_results = {k: np.moveaxis(v, 0, 1)[: len(part)] for metrics in stacked.values() for k, v in metrics.items()}
            chunk_results["diverged"] = flags["diverged"][: len(part)]
            chunk_results["diverged_step"] = flags["diverged_step"][: len(part)]
            chunk_results["lr_effective"] = np.asarray([m["lr_effective"] for m in part])
            for k, v in chunk_results.items():
                results.setdefault(k, []).append(v)
            on_chunk(start + len(part), {k: np.concatenate(v) for k, v in results.items()})
        return {k: np.concatenate(v) for k, v in results.items()}


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A chunk at host stop ``step``, before that step's measurements: what a checkpoint holds."""

    step: int
    states: dict  # the members' train states, leading member axis
    recorded: dict[str, dict[str, np.ndarray]]  # per schedule, its metrics at its steps < step, (steps, members, ...)
    data_position: list | None  # grain's iterator state per data seed of a streamed dataset, else None


def stack_recorded(recorded: dict[str, list[dict]]) -> dict[str, dict[str, np.ndarray]]:
    """Per schedule, its host metrics stacked over its steps so far (schedules with none left out)."""
    return {name: {k: np.stack([m[k] for m in metrics]) for k in metrics[0]}
            for name, metrics in recorded.items() if metrics}


def member_rows(rows, members):
    """Each member's examples from the examples of every data seed, (seeds, ...) -> (members, ...)."""
    return None if rows is None else jax.tree.map(lambda a: a[members["data.slot"]], rows)


def flatten(tree) -> dict[str, Any]:
    """A nested dict of arrays by '/'-joined path, in the tree's order."""
    return traverse_util.flatten_dict(tree, sep="/")


def member_fields() -> list[str]:
    """The vmapped config fields: the values every member carries."""
    return [p for p, f in SCHEMA.items() if f.vmapped]


def build(values: dict[str, Any], placement: devices.Placement | None = None) -> Program:
    """The program of one group, from its config values, on ``placement`` (default: the
    devices ``launch.devices`` and ``launch.shard`` ask for)."""
    dtype = jnp.dtype(values["train.dtype"])
    stream = data.stream(values, dtype)
    rules = Parameterization(values["model.param"], values["optim.name"])
    model = models.REGISTRY[values["model.arch"]].build(data.with_derived(values), stream.out_dim, rules, dtype)
    return Program(
        values=values,
        model=model,
        stream=stream,
        rules=rules,
        log_steps=log_steps(values["train.steps"], values["train.n_logs"], values["train.log_spacing"]),
        dtype=dtype,
        placement=placement or devices.placement(values["launch.devices"], values["launch.shard"]),
    )

