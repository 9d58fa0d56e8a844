"""Throughput of gamma x eta muP sweeps: the framework against matmul peak and per-member loops.

    .venv/bin/python benchmarks/throughput.py [--arch mlp,cnn,transformer] [--widths 64,256,1024] [--steps N]
                                              [--model-steps N] [--dtype float32]

``--arch`` picks the tables (default all three): ``mlp`` the 64-member MLP sweep below with its
loop baselines, one row per width; ``cnn`` and ``transformer`` one 16-member group each (see
"CNN and transformer" at the end), against matmul peak only.

The workload: a 3-layer muP MLP (relu, no bias, centred), power-law features of dimension 32,
online batches of 128, plain SGD, swept over 8 gammas (0.1 .. 10) x 8 raw learning rates
(1e-3 .. 10^0.5; the largest rates diverge at small gamma) -- 64 members in one group.

What is timed, per width (one row each, all from this one run):

* peak: the best of several ``jnp.dot`` of two 2048 x 2048 matrices in --dtype, measured
  just before and just after the row's framework timing (the better one is used), so that
  every row is compared with the machine as it was then; a third measurement after the
  baselines, and a large gap between the three flags the row as taken on a busy machine.
* framework: ``train.run`` on all 64 members, end to end: member init, every segment of
  ``jit(scan(vmap(step)))`` with its divergence checks and its test / train / probe evaluation
  at the log steps, and the copies of the results to the host.  The ``Trainer`` caches its jitted
  init and segment functions, so they are compiled before the clock starts by a warm-up that
  runs one segment on the same shapes (a long run pays compilation once); the timed call is
  the unmodified ``train.run``.
* JAX loop: a Python loop over members, each initialised by ``jit(program.init)`` and trained
  by ``jit(program.step)`` called once per step (same program, same steps); compiled before
  the clock starts.
* PyTorch loop: one network at a time, the same muP MLP (multipliers and per-layer learning
  rates from ``scaling.parameterization``), the same centring through a frozen copy of the
  initial weights, the same data distribution, ``torch.optim.SGD`` with a group per layer.

The baselines train a few members spread over the grid, each timed alone; the median member's
time per member-step is extrapolated to the whole sweep.  They do no evaluation and no
divergence checks, so the speed-ups are conservative.

Model FLOPs are counted analytically, for the ``steps`` optimizer steps only (not for the
evaluations, the padding steps or the work of frozen diverged members); per member per step

    F = 4 * 2 * B * sum_l fan_in_l * fan_out_l
      = forward (2 B sum) + backward (2 x forward) + the centring forward f(theta_0) (1 x forward),

with sum = D*N + N*N + N for depth 3.  ``train.n_logs`` keeps the log density of the default
config (30 logs in 1000 steps), at least 2; every log evaluates 1000 test and 64 probe points
(twice each, centred), so short runs at large width pay relatively more for logging.

``train.dtype`` allows float32 and float64 only (no bfloat16), so --dtype does too.

CNN and transformer: 4 gammas (0.1 .. 10) x 4 raw learning rates, 16 members in one group, muP,
width 256, depth 4, centred:

* cnn: three 3 x 3 'SAME' convolutions of 256 channels (relu) and a readout after global average
  pooling, on ``cnn_teacher`` images of 8 x 8 x 3 (the config's default: a CNN teacher needs
  no larger image to be learnable, and 8 x 8 positions already make every convolution a
  (B*64) x 2304 x 256 matmul), online batches of 8, SGD, lr 1e-2 .. 1.
* transformer: causal, 4 heads, context 128 on ``markov`` (vocabulary 16), cross-entropy, online
  batches of 4 sequences (512 tokens), Adam, lr 1e-3 .. 1e-1.

Model FLOPs per member per step are 4 x (2 x multiply-adds of one forward): forward, backward
(2x, also for the first layer) and the centring forward f(theta_0), as for the MLP.  A forward is
per image sum_l H W k^2 C_in C_out + width (readout); per token, depth x (12 d^2 (q, k, v, out,
4d MLP) + 2 T d (QK^T and AV over all T x T pairs: the causal mask is applied to a full product)),
+ V d (one-hot token embedding) + T d (one-hot position embedding) + d V (readout).

Two times per row, from one run after a warm-up that compiles everything: ``train``, the whole
``train.run`` (init with f(theta_0) on the fixed sets, losses and probe predictions at
steps 0 and the last, ``data.n_test`` = one batch so evaluation is a small share; no NTK or
feature measurements, which dominate at these widths and are benchmarked by
benchmarks/ntk.py); and ``steps``, the training steps alone: one call of the chunk's compiled
``fori_loop(vmap(step))`` from step 0 to ``steps``.  Both report GFLOP/s of the steps' model
FLOPs.  These models are expensive on a CPU, so --model-steps is small (default 4).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from scaling import config, sweep, train  # noqa: E402
from scaling.parameterization import Parameterization  # noqa: E402

DIM, BATCH, DEPTH = 32, 128, 3
GAMMAS = np.logspace(-1, 1, 8)
LRS = np.logspace(-3, 0.5, 8)
FLOP_BUDGET = 1.2e12  # model FLOPs per framework run when --steps is not given
DEFAULT_STEPS, DEFAULT_N_LOGS = 1000, 30
BASELINE_STEPS = 250  # default cap on the loops' steps (they are extrapolated per member-step)
TARGETS = {"torch": {64: 25.0, 256: 6.0}, "peak": {256: 0.60, 1024: 0.90}}
MODEL_WIDTH, MODEL_DEPTH, MODEL_STEPS = 256, 4, 4
IMAGE, CHANNELS, KERNEL, IMAGE_BATCH = 8, 3, 3, 8
CONTEXT, VOCAB, HEADS, SEQUENCE_BATCH = 128, 16, 4, 4
MODEL_GRID = {"cnn": (np.logspace(-1, 1, 4), np.logspace(-2, 0, 4)),
              "transformer": (np.logspace(-1, 1, 4), np.logspace(-3, -1, 4))}


# ---------------------------------------------------------------- workload
def flops_per_member_step(width: int) -> float:
    """Forward + backward (2x) + centring forward, 2 FLOPs per multiply-add."""
    fan = [(DIM, width)] + [(width, width)] * (DEPTH - 2) + [(width, 1)]
    return 4 * 2 * BATCH * sum(i * o for i, o in fan)


def auto_steps(width: int, n_members: int) -> int:
    return int(np.clip(round(FLOP_BUDGET / (n_members * flops_per_member_step(width))), 30, DEFAULT_STEPS))


def n_logs(steps: int) -> int:
    return max(2, round(DEFAULT_N_LOGS * steps / DEFAULT_STEPS))


def sweep_group(width: int, steps: int, dtype: str) -> sweep.Group:
    cfg = config.defaults()
    cfg.model.update(arch="mlp", width=width, depth=DEPTH, param="mup", activation="relu", bias=False)
    cfg.data.update(task="powerlaw", dim=DIM, batch_size=BATCH, n_train=None)
    cfg.optim.update(name="sgd", lr_rule="none")
    cfg.train.update(steps=steps, n_logs=n_logs(steps), dtype=dtype)
    cfg.sweep = {"model": {"gamma": GAMMAS.tolist()}, "optim": {"lr": LRS.tolist()}}
    (group,) = sweep.groups(config.resolve(cfg))
    return group


def spread(members: list, k: int) -> list:
    """k members evenly spread over the grid (the diagonal for k = 8)."""
    return [members[i] for i in np.linspace(0, len(members) - 1, k).round().astype(int)]


# ---------------------------------------------------------------- timers
def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak(dtype: str, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of the best of ``repeats`` n x n matmuls."""
    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    dot = jax.jit(jnp.dot)
    dot(a, a).block_until_ready()
    return 2 * n**3 / best_time(lambda: dot(a, a).block_until_ready(), repeats) / 1e9


def warm_up(trainer: train.Trainer, members: list[dict]) -> float:
    """Compile the trainer's init, measurement and advance functions (cached on the trainer) by
    calling each once on one chunk; a later ``train.run`` on the same shapes reuses them.  Returns
    the seconds this took (compile + one step)."""
    program = trainer.program
    members = members[: train.chunk_size(program)]  # one chunk compiles everything train.run uses
    start = time.perf_counter()
    members = train.with_effective_lr(program, members)
    arrays = program.placement.put(sweep.stack(members, program.dtype))  # placed as run_chunk places them
    states = trainer.init_fn()(arrays)
    for name in program.schedules():  # steps are Python ints, as in run_chunk: one jit signature
        jax.block_until_ready(trainer.measure_fn(name)(states, arrays, 0, None))
    jax.block_until_ready(trainer.chunk_advance_fn(members)(states, arrays, 0, 1, None))
    return time.perf_counter() - start


def compiled_count(trainer: train.Trainer) -> int:
    """Compiled signatures cached on the trainer's jitted functions (to check that a timed run compiled nothing)."""
    return sum(fn._cache_size() for fn in trainer._compiled.values() if hasattr(fn, "_cache_size"))


def time_framework(trainer: train.Trainer, members: list[dict]) -> tuple[float, dict]:
    start = time.perf_counter()
    results = train.run(trainer, members)
    return time.perf_counter() - start, results


def per_member_step(train_one: Callable[[dict], object], members: list[dict], steps: int) -> float:
    """Seconds per member-step: the median member, each timed alone (one disturbed member does not count)."""
    train_one(members[0])  # warm up: compile, allocate, start threads
    return float(np.median([best_time(lambda: train_one(m), 1) for m in members])) / steps


def time_jax_loop(program: train.Program, members: list[dict], steps: int) -> float:
    """Seconds per member-step of jit(step) called from Python, one member at a time."""
    init, step = jax.jit(program.init), jax.jit(program.step)

    def train_one(member):
        member = {k: v[0] for k, v in train.member_arrays(program, train.with_effective_lr(program, [member])).items()}
        state = init(member)
        for t in range(steps):
            state, loss = step(state, member, t)
        return loss.block_until_ready()

    return per_member_step(train_one, members, steps)


def time_torch_loop(program: train.Program, members: list[dict], steps: int, dtype: str) -> float | None:
    """Seconds per member-step of the PyTorch loop, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    eigenvalues, teacher = (np.asarray(a) for a in program.stream.task.spectrum())
    scale, teacher = (torch.tensor(a, dtype=getattr(torch, dtype)) for a in (np.sqrt(eigenvalues), teacher))
    width = program.values["model.width"]
    return per_member_step(lambda m: train_torch_member(torch, width, m, steps, scale, teacher), members, steps)


def train_torch_member(torch, width: int, member: dict, steps: int, scale, teacher, seed: int = 0):
    """One member: muP MLP, centred by a frozen copy of theta_0, SGD with per-layer lr = rule.lr * eta."""
    rules = Parameterization("mup", "sgd")
    shapes = [("input", DIM, width)] + [("hidden", width, width)] * (DEPTH - 2) + [("readout", width, 1)]
    layers = [rules.layer(role, i, o) for role, i, o in shapes]
    gen = torch.Generator().manual_seed(seed)
    weights = [torch.randn(i, o, generator=gen, dtype=scale.dtype) * r.std for (_, i, o), r in zip(shapes, layers)]
    frozen = [w.clone() for w in weights]
    params = [w.requires_grad_() for w in weights]
    eta = member["optim.lr"]
    opt = torch.optim.SGD([{"params": [p], "lr": r.lr * eta} for p, r in zip(params, layers)], lr=eta)

    def forward(ws, h):
        for w, r in zip(ws[:-1], layers[:-1]):
            h = torch.relu((h @ w) * r.mult)
        return (h @ ws[-1]) * layers[-1].mult

    for _ in range(steps):
        x = torch.randn(BATCH, DIM, generator=gen, dtype=scale.dtype) * scale
        y = (x @ teacher)[:, None]
        with torch.no_grad():
            f0 = forward(frozen, x)
        f = (forward(params, x) - f0) / member["model.gamma"]
        loss = ((f - y) ** 2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.item()


# ---------------------------------------------------------------- one width
def bench_width(width: int, steps: int | None, dtype: str, baseline_members: int, baseline_steps: int | None) -> dict:
    steps = steps or auto_steps(width, len(GAMMAS) * len(LRS))
    group = sweep_group(width, steps, dtype)
    trainer = train.build(group.values)
    program = trainer.program
    members = group.members
    b_steps = min(baseline_steps or BASELINE_STEPS, steps)
    b_members = spread(members, baseline_members)

    warm_up_s = warm_up(trainer, members)
    peak_before = matmul_peak(dtype)
    seconds, results = time_framework(trainer, members)
    peak_after = matmul_peak(dtype)
    useful = len(members) * steps * flops_per_member_step(width)
    jax_loop = time_jax_loop(program, b_members, b_steps) * len(members) * steps
    torch_loop = time_torch_loop(program, b_members, b_steps, dtype)
    peaks = (peak_before, peak_after, matmul_peak(dtype))
    peak = max(peaks[:2])
    return {
        "width": width, "steps": steps, "evals": len(program.schedules()["loss"]), "warm_up": warm_up_s,
        "peak": peak, "busy": min(peaks) < 0.75 * max(peaks),
        "seconds": seconds, "gflops": useful / seconds / 1e9,
        "jax_loop": jax_loop, "torch_loop": None if torch_loop is None else torch_loop * len(members) * steps,
        "diverged": int(np.sum(results["diverged"])), "members": len(members),
        "b_members": len(b_members), "b_steps": b_steps,
    }


# ---------------------------------------------------------------- CNN and transformer
def model_flops_per_member_step(arch: str) -> float:
    """4 x 2 x multiply-adds of one forward (forward, 2x backward, centring forward)."""
    n = MODEL_WIDTH
    if arch == "cnn":
        convs = [KERNEL**2 * CHANNELS * n] + [KERNEL**2 * n * n] * (MODEL_DEPTH - 2)
        macs = IMAGE_BATCH * (IMAGE**2 * sum(convs) + n)
    else:
        block = 12 * n * n + 2 * CONTEXT * n
        macs = SEQUENCE_BATCH * CONTEXT * (MODEL_DEPTH * block + VOCAB * n + CONTEXT * n + n * VOCAB)
    return 4 * 2 * macs


def model_group(arch: str, steps: int, dtype: str) -> sweep.Group:
    cfg = config.defaults()
    cfg.model.update(arch=arch, width=MODEL_WIDTH, depth=MODEL_DEPTH, param="mup")
    if arch == "cnn":
        cfg.model.update(activation="relu", kernel_size=KERNEL)
        cfg.data.update(task="cnn_teacher", image_size=IMAGE, channels=CHANNELS, batch_size=IMAGE_BATCH)
        cfg.optim.update(name="sgd")
    else:
        cfg.model.update(activation="gelu", heads=HEADS)
        cfg.data.update(task="markov", context=CONTEXT, vocab=VOCAB, batch_size=SEQUENCE_BATCH)
        cfg.optim.update(name="adam")
        cfg.train.update(loss="xent")
    cfg.data.update(n_train=None, n_test=cfg.data.batch_size, n_probe=16)
    cfg.optim.update(lr_rule="none")
    cfg.train.update(steps=steps, n_logs=2, dtype=dtype)
    cfg.measure.update(ntk=False, features=False)
    gammas, lrs = MODEL_GRID[arch]
    cfg.sweep = {"model": {"gamma": gammas.tolist()}, "optim": {"lr": lrs.tolist()}}
    (group,) = sweep.groups(config.resolve(cfg))
    return group


def time_steps(trainer: train.Trainer, members: list[dict]) -> float:
    """Seconds of the training steps alone: the chunk's compiled fori_loop from step 0 to ``steps``
    (members after init, one chunk; warm_up compiled it)."""
    program = trainer.program
    members = train.with_effective_lr(program, members)[: train.chunk_size(program)]
    arrays = program.placement.put(sweep.stack(members, program.dtype))  # placed as run_chunk places them
    states = jax.block_until_ready(trainer.init_fn()(arrays))
    advance = trainer.chunk_advance_fn(members)
    start = time.perf_counter()
    jax.block_until_ready(advance(states, arrays, 0, program.steps, None))
    return time.perf_counter() - start


def bench_model(arch: str, steps: int, dtype: str) -> dict:
    group = model_group(arch, steps, dtype)
    trainer = train.build(group.values)
    program = trainer.program
    members = group.members
    warm_up_s = warm_up(trainer, members)
    peak_before = matmul_peak(dtype)
    compiled = compiled_count(trainer)
    seconds, results = time_framework(trainer, members)
    compiles = compiled_count(trainer) - compiled
    steps_s = time_steps(trainer, members)
    peak_after = matmul_peak(dtype)
    useful = len(members) * steps * model_flops_per_member_step(arch)
    return {
        "arch": arch, "steps": steps, "members": len(members), "chunk": min(train.chunk_size(program), len(members)),
        "warm_up": warm_up_s, "peak": max(peak_before, peak_after),
        "busy": min(peak_before, peak_after) < 0.75 * max(peak_before, peak_after),
        "seconds": seconds, "gflops": useful / seconds / 1e9, "steps_s": steps_s, "steps_gflops": useful / steps_s / 1e9,
        "gflop_step": useful / steps / 1e9, "diverged": int(np.sum(results["diverged"])), "compiles": compiles,
    }


def print_model_table(rows: list[dict], dtype: str) -> None:
    head = (f"{'arch':>11} {'members':>7} {'chunk':>5} {'steps':>5} {'GFLOP/step':>10} {'div':>3} {'peak GF/s':>9} "
            f"{'warm-up s':>9} {'train s':>7} {'GF/s':>6} {'%peak':>6} {'steps s':>7} {'GF/s':>6} {'%peak':>6}")
    print(f"\n16-member gamma x eta groups, muP, width {MODEL_WIDTH}, depth {MODEL_DEPTH}, {dtype}: cnn on "
          f"{IMAGE}x{IMAGE}x{CHANNELS} images, B={IMAGE_BATCH}, SGD; transformer T={CONTEXT}, V={VOCAB}, "
          f"{HEADS} heads, B={SEQUENCE_BATCH}, Adam, xent")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['arch']:>11} {r['members']:>7} {r['chunk']:>5} {r['steps']:>5} {r['gflop_step']:>10.1f} "
              f"{r['diverged']:>3} {r['peak']:>9.1f} {r['warm_up']:>9.2f} {r['seconds']:>7.2f} {r['gflops']:>6.1f} "
              f"{100 * r['gflops'] / r['peak']:>5.1f}% {r['steps_s']:>7.2f} {r['steps_gflops']:>6.1f} "
              f"{100 * r['steps_gflops'] / r['peak']:>5.1f}%{'  (busy)' if r['busy'] else ''}"
              + (f"  ({r['compiles']} compiles inside train s)" if r["compiles"] else ""))
    print("train s: train.run end to end (init, f(theta_0) on the fixed sets, losses and probe predictions at")
    print("the first and last step; no NTK or feature measurements); steps s: the training steps alone, one")
    print("fori_loop(vmap(step)) call.  GF/s of both: the steps' model FLOPs (forward, 2x backward, centring")
    print("forward; attention over all T x T pairs).  peak: the better of jnp.dot 2048^2 before and after the row;")
    print("(busy): the two differ by more than 25%.  The warm-up compiles every signature train uses; a note")
    print("'compiles inside train s' means train still compiled something, so its time includes compilation.")


# ---------------------------------------------------------------- report
def ratio(baseline: float | None, seconds: float) -> str:
    return "n/a" if baseline is None else f"{baseline / seconds:.1f}x"


def print_table(rows: list[dict], dtype: str) -> None:
    head = (f"{'width':>5} {'steps':>5} {'logs':>4} {'div':>4} {'peak GF/s':>9} {'warm-up s':>9} {'train s':>8} "
            f"{'GF/s':>7} {'%peak':>6} {'jax-loop s':>10} {'speedup':>7} {'torch s':>8} {'speedup':>7}")
    print(f"\n{rows[0]['members']}-member gamma x eta sweep, depth {DEPTH} muP MLP, D={DIM}, "
          f"B={BATCH}, SGD, {dtype}")
    print(head)
    print("-" * len(head))
    for r in rows:
        torch_s = "n/a" if r["torch_loop"] is None else f"{r['torch_loop']:.2f}"
        print(f"{r['width']:>5} {r['steps']:>5} {r['evals']:>4} {r['diverged']:>4} {r['peak']:>9.1f} "
              f"{r['warm_up']:>9.2f} {r['seconds']:>8.2f} {r['gflops']:>7.1f} {100 * r['gflops'] / r['peak']:>5.1f}% "
              f"{r['jax_loop']:>10.2f} {ratio(r['jax_loop'], r['seconds']):>7} {torch_s:>8} "
              f"{ratio(r['torch_loop'], r['seconds']):>7}{'  (busy)' if r['busy'] else ''}")
    print("\nlogs: evaluations (test/train/probe) inside the timed run; div: members that diverged;")
    print("peak: the better of two measurements, just before and just after the framework run; (busy): these")
    print("and a third one after the baselines differ by more than 25%, so something else used the machine.")
    print("jax-loop / torch s: extrapolated to all members x steps from "
          + ", ".join(f"{r['b_members']} members x {r['b_steps']} steps (width {r['width']})" for r in rows)
          + "; the baselines skip evaluation and divergence checks.")
    if any(r["torch_loop"] is None for r in rows):
        print("torch is not importable: the PyTorch column is skipped (pip install -e '.[bench]').")


def shown(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.0f}%" if unit == "%" else f"{value:.1f}x"


def print_ratios(rows: list[dict]) -> None:
    print("\nratios vs targets")
    for r in rows:
        w = r["width"]
        torch_ratio = None if r["torch_loop"] is None else r["torch_loop"] / r["seconds"]
        checks = [("speed-up over PyTorch", torch_ratio, TARGETS["torch"].get(w), "x"),
                  ("speed-up over JAX loop", r["jax_loop"] / r["seconds"], None, "x"),
                  ("fraction of matmul peak", r["gflops"] / r["peak"], TARGETS["peak"].get(w), "%")]
        for name, value, target, unit in checks:
            verdict = "" if target is None or value is None else \
                f"  target >= {shown(target, unit)}: {'met' if value >= target else 'NOT met'}"
            busy = "  (busy machine: unreliable)" if r["busy"] and target is not None else ""
            print(f"  width {w:>5}  {name:<24} {shown(value, unit):>7}{verdict}{busy}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="mlp,cnn,transformer",
                        help="comma-separated tables: mlp (64 members, per width), cnn, transformer (16 members)")
    parser.add_argument("--widths", default="64,256,1024", help="comma-separated widths")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"optimizer steps for every width (default: ~{FLOP_BUDGET:.1e} model FLOPs, 30..1000)")
    parser.add_argument("--model-steps", type=int, default=MODEL_STEPS, help="optimizer steps of the cnn and transformer")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                        help="train.dtype (the framework has no bfloat16)")
    parser.add_argument("--baseline-members", type=int, default=4, help="members the loops train (spread over grid)")
    parser.add_argument("--baseline-steps", type=int, default=None,
                        help=f"steps the loops train (default: min(--steps, {BASELINE_STEPS}))")
    args = parser.parse_args(argv)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    archs = args.arch.split(",")
    unknown = set(archs) - {"mlp", "cnn", "transformer"}
    if unknown:
        parser.error(f"--arch: unknown {sorted(unknown)}; allowed mlp, cnn, transformer")
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} cores", flush=True)
    model_rows = []
    for arch in [a for a in archs if a != "mlp"]:
        model_rows.append(bench_model(arch, args.model_steps, args.dtype))
        r = model_rows[-1]
        print(f"  {arch}: {r['steps']} steps, train {r['seconds']:.1f}s, steps {r['steps_s']:.1f}s, "
              f"{r['steps_gflops']:.1f} GFLOP/s", flush=True)
    if model_rows:
        print_model_table(model_rows, args.dtype)
    if "mlp" not in archs:
        return
    rows = []
    for width in [int(w) for w in args.widths.split(",")]:
        rows.append(bench_width(width, args.steps, args.dtype, args.baseline_members, args.baseline_steps))
        r = rows[-1]
        print(f"  width {width}: {r['steps']} steps, train {r['seconds']:.1f}s, {r['gflops']:.1f} GFLOP/s", flush=True)
    print_table(rows, args.dtype)
    print_ratios(rows)
    print("\nFLOPs per member-step: 4 * 2 * B * sum_l fan_in*fan_out (forward, 2x backward, centring forward).")


if __name__ == "__main__":
    main()
