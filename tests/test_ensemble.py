"""Ensembles over seeds and width distance: bias / variance split (THEORY.md §6)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import scaling
from scaling.measure import ensemble

WIDTHS = (256, 64, 1024, 128)  # unsorted on purpose: the reference is the largest, not the last
B, V, N_SEEDS, N_PROBE = 2.0, 3.0, 400, 50


def constructed(n_outputs=None, antithetic=False):
    """A Dataset like ``scaling.load``'s with f_N = y + (B/N) g + sqrt(V/N) z: a bias along a
    fixed g and seed noise z of unit variance.  ``antithetic`` pairs each z with -z, so the
    ensemble mean is exactly y + (B/N) g."""
    rng = np.random.default_rng(0)
    point_shape = (N_PROBE,) if n_outputs is None else (N_PROBE, n_outputs)
    point_dims = ("probe", "output")[: len(point_shape)]
    y, g = rng.normal(size=point_shape), rng.normal(size=point_shape)
    if antithetic:
        half = rng.normal(size=(len(WIDTHS), N_SEEDS // 2, *point_shape))
        z = np.concatenate([half, -half], axis=1)
    else:
        z = rng.normal(size=(len(WIDTHS), N_SEEDS, *point_shape))
    n = np.asarray(WIDTHS, float).reshape(-1, *[1] * z[0].ndim)
    f = y + B / n * g + np.sqrt(V / n) * z
    return xr.Dataset(
        {"probe_pred": (("width", "seed", *point_dims), f), "probe_target": (point_dims, y), "g": (point_dims, g)},
        coords={"width": list(WIDTHS), "seed": np.arange(N_SEEDS)},
    )


def squared_norm(g):
    """Mean over probe points of the sum over outputs of g²."""
    return float((g**2).sum(set(g.dims) & {"output"}).mean("probe"))


@pytest.mark.parametrize("n_outputs", [None, 3])
def test_distance_is_bias_plus_variance(n_outputs):
    split = ensemble.width_distance(constructed(n_outputs).probe_pred)
    assert set(split.data_vars) == {"distance", "bias", "variance"}
    assert split.distance.dims == ("width",)
    np.testing.assert_allclose(split.distance, split.bias + split.variance, rtol=1e-10, atol=0)
    assert (split.bias.drop_sel(width=1024) > 0).all()


@pytest.mark.parametrize("n_outputs", [None, 3])
def test_variance_is_the_seed_noise(n_outputs):
    ds = constructed(n_outputs)
    outputs = n_outputs or 1
    expected = outputs * V / ds.width  # per-point variance V/N, summed over outputs
    variance = ensemble.ensemble_variance(ds.probe_pred)
    np.testing.assert_allclose(variance, expected, rtol=0.05)  # 20 000+ samples per width: ~1% error
    np.testing.assert_allclose(ensemble.width_distance(ds.probe_pred).variance, variance)


@pytest.mark.parametrize("n_outputs", [None, 3])
def test_ensemble_loss_and_bias_of_an_exact_mean(n_outputs):
    ds = constructed(n_outputs, antithetic=True)
    g = squared_norm(ds.g)
    loss = ensemble.ensemble_loss(ds)
    np.testing.assert_allclose(loss, (B / ds.width) ** 2 * g, rtol=1e-10)
    bias = ensemble.width_distance(ds.probe_pred).bias
    np.testing.assert_allclose(bias, (B / ds.width - B / 1024) ** 2 * g, rtol=1e-8, atol=1e-15)
    exact_mean = (ds.probe_target + B / ds.width * ds.g).transpose("width", ...)
    xr.testing.assert_allclose(ensemble.ensemble_mean(ds.probe_pred), exact_mean, rtol=0, atol=1e-12)


def test_mean_member_loss_is_ensemble_loss_plus_variance():
    ds = constructed(3)
    members = ensemble.member_loss(ds)
    assert members.dims == ("width", "seed")
    expected = ensemble.ensemble_loss(ds) + ensemble.ensemble_variance(ds.probe_pred)
    np.testing.assert_allclose(members.mean("seed"), expected, rtol=1e-10)


def test_reference_is_the_largest_width_unless_named():
    pred = constructed().probe_pred
    split = ensemble.width_distance(pred)
    assert split.attrs["reference"] == 1024
    assert float(split.bias.sel(width=1024)) == 0
    assert float(split.distance.sel(width=1024)) == pytest.approx(float(split.variance.sel(width=1024)), rel=1e-12)
    named = ensemble.width_distance(pred, reference=128)
    assert named.attrs["reference"] == 128 and float(named.bias.sel(width=128)) == 0
    assert float(named.bias.sel(width=1024)) > 0


def test_several_seed_dimensions():
    pred = constructed().probe_pred
    index = pd.MultiIndex.from_product([range(20), range(20)], names=["train_seed", "data_seed"])
    crossed = pred.assign_coords(xr.Coordinates.from_pandas_multiindex(index, "seed")).unstack("seed")
    split = ensemble.width_distance(crossed, over=("train_seed", "data_seed"))
    xr.testing.assert_allclose(split, ensemble.width_distance(pred), rtol=1e-12)


def test_a_nan_member_propagates():
    pred = constructed().probe_pred.copy()
    pred.loc[{"width": 64, "seed": 3}] = np.nan  # a diverged member
    split = ensemble.width_distance(pred)
    for name in ("distance", "bias", "variance"):
        assert np.isnan(split[name].sel(width=64)).all() and np.isfinite(split[name].drop_sel(width=64)).all()
    pred.loc[{"width": 1024, "seed": 0}] = np.nan  # a diverged reference member: every distance is NaN
    assert np.isnan(ensemble.width_distance(pred).bias).all()


def test_on_a_real_sweep(tmp_path):
    config = {
        "model": {"width": 8, "depth": 2},
        "data": {"dim": 4, "n_test": 16, "n_probe": 8},
        "train": {"steps": 20, "n_logs": 3, "segments": 1},
        "measure": {"ntk": False, "features": False},
        "log": {"progress": False, "report": False},
        "sweep": {"model": {"width": [8, 32]}, "train": {"seed": [0, 1, 2]}},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "x"))
    split = ensemble.width_distance(ds.probe_pred)
    assert split.distance.dims == ("width", "pred_step") and split.attrs["reference"] == 32
    np.testing.assert_allclose(split.distance, split.bias + split.variance, rtol=1e-5, atol=1e-9)
    start, end = split.isel(pred_step=0), split.isel(pred_step=-1)
    assert (start.to_array() == 0).all()  # centred: every member starts at f = 0
    assert (end.variance > 0).all() and float(end.bias.sel(width=8)) > 0 and float(end.bias.sel(width=32)) == 0
    loss, members = ensemble.ensemble_loss(ds), ensemble.member_loss(ds).mean("seed")
    np.testing.assert_allclose(loss.isel(pred_step=0), (ds.probe_target**2).mean(), rtol=1e-6)
    assert (loss.isel(pred_step=-1) < members.isel(pred_step=-1)).all()
    assert (loss.isel(pred_step=-1) < loss.isel(pred_step=0)).all()


CIRCLE_WIDTHS = [16, 32, 64, 128, 256, 512, 2048]


def circle_sweep(out, task_seed=0, seeds=range(32)):
    """THEORY.md §6's experiment: a 2-layer μP ReLU MLP (with biases, §5) on the circle task,
    online SGD, γ₀ = 1, one data stream, ``seeds`` inits per width."""
    config = {
        "model": {"depth": 2, "param": "mup", "gamma": 1.0, "bias": True},
        "data": {"task": "circle", "dim": 2, "alpha": 2.0, "batch_size": 32, "n_probe": 1024, "n_test": 256,
                 "task_seed": task_seed, "seed": task_seed},
        "optim": {"lr": 0.1},
        "train": {"steps": 1000, "n_logs": 2, "segments": 1},
        "measure": {"ntk": False, "features": False, "predictions_every": 125},
        "log": {"progress": False, "report": False},
        "sweep": {"model": {"width": CIRCLE_WIDTHS}, "train": {"seed": list(seeds)}},
    }
    return scaling.load(scaling.run(config, out))


@pytest.mark.slow
def test_narrow_networks_have_variance_one_over_width_and_a_worse_ensemble(tmp_path):
    """THEORY.md §6 (Vyas et al. 2023) at CPU scale, about 60 s alone on 2 cores: widths
    64 … 512 and the reference 2048, plus 16 and 32; 1000 steps instead of 2000; E = 32
    seeds instead of 8; 1024 probe points (the circle target's error sits near its cusp at
    θ = 0, which a few points miss).  Averaged over the second half of training:
    - the seed variance falls as N^slope, fitted over N = 64 … 2048: −1.01 here, and
      −1.06 ± 0.05 (−0.96 … −1.11) over 8 other data / init seed sets; checked at −1 ± 0.15.
      Fitted over 64 … 512 alone it scatters twice as much (−0.88 … −1.18), more at E = 8;
    - the ensembles of width 16 and 32 have a higher probe loss than the width-2048 one
      (by 2–5e-3 and 0.5–2e-3).  At N ≥ 64 the gap (< 1.3e-3) is within the seed noise
      of a 32-member ensemble (it came out negative once at N = 64), so it is not checked."""
    ds = circle_sweep(tmp_path / "circle")
    late = ds.isel(pred_step=slice(ds.sizes["pred_step"] // 2, None))
    fitted = [64, 128, 256, 512, 2048]
    variance = ensemble.ensemble_variance(late.probe_pred).mean("pred_step").sel(width=fitted)
    slope = np.polyfit(np.log(fitted), np.log(variance), 1)[0]
    assert slope == pytest.approx(-1, abs=0.15)
    loss = ensemble.ensemble_loss(late).mean("pred_step")
    assert (loss.sel(width=[16, 32]) > loss.sel(width=2048)).all()
