"""What the default measurements cost a quickstart-sized sweep: training with them and without, side by side.

    .venv/bin/python benchmarks/measure_cost.py [--config configs/quickstart.py] [--repeats 2]

For every group of the config's sweep (one compiled program per static point), two programs
train the same members: the config as it is (probe predictions, the NTK with its spectrum and
alignment, feature-learning signals, each at its default schedule) and the config with every
measurement off (losses only).  Each program's first call compiles and trains ('first call');
then ``--repeats`` more calls, alternating between the two programs so that both see the
machine in the same state, give the median training time.  The cost of the measurements is
(on - off) / off, per group and over the whole sweep, for training alone and for first calls.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling import checks, sweep, train  # noqa: E402

MEASUREMENTS_OFF = {"measure.predictions": False, "measure.ntk": False, "measure.features": False}


def _timed(trainer: train.Trainer, members: list[dict]) -> float:
    start = time.perf_counter()
    train.run(trainer, members)
    return time.perf_counter() - start


def measure_group(group: sweep.Group, repeats: int) -> dict[str, dict[str, float]]:
    trainers = {"on": train.build(group.values), "off": train.build(group.values | MEASUREMENTS_OFF)}
    first = {name: _timed(trainer, group.members) for name, trainer in trainers.items()}
    runs: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(repeats):
        for name, trainer in trainers.items():
            runs[name].append(_timed(trainer, group.members))
    return {name: {"first": first[name], "train": float(np.median(runs[name]))} for name in trainers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.py")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    groups = sweep.groups(checks.resolve(args.config))
    print(f"{'group':<16}{'members':>8}{'train on':>10}{'off':>8}{'cost':>8}{'first on':>10}{'off':>8}{'cost':>8}")
    totals = {"on": {"first": 0.0, "train": 0.0}, "off": {"first": 0.0, "train": 0.0}}
    for group in groups:
        times = measure_group(group, args.repeats)
        for name in totals:
            for kind in ("first", "train"):
                totals[name][kind] += times[name][kind]
        _row(group.id, len(group.members), times)
    _row("sweep", sum(len(g.members) for g in groups), totals)


def _row(label: str, n_members: int, times: dict) -> None:
    cost = {kind: times["on"][kind] / times["off"][kind] - 1 for kind in ("train", "first")}
    print(f"{label:<16}{n_members:>8}{times['on']['train']:>9.1f}s{times['off']['train']:>7.1f}s{cost['train']:>8.1%}"
          f"{times['on']['first']:>9.1f}s{times['off']['first']:>7.1f}s{cost['first']:>8.1%}")


if __name__ == "__main__":
    main()
