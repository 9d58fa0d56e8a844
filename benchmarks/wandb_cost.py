"""What does mirroring a sweep to wandb cost?  The same sweep run with wandb off, with one
offline run per hyperparameter point, and with one offline run per group (tables), side by
side in one run.

    .venv/bin/python benchmarks/wandb_cost.py [CONFIG] [--repeats 1] [--config.FIELD=VALUE ...]

CONFIG defaults to the quickstart (210 points in 3 groups, about 3 minutes on a 2-core CPU).
Each sweep runs in a fresh process (same compile work for all three; the compilation cache off: nothing cached across)
into a new directory, without the report (drawing it is not wandb's cost); the three are
interleaved ``--repeats`` times and the best wall time of each is kept.  wandb's share of a
sweep's time is (mirrored - off) / off, which should stay <= 5 %.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {
    "off": ["--config.log.wandb.mode=disabled"],
    "offline, a run per point": ["--config.log.wandb.mode=offline", "--config.log.wandb.max_runs=100000"],
    "offline, a run per group": ["--config.log.wandb.mode=offline", "--config.log.wandb.max_runs=1"],
}


def timed_sweep(config: str, flags: list[str], root: Path, name: str) -> float:
    out = root / name
    command = [sys.executable, "-m", "scaling.cli", "run", config, "--out", str(out), "--no-progress",
               "--config.log.report=False", "--config.launch.compile_cache=False", *flags]  # every mode compiles it all
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(Path(__file__).parents[1] / "configs" / "quickstart.py"))
    parser.add_argument("--repeats", type=int, default=1)
    args, overrides = parser.parse_known_args()
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            for i, (mode, flags) in enumerate(MODES.items()):
                seconds = timed_sweep(args.config, flags + overrides, Path(root), f"{repeat}-{i}")
                best[mode] = min(best.get(mode, float("inf")), seconds)
                print(f"  {mode:<26} {seconds:7.1f} s", flush=True)
        runs = {mode: len(list((Path(root) / f"0-{i}" / "wandb").glob("offline-run-*"))) for i, mode in enumerate(MODES)}
    print(f"\n{Path(args.config).name}, best of {args.repeats}:")
    for mode, seconds in best.items():
        share = (seconds - best["off"]) / best["off"]
        print(f"  {mode:<26} {seconds:7.1f} s   {runs[mode]:4d} wandb runs   wandb's share {share:+6.1%}")
    print(json.dumps({mode: round(s, 2) for mode, s in best.items()}))


if __name__ == "__main__":
    main()
