"""Sweeps on a SLURM cluster, through submitit: one array task per group (or per
``launch.slurm.groups_per_task`` groups), each running the idempotent group runner.

``submit`` validates the config and records the sweep in DIR (before any job exists), then
submits one job array for the groups not done yet and writes its task → groups map to
DIR/slurm/jobs.json, which ``scaling status`` reads to show each group's task and SLURM state.
Submission files and each task's log live in DIR/slurm/, so DIR must be on a filesystem every
node sees.

A task is ``GroupTask``: ``runner.run(DIR, only=its groups)``.  Preemption and time limits:
SLURM sends SIGUSR2 ``signal_delay_s`` (submitit's default, 90 s) before a task's time limit,
and SIGTERM when it preempts or requeues it.  Either way the group in training is saved at its
next host stop; after SIGUSR2 the task requeues itself (``scontrol requeue``), after SIGTERM
SLURM requeues it.  The requeued task runs the same call, which resumes from the checkpoint.
With ``launch.slurm.nodes`` > 1 a task is one process per node, joined by ``jax.distributed``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import submitit

from scaling import config as config_lib
from scaling import store, sweep
from scaling.errors import ConfigError, Stopped
from scaling.launch import devices, directory, runner

JOBS_FILE = "jobs.json"


class GroupTask(submitit.helpers.Checkpointable):
    """One array task: the sweep's named groups, resumed wherever an earlier run stopped.  As a
    ``Checkpointable``, submitit requeues the same call on SIGUSR2 outside a group's training."""

    def __call__(self, out: str, group_ids: list[str]) -> str:
        devices.initialize()  # a task of several nodes: one process each, from SLURM's variables
        try:
            runner.run(store.read_sweep(out), out, progress=False, only=group_ids)
        except Stopped as stop:  # (after SIGTERM, SLURM itself requeues a preempted task)
            print(f"scaling: {stop}", file=sys.stderr, flush=True)
            if stop.signum == signal.SIGUSR2 and devices.primary():  # the time limit is near: go again
                subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]], check=True, timeout=60)
            return f"{stop}"
        return f"{len(group_ids)} groups of {out} done"


def task_groups(group_ids: list[str], per_task: int) -> list[list[str]]:
    """The groups of each array task, in the sweep's order."""
    return [group_ids[i:i + per_task] for i in range(0, len(group_ids), per_task)]


def executor(out: Path, values: dict) -> submitit.SlurmExecutor:
    """A submitit executor for the sweep's tasks, from the ``launch.slurm.*`` fields."""
    if shutil.which("sbatch") is None:
        raise ConfigError("--launcher", "slurm", "a machine with SLURM's sbatch on its PATH "
                                     "(launch/slurm/local_cluster.sh starts a one-node cluster)")
    slurm = {path.removeprefix("launch.slurm."): value for path, value in values.items() if path.startswith("launch.slurm.")}
    run_on = submitit.SlurmExecutor(folder=out / store.SLURM_DIR, python=sys.executable)
    parameters = dict(
        job_name=f"scaling-{out.resolve().name}", time=slurm["time_min"], nodes=slurm["nodes"], ntasks_per_node=1,
        cpus_per_task=slurm["cpus_per_task"], array_parallelism=slurm["array_parallelism"],
        # a preempted task goes back to the queue, and its log keeps what each of its runs wrote
        additional_parameters={"requeue": True, "open_mode": "append"},
    )
    if slurm["partition"]:
        parameters["partition"] = slurm["partition"]
    if slurm["gpus_per_task"]:
        parameters["gpus_per_task"] = slurm["gpus_per_task"]
    if slurm["mem_gb"]:
        parameters["mem"] = f"{math.ceil(slurm['mem_gb'] * 1024)}M"
    run_on.update_parameters(**parameters)
    return run_on


def submit(resolved: config_lib.Resolved, out: Path, overwrite: bool = False) -> list[dict]:
    """Record the sweep in ``out`` and submit one job array for its groups not done yet; returns
    the new tasks (``{"job", "groups"}``), also appended to DIR/slurm/jobs.json."""
    out, values = Path(out), resolved.values
    run_on = executor(out, values)
    directory.prepare(out, resolved, overwrite)
    todo = [g.id for g in sweep.groups(resolved) if not store.group_done(out, g)]
    if not todo:
        return []
    chunks = task_groups(todo, values["launch.slurm.groups_per_task"])
    jobs = run_on.map_array(GroupTask(), [str(out.resolve())] * len(chunks), chunks)
    tasks = [{"job": job.job_id, "groups": groups} for job, groups in zip(jobs, chunks)]
    path = out / store.SLURM_DIR / JOBS_FILE
    recorded = json.loads(path.read_text()) if path.is_file() else []
    store.write_json(path, recorded + tasks)
    return tasks


def recorded_tasks(out: Path) -> dict[str, str]:
    """The newest array task submitted for each group: group id -> SLURM job id (``ARRAY_TASK``)."""
    path = Path(out) / store.SLURM_DIR / JOBS_FILE
    if not path.is_file():
        return {}
    return {group: task["job"] for task in json.loads(path.read_text()) for group in task["groups"]}


def queue_states(job_ids: list[str]) -> dict[str, str] | None:
    """SLURM's state of each job still known to squeue (PENDING, RUNNING, REQUEUED, ...); jobs
    that left the queue are absent.  None where squeue cannot be asked."""
    arrays = sorted({job.split("_")[0] for job in job_ids})
    if not arrays or shutil.which("squeue") is None:
        return None
    try:
        listed = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(arrays)],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return {} if "Invalid job id" in listed.stderr else None  # (every job has left the queue)
    return dict(line.split("|", 1) for line in listed.stdout.split())


def wait(tasks: list[dict], poll_s: float = 5.0) -> None:
    """Until every task in ``tasks`` has left SLURM's queue (squeue failing for a minute is an error)."""
    jobs, failed_since = [task["job"] for task in tasks], None
    while True:
        states = queue_states(jobs)
        if states is not None and not any(job in states for job in jobs):
            return
        failed_since = None if states is not None else failed_since or time.time()
        if failed_since and time.time() - failed_since > 60:
            raise RuntimeError(f"squeue has not answered for a minute; the tasks {', '.join(jobs)} may still run")
        time.sleep(poll_s)
