"""Run a sweep locally: validate, expand into groups, train each group, write results."""

from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from scaling import config as config_lib
from scaling import checkpoint, devices, lock, store, sweep, train
from scaling.log.mirror import Mirror
from scaling.report import index
from scaling.theory import curves


def resolve(config, overrides: dict[str, str] | None = None) -> config_lib.Resolved:
    """A config file path, ConfigDict or dict plus ``--config.*`` overrides -> validated config."""
    if isinstance(config, (str, Path)):
        config = config_lib.load_file(config)
    return config_lib.resolve(config_lib.apply_overrides(config, overrides or {}) if overrides else config)


class OutputError(Exception):
    """The sweep directory cannot be written (full, read-only, gone); what was written before is intact."""


SWEEP_ENTRIES = (store.SWEEP_FILE, "groups", checkpoint.CHECKPOINT_DIR, lock.LOCK_DIR, store.SLURM_DIR, "report", "wandb")
WRITE_TEST = ".scaling-write-test-"
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}  # the disk, wherever it is hit
DENIED_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT}  # output errors when the path is in DIR


def _output_error(error: OSError, out: Path) -> bool:
    """Whether ``error`` is a failure to write the sweep directory (not, say, a missing dataset)."""
    inside = error.filename is not None and Path(str(error.filename)).resolve().is_relative_to(out.resolve())
    return error.errno in FULL_ERRNOS or (error.errno in DENIED_ERRNOS and inside)


def _own(path: Path) -> bool:
    """A file or directory a sweep makes in its directory."""
    return path.name in SWEEP_ENTRIES or path.name.startswith((WRITE_TEST, f".{store.SWEEP_FILE}."))


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=WRITE_TEST)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise config_lib.ConfigError("--out", str(out), f"a directory this process can write to ({error.strerror})")


def prepare_dir(out: Path, resolved: config_lib.Resolved, overwrite: bool = False) -> None:
    """Check ``out`` can be written; refuse a directory holding another sweep (listing the fields
    that differ) unless ``overwrite``, which deletes that sweep's files; record this sweep, which
    may extend the one there by new values of its axes."""
    _check_writable(out)
    if (out / store.SWEEP_FILE).exists():
        if overwrite:
            _delete_sweep(out, resolved)
        elif differences := config_lib.changes(store.read_sweep(out), resolved):
            raise config_lib.ConfigError(
                "--out", str(out), "a directory of this same sweep, or of one it extends by new axis values; "
                "the sweep there differs in:\n  " + "\n  ".join(differences)
                + "\nUse another --out, or --overwrite to delete its results")
    elif any(not _own(path) for path in out.iterdir()):  # (other workers may be starting the same sweep)
        raise config_lib.ConfigError("--out", str(out), "a new or empty directory, or a sweep directory")
    store.write_sweep(out, resolved)


def _prepare_or_error(out: Path, resolved: config_lib.Resolved, overwrite: bool) -> bool:
    """``prepare_dir``; under several processes, process 0 tells the others it failed (True)
    before raising its error."""
    try:
        prepare_dir(out, resolved, overwrite)
    except Exception:
        devices.agree(True)
        raise
    return False


def _delete_sweep(out: Path, resolved: config_lib.Resolved) -> None:
    """--overwrite: delete the sweep's own files (never others), unless a worker is running it."""
    stale_s = resolved.values["checkpoint.stale_lock_s"]
    for claimed in sorted((out / lock.LOCK_DIR).glob("*.lock")):
        if owner := lock.live_owner(out, claimed.stem, stale_s):
            raise config_lib.ConfigError("--overwrite", True, f"a sweep no worker is running ({owner.describe()} "
                                         f"is running {claimed.stem} in {out})")
    for name in SWEEP_ENTRIES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )


def run(config, out: str | Path, overrides: dict[str, str] | None = None, progress: bool | None = None,
        overwrite: bool = False, only: list[str] | None = None) -> Path:
    """Run every group of the sweep that is not finished yet (of those named in ``only``, if
    given), mirror it to wandb (``log.wandb``) and, once every group is done, draw its report
    into DIR/report (``log.report``); return the sweep directory.

    Safe to run again and in several processes at once: each group is claimed (lock.py), a
    partial group resumes from its checkpoints (checkpoint.py), and SIGTERM / SIGINT / SIGUSR2
    save the group in training and raise ``checkpoint.Stopped``.  ``overwrite``: delete the
    results of another sweep in ``out`` instead of refusing it.  Raises ``OutputError`` if
    ``out`` cannot be written (the results written before stay loadable).

    Under ``jax.distributed`` (devices.initialize) every process calls this; process 0 alone
    claims, writes and logs, the others train the same chunks with it."""
    resolved = config if isinstance(config, config_lib.Resolved) else resolve(config, overrides)
    out = Path(out)
    groups = sweep.groups(resolved)
    todo = groups if only is None else [g for g in groups if g.id in only]
    devices.placement(resolved.values["launch.devices"], resolved.values["launch.shard"])  # (refused before anything is written)
    primary = devices.primary()
    wandb = Mirror(resolved, out, enabled=primary)
    if any(g.values["train.dtype"] == "float64" for g in groups):
        # float64 needs x64 for the whole process; every array is created with an explicit
        # dtype, so float32 groups of the same sweep stay float32.
        jax.config.update("jax_enable_x64", True)
    show = (resolved.values["log.progress"] if progress is None else progress) and primary
    try:
        if devices.agree(_prepare_or_error(out, resolved, overwrite) if primary else None):
            raise RuntimeError(f"process 0 could not prepare {out}")  # (it raised the error itself)
        busy = _run_groups(out, todo, show, wandb)
        if busy and primary:
            print(f"scaling: {len(busy)} groups are being run by other workers ({', '.join(busy[:5])}"
                  f"{', ...' if len(busy) > 5 else ''}); the worker that finishes the sweep draws its report",
                  file=sys.stderr)
        elif primary and all(store.group_done(out, g) for g in groups):
            for group in groups:  # groups finished while wandb was off, or by other workers
                wandb.group(group)
            if resolved.values["log.report"]:
                with lock.claim(out, "report", resolved.values["checkpoint.stale_lock_s"]) or nullcontext() as drawing:
                    if drawing:
                        wandb.report(index.write(out).parent)
    except OSError as error:
        if not _output_error(error, out):
            raise
        raise OutputError(f"cannot write to {out}: {error}. The results written before are intact "
                          f"(scaling.load({str(out)!r})); run the same command again once {out} can be written") from error
    wandb.close()
    return out


def _run_groups(out: Path, groups: list[sweep.Group], show: bool, wandb: Mirror) -> list[str]:
    """Each group not finished and not claimed by another worker, in order; returns the groups
    other workers hold.  A signal stops the run (``checkpoint.Stopped``) with nothing waited for."""
    busy = []
    with checkpoint.Signals() as signals, _progress(show) as bar:
        groups_task = bar.add_task("groups", total=len(groups)) if bar else None
        for group in groups:
            if (received := devices.agree(signals.received)) is not None:  # (process 0's, for every process)
                raise checkpoint.Stopped(received, f" before group {group.id}")
            outcome = _claim_and_run(out, group, bar, signals)
            if outcome == "busy":
                busy.append(group.id)
            elif outcome == "ran":
                wandb.group(group)
            if bar:
                bar.advance(groups_task)
    return busy


def _claim_and_run(out: Path, group: sweep.Group, bar, signals: checkpoint.Signals) -> str:
    """Train ``group``'s missing members under a claim: 'done' (nothing missing), 'busy' (another
    worker holds it) or 'ran'.  Process 0 decides (and claims) for every process."""
    claim, found = None, None
    if devices.primary():
        outcome = "done" if store.group_done(out, group) else "run"
        if outcome == "run":
            claim = lock.claim(out, group.id, group.values["checkpoint.stale_lock_s"])
            outcome = "busy" if claim is None else "run"
        if claim is not None:
            found = store.read_group(out, group.id)  # again: another worker may have finished it meanwhile
            if found is not None and not store.missing_members(group, store.written_members(found[1])):
                claim.release()
                claim, outcome = None, "done"
            else:
                store.remove_partial_writes(out, group.id)
    outcome = devices.agree(outcome if devices.primary() else None)
    if outcome != "run":
        return outcome
    if not devices.primary():
        found = store.read_group(out, group.id)  # process 0 holds the claim: nobody writes it now
    with claim or nullcontext():
        try:
            _run_group(out, group, found, bar, signals, claim)
        except checkpoint.ClaimLost as lost:
            print(f"scaling: warning: {lost} (no heartbeat for checkpoint.stale_lock_s); leaving it to that worker",
                  file=sys.stderr)
            return "busy"
    return "ran"


def _run_group(out: Path, group: sweep.Group, found: tuple[dict, dict] | None, bar, signals: checkpoint.Signals,
               claim: lock.Claim | None) -> None:
    """Train the members of ``group`` its file does not hold, resuming from a checkpoint, and
    write the file after each chunk (the members written before, then the new ones).  ``claim``:
    process 0's (None on the others, which write nothing); a run of several processes takes no
    checkpoints (a group it stops resumes from its members written)."""
    program = train.build(group.values)
    written = store.written_members(found[1]) if found else []
    todo = store.missing_members(group, written)
    before = {k: v for k, v in found[1].items() if not k.startswith(store.MEMBER_PREFIX)} if found else {}
    spent = found[0]["elapsed_s"] if found else 0.0
    chunk = min(program.chunk_size(), len(group.members))  # the same chunks however often the group resumes
    started = time.time()
    steps_task = None
    if bar:
        steps_task = bar.add_task(f"  {group.id} steps", total=-(-len(todo) // chunk) * (program.steps + 1))
    theory = None
    if group.values["theory.name"] is not None:
        theory = curves.theory_loss(group.values, program.with_effective_lr(todo), program.schedules()["loss"])
    probe_target = np.asarray(program.stream.probe_target)
    meta = {
        "values": group.values,
        "coords": {train.STEP_COORDS[name]: steps.tolist() for name, steps in program.schedules().items()}
        | program.labels(),
        "dims": program.result_dims() | ({"theory_loss": [train.STEP_COORDS["loss"]]} if theory is not None else {}),
        "probe_target": probe_target[:, 0].tolist() if probe_target.shape[-1] == 1 else probe_target.tolist(),
        "lr_convention": program.rules.describe() + f"; lr_rule = {group.values['optim.lr_rule']!r}",
    }
    checkpoints = None
    if not program.placement.multi_process:
        checkpoints = checkpoint.GroupCheckpoints(out, group.id, program, len(written), signals, lambda: not claim.lost)

    def on_chunk(n_done: int, results: dict) -> None:
        if devices.agree(not claim.check() if claim else None):
            raise checkpoint.ClaimLost(group.id)
        if claim is None:
            return
        if theory is not None:
            results = results | {"theory_loss": theory[:n_done]}
        members = written + todo[:n_done]
        merged = {k: np.concatenate([before[k], v]) if k in before else v for k, v in results.items()}
        done = {"complete": len(members) == len(group.members), "elapsed_s": spent + time.time() - started}
        store.write_group(out, group, members, merged, meta | done)
        if checkpoints:
            checkpoints.chunk_done(len(members))

    try:
        program.train(
            todo,
            on_progress=(lambda n: bar.advance(steps_task, n)) if bar else (lambda n: None),
            on_chunk=on_chunk, chunk=chunk, checkpoints=checkpoints,
        )
    finally:
        if checkpoints:
            checkpoints.close(finished=store.group_done(out, group))
    if bar:
        bar.remove_task(steps_task)
