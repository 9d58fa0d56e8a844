"""Run a sweep locally: validate, expand into groups, train each group, write results."""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from scaling import config as config_lib
from scaling import store, sweep, train
from scaling.log.mirror import Mirror
from scaling.report import index
from scaling.theory import curves


def resolve(config, overrides: dict[str, str] | None = None) -> config_lib.Resolved:
    """A config file path, ConfigDict or dict plus ``--config.*`` overrides -> validated config."""
    if isinstance(config, (str, Path)):
        config = config_lib.load_file(config)
    return config_lib.resolve(config_lib.apply_overrides(config, overrides or {}) if overrides else config)


def _results_identity(resolved: config_lib.Resolved) -> dict:
    """What a sweep's results depend on: its config without the ``log`` fields."""
    blob = resolved.to_json()
    blob["values"] = {k: v for k, v in blob["values"].items() if not k.startswith("log.")}
    return blob


def prepare_dir(out: Path, resolved: config_lib.Resolved) -> None:
    """Refuse a directory holding another sweep; create and record this one."""
    if (out / store.SWEEP_FILE).exists():
        if _results_identity(store.read_sweep(out)) != _results_identity(resolved):
            raise config_lib.ConfigError(
                "--out", str(out), "a new directory, or one holding a sweep of this same config"
            )
    elif out.exists() and any(out.iterdir()):
        raise config_lib.ConfigError("--out", str(out), "a new or empty directory, or a sweep directory")
    store.write_sweep(out, resolved)


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )


def run(config, out: str | Path, overrides: dict[str, str] | None = None, progress: bool | None = None) -> Path:
    """Run every group of the sweep that is not finished yet, mirror it to wandb (``log.wandb``)
    and draw its report into DIR/report (``log.report``); return the sweep directory."""
    resolved = config if isinstance(config, config_lib.Resolved) else resolve(config, overrides)
    out = Path(out)
    groups = sweep.groups(resolved)
    wandb = Mirror(resolved, out)
    prepare_dir(out, resolved)
    if any(g.values["train.dtype"] == "float64" for g in groups):
        # float64 needs x64 for the whole process; every array is created with an explicit
        # dtype, so float32 groups of the same sweep stay float32.
        jax.config.update("jax_enable_x64", True)
    show = resolved.values["log.progress"] if progress is None else progress
    with _progress(show) as bar:
        groups_task = bar.add_task("groups", total=len(groups)) if bar else None
        for group in groups:
            if not store.group_done(out, group.id):
                _run_group(out, group, bar)
            wandb.group(group)
            if bar:
                bar.advance(groups_task)
    if resolved.values["log.report"]:
        wandb.report(index.write(out).parent)
    wandb.close()
    return out


def _run_group(out: Path, group: sweep.Group, bar) -> None:
    program = train.build(group.values)
    members, started = group.members, time.time()
    steps_task = None
    if bar:
        n_chunks = -(-len(members) // program.chunk_size())
        steps_task = bar.add_task(f"  {group.id} steps", total=n_chunks * (program.steps + 1))
    theory = None
    if group.values["theory.name"] is not None:
        theory = curves.theory_loss(group.values, program.with_effective_lr(members), program.schedules()["loss"])
    probe_target = np.asarray(program.stream.probe_target)
    meta = {
        "values": group.values,
        "coords": {train.STEP_COORDS[name]: steps.tolist() for name, steps in program.schedules().items()}
        | program.labels(),
        "dims": program.result_dims() | ({"theory_loss": [train.STEP_COORDS["loss"]]} if theory is not None else {}),
        "probe_target": probe_target[:, 0].tolist() if probe_target.shape[-1] == 1 else probe_target.tolist(),
        "lr_convention": program.rules.describe() + f"; lr_rule = {group.values['optim.lr_rule']!r}",
    }

    def on_chunk(n_done: int, results: dict) -> None:
        done = {"complete": n_done == len(members), "elapsed_s": time.time() - started}
        if theory is not None:
            results = results | {"theory_loss": theory[:n_done]}
        store.write_group(out, group, members[:n_done], results, meta | done)

    program.train(
        members,
        on_progress=(lambda n: bar.advance(steps_task, n)) if bar else (lambda n: None),
        on_chunk=on_chunk,
    )
    if bar:
        bar.remove_task(steps_task)

