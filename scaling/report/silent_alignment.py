"""The key figure of silent alignment (THEORY.md §8; ``scaling.claims.silent_alignment``): loss and
NTK-target alignment against gradient-flow time, a line per initial scale σ."""

from __future__ import annotations

import matplotlib
import xarray as xr
from matplotlib import colors
from matplotlib.figure import Figure

from scaling.analysis import mean_over_seeds
from scaling.report.losses import gradient_flow_time, held
from scaling.theory import alignment


def timescales(ds: xr.Dataset) -> Figure | None:
    """Left: L/L₀ against t = 2ηn/γ² (the theory's dashed), with each σ's loss-halving time t₂;
    right: the NTK alignment, with each σ's alignment time t₁ (95 % of its rise).  None without
    an ``init_scale`` axis or the NTK."""
    if "ntk_alignment" not in ds or "init_scale" not in ds.dims:
        return None
    keep = ("init_scale", "step", "ntk_step")
    loss, note = held(mean_over_seeds(ds.test_loss), keep)
    aligned, _ = held(mean_over_seeds(ds.ntk_alignment), keep)
    times, _ = held(gradient_flow_time(ds), keep)
    kernel_times, _ = held(gradient_flow_time(ds, "ntk_step"), keep)
    theory = held(mean_over_seeds(ds.theory_loss), keep)[0] if "theory_loss" in ds else None
    sigmas = ds.init_scale.values
    mappable = matplotlib.cm.ScalarMappable(norm=colors.LogNorm(sigmas.min(), sigmas.max()), cmap="viridis")
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2, sharex=True)
    fig.suptitle("silent alignment: the kernel aligns at t₁ before the loss drops at t₂" + note)
    for sigma in sigmas:
        colour = mappable.to_rgba(sigma)
        t, curve = times.sel(init_scale=sigma).values, loss.sel(init_scale=sigma).values
        t_kernel, kernel = kernel_times.sel(init_scale=sigma).values, aligned.sel(init_scale=sigma).values
        t1, t2, _ = alignment.measured_timescales(t, curve, t_kernel, kernel)
        left.plot(t, curve / curve[0], color=colour)
        if theory is not None:
            predicted = theory.sel(init_scale=sigma).values
            left.plot(t, predicted / predicted[0], "--", color=colour, lw=1)
        left.axvline(t2, color=colour, ls=":", lw=1)
        right.plot(t_kernel, kernel, color=colour)
        right.axvline(t1, color=colour, ls=":", lw=1)
    if theory is not None:
        left.plot([], [], "k--", lw=1, label="theory (Saxe)")
    left.plot([], [], "k:", lw=1, label="t₂: the loss has halved")
    right.plot([], [], "k:", lw=1, label="t₁: 95 % of the alignment's rise")
    left.set(xlabel="t = 2ηn/γ²", ylabel="test loss / L₀")
    right.set(xlabel="t = 2ηn/γ²", ylabel="alignment  yᵀKy / (‖K‖_F ‖y‖²)")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.colorbar(mappable, ax=[left, right], label="initial scale σ (model.init_scale)")
    return fig
