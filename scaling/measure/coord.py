"""Coord check (Yang et al. 2022, microsoft/mup): per-layer feature sizes and their change
after a few steps, across widths.  Under muP the change per coordinate is width-independent;
under NTK parameterization it shrinks like 1/sqrt(width)."""

from __future__ import annotations

from typing import Any

import jax

from scaling import train
from scaling.measure.features import probe_features, rms


def coord_check(values: dict[str, Any], widths: list[int], steps: int = 3) -> dict[int, dict[str, dict[str, float]]]:
    """For each width: {layer: {"rms": feature RMS at init, "update": RMS of its change after ``steps``}}.

    ``values`` is a group's full config values; every member field takes its base value.
    Features are the ones models ``sow`` into the ``features`` collection, on the probe set."""
    out = {}
    for width in widths:
        program = train.build({**values, "model.width": width, "measure.ntk": False})
        member = {p: values[p] for p in train.member_fields()}
        members = program.member_arrays(program.with_effective_lr([member]))
        state = program.init_fn()(members)
        features0 = _features(program, state)
        step = jax.jit(jax.vmap(program.step, in_axes=(0, 0, None)))
        for t in range(steps):
            state, _ = step(state, members, t)
        features = _features(program, state)
        out[width] = {
            name: {"rms": float(rms(features0[name])), "update": float(rms(features[name] - features0[name]))}
            for name in features0
        }
    return out


def _features(program: train.Program, state) -> dict[str, jax.Array]:
    return probe_features(program.model, program.variables(jax.tree.map(lambda a: a[0], state)), program.stream.probe[0])
