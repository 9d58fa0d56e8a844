"""Empirical neural tangent kernel of one member on the probe set, per parameter leaf.

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

from typing import Any

import functools
import math

import jax
import jax.numpy as jnp
from flax import traverse_util

FACTORS, PERTURBATIONS = "tangent_factors", "perturbations"
SEP = "/"


def _identity(f):
    return f


def leaf_kernels(model, variables: dict[str, Any], x, full: bool = False, block: int = 64,
                 select=_identity) -> dict[str, jax.Array]:
    """The NTK of ``select(model.apply(variables, x))`` restricted to each parameter leaf, by leaf path.

    ``variables`` holds ``params`` (the trained leaves) and any frozen collections;
    ``block`` is the number of probe points per Jacobian block of the fallback."""
    _, captured = model.apply(variables, x, mutable=[FACTORS, PERTURBATIONS])
    factors = traverse_util.flatten_dict(captured.get(FACTORS, {}), sep=SEP)
    params = traverse_util.flatten_dict(variables["params"], sep=SEP)
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
    factors = traverse_util.flatten_dict(captured.get(FACTORS, {}), sep=SEP)
    outputs = traverse_util.flatten_dict(captured.get(PERTURBATIONS, {}), sep=SEP)
    params = traverse_util.flatten_dict(variables["params"], sep=SEP)
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
    return traverse_util.flatten_dict(grads, sep=SEP)


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
    flat = traverse_util.flatten_dict(variables["params"], sep=SEP)
    chosen = {path: flat[path] for path in paths}

    def output(leaves, xi):
        params = traverse_util.unflatten_dict({**flat, **leaves}, sep=SEP)
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
