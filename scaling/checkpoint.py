"""Checkpoints of a group in training.

One orbax ``CheckpointManager`` per group, in ``DIR/checkpoints/<group>/``.  A checkpoint is
taken at a host stop t of the chunk in training (train/loop.py), before step t's measurements:

- ``state``: every member's train state: parameters, optimizer state, the initial parameters
  and f(θ₀) that centring subtracts, its training set or data order, its divergence flags;
- ``recorded``: the measurements of the steps before t;
- ``position`` (JSON): t, the chunk's members, the members already in the group's file, the
  data position (grain's iterator states of a streamed dataset) and the RNG state.  Every
  random draw is ``fold_in(key(seed), tag, step)``, so the seeds and t are the RNG's whole state.

Checkpoints are taken every ``checkpoint.every_steps`` steps and/or ``checkpoint.every_seconds``
seconds (at the first host stop after), and on a signal (``launch.signals.Signals``), after which
the run stops (``errors.Stopped``).  The last ``checkpoint.keep`` are kept; a corrupt or partial latest one is passed
over, with a warning, for the one before.  A group's checkpoints are deleted once its file
holds every member.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from scaling.errors import ClaimLost
from scaling.launch.signals import Signals
from scaling.train import Snapshot, Trainer, member_arrays

CHECKPOINT_DIR = "checkpoints"
ORBAX_TMP = ".orbax-checkpoint-tmp"  # orbax writes a checkpoint under this suffix, then renames it
FREE_MARGIN_BYTES = 2**20  # a save needs its arrays' bytes plus this free on the disk

# A failed orbax write (a full disk) or read (a corrupt checkpoint) is logged through absl, many
# lines per file, and leaves tensorstore callbacks aimed at orbax's closed asyncio loop, each
# printing 'Event loop is closed' as an unraisable exception, from any thread at any time after.
# The run reports the failure itself, in one line; that noise, and only it, is dropped once a
# group's checkpoints are opened (``quiet_orbax``): orbax's absl records (other libraries' stay)
# and that one unraisable exception.  Importing scaling changes neither.


def _not_orbax(record: logging.LogRecord) -> bool:
    return f"{os.sep}orbax{os.sep}" not in record.pathname


def _drop_closed_loop(unraisable, previous=sys.unraisablehook) -> None:
    if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"):
        previous(unraisable)


def quiet_orbax() -> None:
    """Drop orbax's absl records and the 'Event loop is closed' unraisables (once per process)."""
    absl = logging.getLogger("absl")
    if _not_orbax not in absl.filters:
        absl.addFilter(_not_orbax)
    hook = sys.unraisablehook
    if getattr(hook, "func", None) is not _drop_closed_loop:
        sys.unraisablehook = functools.partial(_drop_closed_loop, previous=sys.unraisablehook)


def _warn(text: str) -> None:
    print(f"scaling: warning: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _as_os_error(directory: Path):
    """orbax reports a failed write (a full disk) as tensorstore's ValueError naming the OS
    error code: raise it as that OSError, which the run reports as such."""
    try:
        yield
    except OSError:
        raise
    except Exception as error:
        code = re.search(r"os_error_code='?(\d+)", str(error))
        if code is None:
            raise
        number = int(code.group(1))
        raise OSError(number, os.strerror(number), str(directory)) from error


def group_dir(out: Path, group_id: str) -> Path:
    return Path(out).absolute() / CHECKPOINT_DIR / group_id  # (orbax takes absolute paths only)


def latest_step(out: Path, group_id: str) -> int | None:
    """The newest finished checkpoint's number, from the directory names alone (no orbax)."""
    steps = [int(p.name) for p in group_dir(out, group_id).glob("*") if p.name.isdigit()]
    return max(steps, default=None)


def _members_json(members: list[dict]) -> list:
    return json.loads(json.dumps([[m[k] for k in sorted(m)] for m in members]))


class GroupCheckpoints:
    """The checkpoints of one group's run: ``resume`` and ``at_stop`` are what ``train.run``
    calls for each chunk.  ``written``: members already in the group's file at the start; a
    chunk's checkpoint n is ``written_at_chunk * (steps + 1) + t``, growing over the chunks."""

    def __init__(self, out: Path, group_id: str, trainer: Trainer, written: int, signals: Signals,
                 still_claimed: Callable[[], bool] = lambda: True):
        self.dir, self.group_id, self.trainer, self.program = group_dir(out, group_id), group_id, trainer, trainer.program
        self.values, self.written, self.signals, self.still_claimed = self.program.values, written, signals, still_claimed
        self.start, self.last_save = 0, time.time()
        self._manager: ocp.CheckpointManager | None = None

    @property
    def manager(self) -> ocp.CheckpointManager:
        if self._manager is None:
            if self.dir.is_dir():  # a write a killed run left unfinished: never a checkpoint
                for partial in self.dir.glob(f"*{ORBAX_TMP}*"):
                    shutil.rmtree(partial, ignore_errors=True)
            quiet_orbax()
            options = ocp.CheckpointManagerOptions(max_to_keep=self.values["checkpoint.keep"], create=True)
            self._manager = ocp.CheckpointManager(self.dir, options=options, item_names=("state", "recorded", "position"))
        return self._manager

    def number(self, t: int) -> int:
        return self.written * (self.program.steps + 1) + t

    def resume(self, members: list[dict]) -> Snapshot | None:
        """The newest usable checkpoint of this chunk, or None (start it from init)."""
        self.start, self.last_save = 0, time.time()
        if not self.dir.is_dir():
            return None
        first, last = self.number(0), self.number(self.program.steps)
        candidates = sorted((n for n in self.manager.all_steps() if first <= n <= last), reverse=True)
        snapshot, passed = None, []
        for n in candidates:
            try:
                snapshot = self._restore(n, members)
            except Exception as error:  # a corrupt or partial checkpoint: fall back to the one before
                reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
                _warn(f"checkpoint {self.dir / str(n)} of group {self.group_id} is unreadable "
                      f"({type(error).__name__}: {reason}); falling back to an earlier one")
            if snapshot is not None:
                break
            passed.append(n)
        for n in passed:  # their numbers will be written again
            shutil.rmtree(self.dir / str(n), ignore_errors=True)
        if passed:
            self.manager.reload()
        if snapshot is None and candidates:
            _warn(f"no usable checkpoint for group {self.group_id}: its chunk restarts from step 0")
        self.start = 0 if snapshot is None else snapshot.step
        if snapshot is not None:
            print(f"scaling: group {self.group_id} resumes from its checkpoint at step {snapshot.step}",
                  file=sys.stderr, flush=True)
        return snapshot

    def _restore(self, n: int, members: list[dict]) -> Snapshot | None:
        position = self.manager.restore(n, args=ocp.args.Composite(position=ocp.args.JsonRestore())).position
        if position["members"] != _members_json(members) or position["written"] != self.written:
            return None  # another chunk's
        target = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype),
                              jax.eval_shape(self.trainer.init_fn(), member_arrays(self.program, members)))
        restored = self.manager.restore(n, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target), recorded=ocp.args.StandardRestore()))
        return Snapshot(position["step"], restored.state, restored.recorded, position["data_position"])

    def due(self, t: int) -> bool:
        every_steps, every_s = self.values["checkpoint.every_steps"], self.values["checkpoint.every_seconds"]
        return bool((every_steps and t % every_steps == 0)
                    or (every_s is not None and time.time() - self.last_save >= every_s))

    def at_stop(self, members: list[dict], t: int, snapshot: Callable[[], Snapshot]) -> None:
        """At host stop t: save if due or a signal came (then stop); stop if the claim was lost."""
        if not self.still_claimed():
            raise ClaimLost(self.group_id)
        signalled = self.signals.received is not None
        if t > self.start and (signalled or (t < self.program.steps and self.due(t))):
            self.save(members, snapshot())
        if signalled:
            self._wait()
            self.signals.check(f": group {self.group_id} saved at step {t} in {self.dir}" if t > self.start
                               else f": group {self.group_id} at step {t}")

    def save(self, members: list[dict], snapshot: Snapshot) -> None:
        """Start writing ``snapshot`` (orbax finishes it in the background), if the disk has room."""
        needed = sum(a.nbytes for a in jax.tree.leaves((snapshot.states, snapshot.recorded))) + FREE_MARGIN_BYTES
        self.dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.dir).free
        if free < needed:
            raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: a checkpoint needs about {needed / 2**20:.1f} MiB, "
                                        f"{free / 2**20:.1f} MiB are free", str(self.dir))
        position = {"step": snapshot.step, "members": _members_json(members), "written": self.written,
                    "data_position": snapshot.data_position,
                    "rng": {"train.seed": [m["train.seed"] for m in members],
                            "data.seed": [m["data.seed"] for m in members], "step": snapshot.step}}
        with _as_os_error(self.dir):  # (also the error of the previous save, finished in the background)
            self.manager.save(self.number(snapshot.step), force=True, args=ocp.args.Composite(
                state=ocp.args.StandardSave(snapshot.states), recorded=ocp.args.StandardSave(snapshot.recorded),
                position=ocp.args.JsonSave(position)))
        self.last_save = time.time()

    def _wait(self) -> None:
        with _as_os_error(self.dir):
            self.manager.wait_until_finished()

    def chunk_done(self, written: int) -> None:
        """A chunk's members are in the group's file: the next chunk's checkpoints count from there."""
        self.written = written

    def close(self, finished: bool) -> None:
        """Wait for a save in flight; delete every checkpoint of a finished group (whose last
        save, not needed any more, may then fail)."""
        try:
            if self._manager is not None:
                self._wait()
                self._manager.close()
        except OSError:
            if not finished:
                raise
        if finished:
            shutil.rmtree(self.dir, ignore_errors=True)
