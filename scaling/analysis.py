"""Reading a loaded sweep (``scaling.load``): its seed dimensions and means over seeds, final
losses, the best learning rate η* per point and the table of it that ``scaling run`` prints."""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr
from rich.table import Table

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


def best_lr(final: xr.DataArray) -> float | None:
    """The lr of lowest final loss along ``final``'s ``lr`` dimension, NaN (diverged) left out;
    None when there is no lr axis or nothing converged."""
    if "lr" not in final.dims or not bool(np.isfinite(final).any()):
        return None
    return final.lr.values[final.fillna(np.inf).argmin("lr").item()].item()


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
