"""A group's program built from its config values; its members trained in chunks and their
results assembled as arrays, (members, steps, ...), with the dims and coordinates they are
stored under."""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from scaling import config, data, models, optim
from scaling.launch import devices
from scaling.parameterization import Parameterization, lr_factor
from scaling.sweep import stack
from scaling.train.loop import Trainer, advance_program
from scaling.train.program import Program

MAX_CHUNK = 4096  # members per compiled call when train.max_members is None
MEMORY_FRACTION = 0.5  # of an accelerator's memory a chunk's training step may take (the rest: XLA, measurements)
CPU_UNBATCHED_WIDTH = 512


def build(values: dict[str, Any], placement: devices.Placement | None = None) -> Trainer:
    """The program of one group, from its config values, on ``placement`` (default: the
    devices ``launch.devices`` and ``launch.shard`` ask for), ready to compile."""
    compute_dtype = jnp.dtype(values["train.dtype"])
    dtype = jnp.dtype(jnp.float32) if compute_dtype == jnp.bfloat16 else compute_dtype  # the state's
    stream = data.stream(values, dtype)
    rules = parameterization(values)
    model = models.REGISTRY[values["model.arch"]].build(data.with_derived(values), stream.out_dim, rules, dtype)
    compute_model = model if compute_dtype == dtype else model.clone(dtype=compute_dtype, param_dtype=dtype)
    init = functools.partial(model.init, mutable=["params", "frozen", *optim.RULES, "features"])
    return Trainer(Program(
        values=values, model=model, compute_model=compute_model, stream=stream, rules=rules, dtype=dtype,
        placement=placement or devices.placement(values["launch.devices"], values["launch.shard"]),
        shapes=jax.eval_shape(init, jax.random.key(0), stream.probe[0][:1]),
    ))


def parameterization(values: dict[str, Any]) -> Parameterization:
    """The group's parameterization: its ``model.param``, optimizer, residual scaling (of the
    architectures that have residual branches) and weight-decay rule."""
    return Parameterization(values["model.param"], values["optim.name"], values.get("model.residual_alpha", 0.0),
                            values["optim.weight_decay_rule"])


def member_fields() -> list[str]:
    """The vmapped config fields: the values every member carries."""
    return [p for p, f in config.SCHEMA.items() if f.vmapped]


def with_effective_lr(program: Program, members: list[dict]) -> list[dict]:
    """Each member's raw lr times the lr rule's gamma factor (the per-layer multipliers apply on top)."""
    gammas = [m["model.gamma"] for m in members]
    factors = lr_factor(program.values["optim.lr_rule"], program.values["optim.name"], gammas, program.n_layers())
    return [m | {"lr_effective": float(m["optim.lr"] * f)} for m, f in zip(members, factors)]


def member_arrays(program: Program, members: list[dict]) -> dict:
    """Members' values as device arrays, leading axis = members."""
    return {k: jnp.asarray(v) for k, v in stack(members, program.dtype).items()}


def chunk_size(program: Program) -> int:
    """``train.max_members``, or when None: on an accelerator, as many members as fit in
    ``MEMORY_FRACTION`` of its memory (``member_bytes``), at most ``MAX_CHUNK``; on CPU every
    member at once, except one per device at a time at width >= 512, where XLA's batched
    matmuls run slower than single ones (benchmarks/throughput.py measures both), unless the
    data is streamed: every chunk reads the stream again (benchmarks/pipeline.py)."""
    if program.values["train.max_members"] is not None:
        return program.values["train.max_members"]
    per_device, memory = program.placement.padded(1), program.placement.memory_bytes()
    if memory is not None:
        fit = int(MEMORY_FRACTION * memory // member_bytes(program))  # members per device
        return per_device * int(np.clip(fit, 1, MAX_CHUNK // per_device))
    wide = program.values["model.width"] >= CPU_UNBATCHED_WIDTH and jax.default_backend() == "cpu"
    return per_device if wide and not program.stream.streamed else MAX_CHUNK


def member_bytes(program: Program) -> int:
    """A member's device memory in training: XLA's memory analysis of the training loop compiled
    for one member on the group's backend (its arguments, temporaries and outputs, the donated
    state counted once).  The measurements bound their own memory (``Measurement.block``)."""
    member = member_arrays(program, with_effective_lr(program, [{p: program.values[p] for p in member_fields()}]))
    states = jax.eval_shape(jax.vmap(program.init), member)
    advance = jax.jit(advance_program(program, shared_data=False), donate_argnums=(0,))
    memory = advance.lower(states, member, 0, 1, None).compile().memory_analysis()
    return (memory.argument_size_in_bytes + memory.temp_size_in_bytes + memory.output_size_in_bytes
            - memory.alias_size_in_bytes)


def result_dims(program: Program) -> dict[str, list[str]]:
    """Each stored metric's dimensions after the member axis: its measurement's step coordinate,
    then its own (output dimensions of size 1 are dropped)."""
    return {metric: [m.step_coord] + dims for m in program.measurements() for metric, dims in m.dims(program).items()}


def result_coords(program: Program) -> dict[str, list]:
    """The coordinates of the stored metrics: each measurement's steps, and the labels it names."""
    schedules, coords = program.schedules(), {}
    for m in program.measurements():
        coords |= {m.step_coord: schedules[m.name].tolist()} | m.coords(program)
    return coords


def run(trainer: Trainer, members: list[dict], on_progress: Callable[[int], None] = lambda n: None,
        on_chunk: Callable[[int, dict], None] = lambda n, r: None, chunk: int | None = None,
        checkpoints: Any = None) -> dict[str, np.ndarray]:
    """Train ``members`` in chunks of ``chunk`` (default: ``chunk_size``, at most all of them);
    return their metrics as numpy arrays, (members, steps, ...).  ``on_chunk(n_done,
    results_so_far)`` is called after each chunk.  ``checkpoints``: ``resume(members) ->
    Snapshot | None`` and ``at_stop(members, t, snapshot)`` for each chunk (checkpoint.py)."""
    members = with_effective_lr(trainer.program, members)
    chunk = chunk or min(chunk_size(trainer.program), len(members))
    results: dict[str, list] = {}
    for start in range(0, len(members), chunk):
        part = members[start:start + chunk]
        padded = part + [part[-1]] * (chunk - len(part))  # one compiled shape for every chunk
        if checkpoints is None:
            flags, stacked = trainer.run_chunk(padded, on_progress)
        else:
            flags, stacked = trainer.run_chunk(padded, on_progress, checkpoints.resume(padded),
                                               functools.partial(checkpoints.at_stop, padded))
        chunk_results = {k: np.moveaxis(v, 0, 1)[: len(part)] for metrics in stacked.values() for k, v in metrics.items()}
        chunk_results |= {k: v[: len(part)] for k, v in flags.items()}
        chunk_results["lr_effective"] = np.asarray([m["lr_effective"] for m in part])
        for k, v in chunk_results.items():
            results.setdefault(k, []).append(v)
        on_chunk(start + len(part), {k: np.concatenate(v) for k, v in results.items()})
    return {k: np.concatenate(v) for k, v in results.items()}
