"""``scaling status DIR``: where a sweep stands, from its directory alone.

A group is *done* when its file says complete, *running* when it holds some chunks of its
members but not all (a sweep still running, or one stopped mid-group), *pending* when it has
no file yet.  The time left is estimated from the seconds per member of the groups written
so far, times the members not yet written.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from scaling import store, sweep
from scaling.config import ConfigError


@dataclasses.dataclass(frozen=True)
class GroupStatus:
    id: str
    state: str  # done | running | pending
    members: int
    members_done: int
    diverged: int
    elapsed_s: float | None  # seconds spent on the members done
    updated_s_ago: float | None  # since its file was last written


def group_statuses(out: str | Path) -> list[GroupStatus]:
    """The status of every group of the sweep in ``out``, in the sweep's order."""
    out = Path(out)
    if not (out / store.SWEEP_FILE).is_file():
        raise ConfigError("DIR", str(out), f"a sweep directory (one holding {store.SWEEP_FILE})")
    statuses = []
    for group in sweep.groups(store.read_sweep(out)):
        found = store.read_group(out, group.id)
        if found is None:
            statuses.append(GroupStatus(group.id, "pending", len(group.members), 0, 0, None, None))
            continue
        meta, arrays = found
        done = len(arrays["diverged"])
        statuses.append(GroupStatus(
            id=group.id, state="done" if meta.get("complete") else "running", members=len(group.members),
            members_done=done, diverged=int(np.sum(arrays["diverged"])), elapsed_s=float(meta["elapsed_s"]),
            updated_s_ago=time.time() - store.group_path(out, group.id).stat().st_mtime))
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
    """One row per group: state, members written, diverged, time spent, last write."""
    out = Table(title=title)
    for name, justify in [("group", "left"), ("state", "left"), ("members", "right"), ("diverged", "right"),
                          ("time", "right"), ("last written", "right")]:
        out.add_column(name, justify=justify)
    for s in statuses:
        ago = "-" if s.updated_s_ago is None else duration(s.updated_s_ago) + " ago"
        out.add_row(s.id, s.state, f"{s.members_done}/{s.members}", str(s.diverged), duration(s.elapsed_s), ago)
    return out


def summary(statuses: list[GroupStatus]) -> str:
    """One line: groups per state, members diverged, estimated time left."""
    counts = {state: sum(s.state == state for s in statuses) for state in ("done", "running", "pending")}
    diverged = sum(s.diverged for s in statuses)
    left = seconds_left(statuses)
    eta = "finished" if counts["done"] == len(statuses) else f"about {duration(left)} left" if left else "time left unknown"
    return (f"{counts['done']} done, {counts['running']} running, {counts['pending']} pending of {len(statuses)} groups; "
            f"{diverged} members diverged; {eta}")
