"""The short table printed at the end of a sweep: best learning rate per point, divergences."""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr
from rich.table import Table

SEED_DIMS = ("seed", "train_seed", "data_seed")


def final_test_loss(ds: xr.Dataset) -> xr.DataArray:
    """Test loss at each member's last step (its own ``train.steps`` when that is swept)."""
    if "steps" in ds.coords:
        return ds.test_loss.sel(step=ds["steps"])
    return ds.test_loss.isel(step=-1)


def best_lr_table(ds: xr.Dataset) -> Table:
    """Per point of the non-lr, non-seed axes: the lr of lowest final test loss (mean over
    seeds, diverged members excluded) and how many members diverged."""
    final = final_test_loss(ds)
    seeds = [d for d in final.dims if d in SEED_DIMS]
    mean = final.mean(seeds) if seeds else final
    diverged = ds.diverged.sum(seeds) if seeds else ds.diverged.astype(int)
    n_seeds = int(np.prod([ds.sizes[d] for d in seeds])) if seeds else 1
    rows = [d for d in mean.dims if d != "lr"]
    table = Table(title="final test loss (mean over seeds)")
    for d in rows:
        table.add_column(d, justify="right")
    has_lr = "lr" in mean.dims
    table.add_column("best lr" if has_lr else "", justify="right")
    table.add_column("test loss", justify="right")
    table.add_column("diverged", justify="right")
    for combo in itertools.product(*(ds[d].values for d in rows)):
        where = dict(zip(rows, combo))
        losses = mean.sel(where)
        n_div = int(diverged.sel(where).sum())
        total = n_seeds * (ds.sizes["lr"] if has_lr else 1)
        if has_lr and bool(np.isfinite(losses).any()):
            best = losses.fillna(np.inf).argmin("lr").item()
            lr, loss = f"{ds.lr.values[best]:.3g}", f"{float(losses[best]):.4g}"
        else:
            lr, loss = "-", f"{float(losses):.4g}" if not has_lr else "all diverged"
        table.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in combo), lr, loss, f"{n_div}/{total}")
    return table
