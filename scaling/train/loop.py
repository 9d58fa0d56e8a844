"""How a group runs: ``jit(fori_loop(vmap(step)))`` over the members of a chunk.

1. ``Trainer.init_fn``: every member's state at step 0, ``vmap``-ed over the chunk.
2. Between two host stops, ``advance_fn`` runs the steps in one ``fori_loop`` over
   ``vmap(step)``: no host sync per step.  A member whose batch loss turns non-finite or exceeds
   ``train.max_loss`` is frozen from that step on and flagged with it; the others are untouched.
3. At a host stop t (a measurement's step, a ``train.segments`` stop, a checkpoint step) the
   caller may snapshot the chunk (``at_stop``: a checkpoint), then the measurements due at t are
   taken in one jitted call over the chunk (one program for all of them, each under a ``cond``
   on its flag; the NTK, taken in blocks of members, in a call of its own), their results
   copied to the host.
4. After the last step each measurement's results are stacked over its steps and post-processed
   on the host (the NTK's spectrum).  A chunk resumed from a ``Snapshot`` continues at its step
   with the same numbers as an uninterrupted one.

The chunk's members are sharded over the devices of ``Program.placement`` (launch/devices.py),
padded to a multiple of them with copies of the last member, which nothing returned includes.
A ``Trainer`` holds a group's ``Program`` and the functions compiled for it, once each.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from scaling.measure import Measurement
from scaling.sweep import stack
from scaling.train.program import Program


def jit(fn: Callable, **jit_kwargs) -> Callable:
    """``jax.jit`` for the group's programs.  On CPU with LLVM at -O2 instead of -O3: compiling a
    transformer group's functions takes about half the time (the NTK call 15 s instead of 28 s),
    and the training steps run no slower (benchmarks/compile.py)."""
    options = {"xla_backend_optimization_level": 2} if jax.default_backend() == "cpu" else None
    return jax.jit(fn, compiler_options=options, **jit_kwargs)


def over_members(fn: Callable, batched: tuple[str, ...]) -> Callable:
    """``vmap(fn)`` over the leading member axis of its arguments named in ``batched``; a chunk of
    one member runs unbatched (same numbers; on CPU a batched matmul of batch 1 is markedly
    slower than a plain one)."""
    names = list(inspect.signature(fn).parameters)
    if unknown := set(batched) - set(names):
        raise TypeError(f"{fn} has no arguments {sorted(unknown)}")

    def run(*args):
        in_axes = tuple(0 if name in batched else None for name in names[:len(args)])
        n_members = jax.tree.leaves([a for a, axis in zip(args, in_axes) if axis == 0])[0].shape[0]
        if n_members > 1:
            return jax.vmap(fn, in_axes=in_axes)(*args)
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


def member_rows(rows, members):
    """Each member's examples from the examples of every data seed, (seeds, ...) -> (members, ...)."""
    return None if rows is None else jax.tree.map(lambda a: a[members["data.slot"]], rows)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A chunk at host stop ``step``, before that step's measurements: what a checkpoint holds."""

    step: int
    states: dict  # the members' train states, leading member axis
    recorded: dict[str, dict[str, np.ndarray]]  # per measurement, its metrics at its steps < step, (steps, members, ...)
    data_position: list | None  # grain's iterator state per data seed of a streamed dataset, else None


def stack_recorded(recorded: dict[str, list[dict]]) -> dict[str, dict[str, np.ndarray]]:
    """Per measurement, its host metrics stacked over its steps so far (those with none left out)."""
    return {name: {k: np.stack([m[k] for m in metrics]) for k in metrics[0]}
            for name, metrics in recorded.items() if metrics}


def advance_program(program: Program, shared_data: bool) -> Callable:
    """``(states, members, t0, t1, block) -> states``: steps t0 .. t1 - 1 in one ``fori_loop`` over
    ``vmap(step)``, the chunk's training program.  A member whose batch loss turns non-finite or
    exceeds ``train.max_loss`` is frozen and flagged with that step (at step ``train.steps`` the
    loss is only checked).  With ``train.stop_loss``, a member whose batch loss falls below it is
    frozen the same way (not diverged) and flagged with that step in ``stopped_step``.  ``block``:
    the examples of steps t0, t0 + 1, ... of a streamed dataset, (K, data seeds, B, ...), None
    otherwise.

    ``shared_data``: every member of the chunk trains online on the same data seed and label
    noise, so each batch is drawn once for all of them (same numbers, less work)."""
    steps, max_loss, stop_loss = program.steps, program.values["train.max_loss"], program.values["train.stop_loss"]
    vstep = over_members(program.step, batched=("state", "member", "rows"))

    def advance(states, members, t0, t1, block):
        def body(t, states):
            shared = program.stream.batch({}, jax.tree.map(lambda a: a[0], members), t) if shared_data else None
            rows = None if block is None else member_rows(jax.tree.map(lambda a: a[t - t0], block), members)
            new, batch_loss = vstep(states, members, t, shared, rows)
            bad = _bad(batch_loss, max_loss)
            trained = {k: new[k] for k in ("params", "opt")}  # nothing else changes in a step
            keep = (t < steps) & ~(states["diverged"] | bad)  # step `steps` only checks its loss
            flags = {"diverged": states["diverged"] | bad,
                     "diverged_step": jnp.where(~states["diverged"] & bad, t, states["diverged_step"]).astype(jnp.int32)}
            if stop_loss is not None:  # a member below it is frozen like a diverged one, its metrics kept
                low = ~flags["diverged"] & (batch_loss < stop_loss)
                keep = keep & ~(states["stopped"] | low)
                flags |= {"stopped": states["stopped"] | low,
                          "stopped_step": jnp.where(low & ~states["stopped"], t, states["stopped_step"]).astype(jnp.int32)}
            return {**states, **_select(keep, trained, {k: states[k] for k in trained}), **flags}

        return jax.lax.fori_loop(t0, t1, body, states)

    return advance


def measurement_calls(measurements: list[Measurement]) -> list[tuple[str, ...]]:
    """The names of the measurements taken together in one compiled call: every one that runs
    over the whole chunk at once, and each one taken in blocks of members (the NTK) alone: under
    a ``cond`` its map over blocks rounds differently with the number of devices."""
    together = tuple(m.name for m in measurements if m.block is None)
    return ([together] if together else []) + [(m.name,) for m in measurements if m.block is not None]


def measure_program(program: Program, measurements: list[Measurement]) -> Callable:
    """``(states, members, t, rows, due) -> {name: metrics}``: the ``measurements`` flagged in
    ``due`` (one bool per measurement, traced) over a chunk at step t, in one call.  With several,
    each is taken under ``lax.cond`` on its flag, so one compiled program serves every host stop
    and a measurement not due costs nothing (its metrics are zeros, which the caller drops); one
    alone is taken unconditionally (it is called only when due).  NaN for members diverged by
    step t (their batch loss at t included).  ``rows``: step t's examples of a streamed dataset,
    per data seed (None otherwise)."""
    max_loss = program.values["train.max_loss"]

    def take(measurement: Measurement, states, members, batch_loss):
        def per_member(state, member, batch_loss):
            return measurement.measure(program, state, member, batch_loss)

        if measurement.block is not None:  # in blocks of members, to bound its memory
            block = measurement.block(program, members["train.seed"].shape[0])
            return jax.lax.map(lambda args: per_member(*args), (states, members, batch_loss), batch_size=block)
        return over_members(per_member, batched=("state", "member", "batch_loss"))(states, members, batch_loss)

    def skip(shapes):
        return lambda *args: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def measure(states, members, t, rows, due):
        batch_loss = over_members(program.batch_loss, batched=("state", "member", "rows"))(
            states, members, t, member_rows(rows, members))
        bad = states["diverged"] | _bad(batch_loss, max_loss)
        taken = {}
        for flag, measurement in zip(due, measurements):
            fn = functools.partial(take, measurement)
            if len(measurements) == 1:
                metrics = fn(states, members, batch_loss)
            else:
                metrics = jax.lax.cond(flag, fn, skip(jax.eval_shape(fn, states, members, batch_loss)),
                                       states, members, batch_loss)
            taken[measurement.name] = _select(bad, jax.tree.map(lambda v: jnp.full_like(v, jnp.nan), metrics), metrics)
        return taken

    return measure


class Trainer:
    """A group's ``Program`` and the functions compiled for it (each once, on first use), placed on
    its devices: ``init_fn``, ``advance_fn`` and ``measure_fn``; ``run_chunk`` trains a chunk."""

    def __init__(self, program: Program):
        self.program = program
        self._compiled: dict[Any, Callable] = {}

    def _compile(self, key, fn: Callable[[], Callable], members=("states", "members"), **jit_kwargs) -> Callable:
        """jit of ``fn()`` placed on the devices (its arguments named in ``members`` carry the member
        axis), once per key."""
        if key not in self._compiled:
            self._compiled[key] = jit(self.program.placement.wrap(fn(), members=members), **jit_kwargs)
        return self._compiled[key]

    def init_fn(self) -> Callable:
        """jit(vmap(init)): ``members -> states``."""
        return self._compile("init", lambda: jax.vmap(self.program.init), members=("member",))

    def advance_fn(self, shared_data: bool = False) -> Callable:
        """The compiled ``advance_program``, its states donated."""
        return self._compile(("advance", shared_data), lambda: advance_program(self.program, shared_data),
                             donate_argnums=(0,))

    def chunk_advance_fn(self, members: list[dict]) -> Callable:
        """The advance function for a chunk of ``members``: one batch for all when the stream can
        share it and they share their data fields."""
        data_fields = {(m["data.seed"], m["data.noise"]) for m in members}
        return self.advance_fn(shared_data=self.program.stream.shares_batches and len(data_fields) == 1)

    def measure_fn(self, names: tuple[str, ...]) -> Callable:
        """The compiled ``measure_program`` of the measurements ``names``, one of the group's
        ``measurement_calls`` (``due`` picks those taken)."""
        measurements = [m for m in self.program.measurements() if m.name in names]
        return self._compile(("measure", names), lambda: measure_program(self.program, measurements))

    def measurement_calls(self) -> list[tuple[str, ...]]:
        return measurement_calls(self.program.measurements())

    def run_chunk(self, members: list[dict], on_progress: Callable[[int], None], resume: Snapshot | None = None,
                  at_stop: Callable[[int, Callable[[], Snapshot]], None] = lambda t, snapshot: None) -> tuple[dict, dict]:
        """Train one chunk from init (or from ``resume``) to ``train.steps``, measuring at each
        measurement's steps.  ``at_stop(t, snapshot)`` is called at every host stop t, before its
        measurements; ``snapshot()`` copies the chunk to the host (for a checkpoint).

        Returns the final flags (``diverged``, ``diverged_step``; ``stopped_step`` with
        ``train.stop_loss``) and, per
        measurement, its metrics stacked as (steps, members, ...), on the host."""
        program, place, n = self.program, self.program.placement, len(members)
        members = members + [members[-1]] * (place.padded(n) - n)
        unpad = functools.partial(jax.tree.map, lambda a: a[:n])
        arrays = place.put(stack(members, program.dtype))
        advance = self.chunk_advance_fn(members)
        schedules, events = program.schedules(), program.events()
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
        if program.stream.host_fed:
            seeds, slots = np.unique([m["data.seed"] for m in members], return_inverse=True)
            arrays["data.slot"] = place.put(slots)
            loader = program.stream.loader(seeds, states=position)
        for t, following in zip(events, list(events[1:]) + [program.steps + 1]):
            t, following = int(t), int(following)  # python ints: one jit signature
            if t < start:
                continue
            at_stop(t, lambda: Snapshot(t, unpad(place.to_host(states)), stack_recorded(recorded),
                                        loader.state() if loader else None))
            blocks = loader.blocks(t, following) if loader else [(t, following, None)]
            for first_step, stop, block in blocks:
                block = None if block is None else place.put(block, members=False)
                if first_step == t:
                    rows = None if block is None else jax.tree.map(lambda a: a[0], block)
                    for call in self.measurement_calls():
                        due = np.array([t in schedules[name] for name in call])
                        if due.any():
                            metrics = self.measure_fn(call)(states, arrays, t, rows, due)
                            taken = unpad(place.to_host({name: metrics[name] for name, d in zip(call, due) if d}))
                            for name, values in taken.items():
                                recorded[name].append(values)
                states = advance(states, arrays, first_step, stop, block)
                if loader and loader.serial:  # read the next block only once these steps are done
                    jax.block_until_ready(states)
            on_progress(following - t)
        stacked = stack_recorded(recorded)
        for measurement in program.measurements():
            if measurement.host is not None and measurement.name in stacked:
                stacked[measurement.name] = measurement.host(program, stacked[measurement.name])
        flags = [k for k in ("diverged", "diverged_step", "stopped_step") if k in states]
        return unpad(place.to_host({k: states[k] for k in flags})), stacked
