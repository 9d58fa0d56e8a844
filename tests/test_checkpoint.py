"""Checkpoints and resumption: a sweep killed (SIGKILL, during a checkpoint write and a group-file
write among others), stopped (SIGTERM, SIGINT) or left with a corrupt checkpoint ends with
results bit-identical to an uninterrupted run, and ``load`` never sees a half-written group."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest

import scaling
from scaling import checkpoint, checks, cli, store, train
from scaling.errors import Stopped
from scaling.launch.signals import Signals
from scaling.measure.registry import log_steps

FAULTS = Path(__file__).with_name("faults.py")
CONFIG = {
    "model": {"width": 16, "depth": 3},
    "data": {"dim": 8, "batch_size": 16, "n_test": 64, "n_probe": 8},
    "train": {"steps": 300, "n_logs": 8, "segments": 10, "max_members": 2},
    "measure": {"ntk_n_logs": 4, "predictions_n_logs": 4, "features": False},
    "checkpoint": {"every_steps": 50, "keep": 2},
    "log": {"progress": False, "report": False},
    "sweep": {"model": {"width": [8, 16]}, "optim": {"lr": [0.1, 0.4]}, "train": {"seed": [0, 1]}},
}
FIRST, SECOND = "width=8", "width=16"


pytestmark = pytest.mark.usefixtures("reuse_programs")


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory, reuse_programs):
    """The sweep run without interruption."""
    return scaling.run(CONFIG, tmp_path_factory.mktemp("reference") / "sweep")


@pytest.fixture(scope="module")
def reference(reference_dir):
    return scaling.load(reference_dir)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.py"
    path.write_text(f"CONFIG = {CONFIG!r}\n\ndef get_config():\n    return CONFIG\n")
    return path


def assert_identical(ds, reference):
    assert set(ds.data_vars) == set(reference.data_vars)
    for name in reference.data_vars:
        np.testing.assert_array_equal(ds[name].values, reference[name].values, err_msg=name)


def start(config_file, out, tmp_path, **env):
    """``scaling run`` in a subprocess through tests/faults.py; the subprocesses share compiled
    programs through the persistent compilation cache (the tests' ``SCALING_CACHE_DIR``: the same
    executables, so the same numbers)."""
    env = {**os.environ, "SCALING_MARKER": str(tmp_path / "paused"), "SCALING_EVENTS": str(tmp_path / "events"), **env}
    return subprocess.Popen([sys.executable, str(FAULTS), "run", str(config_file), "--out", str(out), "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, process, timeout=240.0):
    deadline = time.time() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode} first:\n{process.stderr.read()}")
        if time.time() > deadline:
            process.kill()
            raise AssertionError("timed out")
        time.sleep(0.01)


def checkpoints(out, group_id):
    """Finished checkpoints of a group, and unfinished writes."""
    found = list(checkpoint.group_dir(out, group_id).glob("*"))
    return sorted(int(p.name) for p in found if p.name.isdigit()), [p for p in found if checkpoint.ORBAX_TMP in p.name]


def kill(process):
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_killed_three_times_and_stopped_once_the_sweep_ends_bit_identical(config_file, tmp_path, reference,
                                                                          monkeypatch):
    out = tmp_path / "sweep"
    # 1. SIGKILL during the third checkpoint write of the first chunk
    process = start(config_file, out, tmp_path, SCALING_PAUSE="checkpoint:3")
    wait_for((tmp_path / "paused").exists, process)
    kill(process)
    done, partial = checkpoints(out, FIRST)
    assert done == [50, 100] and len(partial) == 1
    # 2. SIGKILL while the group file of the first chunk is half written
    (tmp_path / "paused").unlink()
    process = start(config_file, out, tmp_path, SCALING_PAUSE="group:1")
    wait_for((tmp_path / "paused").exists, process)
    kill(process)
    assert "resume width=8 100" in (tmp_path / "events").read_text().splitlines()  # not from step 0
    assert list((out / "groups").glob(".*.tmp")) and not store.group_path(out, FIRST).exists()
    ds = scaling.load(out)  # the half-written file is not read
    assert not ds.completed.any() and set(ds.attrs["incomplete_groups"]) == {FIRST, SECOND}
    # 3. SIGTERM (as SLURM preempts) mid-chunk, in the second chunk of the first group
    process = start(config_file, out, tmp_path)
    second_chunk = 2 * (CONFIG["train"]["steps"] + 1)  # checkpoint numbers of the chunk after 2 members written
    wait_for(lambda: sum(n > second_chunk for n in checkpoints(out, FIRST)[0]) >= 1, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    assert f"stopped by SIGTERM: group {FIRST} saved at step" in stderr and "run the same command again" in stderr
    assert "Traceback" not in stderr
    step = int(stderr.split("saved at step ")[1].split()[0])
    assert checkpoints(out, FIRST)[0][-1] == second_chunk + step and not checkpoints(out, FIRST)[1]
    assert int(scaling.load(out).completed.sum()) == 2  # the first chunk's members, whole
    # 4. SIGKILL mid-chunk in the second group
    process = start(config_file, out, tmp_path)
    wait_for(lambda: f"resume {FIRST} {step}" in (tmp_path / "events").read_text(), process)
    wait_for(lambda: len(checkpoints(out, SECOND)[0]) >= 2, process)
    kill(process)
    assert scaling.load(out).attrs["incomplete_groups"] == [SECOND]
    # the same command again, to the end
    resumed = []
    run_chunk = train.Trainer.run_chunk

    def spied_run_chunk(self, members, on_progress, resume=None, *args):
        resumed.append(resume and resume.step)
        return run_chunk(self, members, on_progress, resume, *args)

    monkeypatch.setattr(train.Trainer, "run_chunk", spied_run_chunk)
    assert cli.main(["run", str(config_file), "--out", str(out), "--no-progress"]) == 0
    assert resumed[0] > 0  # the second group went on from its checkpoint
    assert_identical(scaling.load(out), reference)
    assert not list((out / "checkpoints").iterdir()) and not list((out / "locks").glob("*.lock"))
    assert not list((out / "groups").glob(".*.tmp"))


def stop_at_save(monkeypatch, signum: int, after_saves: int):
    """Deliver ``signum`` to this process right after its ``after_saves``-th checkpoint save."""
    save = checkpoint.GroupCheckpoints.save
    saves = []

    def save_then_signal(self, members, snapshot):
        save(self, members, snapshot)
        saves.append(snapshot.step)
        if len(saves) == after_saves:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(checkpoint.GroupCheckpoints, "save", save_then_signal)
    return saves


def test_sigint_saves_and_a_corrupt_latest_checkpoint_falls_back_to_the_one_before(
        config_file, tmp_path, reference, monkeypatch, capsys):
    out = tmp_path / "sweep"
    saves = stop_at_save(monkeypatch, signal.SIGINT, after_saves=3)
    monkeypatch.chdir(tmp_path)  # a relative --out (orbax takes absolute paths only)
    assert cli.main(["run", str(config_file), "--out", "sweep", "--no-progress"]) == 128 + signal.SIGINT
    assert f"stopped by SIGINT: group {FIRST} saved at step 180" in capsys.readouterr().err
    assert saves == [50, 100, 150, 180]  # the signal's own save at the next host stop (segments: every 30 steps)
    monkeypatch.undo()
    done, _ = checkpoints(out, FIRST)
    assert done == [150, 180]  # checkpoint.keep = 2

    # what a checkpoint holds
    manager = ocp.CheckpointManager(checkpoint.group_dir(out, FIRST), item_names=("state", "recorded", "position"))
    position = manager.restore(180, args=ocp.args.Composite(position=ocp.args.JsonRestore())).position
    assert position["step"] == 180 and position["written"] == 0 and len(position["members"]) == 2
    assert position["rng"] == {"train.seed": [0, 1], "data.seed": [0, 0], "step": 180}
    restored = manager.restore(180, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                            recorded=ocp.args.StandardRestore()))
    assert {"params", "params0", "opt", "f0", "diverged"} <= set(restored.state)
    n_logged = int(np.sum(log_steps(300, 8, "log") < 180))
    assert restored.recorded["loss"]["test_loss"].shape[:2] == (n_logged, 2)  # the losses at log steps < 180
    manager.close()

    # corrupt the newest: its arrays are truncated
    for blob in (checkpoint.group_dir(out, FIRST) / "180" / "state").rglob("d/*"):
        blob.write_bytes(blob.read_bytes()[:5])
    resumed = []
    restore = checkpoint.GroupCheckpoints.resume
    monkeypatch.setattr(checkpoint.GroupCheckpoints, "resume",
                        lambda self, members: resumed.append(restore(self, members)) or resumed[-1])
    assert scaling.run(CONFIG, out) == out
    assert "is unreadable" in capsys.readouterr().err
    assert resumed[0].step == 150
    assert_identical(scaling.load(out), reference)


def test_with_no_usable_checkpoint_the_chunk_restarts_from_step_0_with_a_warning(tmp_path, reference, monkeypatch,
                                                                                   capsys):
    out = tmp_path / "sweep"
    stop_at_save(monkeypatch, signal.SIGTERM, after_saves=1)
    with pytest.raises(Stopped):
        scaling.run(CONFIG, out)
    monkeypatch.undo()
    for item in checkpoint.group_dir(out, FIRST).glob("*/position"):
        for path in item.rglob("*"):
            path.unlink() if path.is_file() else None
    assert scaling.run(CONFIG, out) == out
    err = capsys.readouterr().err
    assert "is unreadable" in err and f"no usable checkpoint for group {FIRST}: its chunk restarts from step 0" in err
    assert_identical(scaling.load(out), reference)


def test_checkpoints_change_no_number_and_are_deleted_with_the_finished_group(tmp_path, reference_dir, reference):
    assert not list((reference_dir / "checkpoints").iterdir())
    plain = {**CONFIG, "checkpoint": {"every_steps": None, "every_seconds": None}}
    out = scaling.run(plain, tmp_path / "plain")
    assert_identical(scaling.load(out), reference)
    assert not (out / "checkpoints").exists()


def test_checkpoints_are_due_by_steps_and_by_wall_time(tmp_path):
    trainer = train.build(checks.resolve(CONFIG).values | {"checkpoint.every_seconds": 0.5})
    program = trainer.program
    assert set(range(0, 300, 50)) <= set(program.events().tolist())
    saver = checkpoint.GroupCheckpoints(tmp_path, FIRST, trainer, 0, Signals())
    assert saver.due(100) and not saver.due(125)
    saver.last_save -= 1.0
    assert saver.due(125)
