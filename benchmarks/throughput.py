"""Throughput of gamma x eta muP sweeps: the framework against a bare jit(scan(vmap(step))) loop and matmul peak.

    .venv/bin/python benchmarks/throughput.py [--arch mlp,cnn,transformer] [--widths 64,256,1024] [--steps N]
                                              [--repeats 2] [--dtype float32|float64|bfloat16] [--loops]
                                              [--model-steps N]

``--arch`` picks the tables (default all three): ``mlp`` the 64-member MLP sweep below against the
bare loop, one row per width; ``cnn`` and ``transformer`` one 16-member group each (see "CNN and
transformer" at the end), against matmul peak only.

The MLP workload: a 3-layer muP MLP (relu, no bias, centred), inputs of dimension 32 (the
framework's ``powerlaw`` task; the bare loop's Gaussian inputs and tanh teacher), batches of 128
drawn online and shared by every member at a step, plain SGD at lr * N, swept over 8 gammas
(0.1 .. 10) x 8 raw learning rates (1e-3 .. 10^0.5; the largest rates diverge at small gamma) --
64 members in one group.  Per width (one row each, all from this one run), S steps each for:

* framework: ``train.run`` on the 64 members as ``sweep_group`` builds them, end to end: member
  init, the chunks' ``jit(fori_loop(vmap(step)))`` with their divergence checks, and every
  measurement at the quickstart's density (configs/quickstart.py: ``train.n_logs`` and each
  measurement on by default there -- ntk, features, predictions -- at its ``n_logs`` per
  ``train.steps``, scaled to S steps, rounded, at least 2; the row prints the counts), with the
  results copied to the host.  ``warm_up`` compiles every function it uses first; ``train.chunk_size``
  picks the members per call (on CPU one at a time at width >= 512).
* bare: the reference loop of ../shared/bench/bare_vmap.py (``vmap`` mode), written here: the same
  MLP with weights N(0, 1) and multipliers 1/sqrt(D), 1/sqrt(N), 1/N, centred through f(theta_0)
  on the step's batch, gamma dividing the output, SGD at lr * N, x ~ N(0, I) and y = tanh(x.w / sqrt(D))
  drawn from one key per step for all members, the 8 x 8 grid above, in one
  ``jit(scan(vmap(step)))`` called once after a compile call.  No measurement, no divergence check.
* peak: the best of several ``jnp.dot`` of two n x n matrices in --dtype (n = 2048 on CPU, 8192 on
  an accelerator, so that its peak is reached), before and after the row's timings (the better one
  is used; the two differing by more than 25 % flags the row as taken on a busy machine).

Framework and bare loop alternate (framework, bare, framework, bare: --repeats pairs) and each
keeps its best time, so a disturbance of the machine hits both alike.  S is the same for both:
--steps, or SECONDS_AT_PEAK = 10 seconds of the row's model FLOPs at the measured peak, within
40 .. 1000 steps (on a 2-core CPU: 1000 at width 64, ~200 at 256, 40 at 1024; up to 1000 on an
accelerator).  The target: the framework's throughput at least 80 % of the bare loop's at every width.

--dtype: float32, float64, or bfloat16: ``train.dtype``'s mixed precision, the parameters in
float32, the step's forward and backward (f(theta_0) too) in bfloat16, centring and loss in
float32; the bare loop does the same, and the peak is measured in bfloat16.

--loops adds the one-run-at-a-time baselines (DESIGN.md): a Python loop over members of
``jit(program.step)``, and a PyTorch loop of the same muP MLP (multipliers and per-layer learning
rates from ``scaling.parameterization``, centred by a frozen copy of the initial weights,
``torch.optim.SGD`` with a group per layer); they train a few members spread over the grid, each
timed alone, the median extrapolated to the whole sweep, without evaluation or divergence checks.

Model FLOPs are counted analytically, for the S optimizer steps only (not for the measurements
or the work of frozen diverged members); per member per step

    F = 4 * 2 * B * sum_l fan_in_l * fan_out_l
      = forward (2 B sum) + backward (2 x forward) + the centring forward f(theta_0) (1 x forward),

with sum = D*N + N*N + N for depth 3: the same count for the framework and the bare loop.

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
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from scaling import config, measure, sweep, train  # noqa: E402
from scaling.parameterization import Parameterization  # noqa: E402

DIM, BATCH, DEPTH = 32, 128, 3
GAMMAS = np.logspace(-1, 1, 8)
LRS = np.logspace(-3, 0.5, 8)
DTYPES = ("float32", "float64", "bfloat16")
QUICKSTART = ROOT / "configs" / "quickstart.py"
MIN_LOGS = 2  # the least n_logs the config allows
SECONDS_AT_PEAK, MIN_STEPS, MAX_STEPS = 10, 40, 1000  # default steps: this many seconds of model FLOPs at peak
TARGET_OF_BARE = 0.8
BASELINE_STEPS = 250  # default cap on the loops' steps (they are extrapolated per member-step)
TORCH_TARGETS = {64: 25.0, 256: 6.0}  # speed-up over the PyTorch loop
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


def auto_steps(width: int, n_members: int, peak_gflops: float) -> int:
    """Steps whose model FLOPs take SECONDS_AT_PEAK seconds at peak: long enough to rise above
    the noise of a shared machine, on a CPU as on an accelerator."""
    steps = SECONDS_AT_PEAK * peak_gflops * 1e9 / (n_members * flops_per_member_step(width))
    return int(np.clip(round(steps), MIN_STEPS, MAX_STEPS))


def log_counts(steps: int) -> dict[str, int]:
    """The quickstart's logs and measurements per step (``train.n_logs`` and the ``n_logs`` of each
    measurement it takes) scaled to ``steps``: the config fields to set, rounded, at least MIN_LOGS."""
    values = config.resolve(config.load_file(QUICKSTART)).values
    fields = ["train.n_logs"] + [f"measure.{m.name}_n_logs" for m in measure.active(values)
                                 if f"measure.{m.name}_n_logs" in values]
    return {path: max(MIN_LOGS, round(values[path] * steps / values["train.steps"])) for path in fields}


def sweep_group(width: int, steps: int, dtype: str, gammas=GAMMAS, lrs=LRS, seeds: list[int] | None = None) -> sweep.Group:
    """The gammas x lrs (x seeds; None: the default seed) group, logging at the quickstart's density;
    ConfigError if the config refuses ``dtype``."""
    cfg = config.defaults()
    cfg.model.update(arch="mlp", width=width, depth=DEPTH, param="mup", activation="relu", bias=False)
    cfg.data.update(task="powerlaw", dim=DIM, batch_size=BATCH, n_train=None)
    cfg.optim.update(name="sgd", lr_rule="none")
    counts = log_counts(steps)
    cfg.train.update(steps=steps, n_logs=counts.pop("train.n_logs"), dtype=dtype)
    cfg.measure.update({path.split(".", 1)[1]: n for path, n in counts.items()})
    cfg.sweep = {"model": {"gamma": list(map(float, gammas))}, "optim": {"lr": list(map(float, lrs))}}
    if seeds is not None:
        cfg.sweep["train"] = {"seed": list(seeds)}
    (group,) = sweep.groups(config.resolve(cfg))
    return group


def spread(members: list, k: int) -> list:
    """k members evenly spread over the grid (the diagonal for k = 8)."""
    return [members[i] for i in np.linspace(0, len(members) - 1, k).round().astype(int)]


# ---------------------------------------------------------------- the bare loop (../shared/bench/bare_vmap.py)
def bare_dtypes(dtype: str) -> tuple:
    """(parameter dtype, matmul dtype): bfloat16 computes in bfloat16 on float32 parameters."""
    return (jnp.float32 if dtype == "bfloat16" else jnp.dtype(dtype)), jnp.dtype(dtype)


def bare_init(key, width: int, dtype) -> list:
    k = jax.random.split(key, DEPTH)
    return [jax.random.normal(k[0], (width, DIM), dtype), jax.random.normal(k[1], (width, width), dtype),
            jax.random.normal(k[2], (width, 1), dtype)]


def bare_forward(params: list, x, compute):
    """muP MLP: relu(x W0^T / sqrt(D)), relu(h W1^T / sqrt(N)), h w2 / N; matmuls in ``compute``."""
    width = params[1].shape[0]
    w0, w1, w2 = (w.astype(compute) for w in params)
    h = jax.nn.relu(x.astype(compute) @ w0.T / math.sqrt(DIM))
    h = jax.nn.relu(h @ w1.T / math.sqrt(width))
    return (h @ w2 / width).astype(params[0].dtype)


def bare_step(params: list, params0: list, gamma, lr, key, teacher, compute):
    """One SGD step at lr * N of the centred output (f(theta) - f(theta_0)) / gamma on a batch drawn from ``key``."""
    x = jax.random.normal(key, (BATCH, DIM), teacher.dtype)
    y = jnp.tanh(x @ teacher / math.sqrt(DIM))

    def loss(p):
        return jnp.mean(((bare_forward(p, x, compute) - bare_forward(params0, x, compute)) / gamma - y) ** 2)

    value, grads = jax.value_and_grad(loss)(params)
    width = params[1].shape[0]
    return [p - lr * width * g for p, g in zip(params, grads)], value


def bare_loop(width: int, steps: int, dtype: str) -> Callable[[], object]:
    """The 8 x 8 grid's ``steps`` steps in one ``jit(scan(vmap(step)))``, compiled: call it to time it."""
    param, compute = bare_dtypes(dtype)
    keys = jax.random.split(jax.random.key(0), len(GAMMAS) * len(LRS))
    teacher = jax.random.normal(jax.random.key(1), (DIM, 1), param)
    gammas, lrs = (jnp.asarray(a.ravel(), param) for a in np.meshgrid(GAMMAS, LRS, indexing="ij"))
    params = jax.vmap(lambda k: bare_init(k, width, param))(keys)
    vstep = jax.vmap(bare_step, in_axes=(0, 0, 0, 0, None, None, None))

    @jax.jit
    def run(params, params0, gammas, lrs, key):
        def body(params, t):  # one batch for every member at step t
            return vstep(params, params0, gammas, lrs, jax.random.fold_in(key, t), teacher, compute)

        return jax.lax.scan(body, params, jnp.arange(steps))

    def call():
        return jax.block_until_ready(run(params, params, gammas, lrs, keys[0]))

    call()
    return call


# ---------------------------------------------------------------- timers
def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(timed: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Each callable's best seconds, called in turn ``repeats`` times (a, b, a, b, ...), so that a
    disturbance of the machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(repeats):
        for name, fn in timed.items():
            times[name].append(best_time(fn, 1))
    return {name: min(t) for name, t in times.items()}


def matmul_peak(dtype: str, repeats: int = 10) -> float:
    """GFLOP/s of the best of ``repeats`` n x n matmuls: n = 2048 on CPU, 8192 on an accelerator."""
    n = 2048 if jax.default_backend() == "cpu" else 8192
    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    dot = jax.jit(jnp.dot)
    dot(a, a).block_until_ready()
    return 2 * n**3 / best_time(lambda: dot(a, a).block_until_ready(), repeats) / 1e9


def warm_up(trainer: train.Trainer, members: list[dict]) -> float:
    """Compile the trainer's init, measurement and advance functions (cached on the trainer) by
    calling each once on one chunk, every measurement due; a later ``train.run`` on the same shapes
    reuses them.  Returns the seconds this took (compile + one step)."""
    program = trainer.program
    members = members[: train.chunk_size(program)]  # one chunk compiles everything train.run uses
    start = time.perf_counter()
    members = train.with_effective_lr(program, members)
    arrays = program.placement.put(sweep.stack(members, program.dtype))  # placed as run_chunk places them
    states = trainer.init_fn()(arrays)
    for call in trainer.measurement_calls():  # every measurement due; t a Python int as in run_chunk: one signature
        jax.block_until_ready(trainer.measure_fn(call)(states, arrays, 0, None, np.ones(len(call), bool)))
    jax.block_until_ready(trainer.chunk_advance_fn(members)(states, arrays, 0, 1, None))
    return time.perf_counter() - start


def compiled_count(trainer: train.Trainer) -> int:
    """Compiled signatures cached on the trainer's jitted functions (to check that a timed run compiled nothing)."""
    return sum(fn._cache_size() for fn in trainer._compiled.values() if hasattr(fn, "_cache_size"))


def time_framework(trainer: train.Trainer, members: list[dict]) -> tuple[float, dict]:
    start = time.perf_counter()
    results = train.run(trainer, members)
    return time.perf_counter() - start, results


# ---------------------------------------------------------------- one-run-at-a-time loops (--loops)
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


def time_loops(trainer: train.Trainer, members: list[dict], steps: int, dtype: str, n_members: int,
               max_steps: int | None) -> dict:
    """Both loops' seconds for the whole sweep, extrapolated from ``n_members`` spread over the grid."""
    program, b_steps = trainer.program, min(max_steps or BASELINE_STEPS, steps)
    picked = spread(members, n_members)
    sweep_steps = len(members) * steps
    torch_loop = time_torch_loop(program, picked, b_steps, dtype)
    return {"jax_loop": time_jax_loop(program, picked, b_steps) * sweep_steps,
            "torch_loop": None if torch_loop is None else torch_loop * sweep_steps,
            "b_members": len(picked), "b_steps": b_steps}


# ---------------------------------------------------------------- one width
def bench_width(width: int, steps: int | None, dtype: str, repeats: int, loops: tuple[int, int | None] | None) -> dict:
    """One row: peak, then the framework and the bare loop on the same steps, interleaved, then peak again."""
    n_members = len(GAMMAS) * len(LRS)
    peak_before = matmul_peak(dtype)
    steps = steps or auto_steps(width, n_members, peak_before)
    group = sweep_group(width, steps, dtype)
    trainer = train.build(group.values)
    row = {"width": width, "steps": steps, "members": len(group.members), "logs": log_counts(steps),
           "chunk": min(train.chunk_size(trainer.program), len(group.members)), "warm_up": warm_up(trainer, group.members)}
    compiled = compiled_count(trainer)
    row |= interleaved({"framework": lambda: train.run(trainer, group.members), "bare": bare_loop(width, steps, dtype)},
                       repeats)
    peak_after = matmul_peak(dtype)
    row["compiles"] = compiled_count(trainer) - compiled
    if loops is not None:
        row |= time_loops(trainer, group.members, steps, dtype, *loops)
    peaks = (peak_before, peak_after)
    return row | {"peak": max(peaks), "busy": min(peaks) < 0.75 * max(peaks),
                  "useful_gflop": n_members * steps * flops_per_member_step(width) / 1e9}


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
def log_names(logs: dict[str, int]) -> str:
    return "/".join("loss" if path == "train.n_logs" else path.split(".")[1].removesuffix("_n_logs") for path in logs)


def print_table(rows: list[dict], dtype: str, repeats: int) -> None:
    head = (f"{'width':>5} {'steps':>5} {'logs':>11} {'chunk':>5} {'peak GF/s':>9} {'bare s':>7} {'GF/s':>7} {'%peak':>6} "
            f"{'framework s':>11} {'%bare':>6} {'GF/s':>7} {'%peak':>6}")
    print(f"\n{rows[0]['members']}-member gamma x eta sweep, depth {DEPTH} muP MLP, D={DIM}, B={BATCH}, SGD, {dtype}; "
          f"best of {repeats}, framework and bare loop interleaved")
    print(head)
    print("-" * len(head))
    for r in rows:
        bare_gflops, gflops = r["useful_gflop"] / r["bare"], r["useful_gflop"] / r["framework"]
        line = (f"{r['width']:>5} {r['steps']:>5} {'/'.join(map(str, r['logs'].values())):>11} {r['chunk']:>5} "
                f"{r['peak']:>9.1f} {r['bare']:>7.2f} {bare_gflops:>7.1f} {100 * bare_gflops / r['peak']:>5.1f}% "
                f"{r['framework']:>11.2f} {100 * r['bare'] / r['framework']:>5.1f}% {gflops:>7.1f} "
                f"{100 * gflops / r['peak']:>5.1f}%")
        compiles = f"  ({r['compiles']} compiles in framework s)" if r["compiles"] else ""
        print(line + ("  (busy)" if r["busy"] else "") + compiles)
    print(f"\nlogs: {log_names(rows[0]['logs'])} steps of the framework run (the quickstart's density scaled to")
    print(f"the steps, at least {MIN_LOGS}); chunk: members per compiled call (train.chunk_size).  GF/s: model FLOPs of")
    print("the steps (forward, 2x backward, centring forward) per second; %bare: the framework's throughput as a")
    print("share of the bare loop's.  peak: the better of jnp.dot before and after the row; (busy): they differ by")
    print("more than 25 %, so something else used the machine.")
    for r in rows:
        share = r["bare"] / r["framework"]
        verdict = "met" if share >= TARGET_OF_BARE else "NOT met"
        print(f"  width {r['width']:>5}  framework {100 * share:.0f} % of bare: target >= {100 * TARGET_OF_BARE:.0f} % "
              f"of bare: {verdict}{'  (busy machine: unreliable)' if r['busy'] else ''}")


def print_loops(rows: list[dict]) -> None:
    head = f"{'width':>5} {'framework s':>11} {'jax-loop s':>10} {'speedup':>7} {'torch s':>8} {'speedup':>7}"
    print("\none run at a time (--loops): seconds for the whole sweep, extrapolated from "
          + ", ".join(f"{r['b_members']} members x {r['b_steps']} steps (width {r['width']})" for r in rows))
    print(head)
    print("-" * len(head))
    for r in rows:
        torch_s = "n/a" if r["torch_loop"] is None else f"{r['torch_loop']:.2f}"
        torch_x = "n/a" if r["torch_loop"] is None else f"{r['torch_loop'] / r['framework']:.1f}x"
        print(f"{r['width']:>5} {r['framework']:>11.2f} {r['jax_loop']:>10.2f} {r['jax_loop'] / r['framework']:>6.1f}x "
              f"{torch_s:>8} {torch_x:>7}")
    for r in rows:
        target = TORCH_TARGETS.get(r["width"])
        if target is not None and r["torch_loop"] is not None:
            ratio = r["torch_loop"] / r["framework"]
            print(f"  width {r['width']:>5}  speed-up over PyTorch {ratio:.1f}x: target >= {target:.0f}x: "
                  f"{'met' if ratio >= target else 'NOT met'}")
    if any(r["torch_loop"] is None for r in rows):
        print("torch is not importable: the PyTorch column is skipped (pip install -e '.[bench]').")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="mlp,cnn,transformer",
                        help="comma-separated tables: mlp (64 members, per width), cnn, transformer (16 members)")
    parser.add_argument("--widths", default="64,256,1024", help="comma-separated widths of the mlp table")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"mlp steps for every width (default: {SECONDS_AT_PEAK} s of model FLOPs at the "
                             f"measured peak, {MIN_STEPS}..{MAX_STEPS})")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved framework / bare pairs per width (best kept)")
    parser.add_argument("--model-steps", type=int, default=MODEL_STEPS, help="optimizer steps of the cnn and transformer")
    parser.add_argument("--dtype", default="float32", choices=DTYPES,
                        help="train.dtype; bfloat16: float32 parameters, bfloat16 matmuls")
    parser.add_argument("--loops", action="store_true", help="also time the per-member JAX and PyTorch loops (mlp)")
    parser.add_argument("--baseline-members", type=int, default=4, help="members the loops train (spread over grid)")
    parser.add_argument("--baseline-steps", type=int, default=None,
                        help=f"steps the loops train (default: min(steps, {BASELINE_STEPS}))")
    args = parser.parse_args(argv)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    archs = args.arch.split(",")
    unknown = set(archs) - {"mlp", "cnn", "transformer"}
    if unknown:
        parser.error(f"--arch: unknown {sorted(unknown)}; allowed mlp, cnn, transformer")
    if args.repeats < 1:
        parser.error("--repeats: at least 1")
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({jax.devices()[0].device_kind}), "
          f"{os.cpu_count()} cores", flush=True)
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
    loops = (args.baseline_members, args.baseline_steps) if args.loops else None
    rows = []
    for width in [int(w) for w in args.widths.split(",")]:
        rows.append(bench_width(width, args.steps, args.dtype, args.repeats, loops))
        r = rows[-1]
        print(f"  width {width}: {r['steps']} steps, bare {r['bare']:.2f}s, framework {r['framework']:.2f}s", flush=True)
    print_table(rows, args.dtype, args.repeats)
    if loops is not None:
        print_loops(rows)
    print("\nFLOPs per member-step: 4 * 2 * B * sum_l fan_in*fan_out (forward, 2x backward, centring forward).")


if __name__ == "__main__":
    main()
