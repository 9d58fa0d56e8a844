"""Member-steps per second of one group of 1000 members: the workload of benchmarks/throughput.py
(3-layer muP MLP, centred, SGD, online batches of 128) over 10 gammas x 10 learning rates x 10 seeds.

    .venv/bin/python benchmarks/many_members.py [--width 256] [--steps 200] [--gammas 10] [--lrs 10] [--seeds 10]
                                                [--dtype float32]

Timed: ``train.run`` on every member of the group, end to end (init, the chunks' training steps
with their divergence checks, the measurements at the quickstart's density as in throughput.py,
the copies to the host), once, after ``warm_up`` compiled its functions.  Printed: the members, the
chunk size ``train.chunk_size`` picked (members per compiled call), the measurement counts, the
seconds, member-steps per second and the steps' model GFLOP/s (throughput.py's count).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from throughput import DTYPES, flops_per_member_step, log_counts, sweep_group, warm_up  # (puts the repository on sys.path)

from scaling import train


def bench(width: int, steps: int, dtype: str, n_gammas: int, n_lrs: int, n_seeds: int) -> dict:
    """One group of n_gammas x n_lrs x n_seeds members, trained once after its compilation."""
    group = sweep_group(width, steps, dtype, np.logspace(-1, 1, n_gammas), np.logspace(-3, 0.5, n_lrs),
                        list(range(n_seeds)))
    trainer = train.build(group.values)
    members = group.members
    warm_up_s = warm_up(trainer, members)
    start = time.perf_counter()
    train.run(trainer, members)
    seconds = time.perf_counter() - start
    member_steps = len(members) * steps
    return {"members": len(members), "chunk": min(train.chunk_size(trainer.program), len(members)),
            "warm_up": warm_up_s, "seconds": seconds, "member_steps_per_s": member_steps / seconds,
            "gflops": member_steps * flops_per_member_step(width) / seconds / 1e9}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--gammas", type=int, default=10, help="gammas, log-spaced over 0.1 .. 10")
    parser.add_argument("--lrs", type=int, default=10, help="raw learning rates, log-spaced over 1e-3 .. 10^0.5")
    parser.add_argument("--seeds", type=int, default=10, help="train.seed 0 .. seeds - 1")
    parser.add_argument("--dtype", default="float32", choices=DTYPES)
    args = parser.parse_args(argv)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({jax.devices()[0].device_kind})", flush=True)
    r = bench(args.width, args.steps, args.dtype, args.gammas, args.lrs, args.seeds)
    logs = ", ".join(f"{path} = {n}" for path, n in log_counts(args.steps).items())
    print(f"{r['members']} members ({args.gammas} gammas x {args.lrs} lrs x {args.seeds} seeds), width {args.width}, "
          f"{args.steps} steps, {args.dtype}; chunk size {r['chunk']} (train.chunk_size); {logs}")
    print(f"warm-up (compile) {r['warm_up']:.1f} s; train.run {r['seconds']:.2f} s: "
          f"{r['member_steps_per_s']:.0f} member-steps/s, {r['gflops']:.1f} GFLOP/s of model FLOPs")


if __name__ == "__main__":
    main()
