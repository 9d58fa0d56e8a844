"""Learning-rate transfer (``report.losses.lr_transfer``, ``configs/transfer_depth.py``): the figure recovers
the slopes of η* against width and depth from final losses of known optimum, and the config resolves."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from scaling import checks
from scaling.report import losses

CONFIG = Path(__file__).parents[1] / "configs" / "transfer_depth.py"
WIDTHS, DEPTHS = np.array([32, 64, 128, 256]), np.array([1, 2, 4, 8])
SLOPES = {"mup": (0.0, 0.0), "sp": (-1.0, -0.5)}  # η* ∝ N^a L^b


def transfer_sweep() -> xr.Dataset:
    """Test losses over (param, depth, width, lr, seed, step) whose final step is minimal over lr at
    η* = 0.01 (N/32)^a L^b: log loss is a parabola in log lr (the log-quadratic vertex is exact), times
    a seed's small noise."""
    lrs = np.logspace(-5, 0, 21)
    optimum = np.stack([0.01 * (WIDTHS[None, :] / 32) ** a * DEPTHS[:, None] ** b for a, b in SLOPES.values()])
    log_gap = np.log(lrs)[None, None, None, :] - np.log(optimum)[..., None]
    noise = np.random.default_rng(0).normal(0, 0.01, (*log_gap.shape, 3))
    final = np.exp(0.3 * log_gap[..., None] ** 2 + noise)
    values = np.stack([2 * final, final], axis=-1)  # steps 0 and 10
    dims = ("param", "depth", "width", "lr", "seed", "step")
    coords = {"param": list(SLOPES), "residual_alpha": ("param", [0.5, 0.0]), "depth": DEPTHS, "width": WIDTHS,
              "lr": lrs, "seed": [0, 1, 2], "step": [0, 10]}
    return xr.Dataset({"test_loss": (dims, values)}, coords=coords)


def fitted_slopes(ax) -> list[float]:
    """The slopes in log-log of a panel's dotted lines (the fitted power laws), one per line drawn."""
    return [np.polyfit(np.log(line.get_xdata()), np.log(line.get_ydata()), 1)[0]
            for line in ax.lines if line.get_linestyle() == ":"]


def drift(label: str) -> float:
    """The drift a legend label states: "..., drift 0.90 decades"."""
    return float(label.split("drift ")[1].split(" decades")[0])


def test_lr_transfer_recovers_the_slopes_and_drift_of_eta_star():
    fig = losses.lr_transfer(transfer_sweep())
    width, depth = fig.axes[:2]
    assert (width.get_xlabel(), depth.get_xlabel()) == ("width N", "depth L")
    assert (width.get_title(), depth.get_title()) == ("η* against width, at depth 8", "η* against depth, at width 256")
    np.testing.assert_allclose(fitted_slopes(width), [SLOPES["mup"][0], SLOPES["sp"][0]], atol=0.03)
    np.testing.assert_allclose(fitted_slopes(depth), [SLOPES["mup"][1], SLOPES["sp"][1]], atol=0.03)
    mup, sp = width.get_legend_handles_labels()[1]
    assert mup.startswith("param=mup, residual_alpha=0.5: η* ∝ N^") and sp.startswith("param=sp, residual_alpha=0: η* ∝ N^")
    np.testing.assert_allclose([drift(mup), drift(sp)], [0, np.log10(256 / 32)], atol=0.02)
    np.testing.assert_allclose([drift(label) for label in depth.get_legend_handles_labels()[1]], [0, 0.5 * np.log10(8)],
                               atol=0.02)


def test_lr_transfer_marks_an_optimum_at_the_grid_edge_and_needs_its_axes():
    sweep = transfer_sweep()
    edge = losses.lr_transfer(sweep.sel(lr=sweep.lr[sweep.lr <= 0.01]))  # μP's η* = 0.01 is the grid's last lr
    hollow = [line for line in edge.axes[0].lines if line.get_markerfacecolor() == "white"]
    assert len(hollow[0].get_xdata()) == len(WIDTHS) and len(hollow[1].get_xdata()) == 0  # μP's, not SP's
    one_each = losses.lr_transfer(sweep.isel(depth=[0]))
    assert len(one_each.axes) == 1 and one_each.axes[0].get_xlabel() == "width N"
    assert losses.lr_transfer(sweep.isel(width=[0], depth=[0])) is None
    assert losses.lr_transfer(sweep.isel(width=0, depth=0)) is None
    assert losses.lr_transfer(sweep.isel(lr=0)) is None


@pytest.mark.parametrize("size", ["small", "cpu", "full"])
def test_transfer_config_resolves_and_zips_the_parameterizations(size):
    resolved = checks.resolve(f"{CONFIG}:{size}", {})
    axes = dict(resolved.axes)
    assert axes[("model.param", "model.residual_alpha")] == [("mup", 0.5), ("sp", 0.0)]
    assert len(axes[("optim.lr",)]) >= 7 and len(axes[("train.seed",)]) >= 2
    assert min(len(axes[("model.width",)]), len(axes[("model.depth",)])) >= 2
