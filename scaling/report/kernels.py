"""Figures of the NTK over training: its spectra and its kernel-target alignment.

Each is drawn at each point's best lr (lowest final test loss, as in ``losses``), a panel per
γ; a figure whose measurement is off, or whose axes are missing, is not drawn (None).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.figure import Figure

from scaling.analysis import best_lr, final_test_loss, mean_over_seeds
from scaling.report.losses import SHOWN, at_best_lr, gamma_label, gamma_panels, held, lines_by_width, sel_present, widest


def ntk_spectra(ds: xr.Dataset) -> Figure | None:
    """NTK eigenvalues against their rank at the largest width, a line per measured step
    (coloured by step), a panel per γ."""
    if "ntk_eigenvalues" not in ds:
        return None
    spectra, note = held(mean_over_seeds(ds.ntk_eigenvalues), SHOWN + ("ntk_step", "eigen"))
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)
    width, shown = widest(ds)
    steps = ds.ntk_step.values
    mappable = matplotlib.cm.ScalarMappable(norm=colors.Normalize(steps.min(), steps.max()), cmap="cividis")
    fig, panels, axes = gamma_panels(ds, f"NTK spectra over training, width {shown}" + note)
    rank = np.arange(1, ds.sizes["eigen"] + 1)
    for ax, gamma in panels:
        lr = best_lr(sel_present(final, gamma=gamma, width=width))
        at = sel_present(spectra, gamma=gamma, width=width, lr=lr)
        for step in steps:
            ax.plot(rank, at.sel(ntk_step=step), color=mappable.to_rgba(step))
        ax.set(xscale="log", yscale="log", xlabel="rank k", title=gamma_label(gamma) + (f", lr {lr:g}" if lr else ""))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("NTK eigenvalue λ_k")
    fig.colorbar(mappable, ax=axes.tolist(), label="step")
    return fig


def alignment(ds: xr.Dataset) -> Figure | None:
    """Kernel-target alignment of the NTK against step, a line per width, a panel per γ."""
    if "ntk_alignment" not in ds:
        return None
    aligned, note = held(mean_over_seeds(ds.ntk_alignment), SHOWN + ("ntk_step",))
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)

    def line(gamma, width):
        return aligned.ntk_step.values, at_best_lr(aligned, final, gamma, width).values

    return lines_by_width(ds, "NTK-target alignment over training" + note, "step", "alignment  yᵀKy / (‖K‖_F ‖y‖²)",
                          line, xscale="symlog", yscale="linear", marker="o", markersize=3)
