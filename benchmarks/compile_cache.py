"""JAX's persistent compilation cache (``launch.compile_cache``): a sweep run with the cache off,
with it on in an empty directory (the first run) and on again in the same directory (the second
run: a rerun, or another sweep of the same group shapes), side by side in one run.

    .venv/bin/python benchmarks/compile_cache.py [--repeats 2] [--steps 400]

The sweep is benchmarks/scale_out.py's (8 groups x 16 members, SGD, losses only), whose time is
mostly compile time.  Each run is a fresh process: wall seconds are the whole process (imports
included), sweep seconds ``scaling.run`` alone; compile seconds are the sum of JAX's backend
compile durations in it (``jax.monitoring``, loads from the cache included), programs compiled
those not loaded from the cache.  The three modes are interleaved ``--repeats`` times, each
repeat with its own empty cache directory, and the best wall time of each mode is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_out import CONFIG  # noqa: E402

MODES = ("cache off", "first run", "second run")
BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
CACHE_HIT = "/jax/compilation_cache/cache_hits"


def child(out: str, cache: str, enabled: bool, steps: int) -> None:
    """One sweep in this process; prints its times and compiles as JSON."""
    from jax import monitoring

    import scaling

    stats = {"compile_s": 0.0, "programs": 0, "loaded": 0}

    def on_event(event, **_):
        stats["loaded"] += event == CACHE_HIT

    def on_duration(event, seconds, **_):
        if event == BACKEND_COMPILE:
            stats["compile_s"] += seconds
            stats["programs"] += 1

    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)
    config = CONFIG | {"train": CONFIG["train"] | {"steps": steps},
                       "launch": {"compile_cache": enabled, "compile_cache_dir": cache}}
    started = time.perf_counter()
    scaling.run(config, out)
    print(json.dumps(stats | {"sweep_s": time.perf_counter() - started, "compiled": stats["programs"] - stats["loaded"]}))


def timed(out: Path, cache: Path, enabled: bool, steps: int) -> dict:
    """A fresh process running ``child``: its stats and wall seconds."""
    env = os.environ | {"JAX_PLATFORMS": "cpu"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", str(out), str(cache), str(enabled), "--steps", str(steps)],
                          check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.splitlines()[-1]) | {"wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=CONFIG["train"]["steps"], help="training steps per member")
    parser.add_argument("--child", nargs=3, metavar=("OUT", "CACHE", "ENABLED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        out, cache, enabled = args.child
        child(out, cache, enabled == "True", args.steps)
        return
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            cache, unused = Path(root) / f"cache-{repeat}", Path(root) / f"unused-{repeat}"
            runs = {"cache off": (unused, False), "first run": (cache, True), "second run": (cache, True)}
            for i, (mode, (directory, enabled)) in enumerate(runs.items()):
                stats = timed(Path(root) / f"{repeat}-{i}", directory, enabled, args.steps)
                if stats["wall_s"] < best.get(mode, {"wall_s": float("inf")})["wall_s"]:
                    best[mode] = stats
                print(f"  {mode:<11} {stats['wall_s']:7.1f} s wall  {stats['compile_s']:7.1f} s compiling  "
                      f"{stats['compiled']:3d} compiled  {stats['loaded']:3d} loaded", flush=True)
            if unused.exists():
                raise SystemExit(f"the run with the cache off wrote into {unused}")
    n_groups = len(CONFIG["sweep"]["model"]["width"])
    print(f"\n{n_groups} groups x {len(CONFIG['sweep']['optim']['lr']) * len(CONFIG['sweep']['train']['seed'])} members "
          f"x {args.steps} steps, best of {args.repeats}:")
    print(f"  {'mode':<11} {'wall s':>7} {'sweep s':>8} {'compile s':>10} {'compiled':>9} {'loaded':>7}")
    for mode in MODES:
        s = best[mode]
        print(f"  {mode:<11} {s['wall_s']:7.1f} {s['sweep_s']:8.1f} {s['compile_s']:10.1f} {s['compiled']:9d} {s['loaded']:7d}")
    first, second = best["first run"], best["second run"]
    print(f"  second / first: wall x{second['wall_s'] / first['wall_s']:.2f}, sweep x{second['sweep_s'] / first['sweep_s']:.2f}, "
          f"compile x{second['compile_s'] / first['compile_s']:.3f}; first / off: wall "
          f"x{first['wall_s'] / best['cache off']['wall_s']:.2f} (writing the cache)")
    print(json.dumps({mode: {k: round(v, 2) for k, v in best[mode].items()} for mode in MODES}))


if __name__ == "__main__":
    main()
