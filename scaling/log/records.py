"""What a finished group sends to wandb, as plain data (no wandb here).

A *point* is one value of every swept field except the seeds (``train.seed``,
``data.seed``); its members are its seeds.  For each point: a flat config (the swept
fields by their coordinate names, plus the resolved config by section), a history of
rows keyed by training step, and a summary.  Above ``log.wandb.max_runs`` points a
group is sent as two tables instead (one row per member and step; one row per point).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterator

import numpy as np
import xarray as xr

from scaling import config as config_lib
from scaling import measure
from scaling import sweep as sweep_lib
from scaling.analysis import SEED_DIMS, mean_over_seeds, seed_dims
from scaling.measure.loss import LOSSES


def group_dataset(ds: xr.Dataset, resolved: config_lib.Resolved, group: sweep_lib.Group) -> xr.Dataset:
    """The group's members: ``ds`` at the group's point of every static axis."""
    names = sweep_lib.coord_names(resolved)
    at = {names[fields[0]]: points.index(tuple(group.values[f] for f in fields))
          for fields, points in resolved.axes if sweep_lib.is_static_axis(fields)}
    return ds.isel(at)


def point_dims(ds: xr.Dataset, resolved: config_lib.Resolved) -> list[str]:
    """The swept dimensions left in a group's Dataset that are not seeds."""
    swept = set(sweep_lib.coord_names(resolved).values())
    return [d for d in ds.dims if d in swept and d not in SEED_DIMS]


def n_points(resolved: config_lib.Resolved) -> int:
    """Number of hyperparameter points of the sweep (its axes without the seed axes)."""
    names = sweep_lib.coord_names(resolved)
    return math.prod(len(points) for fields, points in resolved.axes if names[fields[0]] not in SEED_DIMS)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def swept_values(ds: xr.Dataset, resolved: config_lib.Resolved) -> dict[str, Any]:
    """The swept fields' values at a point, by coordinate name, static fields first (``width``,
    ``gamma``, ``lr``, ...)."""
    names = sweep_lib.coord_names(resolved)
    static_first = sorted(resolved.axes, key=lambda axis: not sweep_lib.is_static_axis(axis[0]))
    ordered = [names[f] for fields, _ in static_first for f in fields]
    return {name: _plain(ds[name].values.item()) for name in ordered
            if name in ds.coords and ds[name].ndim == 0 and name not in SEED_DIMS}


def points(gds: xr.Dataset, resolved: config_lib.Resolved) -> Iterator[xr.Dataset]:
    """Each point of a group's Dataset, its seeds left as dimensions."""
    dims = point_dims(gds, resolved)
    for index in itertools.product(*(range(gds.sizes[d]) for d in dims)):
        yield gds.isel(dict(zip(dims, index)))


def run_config(point: xr.Dataset, resolved: config_lib.Resolved, group: sweep_lib.Group) -> dict[str, Any]:
    """The swept fields flat, then the point's full config nested by section."""
    swept = swept_values(point, resolved)
    values = {**group.values, **{f: swept[n] for f, n in sweep_lib.coord_names(resolved).items() if n in swept}}
    seeds = {d: [_plain(v) for v in point[d].values] for d in seed_dims(point)}
    return {**swept, "group_id": group.id, **({"seeds": seeds} if seeds else {}), **config_lib.nest(values)}


def _add(rows: dict[int, dict], steps, name: str, values) -> None:
    for step, value in zip(np.asarray(steps).tolist(), np.asarray(values, dtype=float).tolist()):
        rows.setdefault(int(step), {})[name] = value


def _scalars(measurement: measure.Measurement, point: xr.Dataset) -> dict:
    """A measurement's metrics that are one number per step, as ``NAME/metric`` (means over seeds):
    the history of a measurement that says nothing else."""
    seeds = tuple(seed_dims(point))
    return {f"{measurement.name}/{var}": mean_over_seeds(point[var]) for var in point.data_vars
            if set(point[var].dims) == {*seeds, measurement.step_coord}}


def history(point: xr.Dataset) -> list[tuple[int, dict[str, float]]]:
    """(step, metrics) rows in step order, up to the point's last step: each measurement's rows
    (``Measurement.history``: the losses per seed and their means, the probe loss of the
    ensemble-averaged predictor, NTK alignment and top eigenvalues, weight changes; by default its
    scalar metrics), and the theory's test loss when the config names one."""
    last = final_step(point)
    coords = [d for d in measure.step_coords().values() if d in point.dims]
    point = point.sel({d: point[d] <= last for d in coords})
    rows: dict[int, dict] = {}
    for measurement in measure.REGISTRY.values():
        if measurement.step_coord in point.dims:
            named = measurement.history(point) if measurement.history is not None else _scalars(measurement, point)
            for name, values in named.items():
                _add(rows, point[measurement.step_coord], name, values)
    if "theory_loss" in point:
        _add(rows, point.step, "theory/test_loss", mean_over_seeds(point.theory_loss))
    return sorted(rows.items())


def final_step(point: xr.Dataset) -> int:
    """The point's last training step (its own ``train.steps`` when that is swept)."""
    return int(point["steps"]) if "steps" in point.coords else int(point.step.values[-1])


def summary(point: xr.Dataset) -> dict[str, Any]:
    """Final losses (mean over the seeds that did not diverge), diverged count, best step, the
    members stopped by ``train.stop_loss``, and each measurement's own (``Measurement.summary``)."""
    last = final_step(point)
    test = mean_over_seeds(point.test_loss).sel(step=slice(None, last))
    finite = np.isfinite(test.values)
    out: dict[str, Any] = {
        "final_train_loss": float(mean_over_seeds(point.train_loss).sel(step=last)),
        "final_test_loss": float(test.sel(step=last)),
        "diverged": int(point.diverged.sum()),
        "n_seeds": int(point.diverged.size),
        "best_step": int(test.step.values[np.nanargmin(test.values)]) if finite.any() else -1,
        "best_test_loss": float(np.nanmin(test.values)) if finite.any() else float("nan"),
    }
    if "stopped_step" in point:  # train.stop_loss
        out["stopped"] = int((point.stopped_step >= 0).sum())
    for measurement in measure.REGISTRY.values():
        if measurement.step_coord in point.dims:
            out |= measurement.summary(point)
    return out


def member_table(gds: xr.Dataset, resolved: config_lib.Resolved) -> tuple[list[str], list[list]]:
    """Columns and rows of the group's losses: one row per member and step."""
    static = swept_values(gds, resolved)
    dims = point_dims(gds, resolved) + seed_dims(gds)
    columns = [*static, *dims, "step", *LOSSES]
    rows = []
    for index in itertools.product(*(range(gds.sizes[d]) for d in dims)):
        member = gds.isel(dict(zip(dims, index)))
        coords = [*static.values(), *(_plain(member[d].values.item()) for d in dims)]
        losses = [member[name].values for name in LOSSES]
        rows.extend([*coords, int(step), *(float(v[i]) for v in losses)] for i, step in enumerate(gds.step.values))
    return columns, rows


def point_table(gds: xr.Dataset, resolved: config_lib.Resolved) -> tuple[list[str], list[list]]:
    """Columns and rows of the group's point summaries: one row per point."""
    rows = [(swept_values(point, resolved), summary(point)) for point in points(gds, resolved)]
    columns = [*rows[0][0], *(k for k, v in rows[0][1].items() if not isinstance(v, list))]
    return columns, [[{**swept, **s}[c] for c in columns] for swept, s in rows]
