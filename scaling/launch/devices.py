"""Where a group's programs run: its members sharded over the devices, or one model's width.

``launch.shard = "members"`` (the default): a ``Mesh`` over the devices (every process's, under
``jax.distributed``) with one axis, ``members``.  Each device runs its slice of the chunk's
members through the group's ``vmap``-ed programs (``jax.shard_map``); members are independent,
so the devices never communicate, and a member's numbers are bit for bit those of one device
running chunks of the per-device size (to float rounding at other chunk sizes, as XLA's batched
matmuls round by batch size).  A chunk whose size is not a multiple of the device count is
padded with copies of its last member (``Placement.padded``), dropped again by
``Trainer.run_chunk`` (train/loop.py).

``launch.shard = "width"``, for a model too big for one device: every array of the members'
states is split over the devices along its largest dimension that the device count divides
(weights along their width, the training set along its examples) and XLA's SPMD partitioner
inserts the collectives.  Members are not split; reductions are summed in another order, so
numbers agree with a one-device run to float rounding, not bitwise.  One process only.

Several hosts: ``initialize`` joins one process per host into one JAX runtime
(``jax.distributed``); the member mesh then spans every host's devices.  Process 0 is the
*primary*: it alone claims groups, writes files and logs, and ``agree`` hands its decisions to
the others, which train the same chunks in step with it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from scaling.errors import ConfigError

MEMBERS, WIDTH = "members", "width"


@dataclasses.dataclass(frozen=True)
class Placement:
    """The devices of a group's programs and how its arrays are split over them."""

    mesh: Mesh
    shard: str  # MEMBERS | WIDTH

    @property
    def n_devices(self) -> int:
        return self.mesh.size

    @property
    def multi_process(self) -> bool:
        return jax.process_count() > 1

    def padded(self, n_members: int) -> int:
        """Members per compiled call: ``n_members`` rounded up to a multiple of the devices."""
        return -(-n_members // self.n_devices) * self.n_devices if self.shard == MEMBERS else n_members

    def wrap(self, fn: Callable, members: tuple[str, ...]) -> Callable:
        """``fn`` (to be jitted) placed: its arguments named in ``members`` carry the member axis
        first, the others are the same for every member; every output carries it."""
        member_args = [name in members for name in inspect.signature(fn).parameters]
        if self.shard == MEMBERS:
            specs = tuple(P(MEMBERS) if batched else P() for batched in member_args)
            return jax.shard_map(fn, mesh=self.mesh, in_specs=specs, out_specs=P(MEMBERS), check_vma=False)

        def constrained(*args):
            args = [self.constrain(a) if batched else a for a, batched in zip(args, member_args)]
            return self.constrain(fn(*args))

        return constrained

    def constrain(self, tree):
        """Width sharding: each array split along its largest dimension after the member axis that
        the device count divides (replicated when none does)."""
        def place(a):
            dims = [d for d in range(1, a.ndim) if a.shape[d] % self.n_devices == 0 and a.shape[d] >= self.n_devices]
            if not dims:
                return a
            split = max(dims, key=lambda d: (a.shape[d], d))
            spec = P(*[WIDTH if d == split else None for d in range(a.ndim)])
            return jax.lax.with_sharding_constraint(a, NamedSharding(self.mesh, spec))

        return jax.tree.map(place, tree)

    def memory_bytes(self) -> int | None:
        """The memory of one of its devices (of this process: only those report), from the
        accelerator's allocator; None on CPU (which reports none: it shares the host's)."""
        local = next(d for d in self.mesh.devices.flat if d.process_index == jax.process_index())
        stats = local.memory_stats()
        return None if stats is None else stats.get("bytes_limit")

    def put(self, tree, members: bool = True):
        """Host arrays onto the mesh: split over the member axis (``members``) or replicated.
        Under several processes every process passes the same values."""
        spec = P(MEMBERS) if members and self.shard == MEMBERS else P()
        return jax.device_put(tree, NamedSharding(self.mesh, spec))

    def to_host(self, tree):
        """Device arrays as numpy, whole on every process (gathered from the other hosts' devices)."""
        if self.multi_process:
            return multihost_utils.process_allgather(tree, tiled=True)
        return jax.device_get(tree)


def placement(devices: int | None = None, shard: str = MEMBERS) -> Placement:
    """The first ``devices`` devices (None: every device of every process) for ``shard``."""
    found = jax.devices()
    if devices is not None and devices > len(found):
        raise ConfigError("launch.devices", devices, f"at most {len(found)}, the {found[0].platform} devices there are")
    if shard == WIDTH and jax.process_count() > 1:
        raise ConfigError("launch.shard", shard, "'members' when several processes run a sweep (width: one process)")
    found = found[:devices]
    axis = WIDTH if shard == WIDTH else MEMBERS
    return Placement(Mesh(np.array(found), (axis,)), shard)


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None) -> None:
    """Join this process to a multi-host run (``jax.distributed.initialize``): from the explicit
    coordinator address, process count and id, or else from SLURM's environment (a job step of
    several tasks, one per host).  Does nothing for a single process."""
    explicit = (coordinator, num_processes, process_id)
    if any(v is not None for v in explicit):
        if any(v is None for v in explicit):
            raise ConfigError("--coordinator/--num-processes/--process-id", explicit, "all three, or none")
        if not 0 <= process_id < num_processes:
            raise ConfigError("--process-id", process_id, f"an integer in [0, {num_processes})")
        if num_processes > 1:
            jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
    elif int(os.environ.get("SLURM_STEP_NUM_TASKS", os.environ.get("SLURM_NTASKS", "1"))) > 1:
        jax.distributed.initialize()  # JAX reads the coordinator, count and id from SLURM's variables


def primary() -> bool:
    """Whether this is the process that writes (process 0; the only one outside multi-host runs)."""
    return jax.process_index() == 0


def agree(value: Any = None) -> Any:
    """The primary's ``value`` (JSON), on every process."""
    if jax.process_count() == 1:
        return value
    data = np.frombuffer(json.dumps(value).encode(), np.uint8) if primary() else None
    size = int(multihost_utils.broadcast_one_to_all(np.int32(0 if data is None else data.size)))
    data = multihost_utils.broadcast_one_to_all(np.zeros(size, np.uint8) if data is None else data)
    return json.loads(np.asarray(data, np.uint8).tobytes().decode())
