"""Coord check (Yang et al. 2022, "Tensor Programs V"; microsoft/mup): the RMS per coordinate
of every hidden feature, of the network's output and of their changes since initialization over
the first steps, across widths and depths.  Under muP both are width-independent; under SP with a
width-independent learning rate the changes grow with width (like sqrt(N) for SGD, N for Adam),
and under NTK parameterization the hidden features' shrink like 1/sqrt(N).  With residual
branches scaled by L^-alpha (depth-muP alpha = 1/2, Bordelon et al. 2024 and Yang et al. 2024;
CompleteP alpha = 1, Dey et al. 2025) and muP's depth rules they are depth-independent too; a
plain residual stream (alpha = 0) grows with depth."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import xarray as xr

from scaling import train
from scaling.launch import compile_cache
from scaling.measure.features import probe_features, rms

OUTPUT = "f"  # the network's output on the probe set, (f - f0) / gamma: what transfer is about
POSITIONS = ("h_in", "first block", "last block", OUTPUT)  # the feature axis of a check over depths


def trajectory(values: dict[str, Any], steps: int) -> dict[str, np.ndarray]:
    """One member trained ``steps`` steps from the group values ``values`` (every member field at
    its base value).  Per sown feature in the network's order, then the output ``f``: its RMS and
    the RMS of its change since init on the probe set at steps 0..steps, shape (steps + 1, 2)."""
    trainer = train.build({**values, "measure.ntk": False, "measure.features": False})
    program = trainer.program
    member = {p: values[p] for p in train.member_fields()}
    members = train.member_arrays(program, train.with_effective_lr(program, [member]))
    state = trainer.init_fn()(members)
    step = train.jit(train.over_members(program.step, batched=("state", "member")))
    x = program.stream.probe[0]

    def measure(state):
        one, single = (jax.tree.map(lambda a: a[0], tree) for tree in (state, members))
        return probe_features(program.model, program.variables(one), x) | {OUTPUT: program.predict(one, single, x)}

    # the sown order, from an eager call: a jitted function returns its dicts sorted by key
    names = [*probe_features(program.model, program.variables(jax.tree.map(lambda a: a[0], state)), x[:1]), OUTPUT]
    measure = train.jit(measure)
    outputs = [measure(state)]
    for t in range(steps):
        state, _ = step(state, members, t)
        outputs.append(measure(state))
    return {name: np.asarray([[rms(out[name]), rms(out[name] - outputs[0][name])] for out in outputs], float)
            for name in names}


def positions(names: list[str]) -> dict[str, str | None]:
    """The sown feature at each of ``POSITIONS``: the first one (the input layer's: resmlp's
    h_in, the MLP's h0, the transformer's h_embed), the second (the first block or hidden layer),
    the last (the last block), and the output; None where the model has no such feature."""
    hidden = [name for name in names if name != OUTPUT]
    blocks = hidden[1:]
    return dict(zip(POSITIONS, [hidden[0] if hidden else None, blocks[0] if blocks else None,
                                blocks[-1] if blocks else None, OUTPUT]))


def coord_check(values: dict[str, Any], widths: list[int], steps: int = 3, depths: list[int] | None = None) -> xr.Dataset:
    """``trajectory`` at each depth (``model.depth``; default: that of ``values``) and width.
    Returns ``feature_rms`` (the RMS at step t) and ``update_rms`` (the RMS of h_t - h_0) with dims
    (depth, width, step, feature); step 0 is init.  The feature axis is the model's sown features
    and ``f`` when every depth sows the same ones (always so with one depth); else ``POSITIONS``,
    which exist at every depth (resmlp's h_in, h_block0, h_block{L-1} and f), NaN where a shallow
    model lacks one (an MLP of depth 2 has no hidden layer after its first)."""
    compile_cache.enable(values)
    depths = depths or [values["model.depth"]]
    runs = {depth: [trajectory({**values, "model.depth": depth, "model.width": width}, steps) for width in widths]
            for depth in depths}
    names = {depth: list(run[0]) for depth, run in runs.items()}
    same = all(n == names[depths[0]] for n in names.values())
    features = names[depths[0]] if same else list(POSITIONS)
    located = {depth: dict(zip(features, features)) if same else positions(names[depth]) for depth in depths}
    absent = np.full((steps + 1, 2), np.nan)
    sizes = np.asarray([[np.stack([run[name] if name else absent for name in located[depth].values()], axis=1)
                         for run in runs[depth]] for depth in depths])  # (depth, width, step, feature, 2)
    dims = ("depth", "width", "step", "feature")
    coords = {"depth": depths, "width": widths, "step": np.arange(steps + 1), "feature": features}
    return xr.Dataset({"feature_rms": (dims, sizes[..., 0]), "update_rms": (dims, sizes[..., 1])}, coords=coords)


def ratio(sizes: xr.DataArray, dim: str) -> xr.DataArray:
    """The value at the largest coordinate of ``dim`` (width or depth) over that at the smallest."""
    ordered = sizes.sortby(dim)
    return ordered.isel({dim: -1}, drop=True) / ordered.isel({dim: 0}, drop=True)


def width_ratio(sizes: xr.DataArray) -> xr.DataArray:
    """Per depth, feature and step: the value at the largest width over the value at the smallest."""
    return ratio(sizes, "width")


def depth_ratio(sizes: xr.DataArray) -> xr.DataArray:
    """Per width, feature and step: the value at the largest depth over the value at the smallest."""
    return ratio(sizes, "depth")
