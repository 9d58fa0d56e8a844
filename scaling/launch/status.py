"""``scaling status DIR``: where a sweep stands, from its directory alone.

A group is *done* when its file holds every member, *running* when a live worker claims it
(launch/lock.py; its host:pid is shown), *stopped* when it has members or a checkpoint written but no
live worker (a run killed or preempted mid-group: running the same command resumes it),
*pending* otherwise.  The time left is estimated from the seconds per member of the groups
written so far, times the members not yet written.  A sweep submitted to SLURM (launch/slurm.py) also
shows each group's array task and its state in SLURM's queue (``ended`` once it left it).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from scaling import checkpoint, store, sweep
from scaling.errors import ConfigError
from scaling.launch import lock, slurm


@dataclasses.dataclass(frozen=True)
class GroupStatus:
    id: str
    state: str  # done | running | stopped | pending
    members: int
    members_done: int
    diverged: int
    elapsed_s: float | None  # seconds spent on the members done
    updated_s_ago: float | None  # since its file was last written
    worker: str | None = None  # host:pid of the worker running it
    checkpoint_step: int | None = None  # the step of the chunk in training its newest checkpoint holds
    slurm: str | None = None  # its newest SLURM array task and that task's state, e.g. '1234_5 RUNNING'


def group_statuses(out: str | Path) -> list[GroupStatus]:
    """The status of every group of the sweep in ``out``, in the sweep's order."""
    out = Path(out)
    if not (out / store.SWEEP_FILE).is_file():
        raise ConfigError("DIR", str(out), f"a sweep directory (one holding {store.SWEEP_FILE})")
    statuses = []
    tasks = slurm.recorded_tasks(out)
    queued = slurm.queue_states(list(tasks.values())) if tasks else None
    for group in sweep.groups(store.read_sweep(out)):
        task = tasks.get(group.id)
        in_queue = "unknown (no squeue)" if queued is None else queued.get(task, "ended")
        found = store.read_group(out, group.id)
        written = store.written_members(found[1]) if found else []
        owner = lock.live_owner(out, group.id, group.values["checkpoint.stale_lock_s"])
        latest = checkpoint.latest_step(out, group.id)
        at_step = None if latest is None else latest % (group.values["train.steps"] + 1)
        missing = store.missing_members(group, written)
        state = ("done" if not missing else "running" if owner else "stopped" if written or latest is not None
                 else "pending")
        statuses.append(GroupStatus(
            id=group.id, state=state, members=len(group.members), members_done=len(group.members) - len(missing),
            diverged=int(np.sum(found[1]["diverged"])) if found else 0,
            elapsed_s=float(found[0]["elapsed_s"]) if found else None,
            updated_s_ago=time.time() - store.group_path(out, group.id).stat().st_mtime if found else None,
            worker=owner.describe() if owner else None, checkpoint_step=at_step if missing else None,
            slurm=f"{task} {in_queue}" if task else None))
    return statuses


def seconds_left(statuses: list[GroupStatus]) -> float | None:
    """Seconds per member written so far times the members not yet written (None before any)."""
    written = [s for s in statuses if s.members_done]
    if not written:
        return None
    per_member = sum(s.elapsed_s for s in written) / sum(s.members_done for s in written)
    return per_member * sum(s.members - s.members_done for s in statuses)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def table(statuses: list[GroupStatus], title: str) -> Table:
    """One row per group: state (and worker), members written, the newest checkpoint's step,
    diverged, time spent, last write, and its SLURM task when the sweep was submitted to SLURM."""
    submitted = any(s.slurm for s in statuses)
    out = Table(title=title)
    for name, justify in [("group", "left"), ("state", "left"), ("members", "right"), ("checkpoint", "right"),
                          ("diverged", "right"), ("time", "right"), ("last written", "right")] + \
            ([("slurm task", "left")] if submitted else []):
        out.add_column(name, justify=justify)
    for s in statuses:
        ago = "-" if s.updated_s_ago is None else duration(s.updated_s_ago) + " ago"
        state = f"{s.state} ({s.worker})" if s.worker else s.state
        at = "-" if s.checkpoint_step is None else f"step {s.checkpoint_step}"
        row = [s.id, state, f"{s.members_done}/{s.members}", at, str(s.diverged), duration(s.elapsed_s), ago]
        out.add_row(*row, *([s.slurm or "-"] if submitted else []))
    return out


def totals(statuses: list[GroupStatus]) -> str:
    """One line: groups per state, members diverged, estimated time left."""
    counts = {state: sum(s.state == state for s in statuses) for state in ("done", "running", "stopped", "pending")}
    diverged = sum(s.diverged for s in statuses)
    left = seconds_left(statuses)
    eta = "finished" if counts["done"] == len(statuses) else f"about {duration(left)} left" if left else "time left unknown"
    return (f"{counts['done']} done, {counts['running']} running, {counts['stopped']} stopped, {counts['pending']} pending "
            f"of {len(statuses)} groups; {diverged} members diverged; {eta}")
