"""Compile time and step time of a group's programs with LLVM at -O3 (XLA's default) and -O2.

    .venv/bin/python benchmarks/compile.py [--arch transformer,mlp] [--steps 20]

For each architecture (a 10-member muP group: the transformer of configs/transformer_markov.py
at width 64, the quickstart MLP at width 128), the init, the training loop and the NTK call
are compiled at both levels side by side in this one run, and the training loop is timed
(best of 3 runs of ``--steps`` steps).  ``scaling.train.jit`` compiles at -O2 on CPU; this
prints why: the ratios of compile time and of step time between the two levels.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from scaling import checks, sweep, train  # noqa: E402
from scaling.train import loop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {
    "transformer": ("configs/transformer_markov.py", {"sweep.model.width": "[64]", "sweep.train.seed": "[0, 1]"}),
    "mlp": ("configs/quickstart.py", {"sweep.model.width": "[128]", "sweep.model.gamma": "[0.1, 1.0]",
                                      "sweep.optim.lr": "[0.01, 0.03, 0.1, 0.3, 1.0]", "sweep.train.seed": "[0]"}),
}


def measure(arch: str, level: int, steps: int) -> dict:
    config, overrides = GROUPS[arch]
    (group,) = sweep.groups(checks.resolve(ROOT / config, overrides))
    trainer = train.build({**group.values, "measure.ntk": True})
    program = trainer.program
    members = train.with_effective_lr(program, group.members)
    arrays = train.member_arrays(program, members)
    options = {"compiler_options": {"xla_backend_optimization_level": level}}
    seconds = {}

    def compiled(name, fn, *args, **jit_kwargs):
        start = time.perf_counter()
        out = jax.jit(fn, **options, **jit_kwargs).lower(*args).compile()
        seconds[name] = time.perf_counter() - start
        return out

    states = compiled("init", jax.vmap(program.init), arrays)(arrays)
    # the group's NTK call and training loop, placed on the devices as the trainer places them,
    # jitted here at ``level``
    place = functools.partial(program.placement.wrap, members=("states", "members"))
    ntk = next(m for m in program.measurements() if m.name == "ntk")
    compiled("ntk", place(loop.measure_program(program, [ntk])), states, arrays, 0, None, np.array([True]))
    advance = compiled("advance", place(loop.advance_program(program, False)), states, arrays, 0, 1, None,
                       donate_argnums=(0,))
    states = advance(states, arrays, 0, 1, None)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        states = jax.block_until_ready(advance(states, arrays, 1, 1 + steps, None))
        runs.append(time.perf_counter() - start)
    seconds["step"] = min(runs) / steps
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="transformer,mlp", help="comma-separated: " + ", ".join(GROUPS))
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    print(f"{'arch':>12} {'what':>16} {'-O3 s':>8} {'-O2 s':>8} {'-O3/-O2':>8}")
    for arch in args.arch.split(","):
        o3, o2 = measure(arch, 3, args.steps), measure(arch, 2, args.steps)
        for what in ("init", "advance", "ntk", "step"):
            label = "per step" if what == "step" else f"compile {what}"
            print(f"{arch:>12} {label:>16} {o3[what]:>8.3f} {o2[what]:>8.3f} {o3[what] / o2[what]:>8.2f}")
    print("compile: seconds to compile each function; per step: the training loop, 10 members.")


if __name__ == "__main__":
    main()
