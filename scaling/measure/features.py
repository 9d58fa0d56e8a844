"""Feature-learning signals of one member: how far weights and hidden features moved.

Models ``sow`` their hidden features into the ``features`` collection (``h0``, ``h1``, ...
for the MLP).  On the probe set: each feature's RMS per coordinate and the RMS of its change
since initialization (the data of a coord check, Yang et al. 2022), and the alignment of its
Gram matrix with the target (THEORY.md section 8); per parameter, |W - W_0|_F / |W_0|_F.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import traverse_util

from scaling.measure import spectrum

SEP = "/"


def probe_features(model, variables, x) -> dict[str, jax.Array]:
    """The sown hidden features on inputs ``x``, by name, each (P, ...)."""
    _, captured = model.apply(variables, x, mutable=["features"])
    return {name: value[0] for name, value in traverse_util.flatten_dict(captured["features"], sep=SEP).items()}


def rms(x):
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def relative_change(params, params0) -> dict[str, jax.Array]:
    """|W - W_0|_F / |W_0|_F for each parameter leaf, by leaf path."""
    flat, flat0 = (traverse_util.flatten_dict(p, sep=SEP) for p in (params, params0))
    return {path: jnp.linalg.norm(flat[path] - flat0[path]) / jnp.linalg.norm(flat0[path]) for path in flat}


def signals(features: dict, features0: dict, target) -> dict[str, dict[str, jax.Array]]:
    """Per feature: its RMS, the RMS of its change since init and its Gram matrix's target alignment."""
    out = {}
    for name, h in features.items():
        flat = h.reshape(h.shape[0], -1)
        out[name] = {
            "rms": rms(h),
            "update_rms": rms(h - features0[name]),
            "alignment": spectrum.alignment(flat @ flat.T, target),
        }
    return out
