"""Loss figures of a sweep, from ``scaling.load(dir)`` (partial sweeps included).

Losses are test losses averaged over seeds; a point whose every seed diverged is missing.
"The best lr" of a curve is the one of lowest final loss.  A figure shows γ, width and lr
(``SHOWN``); the report draws it once per value of every other swept axis (``report.index``);
called on a dataset with such axes, it holds them at their first value, named in the title.
Fitted power laws state their window and 95 % interval (``theory.fit``).
"""

from __future__ import annotations

import itertools
import math
from typing import Callable

import matplotlib
import numpy as np
import xarray as xr
from matplotlib import colors, ticker
from matplotlib.figure import Figure

from scaling import models, optim
from scaling.analysis import (best_lr, compute_envelope, config_values, divergence_edge, final_test_loss, lr_optimum,
                              mean_over_seeds, seed_dims, shown_values, value_label)
from scaling.theory.fit import fit_power_law
from scaling.theory.learning_rate import gamma_lr_exponents

SHOWN = ("gamma", "width", "lr")
FIT_DECADES = 1.5  # loss curves: the power law in time is fitted over the last 1.5 decades of steps (THEORY.md §5)


def held(da: xr.DataArray, keep: tuple[str, ...]) -> tuple[xr.DataArray, str]:
    """``da`` at the first value of every swept dimension not in ``keep``, and a note saying which."""
    extra = [d for d in da.dims if d not in keep and d in da.coords]  # a swept axis of one value is dropped too
    note = ", ".join(f"{d}={da[d].values[0]}" for d in extra if da.sizes[d] > 1)
    return da.isel({d: 0 for d in extra}), (f" ({note})" if note else "")


def axis_values(ds: xr.Dataset, dim: str) -> list:
    return list(ds[dim].values) if dim in ds.dims else [None]


def widest(ds: xr.Dataset) -> tuple[int | None, int]:
    """The largest width to select (None without a width axis) and the width it is, for titles."""
    if "width" in ds.dims:
        return ds.width.values[-1], ds.width.values[-1]
    return None, ds.width.item() if "width" in ds.coords else config_values(ds)["model.width"]


def sel_present(da: xr.DataArray, **where) -> xr.DataArray:
    """``da.sel(where)`` over the given (not None) coordinates ``da`` has."""
    return da.sel({k: v for k, v in where.items() if v is not None and k in da.dims})


def at_best_lr(da: xr.DataArray, final: xr.DataArray, gamma, width) -> xr.DataArray:
    """``da`` at (γ, width) and that point's best lr, the one of lowest mean final loss in ``final``."""
    return sel_present(da, gamma=gamma, width=width, lr=best_lr(sel_present(final, gamma=gamma, width=width)))


MIN_R_SQUARED = 0.95  # a fitted power law is drawn only where it describes the points


def draw_power_law(ax, x, y, window: tuple[float, float], variable: str, colour="black") -> None:
    """The power law fitted to (x, y) over ``window`` (``theory.fit``), dotted over the window and
    labelled "∝ x^a [low, high], x ∈ [w0, w1]" with its 95 % interval; nothing with fewer than
    three points there, or where a straight line in log-log does not describe them (R² < 0.95:
    a plateau, an exponential drop)."""
    try:
        fit = fit_power_law(x, y, window)
    except ValueError:
        return
    if fit.r_squared < MIN_R_SQUARED:
        return
    x = np.asarray(x, float)
    inside = x[(x >= window[0]) & (x <= window[1])]
    ax.plot(inside, fit.prefactor * inside**fit.exponent, ":", color=colour, lw=1.5,
            label=f"∝ {variable}^{fit.exponent:.2f} [{fit.interval[0]:.2f}, {fit.interval[1]:.2f}], "
                  f"{variable} ∈ [{window[0]:.3g}, {window[1]:.3g}]")


def last_decades(x, decades: float = FIT_DECADES) -> tuple[float, float]:
    """The window of the last ``decades`` decades of positive x."""
    end = float(np.nanmax(x))
    return end / 10**decades, end


def width_colours(widths):
    norm = colors.LogNorm(min(widths), max(widths)) if len(widths) > 1 else colors.LogNorm(widths[0] / 2, widths[0] * 2)
    return matplotlib.cm.ScalarMappable(norm=norm, cmap="viridis")


def gamma_label(gamma) -> str:
    return "" if gamma is None else f"γ = {gamma:g}"


def gamma_panels(ds: xr.Dataset, title: str):
    """A row of panels, one per γ (one panel without a γ axis): the figure, (axis, γ) pairs and the axes."""
    gammas = axis_values(ds, "gamma")
    fig = Figure(figsize=(4 * len(gammas) + 1, 3.6))
    axes = fig.subplots(1, len(gammas), sharey=True, squeeze=False)
    fig.suptitle(title)
    return fig, list(zip(axes[0], gammas)), axes[0]


def lines_by_width(ds: xr.Dataset, title: str, xlabel: str, ylabel: str, line, xscale: str = "log",
                   yscale: str = "log", theory=None, fit: tuple[str, Callable] | None = None, **style) -> Figure:
    """A panel per γ, a line per width coloured by width (with its colour bar):
    ``line(gamma, width) -> (x, y)``; ``theory(gamma, width) -> (x, y)``, when given, dashed
    in the same colour; ``fit = (variable, window(x))``: the widest line's power law fitted over
    ``window(x)`` (``draw_power_law``)."""
    widths = axis_values(ds, "width")
    fig, panels, axes = gamma_panels(ds, title)
    mappable = width_colours([w or 1 for w in widths])
    for ax, gamma in panels:
        for width in widths:
            colour = "C0" if width is None else mappable.to_rgba(width)
            named = theory is not None and width == widths[0]
            ax.plot(*line(gamma, width), color=colour, label="simulation" if named else None, **style)
            if theory is not None:
                ax.plot(*theory(gamma, width), "--", color=colour, lw=1.2,
                        label=f"theory ({config_values(ds)['theory.name']})" if width == widths[0] else None)
        if fit is not None:
            x, y = line(gamma, widths[-1])
            draw_power_law(ax, x, y, fit[1](x), fit[0])
        ax.set(xscale=xscale, yscale=yscale, xlabel=xlabel, title=gamma_label(gamma))
        low, high = ax.get_xlim()
        if xscale == "log" and high / low > 10:  # minor labels collide on log axes over a decade; below, they are all
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        if fit is not None and ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize=7)
    if theory is not None and fit is None:
        axes[0].legend(fontsize=8)
    axes[0].set_ylabel(ylabel)
    if widths != [None]:
        fig.colorbar(mappable, ax=axes.tolist(), label="width N")
    return fig


def loss_curves(ds: xr.Dataset) -> Figure:
    """Test loss against step, a line per width (coloured by width) at its best lr, a panel per γ."""
    curves, note = held(mean_over_seeds(ds.test_loss), SHOWN + ("step",))
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)

    def after_step_0(da: xr.DataArray, gamma, width):
        curve = at_best_lr(da, final, gamma, width)
        return curve.step.values[1:], curve.values[1:]

    theory = None
    if "theory_loss" in ds:
        predicted, _ = held(mean_over_seeds(ds.theory_loss), SHOWN + ("step",))
        theory = lambda gamma, width: after_step_0(predicted, gamma, width)  # noqa: E731
    return lines_by_width(ds, "test loss at each width's best lr" + note, "step", "test loss",
                          lambda gamma, width: after_step_0(curves, gamma, width), theory=theory, fit=("step", last_decades))


def gradient_flow_time(ds: xr.Dataset, steps: str = "step") -> xr.DataArray:
    """t = 2 η n / γ² of every member at every step n of the coordinate ``steps``: the papers' time
    of the framework's step on the mse (no ½) of f/γ (THEORY.md §2 "Convention", §4), from each
    member's effective lr; under an lr schedule η n is the sum of the step's lrs before n."""
    values = config_values(ds)
    gamma = ds.gamma if "gamma" in ds.dims else values["model.gamma"]
    lr = ds.lr_effective.isel({d: 0 for d in seed_dims(ds.lr_effective)})
    return 2 * lr * ds[steps].copy(data=optim.peak_fraction_sum(values, ds[steps].values)) / gamma**2


def loss_vs_time(ds: xr.Dataset) -> Figure | None:
    """Test loss against gradient-flow time t = 2ηn/γ² at the largest width, a line per lr (coloured
    by lr), a panel per γ: where the step is small, the curves of different learning rates fall on
    one (gradient flow); where they part, the step size matters (catapults, edge of stability).
    None without an lr axis."""
    if "lr" not in ds.dims or ds.sizes["lr"] < 2:
        return None
    curves, note = held(mean_over_seeds(ds.test_loss), SHOWN + ("step",))
    times, _ = held(gradient_flow_time(ds), SHOWN + ("step",))
    predicted = held(mean_over_seeds(ds.theory_loss), SHOWN + ("step",))[0] if "theory_loss" in ds else None
    width, shown = widest(ds)
    lrs = ds.lr.values
    mappable = matplotlib.cm.ScalarMappable(norm=colors.LogNorm(lrs.min(), lrs.max()), cmap="plasma")
    fig, panels, axes = gamma_panels(ds, f"test loss against gradient-flow time, width {shown}" + note)
    for ax, gamma in panels:
        for lr in lrs:
            at = dict(gamma=gamma, width=width, lr=lr)
            t, loss = sel_present(times, **at).values[1:], sel_present(curves, **at).values[1:]
            ax.plot(t, loss, color=mappable.to_rgba(lr))
            if predicted is not None:
                ax.plot(t, sel_present(predicted, **at).values[1:], "--", color=mappable.to_rgba(lr), lw=1.2,
                        label=f"theory ({config_values(ds)['theory.name']})" if lr == lrs[0] else None)
        ax.set(xscale="log", yscale="log", xlabel="t = 2ηn/γ²", title=gamma_label(gamma))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("test loss")
    if predicted is not None:
        axes[0].legend(fontsize=8)
    fig.colorbar(mappable, ax=axes.tolist(), label="learning rate η (raw)")
    return fig


def compute_frontier(ds: xr.Dataset) -> Figure | None:
    """Test loss against compute C = N·n (width × steps), a line per width at its best lr, a panel
    per γ; the compute-optimal envelope min_N L (``analysis.compute_envelope``) in black, with
    L* ∝ C^a fitted over its last two decades (THEORY.md §2, §5).  None without a width axis."""
    if "width" not in ds.dims or ds.sizes["width"] < 2:
        return None
    curves, note = held(mean_over_seeds(ds.test_loss), SHOWN + ("step",))
    final, _ = held(mean_over_seeds(final_test_loss(ds)), SHOWN)

    def line(gamma, width):
        curve = at_best_lr(curves, final, gamma, width)
        return width * curve.step.values[1:], curve.values[1:]

    fig = lines_by_width(ds, "compute: test loss against C = N·steps at each width's best lr" + note,
                         "compute C = N · steps", "test loss", line)
    for ax, gamma in zip(fig.axes, axis_values(ds, "gamma")):
        try:
            envelope = compute_envelope({width: line(gamma, width) for width in ds.width.values})
        except ValueError:  # fewer than two curves with two points
            continue
        ax.plot(envelope.compute, envelope.loss, color="black", lw=2.5, alpha=0.5, label="envelope min_N L")
        draw_power_law(ax, envelope.compute, envelope.loss, last_decades(envelope.compute, 2.0), "C", colour="red")
        ax.legend(fontsize=7)
    return fig


def learning_curves(ds: xr.Dataset) -> Figure | None:
    """Final test loss against the training-set size P (``data.n_train``), a line per width at each
    point's best lr, a panel per γ (the theory's dashed, when the config names one).  None without
    a swept P."""
    if "n_train" not in ds.dims or ds.sizes["n_train"] < 2:
        return None
    final, note = held(mean_over_seeds(final_test_loss(ds)), SHOWN + ("n_train",))

    def against_p(da: xr.DataArray, gamma, width):
        at, points = sel_present(final, gamma=gamma, width=width), []
        for p in at.n_train.values:
            lr = best_lr(at.sel(n_train=p))
            converged = lr is not None or "lr" not in at.dims
            points.append(float(sel_present(da, gamma=gamma, width=width, lr=lr).sel(n_train=p)) if converged else np.nan)
        return at.n_train.values, np.array(points)

    theory = None
    if "theory_loss" in ds:
        predicted = held(mean_over_seeds(final_test_loss(ds, "theory_loss")), SHOWN + ("n_train",))[0]
        theory = lambda gamma, width: against_p(predicted, gamma, width)  # noqa: E731
    return lines_by_width(ds, "learning curves: final test loss against P at each point's best lr" + note,
                          "training points P", "final test loss", lambda gamma, width: against_p(final, gamma, width),
                          theory=theory, fit=("P", lambda p: (float(np.nanmin(p)), float(np.nanmax(p)))), marker="o",
                          markersize=3)


def interval_bars(eta: np.ndarray, optima: list) -> np.ndarray:
    """Error bars (2, n) from each η* to the ends of its ``analysis.lr_optimum`` interval (0 where
    there is none)."""
    low, high = (np.array([o.interval[i] if o is not None else np.nan for o in optima]) for i in (0, 1))
    return np.nan_to_num(np.abs(np.stack([eta - low, high - eta])), nan=0.0)


def gamma_lr_map(ds: xr.Dataset) -> Figure | None:
    """Final test loss over (γ, lr) at the largest width, with η*(γ) marked: the grid's best lr,
    and its log-quadratic fit with a 90 % bootstrap interval over seeds (``analysis.lr_optimum``);
    the divergence edge η_max(γ); the power laws η* ∝ γ^a fitted below and above γ = 1 with their
    95 % intervals (``theory.fit``), and the lines γ² and γ^(2/L) for reference (γ and γ^(1/L) for
    Adam; THEORY.md §4).  None without both axes."""
    if not all(d in ds.dims and ds.sizes[d] > 1 for d in ("gamma", "lr")):
        return None
    final, note = held(mean_over_seeds(final_test_loss(ds)), SHOWN)
    per_seed, _ = held(final_test_loss(ds), SHOWN + tuple(seed_dims(ds)))
    diverged, _ = held(ds.diverged, SHOWN + tuple(seed_dims(ds)))
    width, shown = widest(ds)
    grid = sel_present(final, width=width).transpose("gamma", "lr")
    gammas, lrs = grid.gamma.values, grid.lr.values
    fig = Figure(figsize=(6, 4.6))
    ax = fig.subplots()
    mesh = ax.pcolormesh(_edges(lrs), _edges(gammas), grid.values, norm=colors.LogNorm(), cmap="magma_r", shading="flat")
    fig.colorbar(mesh, ax=ax, label="final test loss")
    best = np.array([best_lr(grid.sel(gamma=g)) or np.nan for g in gammas], float)
    ax.plot(best, gammas, "o", color="white", markeredgecolor="black", label="η*(γ), the grid's best")
    optima = [lr_optimum(sel_present(per_seed, width=width, gamma=g)) for g in gammas]
    fitted = np.array([o.lr if o is not None and o.fitted else np.nan for o in optima])
    if np.isfinite(fitted).any():
        ax.errorbar(fitted, gammas, xerr=interval_bars(fitted, optima), fmt="D", color="black", markerfacecolor="cyan", markersize=4, capsize=2,
                    label="η*(γ), log-quadratic fit (90 % bootstrap)")
    edge = np.array([divergence_edge(sel_present(diverged, width=width, gamma=g)) for g in gammas])
    if np.isfinite(edge).any():
        ax.plot(edge, gammas, "x--", color="red", label="η_max(γ), divergence edge")
    values = shown_values(ds, final)
    small, large = gamma_lr_exponents(models.n_layers(values), values["optim.name"])
    eta = np.where(np.isfinite(fitted), fitted, best)
    anchor = gammas[np.argmin(np.abs(np.log(gammas)))]
    anchor_lr = eta[list(gammas).index(anchor)]
    dense = np.geomspace(gammas[0], gammas[-1], 50)
    if np.isfinite(anchor_lr):
        for exponent, side, style in ((small, dense <= 1, "--"), (large, dense >= 1, ":")):
            ax.plot(anchor_lr * (dense[side] / anchor) ** exponent, dense[side], style, color="cyan",
                    label=f"γ^{exponent:.3g}")
    for window, name in (((gammas[0], 1.0), "γ ≤ 1"), ((1.0, gammas[-1]), "γ ≥ 1")):
        try:
            fit = fit_power_law(gammas, eta, window)
        except ValueError:  # fewer than 3 points there
            continue
        ax.plot([], [], " ", label=f"fit {name}: η* ∝ γ^{fit.exponent:.2f} [{fit.interval[0]:.2f}, {fit.interval[1]:.2f}]")
    rule = " (the lr rule rescales it by γ)" if values.get("optim.lr_rule") == "gamma" else ""
    ax.set(xscale="log", yscale="log", xlabel="learning rate η (raw)" + rule, ylabel="γ",
           title=f"final test loss, width {shown}" + note)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return fig


def loss_vs_lr(ds: xr.Dataset) -> Figure | None:
    """Final test loss against lr, a line per width, a panel per γ: under μP the best lr stays
    put as width grows, under SP it drifts (μTransfer).  None without an lr axis."""
    if "lr" not in ds.dims or ds.sizes["lr"] < 2:
        return None
    final, note = held(mean_over_seeds(final_test_loss(ds)), SHOWN)

    def against_lr(da: xr.DataArray, gamma, width):
        losses = sel_present(da, gamma=gamma, width=width)
        return losses.lr.values, losses.values

    theory = None
    if "theory_loss" in ds:
        predicted = held(mean_over_seeds(final_test_loss(ds, "theory_loss")), SHOWN)[0]
        theory = lambda gamma, width: against_lr(predicted, gamma, width)  # noqa: E731
    param = config_values(ds).get("model.param", "")
    return lines_by_width(ds, f"final test loss against learning rate ({param})" + note, "learning rate η (raw)",
                          "final test loss", lambda gamma, width: against_lr(final, gamma, width), theory=theory,
                          marker="o", markersize=3)


def loss_vs_width(ds: xr.Dataset) -> Figure | None:
    """Final test loss against width, a line per γ at the lr that is best at the largest width, with
    the power law L ∝ N^a fitted over the widths shown and its 95 % interval (three widths or more).
    None without a width axis."""
    if "width" not in ds.dims or ds.sizes["width"] < 2:
        return None
    final, note = held(mean_over_seeds(final_test_loss(ds)), SHOWN)
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    gammas = axis_values(ds, "gamma")
    palette = matplotlib.colormaps["plasma"](np.linspace(0, 0.9, len(gammas)))
    for colour, gamma in zip(palette, gammas):
        at_gamma = sel_present(final, gamma=gamma)
        lr = best_lr(at_gamma.isel(width=-1))
        losses = sel_present(at_gamma, lr=lr)
        label = ", ".join(s for s in (gamma_label(gamma), f"η = {lr:g}" if lr is not None else "") if s)
        if np.isfinite(losses.values).sum() >= 3:  # the power law over every width shown, 95 % interval
            fit = fit_power_law(losses.width.values, losses.values)
            label += f"{', ' if label else ''}∝ N^{fit.exponent:.2f} [{fit.interval[0]:.2f}, {fit.interval[1]:.2f}]"
        ax.plot(losses.width, losses, "o-", color=colour, label=label or None)
        if "theory_loss" in ds:
            predicted = sel_present(held(mean_over_seeds(final_test_loss(ds, "theory_loss")), SHOWN)[0], gamma=gamma, lr=lr)
            ax.plot(predicted.width, predicted, "--", color=colour, label=f"theory ({config_values(ds)['theory.name']})")
    ax.set(xscale="log", yscale="log", xlabel="width N", ylabel="final test loss", title="loss against width" + note)
    ax.set_xscale("log", base=2)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=7)
    return fig


TRANSFER_LINES = ("param", "gamma")  # a line per value of each: μP against SP (and per γ) in one figure
TRANSFER_SHOWN = ("width", "depth", "lr", *TRANSFER_LINES)


def _line_label(point: xr.DataArray, lines: list[str], along: xr.DataArray) -> str:
    """A line's values of the ``lines`` axes and of the fields zipped with them ("param=mup, residual_alpha=0.5")."""
    names = [c for d in lines for c in along.coords if along[c].dims == (d,)]
    return ", ".join(f"{c}={value_label(point[c].values.item())}" for c in names)


def lr_transfer(ds: xr.Dataset) -> Figure | None:
    """η* against width and against depth (a panel per axis swept with two values or more; the other
    held at its largest), a line per value of ``model.param`` (μP against SP) and of γ: each η* the
    log-quadratic vertex of the final test loss over lr with its 90 % bootstrap interval over seeds
    (``analysis.lr_optimum``; hollow: the grid's best, where no vertex is possible), the power law
    η* ∝ N^a (L^a) fitted over the points with its 95 % interval (``theory.fit``) and the drift,
    log10(max η* / min η*) in decades (μTransfer, Yang et al. 2021; depth-μP, Bordelon et al. 2024).
    None without an lr axis or with neither width nor depth swept."""
    panels = [d for d in ("width", "depth") if d in ds.dims and ds.sizes[d] > 1]
    if "lr" not in ds.dims or ds.sizes["lr"] < 2 or not panels:
        return None
    per_seed, note = held(final_test_loss(ds), TRANSFER_SHOWN + tuple(seed_dims(ds)))
    lines = [d for d in TRANSFER_LINES if d in per_seed.dims]
    combos = list(itertools.product(*(per_seed[d].values.tolist() for d in lines)))
    palette = [f"C{i}" for i in range(len(combos))]
    fig = Figure(figsize=(6 * len(panels), 5.2))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    fig.suptitle("learning-rate transfer: η*, the log-quadratic vertex over lr (90 % bootstrap over seeds)" + note)
    for ax, dim in zip(axes, panels):
        other = {"width": "depth", "depth": "width"}[dim]
        at = per_seed.isel({other: -1}) if other in per_seed.dims else per_seed
        variable = {"width": "N", "depth": "L"}[dim]
        for colour, combo in zip(palette, combos):
            point = at.sel(dict(zip(lines, combo)))
            x = point[dim].values.astype(float)
            optima = [lr_optimum(point.sel({dim: v})) for v in point[dim].values]
            eta = np.array([o.lr if o is not None else np.nan for o in optima])
            label = _line_label(point, lines, per_seed) or "η*"
            try:
                fit = fit_power_law(x, eta)
                ax.plot(x, fit.prefactor * x**fit.exponent, ":", color=colour, lw=1.5)
                label += f": η* ∝ {variable}^{fit.exponent:.2f} [{fit.interval[0]:.2f}, {fit.interval[1]:.2f}]"
            except ValueError:  # fewer than 3 points
                pass
            finite = eta[np.isfinite(eta)]
            if len(finite) > 1:
                label += f", drift {np.log10(finite.max() / finite.min()):.2f} decades"
            ax.errorbar(x, eta, yerr=interval_bars(eta, optima), fmt="o-", color=colour, capsize=2, markersize=5, label=label)
            grid = np.array([o is not None and not o.fitted for o in optima])
            ax.plot(x[grid], eta[grid], "o", color=colour, markerfacecolor="white", markersize=5)
        held_at = f", at {other} {at[other].values.item()}" if other in at.coords else ""
        ax.set(xscale="log", yscale="log", xlabel=f"{dim} {variable}", title=f"η* against {dim}{held_at}")
        ax.set_xticks(per_seed[dim].values, [str(v) for v in per_seed[dim].values])
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    axes[0].set_ylabel("η* (raw lr); hollow: the grid's best")
    return fig


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis around increasing positive centres."""
    logs = np.log(centres)
    step = np.diff(logs) if len(logs) > 1 else np.array([math.log(2)])
    inner = logs[:-1] + step / 2
    return np.exp(np.concatenate([[logs[0] - step[0] / 2], inner, [logs[-1] + step[-1] / 2]]))
