"""The sharpness over training against the edge of stability (``scaling.measure.sharpness``).

Drawn at each width's best lr (lowest final test loss, as in ``losses``), a panel per γ; not
drawn (None) when the measurement is off.
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from scaling.analysis import final_test_loss, mean_over_seeds, shown_values
from scaling.report.losses import SHOWN, at_best_lr, axis_values, held, lines_by_width


def stability_threshold(momentum: float) -> float:
    """The largest stable eigenvalue of P H for gradient descent with heavy-ball momentum β: 2 (1 + β)."""
    return 2 * (1 + momentum)


def sharpness(ds: xr.Dataset) -> Figure | None:
    """λ_max(P^½ H P^½) (``sharpness_lr``) against step, a line per width, a panel per γ, and the
    edge of stability 2 (1 + β) dashed (Cohen et al. 2021)."""
    if "sharpness_lr" not in ds:
        return None
    curves, note = held(mean_over_seeds(ds.sharpness_lr), SHOWN + ("sharpness_step",))
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)

    def line(gamma, width):
        return curves.sharpness_step.values, at_best_lr(curves, final, gamma, width).values

    fig = lines_by_width(ds, "learning-rate-weighted sharpness at each width's best lr" + note, "step",
                         "λ_max(P^½ H P^½),  P: the learning rates", line, xscale="symlog", marker="o",
                         markersize=3)
    threshold = stability_threshold(shown_values(ds, curves)["optim.momentum"])
    for ax in fig.axes[:len(axis_values(ds, "gamma"))]:  # the panels, before the colour bar
        ax.axhline(threshold, color="k", ls="--", lw=1, label=f"edge of stability {threshold:g}")
    fig.axes[0].legend(fontsize=8)
    return fig
