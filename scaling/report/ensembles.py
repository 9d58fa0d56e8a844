"""The bias and variance of the final probe predictions against width (THEORY.md §6), drawn
from the ensembles over seeds (``scaling.measure.ensemble``)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from scaling.analysis import SEED_DIMS, best_lr, final_test_loss, mean_over_seeds
from scaling.measure import ensemble
from scaling.report.losses import SHOWN, gamma_label, gamma_panels, held, sel_present


def ensemble_vs_width(ds: xr.Dataset) -> Figure | None:
    """Variance over seeds and squared bias (against the widest ensemble mean) of the final probe
    predictions against width, log-log, with a 1/N guide; at the lr best at the largest width."""
    seeds = [d for d in SEED_DIMS if d in ds.dims and ds.sizes[d] > 1]
    if "probe_pred" not in ds or not seeds or "width" not in ds.dims or ds.sizes["width"] < 2:
        return None
    pred, note = held(ds.probe_pred.isel(pred_step=-1), SHOWN + (seeds[0], "probe", "output"))
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)
    split = ensemble.width_distance(pred, over=seeds[0])
    widths = ds.width.values
    fig, panels, axes = gamma_panels(ds, f"prediction variance and bias against width (over {ds.sizes[seeds[0]]} seeds)" + note)
    for ax, gamma in panels:
        lr = best_lr(sel_present(final, gamma=gamma).isel(width=-1))
        at = sel_present(split, gamma=gamma, lr=lr)
        ax.plot(widths, at.variance, "o-", label="variance Var_seeds f")
        ax.plot(widths[:-1], at.bias.values[:-1], "s-", label=f"bias² vs width {widths[-1]}")
        start = float(at.variance.values[0])
        if np.isfinite(start) and start > 0:
            ax.plot(widths, start * widths[0] / widths, "k:", label="∝ 1/N")
        ax.set(xscale="log", yscale="log", xlabel="width N", title=gamma_label(gamma) + (f", lr {lr:g}" if lr else ""))
        ax.set_xscale("log", base=2)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("squared distance on the probe set")
    axes[-1].legend(fontsize=7)
    return fig
