"""Results on disk and ``load(dir) -> xarray.Dataset``.

A sweep directory holds ``sweep.json`` (the resolved config and its axes) and one
``groups/<id>.npz`` per group: its members' values and metrics plus a JSON ``meta``
entry, rewritten after each chunk of members.  Every file is written to a temporary name
and renamed into place, so a reader never sees a half-written file (a crash or a full disk
leaves the previous version) and the sweep can be loaded while it runs.  A group is
complete when its file holds every member of the sweep's current config.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from collections.abc import Collection
from typing import Any

import numpy as np
import xarray as xr

from scaling import config as config_lib
from scaling import sweep as sweep_lib

SWEEP_FILE = "sweep.json"
SLURM_DIR = "slurm"  # submitit's files, the tasks' logs and the task -> groups map (launch/slurm.py)
MEMBER_PREFIX = "member:"
UNREADABLE = (OSError, ValueError, KeyError, EOFError, StopIteration, zipfile.BadZipFile)  # a damaged group file


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value) -> None:
    """``value`` as JSON to ``path``, atomically."""
    blob = json.dumps(value, indent=1, sort_keys=True).encode()
    _atomic_write(Path(path), lambda h: h.write(blob))


def write_sweep(out: Path, resolved: config_lib.Resolved) -> None:
    write_json(out / SWEEP_FILE, resolved.to_json())


def read_sweep(out: Path) -> config_lib.Resolved:
    return config_lib.Resolved.from_json(json.loads((Path(out) / SWEEP_FILE).read_text()))


def group_path(out: Path, group_id: str) -> Path:
    return Path(out) / "groups" / f"{group_id}.npz"


def write_group(out: Path, group: sweep_lib.Group, members: list[dict], results: dict[str, np.ndarray],
                meta: dict[str, Any]) -> None:
    """Write a group's results so far (``members`` are the ones ``results`` cover)."""
    arrays = {f"{MEMBER_PREFIX}{p}": np.asarray([m[p] for m in members]) for p in members[0]}
    arrays.update(results)
    arrays["meta"] = np.asarray(json.dumps({"id": group.id, "point": group.point, **meta}))
    _atomic_write(group_path(out, group.id), lambda h: np.savez(h, **arrays))


def read_group(out: Path, group_id: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """A group's (meta, arrays); None if it has no file, or (with a warning) an unreadable one."""
    path = group_path(out, group_id)
    try:
        with np.load(path) as blob:
            arrays = {k: blob[k] for k in blob.files}
        return json.loads(str(arrays.pop("meta"))), arrays
    except FileNotFoundError:
        return None
    except UNREADABLE as error:
        warnings.warn(f"{path} is unreadable ({type(error).__name__}: {error}); its group counts as not written",
                      stacklevel=2)
        return None


def member_key(member: dict) -> tuple:
    return tuple((field, member[field]) for field in sorted(member))


def written_members(arrays: dict[str, np.ndarray]) -> list[dict]:
    """The members a group's file (its arrays) holds, in its order."""
    columns = {k[len(MEMBER_PREFIX):]: v for k, v in arrays.items() if k.startswith(MEMBER_PREFIX)}
    n = len(next(iter(columns.values())))
    return [{field: column[i].item() for field, column in columns.items()} for i in range(n)]


def read_members(out: Path, group_id: str) -> list[dict] | None:
    """The members a group's file holds (reading only their columns); None: no readable file."""
    path = group_path(out, group_id)
    try:
        with np.load(path) as blob:
            return written_members({k: blob[k] for k in blob.files if k.startswith(MEMBER_PREFIX)})
    except FileNotFoundError:
        return None
    except UNREADABLE:
        return None  # read_group says so


def missing_members(group: sweep_lib.Group, written: list[dict] | None) -> list[dict]:
    """The members of ``group`` not among ``written`` (the members its file holds, or None)."""
    have = {member_key(m) for m in written or []}
    return [m for m in group.members if member_key(m) not in have]


def group_done(out: Path, group: sweep_lib.Group) -> bool:
    return not missing_members(group, read_members(out, group.id))


def remove_partial_writes(out: Path, group_id: str) -> None:
    """Delete the temporary files of a group-file write a killed process left (call under its claim)."""
    for partial in (Path(out) / "groups").glob(f".{group_id}.npz.*.tmp"):
        partial.unlink(missing_ok=True)


def _union_coords(metas: list[dict]) -> dict[str, list]:
    """Each indexed coordinate (step, ntk_step, ..., param, feature) over all groups:
    steps sorted, names in order of first appearance."""
    coords: dict[str, list] = {}
    for meta in metas:
        for name, values in meta["coords"].items():
            known = coords.setdefault(name, [])
            known.extend(v for v in values if v not in known)
    return {name: sorted(v) if all(isinstance(x, int) for x in v) else v for name, v in coords.items()}


def _targets(found: dict, resolved: config_lib.Resolved, dims: list[str], points: str) -> tuple | None:
    """The clean targets of a fixed set (``probe``, ``test``) from the groups' meta: (dims, values),
    dims (points[, output]) when every group holds the same ones.  Where groups differ (a swept
    static data field: ``data.task_seed``, ``data.n_test``, ...) they lie along the sweep's static
    dimensions too, NaN past a group's points and for groups not written; the data seeds never
    change them (data/tasks.py, data/datasets.py).  None when no group holds them."""
    key = f"{points}_target"
    held = {group_id: np.asarray(meta[key], float) for group_id, (meta, _) in found.items() if key in meta}
    if not held:
        return None
    first = next(iter(held.values()))
    names = [points, "output"][: first.ndim]
    if all(t.shape == first.shape and np.array_equal(t, first) for t in held.values()):
        return names, first
    static = [(dim, axis) for axis, dim in zip(resolved.axes, dims) if sweep_lib.is_static_axis(axis[0])]
    size = [max(t.shape[j] for t in held.values()) for j in range(first.ndim)]
    values = np.full([len(axis[1]) for _, axis in static] + size, np.nan)
    for group_id, target in held.items():
        point = found[group_id][0]["point"]  # the group's static fields (an axis may zip vmapped ones with them)
        at = tuple(next(i for i, value in enumerate(on) if all(v == point[f] for f, v in zip(fields, value) if f in point))
                   for _, (fields, on) in static)
        values[at + tuple(slice(0, n) for n in target.shape)] = target
    return [dim for dim, _ in static] + names, values


def load(out: str | Path, groups: Collection[str] | None = None) -> xr.Dataset:
    """The sweep's results as a Dataset with one dimension per swept axis plus each metric's own.

    Axis dimensions are named by the swept fields' leaf names (``width``, ``gamma``,
    ``lr``, ``seed``; the full path with '_' where two leaves collide); fields zipped
    into one axis are extra coordinates along it.  Each measurement has its own step
    coordinate (``step`` for losses, ``pred_step``, ``ntk_step``, ``feature_step``: each
    measurement's own, ``scaling.measure.step_coords()``), and
    ``param`` / ``feature`` name the layers of the feature-learning signals; ``probe_target`` and
    ``test_target`` (with test predictions) hold the fixed sets' clean targets.  Only whole files
    of whole members are read: a member not written yet (pending, in training, in a stopped
    run) is NaN with ``completed`` False, and ``ds.attrs["incomplete_groups"]`` lists the groups
    with such members.  ``groups``: read only these groups' files (the others are NaN).
    """
    out = Path(out)
    if not (out / SWEEP_FILE).exists():
        raise FileNotFoundError(f"{out} is not a sweep directory (no {SWEEP_FILE})")
    resolved = read_sweep(out)
    names = sweep_lib.coord_names(resolved)
    axes = resolved.axes
    dims = [names[fields[0]] for fields, _ in axes]
    shape = [len(points) for _, points in axes]
    found = {g.id: read_group(out, g.id) for g in sweep_lib.groups(resolved) if groups is None or g.id in groups}
    found = {k: v for k, v in found.items() if v is not None}
    indexed = _union_coords([meta for meta, _ in found.values()])
    position = {name: {v: i for i, v in enumerate(values)} for name, values in indexed.items()}

    metric_dims: dict[str, list[str]] = {}
    sizes: dict[tuple[str, str], int] = {}  # positional dimensions: the largest size in any group
    for meta, arrays in found.values():
        for name, value in arrays.items():
            if not name.startswith(MEMBER_PREFIX):
                metric_dims[name] = meta["dims"].get(name, [])
                for d, n in zip(metric_dims[name], value.shape[1:]):
                    sizes[name, d] = max(sizes.get((name, d), 0), n)

    variables: dict[str, np.ndarray] = {}
    completed = np.zeros(shape, bool)
    for group_id, (meta, arrays) in found.items():
        columns = {k[len(MEMBER_PREFIX):]: v for k, v in arrays.items() if k.startswith(MEMBER_PREFIX)}
        group_values = {**resolved.values, **meta["point"]}
        for name, value in arrays.items():
            if name.startswith(MEMBER_PREFIX):
                continue
            if name not in variables:
                fill = {"i": -1, "b": False}.get(value.dtype.kind, np.nan)
                full = shape + [len(indexed[d]) if d in indexed else sizes[name, d] for d in metric_dims[name]]
                variables[name] = np.full(full, fill, value.dtype)
            at = np.ix_(*[
                [position[d][v] for v in meta["coords"][d]] if d in indexed else range(n)
                for d, n in zip(metric_dims[name], value.shape[1:])
            ])
            for i in range(len(value)):
                member = {**group_values, **{p: v[i].item() for p, v in columns.items()}}
                index = tuple(points.index(tuple(member[f] for f in fields)) for fields, points in axes)
                completed[index] = True
                variables[name][index + at] = value[i]

    coords: dict[str, Any] = dict(indexed)
    for (fields, points), dim in zip(axes, dims):
        for j, field in enumerate(fields):
            coords[names[field]] = (dim, [p[j] for p in points])
    data_vars = {name: (dims + metric_dims[name], value) for name, value in variables.items()}
    data_vars["completed"] = (dims, completed)
    for points in ("probe", "test"):
        target = _targets(found, resolved, dims, points)
        if target is not None:
            data_vars[f"{points}_target"] = target
    attrs = {
        "config": json.dumps(resolved.to_json()),
        "lr_convention": json.dumps({g: m.get("lr_convention", "") for g, (m, _) in found.items()}),
        "incomplete_groups": sorted(g.id for g in sweep_lib.groups(resolved)
                                    if (groups is None or g.id in groups)
                                    and missing_members(g, written_members(found[g.id][1]) if g.id in found else None)),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
