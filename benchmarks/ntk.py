"""Empirical NTKs of a member batch: the framework against neural-tangents and a Jacobian loop.

    .venv/bin/python benchmarks/ntk.py [--widths 256 1024] [--members 16] [--probe 256] [--repeats 3]

The workload: a 3-layer muP MLP (relu, no bias, scalar output) at each width, initialised
with --members seeds, and the powerlaw task's --probe probe points of dimension 32.  Every
implementation computes the same --members kernels K = J J^T (probe x probe), J = df/dtheta:

* framework: ``scaling.measure.ntk.leaf_kernels`` summed over leaves (dense layers as
  (A A^T) * (G G^T)), ``jit(vmap)`` over the members.
* nt jacobian-contraction, nt ntk-vector-products, nt structured-derivatives:
  ``neural_tangents.empirical_ntk_fn`` (0.6.5, ``trace_axes=(-1,), vmap_axes=0``), ``jit(vmap)``
  over the members.  Optional: ``pip install --no-deps neural-tangents==0.6.5 frozendict``
  (its TensorFlow requirement is only for its TF interface); a shim below adapts it to
  current jax.  Without it these rows are skipped.
* jacobian loop: a Python loop over the members of one ``jit`` function, J = jax.jacobian(f)
  flattened to (probe, n_params), K = J @ J.T.

Each vmapped implementation is compiled ahead of time; when the compiled program needs more
than --max-gb it runs the members in chunks instead (``lax.map(batch_size=chunk)`` inside the
same ``jit``), the largest of members, members/2, ... 1 that fits, and the note says what the
full vmap would have needed.  Time: the first call (outside the clock's rounds) gives the
kernels, checked against the framework's (max |K - K_fw| / max |K_fw| per member, < 1e-4);
then --repeats rounds that call every implementation in turn (interleaved, so a busy spell of
the machine hits all of them), and the median round is reported.  An implementation whose
first call took over --slow seconds is not repeated: its first call is its time.  Memory: XLA's
compiled memory analysis, temporaries + outputs (the member parameters, the arguments, are the
same for all and left out); for the loop, one member's temporaries + all members' outputs.
Ratios are to the framework (time 10.0 = ten times slower).  The defaults take ~9 minutes on
2 CPU cores, most of it the single calls of the slow rows at width 1024.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import types
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from scaling import config, train  # noqa: E402
from scaling.measure import ntk  # noqa: E402

DEPTH, DIM = 3, 32
REFERENCE = "framework"
TOLERANCE = 1e-4


# ---------------------------------------------------------------- neural-tangents 0.6.5 on current jax
def _shim_jax() -> None:
    """Put back the jax names neural-tangents 0.6.5 imports, and stub its TensorFlow interface."""
    import jax.core
    import jax.extend.core
    from jax._src import util
    from jax._src.interpreters import ad as ad_internal
    from jax.interpreters import ad

    for name in ("Jaxpr", "JaxprEqn", "Literal", "Primitive", "Var"):
        if not hasattr(jax.core, name):
            setattr(jax.core, name, getattr(jax.extend.core, name))
    if not hasattr(jax.core, "DShapedArray"):
        jax.core.DShapedArray = type("DShapedArray", (), {})  # never matches: no dynamic shapes
    for name in ("backward_pass", "reducing_transposes", "source_info_util", "config"):
        if not hasattr(ad, name):
            setattr(ad, name, getattr(ad_internal, name))
    if not hasattr(ad, "zeros_like_p"):
        ad.zeros_like_p = jax.extend.core.Primitive("zeros_like")  # removed; its rule never fires
    sys.modules.setdefault("jax.util", types.SimpleNamespace(safe_map=util.safe_map, safe_zip=util.safe_zip))
    sys.modules["neural_tangents.experimental"] = types.ModuleType("neural_tangents.experimental")  # needs TF


def import_neural_tangents():
    """The neural_tangents module, or None (with a line saying why)."""
    if importlib.util.find_spec("neural_tangents") is None:
        print("neural-tangents is not installed: its rows are skipped "
              "(pip install --no-deps neural-tangents==0.6.5 frozendict)")
        return None
    try:
        _shim_jax()
        import neural_tangents
    except Exception as error:  # a jax the shim does not cover
        print(f"neural-tangents does not import ({type(error).__name__}: {error}): its rows are skipped")
        return None
    return neural_tangents


# ---------------------------------------------------------------- workload
def setup(width: int, members: int, probe: int):
    """The model, the members' stacked variables {params, frozen} and the probe inputs."""
    values = dict(config.resolve(config.defaults()).values)
    values.update({"model.arch": "mlp", "model.depth": DEPTH, "model.width": width, "model.param": "mup",
                   "data.task": "powerlaw", "data.dim": DIM, "data.n_probe": probe, "data.n_test": 64})
    trainer = train.build(values)
    program = trainer.program
    seeds = [{p: values[p] for p in train.member_fields()} | {"train.seed": s} for s in range(members)]
    states = trainer.init_fn()(train.member_arrays(program, train.with_effective_lr(program, seeds)))
    return program.model, {"params": states["params"], "frozen": states["frozen"]}, program.stream.probe[0]


# ---------------------------------------------------------------- one member's kernel, per implementation
def framework_kernel(model, x) -> Callable:
    return lambda variables: sum(ntk.leaf_kernels(model, variables, x).values())


def nt_kernel(nt, implementation) -> Callable:
    def build(model, x):
        def kernel(variables):
            f = lambda params, x: model.apply({**variables, "params": params}, x)  # noqa: E731
            ntk_fn = nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=0, implementation=implementation)
            return ntk_fn(x, None, variables["params"])
        return kernel
    return build


def jacobian_kernel(model, x) -> Callable:
    def kernel(variables):
        jac = jax.jacobian(lambda params: model.apply({**variables, "params": params}, x))(variables["params"])
        j = jnp.concatenate([leaf.reshape(x.shape[0], -1) for leaf in jax.tree.leaves(jac)], axis=1)
        return j @ j.T
    return kernel


def implementations(nt) -> dict[str, tuple[Callable, bool]]:
    """name: (kernel builder, vmapped over members (else a Python loop))."""
    impls = {REFERENCE: (framework_kernel, True)}
    if nt is not None:
        kinds = nt.NtkImplementation
        impls |= {"nt jacobian-contraction": (nt_kernel(nt, kinds.JACOBIAN_CONTRACTION), True),
                  "nt ntk-vector-products": (nt_kernel(nt, kinds.NTK_VECTOR_PRODUCTS), True),
                  "nt structured-derivatives": (nt_kernel(nt, kinds.STRUCTURED_DERIVATIVES), True)}
    return impls | {"jacobian loop": (jacobian_kernel, False)}


# ---------------------------------------------------------------- compiled runners
def compiled_bytes(compiled) -> int:
    memory = compiled.memory_analysis()
    return memory.temp_size_in_bytes + memory.output_size_in_bytes


def vmapped(kernel: Callable, variables, limit: float) -> dict:
    """jit over all members: vmap, or lax.map in the largest halving chunk whose program fits ``limit`` bytes."""
    n = len(jax.tree.leaves(variables)[0])
    chunk, needed = n, None
    while True:
        over = jax.vmap(kernel) if chunk == n else (lambda v, c=chunk: jax.lax.map(kernel, v, batch_size=c))
        compiled = jax.jit(over).lower(variables).compile()
        needed = needed or compiled_bytes(compiled)
        if compiled_bytes(compiled) <= limit or chunk == 1:
            return {"run": lambda: compiled(variables), "bytes": compiled_bytes(compiled),
                    "chunk": chunk, "vmap_bytes": needed if chunk < n else None}
        chunk = max(chunk // 2, 1)


def looped(kernel: Callable, variables, limit: float) -> dict:
    """One member at a time, through one compiled function."""
    n = len(jax.tree.leaves(variables)[0])
    members = [jax.tree.map(lambda a, m=m: a[m], variables) for m in range(n)]
    compiled = jax.jit(kernel).lower(members[0]).compile()
    output = compiled.memory_analysis().output_size_in_bytes
    return {"run": lambda: jnp.stack([compiled(v) for v in members]),
            "bytes": compiled_bytes(compiled) + (n - 1) * output, "chunk": 1, "vmap_bytes": None}


def timed(run: Callable) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = jax.block_until_ready(run())
    return time.perf_counter() - start, out


def max_rel_err(kernels: np.ndarray, reference: np.ndarray) -> float:
    """max over members of max |K - K_ref| / max |K_ref|."""
    axes = tuple(range(1, reference.ndim))
    return float(np.max(np.abs(kernels - reference).max(axes) / np.abs(reference).max(axes)))


# ---------------------------------------------------------------- one width
def bench_width(width: int, args, impls: dict) -> list[dict]:
    model, variables, x = setup(width, args.members, args.probe)
    runners, rows = {}, {}
    for name, (build, vmap) in impls.items():
        try:
            runners[name] = (vmapped if vmap else looped)(build(model, x), variables, args.max_gb * 1e9)
            seconds, kernels = timed(runners[name]["run"])
        except Exception as error:  # an implementation that fails here does not stop the others
            if name == REFERENCE:
                raise
            runners.pop(name, None)
            rows[name] = {"width": width, "impl": name, "error": f"{type(error).__name__}: {error}".split("\n")[0]}
            print(f"  width {width} {name}: failed ({rows[name]['error'][:100]})", flush=True)
            continue
        kernels = np.asarray(kernels).reshape(args.members, args.probe, args.probe)
        rows[name] = {"width": width, "impl": name, "first": seconds, "times": [], "kernels": kernels,
                      **{k: v for k, v in runners[name].items() if k != "run"}}
        print(f"  width {width} {name}: first call {seconds:.2f}s, chunk {runners[name]['chunk']}", flush=True)
    for _ in range(args.repeats):
        for name, runner in runners.items():
            if rows[name]["first"] <= args.slow:
                rows[name]["times"].append(timed(runner["run"])[0])
    reference = rows[REFERENCE]["kernels"]
    for row in rows.values():
        if "error" not in row:
            row["seconds"] = float(np.median(row["times"] or [row["first"]]))
            row["calls"] = len(row["times"]) or 1
            row["err"] = max_rel_err(row.pop("kernels"), reference)
    return list(rows.values())


# ---------------------------------------------------------------- report
def print_table(rows: list[dict]) -> None:
    head = (f"{'width':>5}  {'impl':<27} {'chunk':>5} {'calls':>5} {'time_s':>9} {'rel_time':>8} "
            f"{'peak_MB':>9} {'rel_mem':>8} {'max_rel_err':>11}")
    print("\n" + head + "\n" + "-" * len(head))
    reference = {r["width"]: r for r in rows if r["impl"] == REFERENCE}
    for r in rows:
        if "error" in r:
            print(f"{r['width']:>5}  {r['impl']:<27} failed: {r['error'][:90]}")
            continue
        ref = reference[r["width"]]
        print(f"{r['width']:>5}  {r['impl']:<27} {r['chunk']:>5} {r['calls']:>5} {r['seconds']:>9.4f} "
              f"{r['seconds'] / ref['seconds']:>8.2f} {r['bytes'] / 1e6:>9.1f} {r['bytes'] / ref['bytes']:>8.2f} "
              f"{r['err']:>11.1e}")
    for r in rows:
        if r.get("vmap_bytes"):
            print(f"note: width {r['width']} {r['impl']}: vmap over all members compiles to "
                  f"{r['vmap_bytes'] / 1e6:.0f} MB > --max-gb, so it ran in chunks of {r['chunk']}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--members", type=int, default=16, help="init seeds, one kernel each")
    parser.add_argument("--probe", type=int, default=256, help="probe points (kernel size)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the first call")
    parser.add_argument("--slow", type=float, default=10.0, help="seconds: a slower first call is not repeated")
    parser.add_argument("--max-gb", type=float, default=6.0, help="compiled memory above which members run in chunks")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} cores; depth {DEPTH} muP MLP, "
          f"D={DIM}, {args.members} members, {args.probe} probe points, float32", flush=True)
    impls = implementations(import_neural_tangents())
    rows = [row for width in args.widths for row in bench_width(width, args, impls)]
    print_table(rows)
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(above the core count, other processes shared the machine)")
    bad = [f"{r['width']} {r['impl']}: {r['err']:.1e}" for r in rows if r.get("err", 0) >= TOLERANCE]
    assert not bad, f"kernels disagree with the framework's: {bad}"


if __name__ == "__main__":
    main()
