"""The network's learning curve beside its kernel-regression baselines (``scaling.measure.kernel_baselines``;
THEORY.md §7): E_N, the final and initial empirical-NTK regressions and the infinite-width NTK's E_∞."""

from __future__ import annotations

import xarray as xr
from matplotlib import ticker
from matplotlib.figure import Figure

from scaling.analysis import mean_over_seeds
from scaling.report.losses import width_colours

CURVES = (("kernel_net_test_loss", -1, "-", "o", "network E_N"),
          ("kernel_test_loss", -1, "--", "s", "final eNTK regression"),
          ("kernel_test_loss", 0, ":", "^", "initial eNTK regression"))


def baselines_vs_p(ds: xr.Dataset) -> Figure | None:
    """Seed-mean test losses on the baselines' test points against P (``data.n_train``), a colour per
    width: the network at the end (solid), kernel regression with its final (dashed) and initial (dotted)
    empirical NTK, and with the infinite-width NTK (black, E_∞); the right panel is E_N / E_∞ with the
    onset level 2 (§7's P*).  None without the measurement or a swept P."""
    if "kernel_net_test_loss" not in ds or "n_train" not in ds.dims or ds.sizes["n_train"] < 2:
        return None
    widths = ds.width.values if "width" in ds.dims else [None]
    sizes = ds.n_train.values
    mappable = width_colours([w or 1 for w in widths])
    fig = Figure(figsize=(10, 4))
    curves, ratios = fig.subplots(1, 2)
    infinite = None
    if "ntk_inf_test_loss" in ds:
        infinite = mean_over_seeds(ds.ntk_inf_test_loss.isel(kernel_step=-1))
        infinite = infinite.mean([d for d in infinite.dims if d != "n_train"])
        curves.plot(sizes, infinite.values, "-", color="black", lw=2, label="infinite-width NTK E_∞")
        ratios.axhline(2.0, color="black", ls="--", lw=1, label="E_N = 2 E_∞ (P*)")
    for width in widths:
        colour = "C0" if width is None else mappable.to_rgba(width)
        point = ds if width is None else ds.sel(width=width)
        for name, step, style, marker, label in CURVES:
            y = mean_over_seeds(point[name].isel(kernel_step=step))
            curves.plot(sizes, y.values, style, marker=marker, markersize=3, color=colour,
                        label=label if width == widths[0] else None)
        if infinite is not None:
            network = mean_over_seeds(point.kernel_net_test_loss.isel(kernel_step=-1))
            ratios.plot(sizes, (network / infinite).values, "-o", markersize=3, color=colour)
    curves.set(xscale="log", yscale="log", xlabel="training points P", ylabel="test loss (baselines' test points)",
               title="network and kernel regressions")
    ratios.set(xscale="log", yscale="log", xlabel="training points P", ylabel="E_N / E_∞", title="onset of variance")
    for ax in (curves, ratios):
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())  # minor labels collide on a log axis over decades
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    if widths[0] is not None:
        fig.colorbar(mappable, ax=[curves, ratios], label="width N")
    return fig
