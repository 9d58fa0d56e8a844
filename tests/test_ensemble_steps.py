"""Ensembles over seeds on the test set over training steps (THEORY.md §6; measure/test_predictions.py)."""

import numpy as np
import pytest
import xarray as xr

import scaling
from scaling import cli, store, sweep
from scaling import config as config_lib
from scaling.errors import ConfigError
from scaling.log import records
from scaling.measure import ensemble
from scaling.measure.registry import schedule

WIDTHS, SEEDS, STEPS, N_TEST = [16, 64], [0, 1, 2], 50, 48
CONFIG = f'''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.model = dict(arch="mlp", depth=2, param="mup")
    c.data = dict(task="powerlaw", dim=8, batch_size=16, n_test={N_TEST}, n_probe=8)
    c.optim = dict(name="sgd", lr=0.5)
    c.train = dict(steps={STEPS}, n_logs=6, segments=1)
    c.measure = dict(ntk=False, features=False, predictions=False, test_predictions=True, test_predictions_n_logs=8)
    c.log = dict(progress=False, report=False)
    c.sweep = dict(model=dict(width={WIDTHS}), train=dict(seed={SEEDS}))
    return c
'''


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """``scaling run`` of widths 16, 64 × 3 seeds, 50 online SGD steps, test predictions on."""
    root = tmp_path_factory.mktemp("ensemble_steps")
    (root / "config.py").write_text(CONFIG)
    out = root / "out"
    assert cli.main(["run", str(root / "config.py"), "--out", str(out)]) == 0
    return out, scaling.load(out)


def brute_force(ds):
    """Per (width, step): the ensemble's squared test error, and distance, bias², variance against
    the widest ensemble mean, in numpy from the stored predictions."""
    f = ds.test_pred.transpose("width", "test_pred_step", "seed", "test").values.astype(np.float64)
    y = ds.test_target.values
    mean = f.mean(axis=2)  # (width, step, test)
    reference = mean[np.argmax(ds.width.values)]
    return {
        "loss": ((mean - y) ** 2).mean(-1),
        "distance": ((f - reference[:, None]) ** 2).mean(-1).mean(-1),
        "bias": ((mean - reference) ** 2).mean(-1),
        "variance": ((f - mean[:, :, None]) ** 2).mean(-1).mean(-1),
    }


def test_dims_targets_and_the_figure(swept, tmp_path):
    out, ds = swept
    assert ds.test_pred.dims == ("width", "seed", "test_pred_step", "test")
    assert ds.test_pred.shape == (len(WIDTHS), len(SEEDS), ds.sizes["test_pred_step"], N_TEST)
    assert ds.test_pred_step.values.tolist() == schedule(STEPS, None, 8).tolist()  # 8 log-spaced steps, 0 to 50
    assert ds.test_target.dims == ("test",) and np.isfinite(ds.test_target).all() and float(ds.test_target.std()) > 0
    assert np.isfinite(ds.test_pred).all()
    assert (ds.test_pred.isel(test_pred_step=0) == 0).all()  # centred: f = 0 at init
    assert cli.main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "ensemble_over_steps.png").stat().st_size > 10_000
    assert "ensemble_over_steps.png" in (tmp_path / "report" / "index.html").read_text()


def test_member_squared_error_is_the_stored_test_loss(swept):
    _, ds = swept
    shared = np.intersect1d(ds.step.values, ds.test_pred_step.values)
    assert len(shared) >= 3 and shared[-1] == STEPS  # 0, ..., the last step
    from_predictions = ensemble.member_loss(ds, "test").sel(test_pred_step=shared).values
    stored = ds.test_loss.sel(step=shared).transpose("width", "seed", "step").values
    assert stored[..., -1].max() < 0.5 * stored[..., 0].min()  # it trained: the check is not of constants
    np.testing.assert_allclose(from_predictions, stored, rtol=2e-5, atol=1e-7)  # float32 sums over 48 points


def test_ensemble_loss_and_distance_against_brute_force(swept):
    _, ds = swept
    expected = brute_force(ds)
    loss = ensemble.ensemble_loss(ds, "seed", "test").transpose("width", "test_pred_step")
    np.testing.assert_allclose(loss, expected["loss"], rtol=1e-5, atol=1e-9)
    split = ensemble.width_distance(ds.test_pred).transpose("width", "test_pred_step")
    for name in ("distance", "bias", "variance"):
        np.testing.assert_allclose(split[name], expected[name], rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(split.distance, split.bias + split.variance, rtol=1e-5, atol=1e-9)
    late = split.isel(test_pred_step=-1)
    assert float(late.bias.sel(width=64)) == 0 and float(late.bias.sel(width=16)) > 0 and (late.variance > 0).all()
    members = ensemble.member_loss(ds, "test").mean("seed")  # ensembling removes the variance (§6)
    np.testing.assert_allclose(members, loss + ensemble.ensemble_variance(ds.test_pred), rtol=1e-4)


def test_wandb_history_and_summary(swept):
    out, ds = swept
    resolved = store.read_sweep(out)
    group = next(g for g in sweep.groups(resolved) if g.values["model.width"] == 16)
    point = next(records.points(records.group_dataset(store.load(out, groups=[group.id]), resolved, group), resolved))
    rows = dict(records.history(point))
    expected = brute_force(ds)["loss"][0]
    got = [rows[int(step)]["test_loss/ensemble"] for step in ds.test_pred_step.values]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
    assert records.summary(point)["final_test_loss_ensemble"] == pytest.approx(expected[-1], rel=1e-5)


def test_targets_follow_the_task_seed_not_the_data_seed(tmp_path):
    """The test set depends on ``data.task_seed`` (static) only: swept, the targets lie along it;
    ``data.seed`` changes the members' batches, never the targets."""
    config = {
        "model": {"width": 8, "depth": 2},
        "data": {"dim": 4, "batch_size": 8, "n_test": 16, "n_probe": 4},
        "train": {"steps": 6, "n_logs": 3, "segments": 1},
        "measure": {"ntk": False, "features": False, "predictions": False, "test_predictions": True,
                    "test_predictions_every": [0, 1, 6]},
        "log": {"progress": False, "report": False},
        "sweep": {"data": {"task_seed": [0, 1], "seed": [0, 1]}},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "x"))
    assert ds.test_target.dims == ("task_seed", "test")
    assert not np.allclose(ds.test_target.sel(task_seed=0), ds.test_target.sel(task_seed=1))
    steps = [0, 1, 6]  # the loss's steps too: 0 and 2 log-spaced (train.n_logs = 3)
    from_predictions = ensemble.member_loss(ds, "test").transpose("task_seed", "seed", "test_pred_step")
    stored = ds.test_loss.sel(step=steps).transpose("task_seed", "seed", "step")
    np.testing.assert_allclose(from_predictions, stored, rtol=2e-5, atol=1e-7)
    assert ensemble.ensemble_loss(ds, "seed", "test").dims == ("task_seed", "test_pred_step")


def test_targets_along_an_axis_zipping_a_static_field_with_a_vmapped_one(tmp_path):
    """task_seed (static) zipped with lr (vmapped): the groups' targets differ along that axis."""
    config = {
        "model": {"width": 8, "depth": 2},
        "data": {"dim": 4, "batch_size": 8, "n_test": 16, "n_probe": 4},
        "train": {"steps": 4, "n_logs": 3, "segments": 1},
        "measure": {"ntk": False, "features": False, "predictions": False, "test_predictions": True},
        "log": {"progress": False, "report": False},
        "sweep": {"data": {"task_seed": [0, 1]}, "optim": {"lr": [0.1, 0.2]}, "zip": [["data.task_seed", "optim.lr"]]},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "x"))
    axis = ds.test_target.dims[0]
    assert ds.test_target.dims[1:] == ("test",) and list(ds[axis].values) == [0, 1]
    assert not np.allclose(ds.test_target.isel({axis: 0}), ds.test_target.isel({axis: 1}))
    assert list(ds.lr.values) == [0.1, 0.2]


@pytest.mark.parametrize("n_outputs", [None, 3])
def test_the_functions_are_the_same_on_the_test_and_probe_sets(n_outputs):
    rng = np.random.default_rng(0)
    shape, dims = (4, 5, 3, 7, *([n_outputs] if n_outputs else [])), ["width", "seed", "pred_step", "probe", "output"]
    dims = dims[: len(shape)]
    probe = xr.Dataset({"probe_pred": (dims, rng.normal(size=shape)), "probe_target": (dims[3:], rng.normal(size=shape[3:]))},
                       coords={"width": [8, 16, 32, 64]})
    test = probe.rename({"probe_pred": "test_pred", "probe_target": "test_target", "probe": "test"})
    xr.testing.assert_identical(ensemble.member_loss(probe), ensemble.member_loss(test, "test"))
    xr.testing.assert_identical(ensemble.ensemble_loss(probe), ensemble.ensemble_loss(test, points="test"))
    xr.testing.assert_identical(ensemble.seed_ensemble_loss(probe), ensemble.seed_ensemble_loss(test, "test"))
    xr.testing.assert_identical(ensemble.width_distance(probe.probe_pred), ensemble.width_distance(test.test_pred))
    y = probe.probe_target.values
    squared = (probe.probe_pred.mean("seed").values - y) ** 2
    expected = (squared.sum(-1) if n_outputs else squared).mean(-1)  # mean over points of the sum over outputs
    np.testing.assert_allclose(ensemble.ensemble_loss(test, points="test"), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="exactly one"):
        ensemble.ensemble_variance(test.test_pred.rename(test="x"))


def test_bad_schedule_is_a_config_error(tmp_path):
    config = {"measure": {"test_predictions": True, "test_predictions_n_logs": 1}, "train": {"steps": 5}}
    with pytest.raises(ConfigError, match="test_predictions_n_logs"):
        scaling.run(config, tmp_path / "bad")
    assert not (tmp_path / "bad" / "groups").exists()
    assert config_lib.defaults()["measure"]["test_predictions"] is False  # off by default
