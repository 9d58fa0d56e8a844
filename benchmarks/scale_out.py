"""Scale-out throughput: a sweep of many small groups run on 1 and 2 CPU devices (members
sharded over them) and as 1 and 2 SLURM array tasks, side by side in one run.

    SLURM_CONF=... .venv/bin/python benchmarks/scale_out.py [--repeats 2] [--no-slurm]

The sweep: 8 groups (widths 16 .. 128) x 16 members (4 learning rates x 4 seeds), 400 SGD
steps each, losses only.  Every mode runs in fresh processes (the compilation cache off: the same compile work for all),
with two CPU devices visible (``--xla_force_host_platform_device_count=2``) so that only the
devices used differ; the modes are interleaved ``--repeats`` times and the best wall time of
each is kept.  Throughput is member-steps per second of wall time, submission and queueing
included for SLURM (``--wait``).  The SLURM modes need a cluster: launch/slurm/local_cluster.sh
starts one on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTHS = [16, 32, 48, 64, 80, 96, 112, 128]
LRS, SEEDS, STEPS = [0.05, 0.1, 0.2, 0.4], [0, 1, 2, 3], 400
CONFIG = {
    "model": {"depth": 3},
    "data": {"dim": 16, "batch_size": 32, "n_test": 256},
    "train": {"steps": STEPS, "n_logs": 10},
    "measure": {"ntk": False, "features": False, "predictions": False},
    "log": {"progress": False, "report": False},
    "sweep": {"model": {"width": WIDTHS}, "optim": {"lr": LRS}, "train": {"seed": SEEDS}},
}
MEMBER_STEPS = len(WIDTHS) * len(LRS) * len(SEEDS) * STEPS
MODES = {
    "1 device": ["--devices", "1"],
    "2 devices": ["--devices", "2"],
    "1 SLURM task": ["--launcher", "slurm", "--wait", "--devices", "1", "--groups-per-task", str(len(WIDTHS)),
                     "--cpus-per-task", "2"],
    "2 SLURM tasks": ["--launcher", "slurm", "--wait", "--devices", "1", "--groups-per-task", str(len(WIDTHS) // 2),
                      "--cpus-per-task", "1"],
}


def timed_sweep(config: Path, flags: list[str], out: Path) -> float:
    env = os.environ | {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scaling.cli", "run", str(config), "--out", str(out),
                    "--config.launch.compile_cache=False", *flags],  # every mode compiles the same
                   check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-slurm", action="store_true", help="devices only")
    args = parser.parse_args()
    modes = dict(MODES)
    if args.no_slurm or shutil.which("sbatch") is None:
        print("(no SLURM modes: --no-slurm, or no sbatch on PATH)")
        modes = {mode: flags for mode, flags in modes.items() if "slurm" not in flags}
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as root:  # (SLURM tasks need a directory they can see)
        config = Path(root) / "config.py"
        config.write_text(f"CONFIG = {CONFIG!r}\n\ndef get_config():\n    return CONFIG\n")
        for repeat in range(args.repeats):
            for i, (mode, flags) in enumerate(modes.items()):
                seconds = timed_sweep(config, flags, Path(root) / f"{repeat}-{i}")
                best[mode] = min(best.get(mode, float("inf")), seconds)
                print(f"  {mode:<14} {seconds:7.1f} s", flush=True)
    base = best["1 device"]
    print(f"\n{len(WIDTHS)} groups x {len(LRS) * len(SEEDS)} members x {STEPS} steps, best of {args.repeats}:")
    for mode, seconds in best.items():
        print(f"  {mode:<14} {seconds:7.1f} s   {MEMBER_STEPS / seconds:9.0f} member-steps/s   x{base / seconds:.2f}")
    print(json.dumps({mode: round(s, 2) for mode, s in best.items()}))


if __name__ == "__main__":
    main()
