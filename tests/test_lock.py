"""Claims on groups: four workers on one sweep directory run each group once; stale claims (a
dead worker, a silent host) are broken by exactly one worker; a live claim is respected."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import scaling
from scaling import checks, store, sweep
from scaling.launch import lock

FAULTS = Path(__file__).with_name("faults.py")
WIDTHS = [8, 10, 12, 14, 16, 18]
CONFIG = {
    "model": {"width": 8, "depth": 2},
    "data": {"dim": 4, "batch_size": 8, "n_test": 16, "n_probe": 4},
    "train": {"steps": 30, "n_logs": 4, "segments": 2},
    "measure": {"ntk": False, "features": False, "predictions": False},
    "log": {"progress": False, "report": False},
    "sweep": {"model": {"width": WIDTHS}, "optim": {"lr": [0.1, 0.2]}},
}


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def plant(out: Path, name: str, host: str, pid: int, age_s: float = 0.0) -> Path:
    """A claim as another worker would have left it, its last heartbeat ``age_s`` ago."""
    path = lock.lock_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "theirs", "since": time.time() - age_s}))
    os.utime(path, (time.time() - age_s,) * 2)
    return path


@pytest.mark.slow
def test_four_workers_run_every_group_exactly_once(tmp_path):
    config_file, out, events = tmp_path / "config.py", tmp_path / "sweep", tmp_path / "events"
    config_file.write_text(f"CONFIG = {CONFIG!r}\n\ndef get_config():\n    return CONFIG\n")
    env = {**os.environ, "SCALING_EVENTS": str(events)}
    workers = [subprocess.Popen([sys.executable, str(FAULTS), "run", str(config_file), "--out", str(out), "--no-progress"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, [err for _, err in outputs]
    trained = [line.split() for line in events.read_text().splitlines() if line.startswith("train")]
    groups = sorted(g for _, g, _ in trained)
    assert groups == sorted(f"width={w}" for w in WIDTHS)  # each group once
    assert len({pid for _, _, pid in trained}) >= 2  # the work was shared
    ds = scaling.load(out)
    assert bool(ds.completed.all()) and ds.attrs["incomplete_groups"] == []
    assert not list((out / "locks").glob("*.lock")) and not list((out / "groups").glob(".*.tmp"))


def test_a_dead_workers_claim_is_broken_and_a_live_one_respected(tmp_path):
    here = lock.socket.gethostname()
    plant(tmp_path, "a", here, dead_pid())
    with lock.claim(tmp_path, "a", stale_s=600) as claim:
        assert claim is not None and lock.read(lock.lock_path(tmp_path, "a")).pid == os.getpid()
    assert not lock.lock_path(tmp_path, "a").exists()  # released
    plant(tmp_path, "b", "elsewhere", 1, age_s=10)
    assert lock.claim(tmp_path, "b", stale_s=600) is None
    assert lock.live_owner(tmp_path, "b", stale_s=600).describe() == "elsewhere:1"
    plant(tmp_path, "c", "elsewhere", 1, age_s=700)  # no heartbeat for longer than stale_s
    assert lock.live_owner(tmp_path, "c", stale_s=600) is None
    claim = lock.claim(tmp_path, "c", stale_s=600)
    assert claim is not None
    claim.release()


def test_of_many_workers_breaking_one_stale_claim_exactly_one_gets_it(tmp_path):
    for attempt in range(5):
        plant(tmp_path, "g", "elsewhere", 1, age_s=700)
        start, claims = threading.Barrier(16), []

        def contend():
            start.wait()
            claims.append(lock.claim(tmp_path, "g", stale_s=600))

        threads = [threading.Thread(target=contend) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        held = [c for c in claims if c is not None]
        assert len(held) == 1, attempt
        held[0].release()


def test_a_claim_beats_its_heartbeat_and_notices_when_it_is_taken_over(tmp_path):
    claim = lock.claim(tmp_path, "g", stale_s=0.5)  # a heartbeat every 0.05 s
    path = lock.lock_path(tmp_path, "g")
    os.utime(path, (time.time() - 100,) * 2)
    time.sleep(0.3)
    assert time.time() - path.stat().st_mtime < 0.3 and not claim.lost
    plant(tmp_path, "g", "elsewhere", 1)  # another worker broke it and holds it now
    time.sleep(0.3)
    assert claim.lost and not claim.check()
    claim.release()
    assert lock.read(path).host == "elsewhere"  # its claim is left alone


def test_a_sweep_skips_a_group_another_worker_holds_and_takes_over_a_stale_one(tmp_path, capsys):
    config = {**CONFIG, "sweep": {"model": {"width": [8, 10]}}}
    first, second = sweep.groups(checks.resolve(config))
    out = tmp_path / "sweep"
    out.mkdir()
    plant(out, first.id, "elsewhere", 1)
    scaling.run(config, out)
    assert "1 groups are being run by other workers (width=8)" in capsys.readouterr().err
    assert not store.group_done(out, first) and store.group_done(out, second)
    plant(out, first.id, "elsewhere", 1, age_s=700)
    scaling.run(config, out)
    assert store.group_done(out, first) and not lock.lock_path(out, first.id).exists()
