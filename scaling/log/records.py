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
from scaling import sweep as sweep_lib
from scaling.measure import ensemble
from scaling.summary import SEED_DIMS, mean_over_seeds, seed_dims

LOSSES = ("train_loss", "test_loss")
NTK_SCALARS = ("ntk_alignment", "ntk_alignment_centered", "ntk_distance")
TOP_EIGENVALUES = 5


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


def seed_labels(point: xr.Dataset) -> list[tuple[dict, str]]:
    """(index, label) of each member of a point: ``seed=0``, ``seed=1,data_seed=2``; ``seed`` without seed axes."""
    dims = seed_dims(point)
    out = []
    for index in itertools.product(*(range(point.sizes[d]) for d in dims)):
        where = dict(zip(dims, index))
        out.append((where, ",".join(f"{d}={_plain(point[d].values[i])}" for d, i in where.items()) or "seed"))
    return out


def _ensemble_probe_loss(point: xr.Dataset) -> xr.DataArray:
    """The squared error of the seed-averaged predictor on the probe set."""
    over = seed_dims(point)
    return ensemble.ensemble_loss(point, over) if over else ensemble.member_loss(point)


def _add(rows: dict[int, dict], steps, name: str, values) -> None:
    for step, value in zip(np.asarray(steps).tolist(), np.asarray(values, dtype=float).tolist()):
        rows.setdefault(int(step), {})[name] = value


def history(point: xr.Dataset) -> list[tuple[int, dict[str, float]]]:
    """(step, metrics) rows in step order, up to the point's last step: each loss per seed and its
    mean over seeds (and the theory's, when the config names one); the probe loss of the
    ensemble-averaged predictor and the mean member's; NTK alignment, distance and top
    eigenvalues, and the relative weight change per layer (means over seeds)."""
    last = final_step(point)
    point = point.sel({d: point[d] <= last for d in ("step", "pred_step", "ntk_step", "feature_step") if d in point.dims})
    rows: dict[int, dict] = {}
    labels = seed_labels(point)
    for name in LOSSES:
        if name in point:
            for where, label in labels:
                _add(rows, point.step, f"{name}/{label}", point[name].isel(where))
            _add(rows, point.step, f"{name}/mean", mean_over_seeds(point[name]))
    if "theory_loss" in point:
        _add(rows, point.step, "theory/test_loss", mean_over_seeds(point.theory_loss))
    if "probe_pred" in point:
        _add(rows, point.pred_step, "probe_loss/ensemble", _ensemble_probe_loss(point))
        _add(rows, point.pred_step, "probe_loss/mean", mean_over_seeds(ensemble.member_loss(point)))
    for name in NTK_SCALARS:
        if name in point:
            _add(rows, point.ntk_step, f"ntk/{name.removeprefix('ntk_')}", mean_over_seeds(point[name]))
    if "ntk_eigenvalues" in point:
        top = mean_over_seeds(point.ntk_eigenvalues).isel(eigen=slice(TOP_EIGENVALUES))
        for k in range(top.sizes["eigen"]):
            _add(rows, point.ntk_step, f"ntk/eigenvalue_{k + 1}", top.isel(eigen=k))
    if "weight_change" in point:
        for param in point.param.values:
            _add(rows, point.feature_step, f"weight_change/{param}", mean_over_seeds(point.weight_change.sel(param=param)))
    return sorted(rows.items())


def final_step(point: xr.Dataset) -> int:
    """The point's last training step (its own ``train.steps`` when that is swept)."""
    return int(point["steps"]) if "steps" in point.coords else int(point.step.values[-1])


def summary(point: xr.Dataset) -> dict[str, Any]:
    """Final losses (mean over the seeds that did not diverge), diverged count, best step."""
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
    if "probe_pred" in point:
        out["final_probe_loss_ensemble"] = float(_ensemble_probe_loss(point.isel(pred_step=-1)))
    if "ntk_eigenvalues" in point:
        out["final_ntk_eigenvalues"] = mean_over_seeds(point.ntk_eigenvalues.isel(ntk_step=-1)).values.tolist()
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
