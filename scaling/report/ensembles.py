"""Ensembles over seeds and the distance between widths (THEORY.md §6), drawn with
``scaling.measure.ensemble``: the bias and variance of the final probe predictions against width,
and the ensemble's test loss and the distance to the widest ensemble over training."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from scaling.analysis import SEED_DIMS, best_lr, final_test_loss, mean_over_seeds
from scaling.measure import ensemble
from scaling.report.losses import SHOWN, axis_values, gamma_label, gamma_panels, held, sel_present, width_colours


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


def ensemble_over_steps(ds: xr.Dataset) -> Figure | None:
    """Over training, a line per width (coloured by width) at the lr best at the largest width, a
    row per γ.  Left: the squared test error of the ensemble over seeds (solid) and of the mean
    member (dashed), which exceeds it by the variance.  Right: the distance of the members to the
    widest ensemble mean (solid) = bias² (dashed) + variance over seeds (dotted) (THEORY.md §6;
    ``ensemble.width_distance``).  Step 0 is left out (log axes).  None without test predictions,
    seeds or two widths."""
    seeds = [d for d in SEED_DIMS if d in ds.dims and ds.sizes[d] > 1]
    if "test_pred" not in ds or not seeds or "width" not in ds.dims or ds.sizes["width"] < 2:
        return None
    kept = SHOWN + (seeds[0], "test_pred_step", "test", "output")
    pred, note = held(ds.test_pred.sel(test_pred_step=ds.test_pred_step > 0), kept)
    target, _ = held(ds.test_target, kept)
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)
    on_test = xr.Dataset({"test_pred": pred, "test_target": target})
    loss = ensemble.ensemble_loss(on_test, seeds[0], "test")
    mean_loss = ensemble.member_loss(on_test, "test").mean(seeds[0])
    split = ensemble.width_distance(pred, over=seeds[0])
    widths, gammas = list(ds.width.values), axis_values(ds, "gamma")
    mappable = width_colours(widths)
    fig = Figure(figsize=(10, 3.6 * len(gammas) + 0.6), layout="constrained")
    axes = fig.subplots(len(gammas), 2, squeeze=False)
    fig.suptitle(f"test predictions over training (ensembles of {ds.sizes[seeds[0]]} seeds)" + note)
    steps = pred.test_pred_step.values
    for (left, right), gamma in zip(axes, gammas):
        lr = best_lr(sel_present(final, gamma=gamma).isel(width=-1))
        if lr is None and "lr" in final.dims:  # every lr diverged at the largest width
            continue
        for width in widths:
            colour, at = mappable.to_rgba(width), {"gamma": gamma, "lr": lr, "width": width}
            left.plot(steps, sel_present(loss, **at), "-", color=colour)
            left.plot(steps, sel_present(mean_loss, **at), "--", color=colour)
            distance = sel_present(split, **at)
            right.plot(steps, distance.distance, "-", color=colour)
            if width != split.attrs["reference"]:
                right.plot(steps, distance.bias, "--", color=colour)
            right.plot(steps, distance.variance, ":", color=colour)
        title = ", ".join(part for part in (gamma_label(gamma), f"lr {lr:g}" if lr is not None else "") if part)
        left.set(ylabel="squared test error", title=title)
        right.set(ylabel=f"distance to width {split.attrs['reference']}", title=title)
        for ax in (left, right):
            ax.set(xscale="log", yscale="log", xlabel="step")
            ax.grid(True, which="both", alpha=0.3)
    _style_legend(axes[0, 0], {"-": "ensemble over seeds", "--": "mean member"})
    _style_legend(axes[0, 1], {"-": "distance E‖f − f_ref‖²", "--": "bias² ‖E f − f_ref‖²",
                               ":": "variance Var_seeds f"})
    fig.colorbar(mappable, ax=axes.ravel().tolist(), label="width N")
    return fig


def _style_legend(ax, styles: dict[str, str]) -> None:
    """A legend of line styles (black), the colours being the widths'."""
    ax.legend([Line2D([], [], color="k", ls=ls) for ls in styles], list(styles.values()), fontsize=7)
