"""Run a sweep here: validate, expand into groups, claim and train each group not done, write
its results, mirror them to wandb and draw the report once the sweep is done."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from scaling import checkpoint, checks, store, sweep, train
from scaling import config as config_lib
from scaling.errors import ClaimLost, OutputError, Stopped
from scaling.launch import compile_cache, devices, directory, lock
from scaling.launch.signals import Signals
from scaling.log.mirror import Mirror
from scaling.report import index
from scaling.theory import curves


def _prepare_or_error(out: Path, resolved: config_lib.Resolved, overwrite: bool) -> bool:
    """``directory.prepare``; under several processes, process 0 tells the others it failed
    (True) before raising its error."""
    try:
        directory.prepare(out, resolved, overwrite)
    except Exception:
        devices.agree(True)
        raise
    return False


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

    Safe to run again and in several processes at once: each group is claimed (launch/lock.py), a
    partial group resumes from its checkpoints (checkpoint.py), and SIGTERM / SIGINT / SIGUSR2
    save the group in training and raise ``errors.Stopped``.  ``overwrite``: delete the
    results of another sweep in ``out`` instead of refusing it.  Raises ``OutputError`` if
    ``out`` cannot be written (the results written before stay loadable).

    Under ``jax.distributed`` (devices.initialize) every process calls this; process 0 alone
    claims, writes and logs, the others train the same chunks with it."""
    resolved = config if isinstance(config, config_lib.Resolved) else checks.resolve(config, overrides)
    out = Path(out)
    groups = sweep.groups(resolved)
    todo = groups if only is None else [g for g in groups if g.id in only]
    devices.placement(resolved.values["launch.devices"], resolved.values["launch.shard"])  # (refused before anything is written)
    compile_cache.enable(resolved.values)  # before anything compiles: a rerun loads every program from disk
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
        if not directory.output_error(error, out):
            raise
        raise OutputError(f"cannot write to {out}: {error}. The results written before are intact "
                          f"(scaling.load({str(out)!r})); run the same command again once {out} can be written") from error
    wandb.close()
    return out


def _run_groups(out: Path, groups: list[sweep.Group], show: bool, wandb: Mirror) -> list[str]:
    """Each group not finished and not claimed by another worker, in order; returns the groups
    other workers hold.  A signal stops the run (``errors.Stopped``) with nothing waited for."""
    busy = []
    with Signals() as signals, _progress(show) as bar:
        groups_task = bar.add_task("groups", total=len(groups)) if bar else None
        for group in groups:
            if (received := devices.agree(signals.received)) is not None:  # (process 0's, for every process)
                raise Stopped(received, f" before group {group.id}")
            outcome = _claim_and_run(out, group, bar, signals)
            if outcome == "busy":
                busy.append(group.id)
            elif outcome == "ran":
                wandb.group(group)
            if bar:
                bar.advance(groups_task)
    return busy


def _claim_and_run(out: Path, group: sweep.Group, bar, signals: Signals) -> str:
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
        except ClaimLost as lost:
            print(f"scaling: warning: {lost} (no heartbeat for checkpoint.stale_lock_s); leaving it to that worker",
                  file=sys.stderr)
            return "busy"
    return "ran"


def _target_list(target) -> list:
    """A fixed set's clean targets as measured, for a group's meta: (P,) for one output, else (P, C)."""
    target = np.asarray(target)
    return target[:, 0].tolist() if target.shape[-1] == 1 else target.tolist()


def _run_group(out: Path, group: sweep.Group, found: tuple[dict, dict] | None, bar, signals: Signals,
               claim: lock.Claim | None) -> None:
    """Train the members of ``group`` its file does not hold, resuming from a checkpoint, and
    write the file after each chunk (the members written before, then the new ones).  ``claim``:
    process 0's (None on the others, which write nothing); a run of several processes takes no
    checkpoints (a group it stops resumes from its members written)."""
    trainer = train.build(group.values)
    program = trainer.program
    written = store.written_members(found[1]) if found else []
    todo = store.missing_members(group, written)
    before = {k: v for k, v in found[1].items() if not k.startswith(store.MEMBER_PREFIX)} if found else {}
    spent = found[0]["elapsed_s"] if found else 0.0
    chunk = min(train.chunk_size(program), len(group.members))  # the same chunks however often the group resumes
    started = time.time()
    steps_task = None
    if bar:
        steps_task = bar.add_task(f"  {group.id} steps", total=-(-len(todo) // chunk) * (program.steps + 1))
    theory = None
    if group.values["theory.name"] is not None:
        theory = curves.theory_loss(group.values, train.with_effective_lr(program, todo), program.schedules()["loss"])
    meta = {
        "values": group.values,
        "coords": train.result_coords(program),
        "dims": train.result_dims(program) | ({"theory_loss": ["step"]} if theory is not None else {}),
        "probe_target": _target_list(program.stream.probe_target),
        "lr_convention": program.rules.describe() + f"; lr_rule = {group.values['optim.lr_rule']!r}",
    }
    if "test_pred" in meta["dims"]:  # the test set's targets, for the test predictions (measure/test_predictions.py)
        meta["test_target"] = _target_list(program.stream.measured(program.stream.test[1]))
    checkpoints = None
    if not program.placement.multi_process:
        checkpoints = checkpoint.GroupCheckpoints(out, group.id, trainer, len(written), signals, lambda: not claim.lost)

    def on_chunk(n_done: int, results: dict) -> None:
        if devices.agree(not claim.check() if claim else None):
            raise ClaimLost(group.id)
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
        train.run(
            trainer, todo,
            on_progress=(lambda n: bar.advance(steps_task, n)) if bar else (lambda n: None),
            on_chunk=on_chunk, chunk=chunk, checkpoints=checkpoints,
        )
    finally:
        if checkpoints:
            checkpoints.close(finished=store.group_done(out, group))
    if bar:
        bar.remove_task(steps_task)
