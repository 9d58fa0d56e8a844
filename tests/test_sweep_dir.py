"""The sweep directory: a changed config is refused with the fields that differ (or replaced
with --overwrite), new axis values run only what is new, and a full, read-only or unwritable
directory is one clear error that leaves the results written before loadable."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import scaling
from scaling import cli, store, train

CONFIG = {
    "model": {"width": 8, "depth": 2},
    "data": {"dim": 4, "batch_size": 8, "n_test": 16, "n_probe": 4},
    "train": {"steps": 30, "n_logs": 4, "segments": 2},
    "measure": {"ntk": False, "features": False},
    "log": {"progress": False, "report": False},
    "sweep": {"model": {"width": [8, 16]}, "optim": {"lr": [0.1, 0.2]}},
}


def with_sweep(**axes):
    return {**CONFIG, "sweep": {**CONFIG["sweep"], **axes}}


def write_config(path, config):
    path.write_text(f"CONFIG = {config!r}\n\ndef get_config():\n    return CONFIG\n")
    return path


pytestmark = pytest.mark.usefixtures("reuse_programs")


@pytest.fixture(scope="module")
def base(tmp_path_factory, reuse_programs):
    """The base sweep, run once; tests work on copies."""
    return scaling.run(CONFIG, tmp_path_factory.mktemp("base") / "sweep")


@pytest.fixture
def copy(base, tmp_path):
    out = tmp_path / "sweep"
    shutil.copytree(base, out)
    return out


def test_a_changed_config_is_refused_with_every_differing_field(copy, tmp_path, capsys):
    changed = {**with_sweep(optim={"lr": [0.2, 0.3]}), "model": {"width": 8, "depth": 3},
               "checkpoint": {"every_steps": 5}}  # checkpoint fields change no result: not listed
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("*")}
    assert cli.main(["run", str(write_config(tmp_path / "c.py", changed)), "--out", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "model.depth: 2 there, 3 here" in err
    assert "sweep.optim.lr: [0.1, 0.2] there, [0.2, 0.3] here (without [0.1])" in err
    assert "checkpoint" not in err.split("differs in:")[1].split("Use another")[0]
    assert "--overwrite" in err
    assert {p: p.stat().st_mtime_ns for p in copy.rglob("*")} == before


def test_overwrite_replaces_the_sweep_and_keeps_other_files(copy, tmp_path):
    (copy / "notes.txt").write_text("mine")
    changed = {**CONFIG, "model": {"width": 8, "depth": 3}}
    assert cli.main(["run", str(write_config(tmp_path / "c.py", changed)), "--out", str(copy), "--overwrite"]) == 0
    assert store.read_sweep(copy).values["model.depth"] == 3 and (copy / "notes.txt").read_text() == "mine"
    assert json.loads(scaling.load(copy).attrs["config"])["values"]["model.depth"] == 3


def test_new_axis_values_run_only_the_new_members_and_groups(copy, base, tmp_path, monkeypatch):
    old = scaling.load(base)
    trained = []
    run = train.run

    def spied_run(trainer, members, *args, **kwargs):
        trained.extend((trainer.program.values["model.width"], m["optim.lr"]) for m in members)
        return run(trainer, members, *args, **kwargs)

    monkeypatch.setattr(train, "run", spied_run)
    extended = with_sweep(model={"width": [8, 16, 32]}, optim={"lr": [0.1, 0.2, 0.4]})
    scaling.run(extended, copy)
    assert sorted(trained) == sorted([(8, 0.4), (16, 0.4), (32, 0.1), (32, 0.2), (32, 0.4)])
    ds = scaling.load(copy)
    assert bool(ds.completed.all())
    kept = ds.sel(width=[8, 16], lr=[0.1, 0.2])
    for name in old.data_vars:  # the old members' results, untouched
        np.testing.assert_array_equal(kept[name].values, old[name].values, err_msg=name)
    monkeypatch.undo()
    fresh = scaling.load(scaling.run(extended, tmp_path / "fresh"))
    np.testing.assert_allclose(ds.test_loss.values, fresh.test_loss.values, rtol=1e-5)
    assert scaling.run(extended, copy) == copy  # and the same command again trains nothing


def test_a_failed_group_write_is_one_error_and_the_old_file_stays(copy, monkeypatch, tmp_path, capsys):
    store.group_path(copy, "width=16").unlink()
    before = store.group_path(copy, "width=8").read_bytes()
    atomic_write = store._atomic_write

    def full_disk(path, write):
        if path.suffix == ".npz":
            raise OSError(28, "No space left on device", str(path))
        atomic_write(path, write)

    monkeypatch.setattr(store, "_atomic_write", full_disk)
    assert cli.main(["run", str(write_config(tmp_path / "c.py", CONFIG)), "--out", str(copy)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write to {copy}" in err and "No space left on device" in err and "are intact" in err
    assert store.group_path(copy, "width=8").read_bytes() == before
    assert scaling.load(copy).attrs["incomplete_groups"] == ["width=16"]


def test_load_passes_over_an_unreadable_group_file_and_the_run_writes_it_again(copy):
    path = store.group_path(copy, "width=16")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable"):
        ds = scaling.load(copy)
    assert ds.attrs["incomplete_groups"] == ["width=16"] and not ds.completed.sel(width=16).any()
    with pytest.warns(UserWarning, match="unreadable"):
        scaling.run(CONFIG, copy)
    with np.load(path) as blob:
        assert zipfile.is_zipfile(path) and "meta" in blob.files
    assert bool(scaling.load(copy).completed.all())


def test_an_unwritable_directory_is_refused_before_any_compute(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "sweep"  # under a regular file: no directory can be made there
    assert cli.main(["run", str(write_config(tmp_path / "c.py", CONFIG)), "--out", str(out)]) == 2
    assert "a directory this process can write to" in capsys.readouterr().err


FULL_AND_READ_ONLY = '''
import json, os, subprocess, sys, time
import numpy as np
import scaling
from scaling import checks, cli

disk, config_file, extended_file = sys.argv[1:4]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", disk], check=True)
out = os.path.join(disk, "sweep")
report = {}
scaling.run(checks.resolve(config_file), out)
before = scaling.load(out)

# the disk fills up while an extended sweep runs, after its first new group is written
run = subprocess.Popen([sys.executable, "-m", "scaling.cli", "run", extended_file, "--out", out, "--no-progress"],
                       stderr=subprocess.PIPE, text=True)
while not os.path.exists(os.path.join(out, "groups", "width=32.npz")) and run.poll() is None:
    time.sleep(0.01)
with open(os.path.join(disk, "filler"), "wb", buffering=0) as filler:
    try:
        while True:
            filler.write(b"0" * 4096)
    except OSError:
        pass
report["full_rc"], report["full_err"] = run.wait(), run.stderr.read()
after = scaling.load(out)
kept = after.sel(width=[8, 16], lr=[0.1, 0.2])
report["old_intact"] = all(np.array_equal(kept[name].values, before[name].values, equal_nan=True)
                           for name in before.data_vars)
report["written"] = int(after.completed.sum())
report["incomplete"] = after.attrs["incomplete_groups"]
os.unlink(os.path.join(disk, "filler"))

# read-only
subprocess.run(["mount", "-o", "remount,ro", disk], check=True)
report["ro_rc"] = cli.main(["run", extended_file, "--out", out])
report["ro_loads"] = int(scaling.load(out).completed.sum())
subprocess.run(["mount", "-o", "remount,rw", disk], check=True)
report["resumed_rc"] = cli.main(["run", extended_file, "--out", out])
report["resumed_complete"] = bool(scaling.load(out).completed.all())
print("REPORT " + json.dumps(report))
'''


@pytest.mark.slow
def test_a_full_disk_and_a_read_only_directory_leave_the_results_loadable(tmp_path):
    """On a small tmpfs in a private mount namespace (``unshare``), as a user can do on Linux."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("needs unshare (a private mount namespace) to make a small or read-only file system")
    disk = tmp_path / "disk"
    disk.mkdir()
    extended = {**with_sweep(model={"width": [8, 16, 32, 64]}), "checkpoint": {"every_steps": 5}}
    args = [str(disk), str(write_config(tmp_path / "c.py", CONFIG)), str(write_config(tmp_path / "e.py", extended))]
    cache = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}  # its runs share compiled programs
    result = subprocess.run(["unshare", "-rm", sys.executable, "-c", textwrap.dedent(FULL_AND_READ_ONLY), *args],
                            capture_output=True, text=True, timeout=600, env={**os.environ, **cache})
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, result.stderr[-3000:]
    report = json.loads(lines[0][len("REPORT "):])
    assert report["full_rc"] == 1, report
    assert f"cannot write to {disk / 'sweep'}" in report["full_err"] and "No space left on device" in report["full_err"]
    assert "Traceback" not in report["full_err"]
    assert report["old_intact"] and report["written"] == 4 + 2 and report["incomplete"] == ["width=64"]
    assert report["ro_rc"] == 2 and report["ro_loads"] == report["written"]
    assert "a directory this process can write to (Read-only file system)" in result.stderr
    assert report["resumed_rc"] == 0 and report["resumed_complete"]
