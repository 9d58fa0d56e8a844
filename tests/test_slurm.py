"""``scaling run --launcher slurm`` on a real one-node SLURM cluster.

.ci/run starts one with launch/slurm/local_cluster.sh and sets SCALING_TEST_SLURM=1 (then these
tests must run); elsewhere they are skipped.  The unit tests of the task map need no cluster."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import scaling
from scaling import checkpoint, cli
from scaling.launch import slurm, status

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "model": {"width": 8, "depth": 2},
    "data": {"dim": 8, "batch_size": 16, "n_test": 64, "n_probe": 8},
    "train": {"steps": 3000, "n_logs": 8, "segments": 30},
    "measure": {"ntk": False, "features": False},
    "checkpoint": {"every_steps": 100},
    "log": {"progress": False},
    "sweep": {"model": {"width": [8, 16]}, "optim": {"lr": [0.1, 0.2]}, "train": {"seed": [0, 1]}},
}
on_a_cluster = pytest.mark.skipif(not os.environ.get("SCALING_TEST_SLURM"),
                                  reason="needs a SLURM cluster (.ci/run starts one: launch/slurm/local_cluster.sh)")


def until(condition, timeout_s: float, what: str):
    """Poll ``condition`` until it returns something true; fail after ``timeout_s``."""
    deadline = time.time() + timeout_s
    while not (value := condition()):
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return value


def scontrol(*args: str) -> str:
    return subprocess.run(["scontrol", *args], check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.mark.slow
@on_a_cluster
def test_a_sweep_through_slurm_equals_the_local_run_and_a_requeued_task_resumes(tmp_path):
    assert subprocess.run(["sinfo"], capture_output=True).returncode == 0, "SCALING_TEST_SLURM is set but sinfo fails"
    config = tmp_path / "config.py"
    config.write_text(f"CONFIG = {CONFIG!r}\n\ndef get_config():\n    return CONFIG\n")
    out = tmp_path / "slurm_sweep"
    submitted = subprocess.run([sys.executable, "-m", "scaling.cli", "run", str(config), "--out", str(out),
                                "--launcher", "slurm", "--time-min", "20", "--cpus-per-task", "1"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert submitted.returncode == 0, submitted.stderr
    assert re.search(r"submitted job array \d+: 2 tasks for 2 groups", submitted.stdout)
    tasks = json.loads((out / "slurm" / "jobs.json").read_text())
    job = {task["groups"][0]: task["job"] for task in tasks}

    # once both tasks have saved a checkpoint: preempt the first (SLURM sends SIGTERM and requeues
    # it) and warn the second of its time limit (SIGUSR2: it saves and requeues itself)
    for group in job:
        until(lambda: checkpoint.latest_step(out, group) is not None, 300, f"a checkpoint of {group}")
    assert all("RUNNING" in s.slurm for s in status.group_statuses(out))
    scontrol("requeue", job["width=8"])
    subprocess.run(["scancel", "--signal=USR2", job["width=16"]], check=True, timeout=60)
    for task in job.values():
        until(lambda: "JobState=PENDING" in scontrol("show", "job", task), 120, f"task {task} to be requeued")
        scontrol("update", f"JobId={task}", "StartTime=now")  # (SLURM holds a requeued job for 2 minutes)
    slurm.wait(tasks, poll_s=1)

    for (group, task), signal_name in zip(job.items(), ("SIGTERM", "SIGUSR2")):
        log = (out / "slurm" / f"{task}_0_log.err").read_text()
        stopped = re.search(rf"scaling: stopped by {signal_name}: group {group} saved at step (\d+)", log)
        assert stopped, log[-3000:]
        assert f"scaling: group {group} resumes from its checkpoint at step {stopped.group(1)}" in log
        assert "Restarts=1" in scontrol("show", "job", task)
    assert [s.state for s in status.group_statuses(out)] == ["done", "done"]
    assert all(s.slurm.endswith(" ended") for s in status.group_statuses(out))
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").iterdir())
    assert (out / "report" / "index.html").is_file()  # drawn by the task that finished the sweep

    assert cli.main(["run", str(config), "--out", str(tmp_path / "local")]) == 0
    on_slurm, local = scaling.load(out), scaling.load(tmp_path / "local")
    for name in local.data_vars:
        np.testing.assert_array_equal(on_slurm[name].values, local[name].values, err_msg=name)


def test_groups_are_split_into_tasks_in_order():
    assert slurm.task_groups(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert slurm.task_groups(["a"], 4) == [["a"]]


def test_the_launcher_needs_sbatch(tmp_path, tiny_config_file, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    assert cli.main(["run", str(tiny_config_file), "--out", str(tmp_path / "s"), "--launcher", "slurm"]) == 2
    assert "--launcher = 'slurm' is not allowed: a machine with SLURM's sbatch on its PATH" in capsys.readouterr().err


def test_cluster_options_are_checked_before_anything_is_submitted(tmp_path, tiny_config_file, capsys):
    assert cli.main(["run", str(tiny_config_file), "--out", str(tmp_path / "s"), "--launcher", "slurm",
                     "--gpus-per-task", "-1"]) == 2
    assert "launch.slurm.gpus_per_task = -1 is not allowed: an integer >= 0" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
