"""Coord check (Yang et al. 2022, "Tensor Programs V"; microsoft/mup): the RMS per coordinate
of every hidden feature and of its change since initialization over the first steps, across
widths.  Under muP both are width-independent; under SP with a width-independent learning
rate the changes grow with width (like sqrt(N) for SGD, N for Adam), and under NTK
parameterization they shrink like 1/sqrt(N)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import xarray as xr

from scaling import train
from scaling.measure.features import probe_features, rms


def coord_check(values: dict[str, Any], widths: list[int], steps: int = 3) -> xr.Dataset:
    """For each width, one member trained ``steps`` steps from the group values ``values`` (every
    member field at its base value).  Returns ``feature_rms`` (its RMS at step t) and ``update_rms``
    (the RMS of h_t - h_0) with dims (width, step, feature), on the probe set; step 0 is init."""
    sizes = []
    for width in widths:
        trainer = train.build({**values, "model.width": width, "measure.ntk": False, "measure.features": False})
        program = trainer.program
        member = {p: values[p] for p in train.member_fields()}
        members = train.member_arrays(program, train.with_effective_lr(program, [member]))
        state = trainer.init_fn()(members)
        step = train.jit(train.over_members(program.step, batched=("state", "member")))
        measure = train.jit(lambda state: probe_features(  # noqa: B023 (used within the iteration)
            program.model, program.variables(jax.tree.map(lambda a: a[0], state)), program.stream.probe[0]))
        features = [measure(state)]
        for t in range(steps):
            state, _ = step(state, members, t)
            features.append(measure(state))
        names = list(features[0])
        sizes.append([[[float(rms(f[name])), float(rms(f[name] - features[0][name]))] for name in names]
                      for f in features])
    sizes = np.asarray(sizes)  # (width, step, feature, 2)
    dims = ("width", "step", "feature")
    coords = {"width": widths, "step": np.arange(steps + 1), "feature": names}
    return xr.Dataset({"feature_rms": (dims, sizes[..., 0]), "update_rms": (dims, sizes[..., 1])}, coords=coords)


def width_ratio(sizes: xr.DataArray) -> xr.DataArray:
    """Per feature and step: the value at the largest width over the value at the smallest."""
    return sizes.isel(width=-1) / sizes.isel(width=0)
