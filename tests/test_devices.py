"""Members sharded over devices and hosts, and one model's width sharded (scaling/launch/devices.py).

Several CPU devices need XLA_FLAGS before JAX starts, so each check runs in its own process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import TINY_CONFIG

import scaling
from scaling import checks, cli
from scaling.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

# In a process with 4 CPU devices: 5 members (padded to 6 on 2 devices, to 8 on 4) trained with
# their members on 1, 2 and 4 devices, with the width split over 2, and the chunk resumed on 4
# devices from a snapshot; prints each comparison's largest difference.  A device of n runs
# ceil(5 / n) members per call, as one device does in chunks of that size ("chunked").
SHARDED = """
import json, sys
sys.path.insert(0, "tests")
import jax, numpy as np
from conftest import members, values
from scaling import train
from scaling.launch import devices

base = values(**{"measure.ntk": True, "model.width": 32})
ms = members(base, optim__lr=[0.05, 0.1, 0.2], train__seed=[0, 1])[:5]
programs = {(n, shard): train.build(base, devices.placement(n, shard)) for n, shard in
            [(1, "members"), (2, "members"), (4, "members"), (2, "width")]}

def largest(a, b, relative=False):  # per differing metric, its largest difference (relative: to its largest value)
    return {k: float(np.nanmax(np.abs(v - b[k]) / (np.nanmax(np.abs(v)) if relative else 1)))
            for k, v in a.items() if not np.array_equal(v, b[k], equal_nan=True)}

one = train.run(programs[1, "members"], ms)
sharded = {n: train.run(programs[n, "members"], ms) for n in (2, 4)}
out = {"devices": len(jax.devices()),
       "members": {n: largest(train.run(programs[1, "members"], ms, chunk=-(-5 // n)), sharded[n]) for n in (2, 4)},
       "all_at_once": {n: largest(one, sharded[n], relative=True) for n in (2, 4)},
       "width": largest(one, train.run(programs[2, "width"], ms), relative=True)}
trainer, snapshots = programs[4, "members"], {}
chunk = train.with_effective_lr(trainer.program, ms)
whole = trainer.run_chunk(chunk, lambda n: None, at_stop=lambda t, snapshot: snapshots.setdefault(t, snapshot()))[1]
resumed = trainer.run_chunk(chunk, lambda n: None, resume=snapshots[10])[1]
out["resumed_equal"] = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed)))
out["snapshot_members"] = int(snapshots[10].states["diverged"].shape[0])
print("RESULT", json.dumps(out))
"""


def _env(devices: int) -> dict:
    return os.environ | {"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}


@pytest.mark.slow
def test_members_on_2_and_4_devices_equal_one_device_and_width_sharding_agrees():
    done = subprocess.run([sys.executable, "-c", SHARDED], cwd=ROOT, env=_env(4), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert out["devices"] == 4
    assert out["members"] == {"2": {}, "4": {}}  # every metric of every member bit for bit, padding dropped
    for n, differences in out["all_at_once"].items():  # XLA's batched matmuls round by batch size, as in chunks
        assert all(d < 1e-5 for d in differences.values()), (n, differences)
    assert all(d < 1e-4 for d in out["width"].values()), out["width"]  # the same sums in another order
    assert out["resumed_equal"] and out["snapshot_members"] == 5  # snapshots hold no padding


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_on_localhost_equal_one_process(tmp_path):
    """jax.distributed with two processes of 2 CPU devices each: process 0 writes, the results
    equal a one-process, one-device run of the same sweep bit for bit (one member per call, as
    on each of the 4 devices)."""
    config = tmp_path / "tiny.py"
    config.write_text(TINY_CONFIG)
    small = ["--config.sweep.model.width=[8]", "--config.sweep.model.gamma=[1.0]", "--config.measure.features=False"]
    port = _free_port()
    workers = [subprocess.Popen(
        [sys.executable, "-m", "scaling.cli", "run", str(config), "--out", str(tmp_path / "hosts"), *small,
         "--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
        cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [o[1][-2000:] for o in outputs]
    assert "results:" in outputs[0][0] and "results:" not in outputs[1][0]  # process 0 reports
    assert cli.main(["run", str(config), "--out", str(tmp_path / "one"), *small, "--devices", "1",
                     "--config.train.max_members=1"]) == 0
    hosts, one = scaling.load(tmp_path / "hosts"), scaling.load(tmp_path / "one")
    for name in one.data_vars:
        np.testing.assert_array_equal(hosts[name].values, one[name].values, err_msg=name)
    assert not list((tmp_path / "hosts" / "locks").glob("*.lock"))


def test_more_devices_than_there_are_is_refused_before_anything_is_written(tmp_path, tiny_config_file, capsys):
    out = tmp_path / "sweep"
    assert cli.main(["run", str(tiny_config_file), "--out", str(out), "--devices", "64"]) == 2
    found = jax.devices()  # (gpu_check.sh runs this on an accelerator)
    assert (f"launch.devices = 64 is not allowed: at most {len(found)}, the {found[0].platform} devices there are"
            in capsys.readouterr().err)
    assert not out.exists()
    with pytest.raises(ConfigError, match="launch.shard = 'depth'"):
        checks.resolve(tiny_config_file, {"launch.shard": "depth"})
    with pytest.raises(ConfigError, match="sweep.launch.devices"):
        checks.resolve(tiny_config_file, {"sweep.launch.devices": "[1, 2]"})


def test_distributed_flags_come_all_three_or_none(tiny_config_file, tmp_path, capsys):
    assert cli.main(["run", str(tiny_config_file), "--out", str(tmp_path / "s"), "--num-processes", "2"]) == 2
    assert "--coordinator/--num-processes/--process-id" in capsys.readouterr().err
