"""Reading a loaded sweep (``scaling.load``): its config values at a point, its seed dimensions
and means over seeds, its pages (the values of axes a figure does not show), final losses, the best learning rate η* per point (the grid's, and a log-quadratic fit with a bootstrap
interval), the divergence edge η_max, the compute-optimal envelope, and the table of η* that
``scaling run`` prints."""

from __future__ import annotations

import dataclasses
import itertools
import json
import warnings

import numpy as np
import xarray as xr
from rich.table import Table

from scaling import config, sweep

SEED_DIMS = ("seed", "train_seed", "data_seed")


def seed_dims(da: xr.DataArray | xr.Dataset) -> list[str]:
    """The seed dimensions ``da`` has."""
    return [d for d in da.dims if d in SEED_DIMS]


def mean_over_seeds(da: xr.DataArray) -> xr.DataArray:
    """The mean over every seed dimension, diverged (NaN) members left out."""
    return da.mean(seed_dims(da))


def seed_labels(point: xr.Dataset) -> list[tuple[dict, str]]:
    """(index, label) of each member of a point: ``seed=0``, ``seed=1,data_seed=2``; ``seed`` without seed axes."""
    dims = seed_dims(point)
    out = []
    for index in itertools.product(*(range(point.sizes[d]) for d in dims)):
        where = dict(zip(dims, index))
        out.append((where, ",".join(f"{d}={point[d].values[i].item()}" for d, i in where.items()) or "seed"))
    return out


def shown_values(ds: xr.Dataset, shown: xr.DataArray) -> dict:
    """The config values of a selection ``shown`` of a sweep (a figure's, a claim's): the sweep's base
    values with each swept field at the value ``shown`` holds it at (its scalar coordinates)."""
    resolved = config.Resolved.from_json(json.loads(ds.attrs["config"]))
    paths = {name: path for path, name in sweep.coord_names(resolved).items()}
    return resolved.values | {paths[d]: shown[d].values.item() for d in shown.coords if d in paths and shown[d].ndim == 0}


def config_values(ds: xr.Dataset) -> dict:
    """The sweep's base config values, as ``scaling.load`` keeps them (fields added since: defaults)."""
    stored = json.loads(ds.attrs["config"])["values"] if "config" in ds.attrs else {}
    return {path: field.default for path, field in config.SCHEMA.items()} | stored


def value_label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def page_name(where: dict) -> str:
    """A page's selection as words: "depth = 3, lr = 0.1"."""
    return ", ".join(f"{d} = {value_label(v)}" for d, v in where.items())


def pages(ds: xr.Dataset, shows: tuple[str, ...]) -> list[dict]:
    """One selection per combination of values of the swept axes not in ``shows`` (nor seeds):
    ``[{}]`` when there are none."""
    members = ds.diverged  # every swept axis, one value per member
    extra = [d for d in members.dims if d not in shows and d not in seed_dims(members) and members.sizes[d] > 1]
    return [dict(zip(extra, combo)) for combo in itertools.product(*(ds[d].values.tolist() for d in extra))]


def best_lr(final: xr.DataArray) -> float | None:
    """The lr of lowest final loss along ``final``'s ``lr`` dimension, NaN (diverged) left out;
    None when there is no lr axis or nothing converged."""
    if "lr" not in final.dims or not bool(np.isfinite(final).any()):
        return None
    return final.lr.values[final.fillna(np.inf).argmin("lr").item()].item()


@dataclasses.dataclass(frozen=True)
class LrOptimum:
    """η* of one point: the vertex of a log-quadratic fit, or the grid's best where none is possible."""

    lr: float
    interval: tuple[float, float]  # its bootstrap interval over seeds; NaN without seeds or fit
    fitted: bool  # False: the grid's best (at the grid's edge, beside a diverged lr, or not convex there)


def _log_quadratic_vertex(log_lr: np.ndarray, loss: np.ndarray, best: int) -> float | None:
    """The vertex of the parabola through log loss against log lr at the grid's best and its two
    neighbours (a sub-grid refinement of the best), within half a grid step of it; None at the
    grid's edge, next to a diverged lr, or where the three are not convex."""
    if not 0 < best < len(loss) - 1:
        return None
    window = slice(best - 1, best + 2)
    if not (np.isfinite(loss[window]).all() and (loss[window] > 0).all()):
        return None
    a, b, _ = np.polyfit(log_lr[window], np.log(loss[window]), 2)
    if a <= 0:
        return None
    return float(np.clip(-b / (2 * a), (log_lr[best - 1] + log_lr[best]) / 2, (log_lr[best] + log_lr[best + 1]) / 2))


def lr_optimum(final: xr.DataArray, confidence: float = 0.9, n_boot: int = 400, seed: int = 0) -> LrOptimum | None:
    """η* of a point from its final losses over ``lr`` (and its seed dimensions): the vertex of a
    parabola in log η through the log of the mean loss over seeds (diverged seeds left out) at the
    grid's best and its neighbours (``_log_quadratic_vertex``), with the ``confidence`` percentile interval
    of the vertex over ``n_boot`` resamplings of the seeds.  None where nothing converged."""
    final, seeds = final.sortby("lr"), seed_dims(final)
    losses = final.stack(member=seeds).transpose("lr", "member").values if seeds else final.values[:, None]
    log_lr = np.log(final.lr.values.astype(float))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an lr where every resampled seed diverged
        mean = np.nanmean(losses, axis=1)
        if not np.isfinite(mean).any():
            return None
        best = int(np.nanargmin(mean))
        vertex = _log_quadratic_vertex(log_lr, mean, best)
        if vertex is None:
            return LrOptimum(float(final.lr.values[best]), (np.nan, np.nan), False)
        interval = (np.nan, np.nan)
        if losses.shape[1] > 1:
            rng = np.random.default_rng(seed)
            draws = [_log_quadratic_vertex(log_lr, sample, best) for sample in
                     (np.nanmean(losses[:, rng.integers(0, losses.shape[1], losses.shape[1])], axis=1)
                      for _ in range(n_boot))]
            draws = np.array([d for d in draws if d is not None])
            if len(draws):
                tail = 50 * (1 - confidence)
                interval = tuple(float(v) for v in np.exp(np.percentile(draws, [tail, 100 - tail])))
    return LrOptimum(float(np.exp(vertex)), interval, True)


def divergence_edge(diverged: xr.DataArray) -> float:
    """η_max of a point: the geometric mean of the largest lr at which no seed diverged, below every
    lr at which one did, and the next lr (the smallest that diverged); NaN when no lr diverged
    (the edge is past the grid) or the smallest did."""
    diverged, seeds = diverged.sortby("lr"), seed_dims(diverged)
    any_diverged = (diverged.any(seeds) if seeds else diverged).values
    lrs = diverged.lr.values.astype(float)
    if not any_diverged.any() or any_diverged[0]:
        return float("nan")
    first = int(np.argmax(any_diverged))
    return float(np.sqrt(lrs[first - 1] * lrs[first]))


@dataclasses.dataclass(frozen=True)
class Envelope:
    """The compute-optimal frontier of loss curves L_N(C): L*(C) = min_N L_N(C) on a log grid of C."""

    compute: np.ndarray  # C, log-spaced over the range two or more curves share
    loss: np.ndarray  # L*(C)
    width: np.ndarray  # the N attaining it


def compute_envelope(curves: dict[float, tuple[np.ndarray, np.ndarray]], points: int = 64) -> Envelope:
    """The lower envelope over widths of loss-against-compute curves, ``{N: (C, L)}`` with C
    increasing (C = N·t; THEORY.md §2 "Compute-optimal", §5), each interpolated linearly in
    log C – log L; taken over the C where at least two curves are defined, so that the frontier
    is a choice between widths (non-finite or non-positive losses left out)."""
    logs = {}
    for width, (compute, loss) in curves.items():
        compute, loss = np.asarray(compute, float), np.asarray(loss, float)
        keep = (compute > 0) & np.isfinite(loss) & (loss > 0)
        if keep.sum() >= 2:
            logs[width] = (np.log(compute[keep]), np.log(loss[keep]))
    if len(logs) < 2:
        raise ValueError(f"an envelope needs two or more curves with two positive points, got {len(logs)}")
    starts = sorted(c[0] for c, _ in logs.values())
    ends = sorted((c[-1] for c, _ in logs.values()), reverse=True)
    grid = np.linspace(starts[1], ends[1], points) if starts[1] < ends[1] else np.array([])
    widths = list(logs)
    table = np.stack([np.interp(grid, c, l, left=np.inf, right=np.inf) for c, l in logs.values()])
    best = table.argmin(axis=0)
    return Envelope(np.exp(grid), np.exp(table[best, np.arange(len(grid))]), np.asarray(widths)[best])


def final_test_loss(ds: xr.Dataset, name: str = "test_loss") -> xr.DataArray:
    """Test loss (or another variable along ``step``, e.g. ``theory_loss``) at each member's last
    step (its own ``train.steps`` when that is swept)."""
    if "steps" in ds.coords:
        return ds[name].sel(step=ds["steps"])
    return ds[name].isel(step=-1)


def best_lr_rows(ds: xr.Dataset) -> tuple[list[str], list[list]]:
    """Per point of the non-lr, non-seed axes: the lr of lowest final test loss (η*; mean over
    seeds, diverged members excluded), that loss, and how many members diverged, of how many.
    The lr and loss are None where there is no lr axis or everything diverged."""
    final = final_test_loss(ds)
    seeds = seed_dims(final)
    mean = mean_over_seeds(final)
    diverged = ds.diverged.sum(seeds) if seeds else ds.diverged.astype(int)
    n_seeds = int(np.prod([ds.sizes[d] for d in seeds])) if seeds else 1
    has_lr = "lr" in mean.dims
    dims = [d for d in mean.dims if d != "lr"]
    rows = []
    for combo in itertools.product(*(ds[d].values.tolist() for d in dims)):
        where = dict(zip(dims, combo))
        losses = mean.sel(where)
        lr, loss = best_lr(losses), None
        if lr is not None:
            loss = float(losses.sel(lr=lr))
        elif not has_lr:
            loss = float(losses)
        total = n_seeds * (ds.sizes["lr"] if has_lr else 1)
        rows.append([*combo, lr, loss, int(diverged.sel(where).sum()), total])
    return [*dims, "best_lr", "test_loss", "diverged", "members"], rows


def best_lr_table(ds: xr.Dataset) -> Table:
    """``best_lr_rows`` as the table ``scaling run`` prints."""
    columns, rows = best_lr_rows(ds)
    dims, has_lr = columns[:-4], "lr" in ds.dims
    table = Table(title="final test loss (mean over seeds)")
    for d in dims:
        table.add_column(d, justify="right")
    table.add_column("best lr" if has_lr else "", justify="right")
    table.add_column("test loss", justify="right")
    table.add_column("diverged", justify="right")
    for *combo, lr, loss, n_div, total in rows:
        table.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in combo),
                      "-" if lr is None else f"{lr:.3g}",
                      "all diverged" if loss is None else f"{loss:.4g}", f"{n_div}/{total}")
    return table
