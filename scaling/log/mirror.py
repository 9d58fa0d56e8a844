"""The sweep's mirror on wandb, fed from a background thread.

Local results are the source of truth; wandb gets a copy of each group once it is written
(one run per hyperparameter point, or per group with tables above ``log.wandb.max_runs``
points) and, at the end, the report's figures in a run of their own.  Training never waits
on wandb: calls run on a worker thread, and ``close`` waits at most ``log.wandb.timeout``
seconds.  Any failure (wandb missing, an exception, a hang) is one line on stderr and turns
the mirror off; the sweep and its files go on untouched.
"""

from __future__ import annotations

import hashlib
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Callable

from scaling import analysis, claims, store
from scaling import config as config_lib
from scaling import sweep as sweep_lib
from scaling.log import records

# WANDB_MODE values wandb accepts, as the mode they mean.
ENV_MODES = {"online": "online", "offline": "offline", "disabled": "disabled", "run": "online", "dryrun": "offline"}
MIRRORED_DIR = "mirrored"  # under DIR/wandb: one file per group already sent


def mode(values: dict) -> str:
    """``log.wandb.mode``, else ``$WANDB_MODE``, else ``disabled``."""
    if values.get("log.wandb.mode"):
        return values["log.wandb.mode"]
    env = os.environ.get("WANDB_MODE")
    if env is None:
        return "disabled"
    if env not in ENV_MODES:
        raise config_lib.ConfigError("WANDB_MODE", env, "unset (wandb off) or one of " + ", ".join(map(repr, ENV_MODES)))
    return ENV_MODES[env]


def _warn(text: str) -> None:
    print(f"scaling: warning: wandb: {text}", file=sys.stderr, flush=True)


def _run_id(out: Path, name: str) -> str:
    """The same run for the same sweep directory and name, so a rerun resumes it, never duplicates it."""
    return hashlib.sha1(f"{out.resolve()}|{name}".encode()).hexdigest()[:16]


def _slug(swept: dict) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in swept.items()) or "all"


class Mirror:
    """Sends finished groups and the report to wandb without ever stopping the sweep."""

    def __init__(self, resolved: config_lib.Resolved, out: Path, enabled: bool = True):
        values = resolved.values
        self.resolved, self.out, self.mode = resolved, Path(out), mode(values)
        self.enabled = enabled and self.mode != "disabled"
        self.timeout = values["log.wandb.timeout"]
        self.per_point = records.n_points(resolved) <= values["log.wandb.max_runs"]
        self.init_args = dict(
            mode=self.mode, project=values["log.wandb.project"], entity=values["log.wandb.entity"],
            group=values["log.wandb.group"] or self.out.resolve().name, tags=values["log.wandb.tags"],
            notes=values["log.wandb.notes"], dir=str(self.out), resume="allow", reinit="create_new",
        )
        self.jobs: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="scaling-wandb", daemon=True)  # started by the first job

    # ------------------------------------------------------------ the sweep's side
    def group(self, group: sweep_lib.Group) -> None:
        """Queue a finished group (nothing happens if it was sent before)."""
        self._put(lambda wandb: self._send_group(wandb, group))

    def report(self, report_dir: Path) -> None:
        """Queue the report's PNGs, the η* table and the verdicts of the config's claims, for a run
        named ``report``."""
        self._put(lambda wandb: self._send_report(wandb, Path(report_dir)))

    def close(self) -> None:
        """Wait (at most ``log.wandb.timeout`` s) for everything queued to be sent."""
        if not self.enabled or self.worker.ident is None:
            return
        self.jobs.put(None)
        self.worker.join(self.timeout)
        if self.worker.is_alive():
            self.enabled = False
            _warn(f"still busy after log.wandb.timeout = {self.timeout:g} s, left behind; "
                  f"the results in {self.out} are complete")

    def _put(self, job: Callable) -> None:
        if self.enabled:
            self.jobs.put(job)
            if self.worker.ident is None:  # not started yet
                self.worker.start()

    # ------------------------------------------------------------ the worker's side
    def _work(self) -> None:
        wandb = None
        while (job := self.jobs.get()) is not None:
            if not self.enabled:
                continue
            try:
                if wandb is None:
                    import wandb
                job(wandb)
            except Exception as error:  # noqa: BLE001 -- nothing wandb does may stop the sweep
                if self.enabled:  # (not when `close` has already given up on this call)
                    self.enabled = False
                    what = "not installed" if isinstance(error, ImportError) else f"{type(error).__name__}: {str(error).rstrip('.')}"
                    _warn(f"{what}; mirroring stopped, training goes on and results stay in {self.out}")

    def _init(self, wandb, name: str, job_type: str, config: dict):
        # No console capture, system stats, git or pip-freeze per run: the freeze alone was 80 %
        # of a run's cost (benchmarks/wandb_cost.py).
        settings = wandb.Settings(console="off", save_code=False, silent=True, disable_git=True, x_disable_stats=True,
                                  x_save_requirements=False, x_disable_meta=True, x_disable_machine_info=True,
                                  init_timeout=self.timeout)
        return wandb.init(**self.init_args, name=name, id=_run_id(self.out, name), job_type=job_type,
                          config=config, settings=settings)

    def _send_group(self, wandb, group: sweep_lib.Group) -> None:
        marker = self.out / "wandb" / MIRRORED_DIR / group.id  # holds the members sent ('' before they were counted)
        if marker.exists() and marker.read_text() in ("", str(len(group.members))):
            return
        gds = records.group_dataset(store.load(self.out, groups=[group.id]), self.resolved, group)
        if self.per_point:
            for point in records.points(gds, self.resolved):
                run = self._init(wandb, _slug(records.swept_values(point, self.resolved)), "point",
                                 records.run_config(point, self.resolved, group))
                for step, row in records.history(point):
                    run.log(row, step=step)
                run.summary.update(records.summary(point))
                run.finish()
        else:
            run = self._init(wandb, group.id, "group", records.run_config(gds, self.resolved, group))
            tables = {"members": records.member_table(gds, self.resolved), "points": records.point_table(gds, self.resolved)}
            run.log({name: wandb.Table(columns=columns, data=rows) for name, (columns, rows) in tables.items()})
            run.finish()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(len(group.members)))

    def _send_report(self, wandb, report_dir: Path) -> None:
        axes = {",".join(fields): [list(p) for p in points] for fields, points in self.resolved.axes}
        run = self._init(wandb, "report", "report", {**config_lib.nest(self.resolved.values), "axes": axes})
        images = {f"report/{png.stem}": wandb.Image(str(png)) for png in sorted(report_dir.glob("*.png"))}
        ds = store.load(self.out)
        columns, rows = analysis.best_lr_rows(ds)
        tables = {"best_lr": wandb.Table(columns=columns, data=rows)}
        if not ds.attrs["incomplete_groups"] and (verdicts := claims.verdicts(ds)):  # a paper config's verdicts
            tables["claims"] = wandb.Table(columns=list(claims.registry.COLUMNS), data=[claims.registry.cells(v) for v in verdicts])
        run.log({**images, **tables})
        run.finish()
