"""The empirical neural tangent kernel of each member on the probe set, and what is derived
from it on the host: spectrum, target power, alignment, distance from the initial kernel
(``spectrum``).

K(x, x') = sum_p df(x)/dtheta_p df(x')/dtheta_p (Jacot, Gabriel & Hongler 2018).  The
learning-rate-weighted kernel K_eta = sum_p eta_p df/dtheta_p df/dtheta_p is the kernel of
one gradient step: with r_i = dl/df_i the loss gradient of batch point i and the batch
mean L = (1/B) sum_i l_i, the step theta - eta grad L moves the outputs by
f(theta') - f(theta) = -K_eta r / B + O(eta^2).

Dense layers exploit their structure ("structured derivatives", Novak, Sohl-Dickstein &
Schoenholz, ICML 2022): for y = a W, df_i/dW = a_i (x) g_i with a_i the layer's scaled
input and g_i = df_i/dy_i, so the layer's kernel is (A A^T) * (G G^T), costing
O(P^2 (fan_in + fan_out)) instead of O(P^2 fan_in fan_out).  ``layers.Dense`` sows a_i
into the ``tangent_factors`` collection and marks y with ``perturb``, whose gradient is
g_i.  Any other parameter falls back to a per-example Jacobian, contracted leaf by leaf.

Layers applied at several positions (convolutions, sequence models) sow a factor per
position, (P, T, k), and the kernel sums over pairs of positions.  Kernels are the trace
over outputs, (P, P), or with ``full`` every output pair, (P, C, P, C); ``select`` picks
the measured output from the model's (a language model's last position).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scaling.analysis import mean_over_seeds
from scaling.config import Field, at_least
from scaling.errors import ConfigError
from scaling.measure import spectrum
from scaling.measure.registry import Figure, register
from scaling.report import kernels as kernel_figures
from scaling.trees import SEP, flatten, unflatten

FACTORS, PERTURBATIONS = "tangent_factors", "perturbations"
MEMORY_BYTES = 2**31  # members per NTK call are chosen so one call stays below this
TOP_EIGENVALUES = 5  # the eigenvalues a wandb history holds


def _identity(f):
    return f


def leaf_kernels(model, variables: dict[str, Any], x, full: bool = False, block: int = 64,
                 select=_identity) -> dict[str, jax.Array]:
    """The NTK of ``select(model.apply(variables, x))`` restricted to each parameter leaf, by leaf path.

    ``variables`` holds ``params`` (the trained leaves) and any frozen collections;
    ``block`` is the number of probe points per Jacobian block of the fallback."""
    _, captured = model.apply(variables, x, mutable=[FACTORS, PERTURBATIONS])
    factors = flatten(captured.get(FACTORS, {}))
    params = flatten(variables["params"])
    # a list, in the tree's order: the kernels are summed in this order, the same in every process
    structured = [path for path in params if path in factors and len(factors[path]) == 1]
    kernels = {}
    if structured:
        cotangents = _output_cotangents(model, variables, x, captured[PERTURBATIONS], select)
        for path in structured:
            layer = path.rsplit(SEP, 1)[0]
            kernels[path] = _factored_kernel(factors[path][0], cotangents[layer + SEP + "out"], full)
    rest = [path for path in params if path not in structured]
    if rest:
        kernels.update(_jacobian_kernels(model, variables, x, rest, full, block, select))
    return kernels


def memory_bytes(model, variables: dict[str, Any], x, n_outputs: int, full: bool, block: int = 64) -> int:
    """An estimate of the memory of one ``leaf_kernels`` call from the shapes alone: layer factors,
    output cotangents, the forward pass kept for them, per-example weight gradients of layers
    applied at several positions, Jacobian blocks of the fallback, and the kernels."""
    apply = functools.partial(model.apply, mutable=[FACTORS, PERTURBATIONS])
    _, captured = jax.eval_shape(apply, variables, x)
    factors = flatten(captured.get(FACTORS, {}))
    outputs = flatten(captured.get(PERTURBATIONS, {}))
    params = flatten(variables["params"])
    n_points = x.shape[0]
    elements = 2 * sum(math.prod(y.shape) for y in outputs.values())  # the forward pass the vjp keeps
    for path, leaf in params.items():
        if path in factors and len(factors[path]) == 1:
            a, g = factors[path][0].shape, outputs[path.rsplit(SEP, 1)[0] + SEP + "out"].shape
            elements += math.prod(a) + n_outputs * math.prod(g)
            if math.prod(a[1:-1]) > 1:  # several positions: per-example gradients (C, P, k, n)
                elements += n_outputs * n_points * a[-1] * g[-1]
        else:
            elements += n_outputs * min(block, n_points) * math.prod(leaf.shape)
    n = n_points * (n_outputs if full else 1)
    return (elements + n * n * (len(params) + 4)) * jnp.dtype(jax.tree.leaves(params)[0].dtype).itemsize


def _output_cotangents(model, variables, x, zeros, select) -> dict[str, jax.Array]:
    """g = df_c/dy at every perturbed layer output, for each output c: {layer/out: (C, P, ..., fan_out)}."""

    def outputs(perturbations):
        return select(model.apply({**variables, PERTURBATIONS: perturbations}, x))

    f, pullback = jax.vjp(outputs, zeros)
    basis = jnp.eye(f.shape[-1], dtype=f.dtype)
    grads = jax.vmap(lambda e: pullback(jnp.broadcast_to(e, f.shape))[0])(basis)
    return flatten(grads)


def _factored_kernel(a, g, full: bool):
    """sum over positions t, s of (a_it . a_js)(g_cit . g_djs); a: (P, ..., k), g: (C, P, ..., n)."""
    n_points, n_outputs = a.shape[0], g.shape[0]
    a = a.reshape(n_points, -1, a.shape[-1])
    g = g.reshape(n_outputs, n_points, -1, g.shape[-1])
    if a.shape[1] == 1:  # one position per example (dense inputs): two Gram matrices
        gram_a = a[:, 0] @ a[:, 0].T
        if full:
            return gram_a[:, None, :, None] * jnp.einsum("cpo,dqo->pcqd", g[:, :, 0], g[:, :, 0])
        return gram_a * jnp.einsum("cpo,cqo->pq", g[:, :, 0], g[:, :, 0])
    if full:
        return jnp.einsum("pta,qsa,cpto,dqso->pcqd", a, a, g, g, optimize=True)
    return jnp.einsum("pta,qsa,cpto,cqso->pq", a, a, g, g, optimize=True)


def _jacobian_kernels(model, variables, x, paths: list[str], full: bool, block: int, select) -> dict[str, jax.Array]:
    """Per-example Jacobians of the leaves ``paths`` in blocks of probe points, contracted per leaf."""
    flat = flatten(variables["params"])
    chosen = {path: flat[path] for path in paths}

    def output(leaves, xi):
        params = unflatten({**flat, **leaves})
        return select(model.apply({**variables, "params": params}, xi[None]))[0]

    jacobian = jax.lax.map(lambda xi: jax.jacrev(output)(chosen, xi), x, batch_size=min(block, x.shape[0]))
    kernels = {}
    for path, j in jacobian.items():  # j: (P, C, *leaf shape)
        j = j.reshape(j.shape[0], j.shape[1], -1)
        kernels[path] = jnp.einsum("pcn,qdn->pcqd", j, j) if full else jnp.einsum("pcn,qcn->pq", j, j)
    return kernels


def kernels(leaves: dict[str, jax.Array], lr_per_leaf: dict[str, Any], gamma) -> dict[str, jax.Array]:
    """The NTK K and the learning-rate-weighted K_eta of the output (f - f0) / gamma, from leaf kernels."""
    plain = sum(leaves.values()) / gamma**2
    weighted = sum(lr_per_leaf[path] * k for path, k in leaves.items()) / gamma**2
    return {"ntk": plain, "ntk_lr": weighted}


# ---------------------------------------------------------------- the measurement
def full_kernels(program) -> bool:
    """Kernels over every output pair: asked for, and there are several outputs (else the trace is it)."""
    return program.values["measure.ntk_outputs"] == "full" and program.stream.out_dim > 1


def measure(program, state, member, batch_loss) -> dict:
    """The NTK and the learning-rate-weighted NTK of the output on the probe set."""
    leaves = leaf_kernels(program.model, program.variables(state), program.stream.probe[0], full_kernels(program),
                          select=program.stream.measured)
    lr = {path: member["lr_effective"] * scale for path, scale in flatten(state["lr_scale"]).items()}
    return kernels(leaves, lr, member["model.gamma"])


def derived(program, kernels: dict) -> dict:
    """The stored NTK metrics from the kernels of every step, (steps, members, ...)."""
    kept = {k: kernels[k] for k in ("ntk", "ntk_lr")} if program.values["measure.ntk_kernels"] else {}
    return kept | spectrum.derived(kernels, np.asarray(program.stream.probe_target), program.values["measure.ntk_top_k"],
                                   full_kernels(program))


def dims(program) -> dict[str, list[str]]:
    kernel = ["probe", "output", "probe2", "output2"] if full_kernels(program) else ["probe", "probe2"]
    out = {"ntk": kernel, "ntk_lr": kernel} if program.values["measure.ntk_kernels"] else {}
    eigen = {"ntk_eigenvalues": ["eigen"], "ntk_target_power": ["eigen"], "ntk_lr_eigenvalues": ["eigen"]}
    return eigen | out | {name: [] for name in ("ntk_alignment", "ntk_alignment_centered", "ntk_distance")}


def block(program, n_members: int) -> int:
    """Members per NTK call: as many as keep its kernels and layer factors under MEMORY_BYTES."""
    variables = {"params": program.shapes["params"], "frozen": program.shapes.get("frozen", {})}
    per_member = memory_bytes(program.model, variables, program.stream.probe[0], program.stream.out_dim,
                              full_kernels(program))
    return int(max(1, min(n_members, MEMORY_BYTES // per_member)))


def check(values: dict[str, Any]) -> None:
    top_k = values["measure.ntk_top_k"]
    if top_k is not None and 5 * top_k >= values["data.n_probe"]:
        raise ConfigError("measure.ntk_top_k", top_k, f"< data.n_probe / 5 ({values['data.n_probe']} probe points)")


def history(point) -> dict:
    """Alignment, distance and the top eigenvalues (means over seeds)."""
    rows = {f"ntk/{name.removeprefix('ntk_')}": mean_over_seeds(point[name])
            for name in ("ntk_alignment", "ntk_alignment_centered", "ntk_distance")}
    top = mean_over_seeds(point.ntk_eigenvalues).isel(eigen=slice(TOP_EIGENVALUES))
    return rows | {f"ntk/eigenvalue_{k + 1}": top.isel(eigen=k) for k in range(top.sizes["eigen"])}


register(
    "ntk", "ntk_step", measure, dims, n_logs=6, always=(0,),  # step 0: the reference of ntk_distance
    fields={
        "measure.ntk_outputs": Field(str, "trace", choices=("trace", "full")),
        "measure.ntk_top_k": Field(int, None, optional=True, check=at_least(1), rule=">= 1 (None = every eigenvalue)"),
        "measure.ntk_kernels": Field(bool, True),
    },
    check=check, host=derived, block=block, history=history,
    summary=lambda point: {"final_ntk_eigenvalues": mean_over_seeds(point.ntk_eigenvalues.isel(ntk_step=-1)).values.tolist()},
    figures=(
        Figure("ntk_spectra.png", kernel_figures.ntk_spectra, "NTK eigenvalue spectra over training at the largest width."),
        Figure("alignment.png", kernel_figures.alignment, "NTK-target alignment over training, a line per width."),
    ),
)
