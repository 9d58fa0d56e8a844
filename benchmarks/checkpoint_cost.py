"""What do checkpoints cost?  The same sweep run without checkpoints, with the default interval
(every 300 s), and with frequent ones (every 100 steps, every 10 s), side by side in one run.

    .venv/bin/python benchmarks/checkpoint_cost.py [CONFIG] [--repeats 1] [--config.FIELD=VALUE ...]

CONFIG defaults to the quickstart.  Each sweep runs in a fresh process into a new directory,
without the report; the modes are interleaved ``--repeats`` times and the best wall time of
each is kept.  Besides the time, it prints the checkpoints each mode wrote (orbax saves, counted
by the steps the runs logged) and the share of the sweep's time they cost, (mode - none) / none.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {  # each sets both intervals, whatever the config file says
    "none": ["--config.checkpoint.every_steps=None", "--config.checkpoint.every_seconds=None"],
    "every 300 s (default)": ["--config.checkpoint.every_steps=None", "--config.checkpoint.every_seconds=300"],
    "every 10 s": ["--config.checkpoint.every_steps=None", "--config.checkpoint.every_seconds=10"],
    "every 100 steps": ["--config.checkpoint.every_steps=100", "--config.checkpoint.every_seconds=None"],
}
COUNTER = """
import sys
from scaling import checkpoint, cli
saves = []
save = checkpoint.GroupCheckpoints.save
checkpoint.GroupCheckpoints.save = lambda self, members, snapshot: (saves.append(1), save(self, members, snapshot))[1]
code = cli.main(sys.argv[1:])
print("SAVES", len(saves), file=sys.stderr)
sys.exit(code)
"""


def timed_sweep(config: str, flags: list[str], root: Path, name: str) -> tuple[float, int]:
    command = [sys.executable, "-c", COUNTER, "run", config, "--out", str(root / name), "--no-progress",
               "--config.log.report=False", "--config.launch.compile_cache=False", *flags]  # every mode compiles it all
    started = time.perf_counter()
    done = subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    return seconds, int(done.stderr.split("SAVES ")[-1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(Path(__file__).parents[1] / "configs" / "quickstart.py"))
    parser.add_argument("--repeats", type=int, default=1)
    args, overrides = parser.parse_known_args()
    best: dict[str, float] = {}
    saves: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            for i, (mode, flags) in enumerate(MODES.items()):
                seconds, saves[mode] = timed_sweep(args.config, overrides + flags, Path(root), f"{repeat}-{i}")
                best[mode] = min(best.get(mode, float("inf")), seconds)
                print(f"  {mode:<22} {seconds:7.1f} s  {saves[mode]:5d} checkpoints", flush=True)
    print(f"\n{Path(args.config).name} {' '.join(overrides)}, best of {args.repeats}:")
    for mode, seconds in best.items():
        share = (seconds - best["none"]) / best["none"]
        per_save = (seconds - best["none"]) / saves[mode] if saves[mode] else float("nan")
        print(f"  {mode:<22} {seconds:7.1f} s  {saves[mode]:5d} checkpoints  share {share:+6.1%}  "
              f"{per_save * 1e3:6.0f} ms per checkpoint")
    print(json.dumps({mode: round(s, 2) for mode, s in best.items()}))


if __name__ == "__main__":
    main()
