"""The coord-check figures: feature RMS and update RMS against width (or depth), one panel per step."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import xarray as xr
from matplotlib import ticker
from matplotlib.figure import Figure


def plot(check: xr.Dataset, path: Path, title: str, along: str = "width") -> Path:
    """Two rows (the feature's RMS at step t; the RMS of its change since init) by one column per
    step t >= 1; a line per feature against ``along`` (width or depth), log-log (as microsoft/mup
    draws it), at the largest value of the other one (the deepest depth, the largest width)."""
    other = "depth" if along == "width" else "width"
    at = check.sortby(other).isel({other: -1})
    steps = check.step.values[1:]
    fig = Figure(figsize=(3.2 * len(steps) + 1.5, 6))
    axes = fig.subplots(2, len(steps), sharex=True, squeeze=False)
    colours = matplotlib.colormaps["viridis"]([i / max(1, check.sizes["feature"] - 1) for i in range(check.sizes["feature"])])
    for column, t in enumerate(steps):
        for row, (name, label) in enumerate([("feature_rms", "feature RMS"), ("update_rms", "RMS of h_t - h_0")]):
            ax = axes[row, column]
            for colour, feature in zip(colours, check.feature.values):
                ax.plot(at[along], at[name].sel(step=t, feature=feature), "o-", color=colour, label=feature)
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%d"))
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.3g"))
            ax.yaxis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
            ax.grid(True, which="both", alpha=0.3)
            if row == 0:
                ax.set_title(f"step {t}")
            else:
                ax.set_xlabel(along)
            if column == 0:
                ax.set_ylabel(label)
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(f"{title} (at {other} {int(at[other])})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
