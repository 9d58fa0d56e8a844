"""Figures of what the measurements saw during training: NTK spectra and kernel-target alignment
over training, and the bias and variance of the predictions against width (THEORY.md §6).

Each is drawn at each point's best lr (lowest final test loss, as in ``losses``), a panel per
γ; a figure whose measurement is off, or whose axes are missing, is not drawn (None).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib import colors  # noqa: E402

from scaling.measure import ensemble  # noqa: E402
from scaling.report.losses import SHOWN, best_lr, gamma_label, gamma_panels, held, lines_by_width, sel_present  # noqa: E402
from scaling.summary import SEED_DIMS, final_test_loss, mean_over_seeds  # noqa: E402


def ntk_spectra(ds: xr.Dataset) -> plt.Figure | None:
    """NTK eigenvalues against their rank at the largest width, a line per measured step
    (coloured by step), a panel per γ."""
    if "ntk_eigenvalues" not in ds:
        return None
    spectra, note = held(mean_over_seeds(ds.ntk_eigenvalues), SHOWN + ("ntk_step", "eigen"))
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)
    width = ds.width.values[-1] if "width" in ds.dims else None
    steps = ds.ntk_step.values
    mappable = plt.cm.ScalarMappable(norm=colors.Normalize(steps.min(), steps.max()), cmap="cividis")
    fig, panels, axes = gamma_panels(ds, f"NTK spectra over training, width {width}" + note)
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


def alignment(ds: xr.Dataset) -> plt.Figure | None:
    """Kernel-target alignment of the NTK against step, a line per width, a panel per γ."""
    if "ntk_alignment" not in ds:
        return None
    aligned, note = held(mean_over_seeds(ds.ntk_alignment), SHOWN + ("ntk_step",))
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)

    def line(gamma, width):
        lr = best_lr(sel_present(final, gamma=gamma, width=width))
        return aligned.ntk_step.values, sel_present(aligned, gamma=gamma, width=width, lr=lr).values

    return lines_by_width(ds, "NTK-target alignment over training" + note, "step", "alignment  yᵀKy / (‖K‖_F ‖y‖²)",
                          line, xscale="symlog", yscale="linear", marker="o", markersize=3)


def ensemble_vs_width(ds: xr.Dataset) -> plt.Figure | None:
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
