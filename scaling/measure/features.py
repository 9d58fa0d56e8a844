"""Feature-learning signals of one member: how far weights and hidden features moved.

Models ``sow`` their hidden features into the ``features`` collection (``h0``, ``h1``, ...
for the MLP).  On the probe set: each feature's RMS per coordinate and the RMS of its change
since initialization (the data of a coord check, Yang et al. 2022), and the alignment of its
Gram matrix with the target (THEORY.md section 8); per parameter, |W - W_0|_F / |W_0|_F.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from scaling.analysis import mean_over_seeds
from scaling.measure import spectrum
from scaling.measure.registry import register
from scaling.trees import flatten

SIGNALS = ("rms", "update_rms", "alignment")


def probe_features(model, variables, x) -> dict[str, jax.Array]:
    """The sown hidden features on inputs ``x``, by name, each (P, ...)."""
    _, captured = model.apply(variables, x, mutable=["features"])
    return {name: value[0] for name, value in flatten(captured["features"]).items()}


def rms(x):
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def relative_change(params, params0) -> dict[str, jax.Array]:
    """|W - W_0|_F / |W_0|_F for each parameter leaf, by leaf path."""
    flat, flat0 = (flatten(p) for p in (params, params0))
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


# ---------------------------------------------------------------- the measurement
def initial(program, state) -> dict:
    """The features at initialization, which ``update_rms`` is measured from."""
    return {"features0": probe_features(program.model, program.variables(state), program.stream.probe[0])}


def measure(program, state, member, batch_loss) -> dict:
    """Relative weight change per parameter; RMS, change and target alignment per feature."""
    labels = program.labels()
    features = probe_features(program.model, program.variables(state), program.stream.probe[0])
    found = signals(features, state["features0"], program.stream.probe_target)
    change = relative_change(state["params"], state["params0"])
    metrics = {"weight_change": jnp.stack([change[path] for path in labels["param"]])}
    for name in SIGNALS if labels["feature"] else ():
        metrics[f"feature_{name}"] = jnp.stack([found[f][name] for f in labels["feature"]])
    return metrics


def dims(program) -> dict[str, list[str]]:
    sown = {f"feature_{name}": ["feature"] for name in SIGNALS} if program.labels()["feature"] else {}
    return {"weight_change": ["param"]} | sown


register(
    "features", "feature_step", measure, dims, n_logs=12, init=initial, coords=lambda program: program.labels(),
    history=lambda point: {f"weight_change/{param}": mean_over_seeds(point.weight_change.sel(param=param))
                           for param in point.param.values},
)
