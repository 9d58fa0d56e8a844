"""Infinite-width NNGP / NTK against wide networks' empirical kernels, kernel regression against brute
force, and the kernel baselines of a sweep against the networks they stand beside (THEORY.md §7, §8)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import values

import scaling
from scaling import checks, cli, data, models
from scaling.errors import ConfigError
from scaling.measure import ntk as ntk_lib
from scaling.parameterization import Parameterization
from scaling.theory import kernels


def _relative(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def _empirical(x, depth, activation, width, param, bias, init_scale, gamma, seeds):
    """measure.ntk's plain kernel of (f - f0)/gamma, and the NNGP of f/gamma given the last features
    (E over the readout weights of f f' = (m s sigma)^2 phi . phi'), averaged over initial seeds."""
    rules = Parameterization(param, "sgd")
    fields = {"model.width": width, "model.depth": depth, "model.activation": activation, "model.bias": bias}
    model = models.REGISTRY["mlp"].build(fields, 1, rules, jnp.float32)
    readout = rules.layer("readout", width if depth > 1 else x.shape[1], 1)
    ntks, nngps = [], []
    for seed in range(seeds):
        params = jax.tree.map(lambda p: p * init_scale, model.init(jax.random.key(seed), x[:1])["params"])
        leaves = ntk_lib.leaf_kernels(model, {"params": params}, x)
        ntks.append(ntk_lib.kernels(leaves, dict.fromkeys(leaves, 1.0), gamma)["ntk"])
        nngps.append(leaves["readout/w"] * (readout.std * init_scale / gamma) ** 2)
    return np.mean(ntks, 0), np.mean(nngps, 0)


@pytest.mark.parametrize("activation,depth,param,bias,init_scale,width", [
    ("relu", 2, "ntk", True, 1.0, 16384),
    ("linear", 2, "sp", False, 1.0, 16384),
    ("relu", 2, "mup", False, 1.3, 16384),
    ("relu", 3, "ntk", True, 1.0, 2048),
    ("relu", 3, "sp", False, 0.8, 2048),
    ("linear", 3, "mup", True, 1.0, 2048),
])
def test_closed_form_kernels_match_a_wide_networks_empirical_kernels(activation, depth, param, bias, init_scale, width):
    """Relative Frobenius error < 5 %: the Monte-Carlo error ~ 1/sqrt(width x seeds) (~1.7 % at width 2048 and
    16 seeds; 5.1 % for one case at 4 seeds, hence 8)."""
    x = jax.random.normal(jax.random.key(0), (8, 8))
    ntk, nngp = _empirical(x, depth, activation, width, param, bias, init_scale, 0.5, seeds=8)
    limit = kernels.mlp_kernels(x, x, depth, activation, width=width, param=param, bias=bias, init_scale=init_scale,
                                gamma=0.5)
    assert _relative(ntk, limit["ntk"]) < 0.05
    assert _relative(nngp, limit["nngp"]) < 0.05


@pytest.mark.parametrize("param", ["sp", "ntk", "mup"])
def test_a_linear_readouts_kernels_are_exact_at_any_width(param):
    """depth 1: f = m w . x, whose eNTK m^2 x.x' and NNGP (m sigma)^2 x.x' hold for one draw."""
    x = jax.random.normal(jax.random.key(1), (6, 5))
    ntk, nngp = _empirical(x, 1, "linear", 3, param, False, 1.0, 1.0, seeds=1)
    limit = kernels.mlp_kernels(x, x, 1, "linear", width=3, param=param)
    np.testing.assert_allclose(limit["ntk"], ntk, rtol=1e-5)
    np.testing.assert_allclose(limit["nngp"], nngp, rtol=1e-5)


def test_kernels_between_two_sets_are_blocks_of_the_joint_kernel():
    x = jax.random.normal(jax.random.key(2), (7, 4))
    joint = kernels.mlp_kernels(x, x, 3, "relu", width=64, bias=True)
    cross = kernels.mlp_kernels(x[:3], x[3:], 3, "relu", width=64, bias=True)
    for name in ("ntk", "nngp"):
        np.testing.assert_allclose(cross[name], joint[name][:3, 3:], rtol=1e-6)
        np.testing.assert_allclose(joint[name], joint[name].T, rtol=1e-6)


def test_kernel_regression_equals_brute_force_solves():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        x, x_test, y = rng.normal(size=(12, 20)), rng.normal(size=(5, 20)), rng.normal(size=(12, 2))
        k, k_test = x @ x.T, x_test @ x.T
        np.testing.assert_allclose(kernels.kernel_regression(k, k_test, y), k_test @ np.linalg.solve(k, y), rtol=1e-9)
        np.testing.assert_allclose(kernels.kernel_regression(k, k_test, y[:, 0], ridge=3.0),
                                   k_test @ np.linalg.solve(k + 3.0 * np.eye(12), y[:, 0]), rtol=1e-9)
        low = x[:, :4] @ x[:, :4].T  # rank 4 < 12: the minimum-norm least-squares fit
        weights = np.linalg.lstsq(x[:, :4], y, rcond=None)[0]
        np.testing.assert_allclose(kernels.kernel_regression(low, x_test[:, :4] @ x[:, :4].T, y),
                                   x_test[:, :4] @ weights, rtol=1e-8)


SWEEP = '''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.model = dict(arch="mlp", width=1024, param="ntk", activation="relu")
    c.data = dict(task="gegenbauer", dim=8, degree=2, n_train=16, batch_size=None, n_test=64, n_probe=8)
    c.optim = dict(name="sgd", lr=10.0, lr_rule="gamma")
    c.train = dict(steps=1500, n_logs=4, segments=1, dtype="float64")
    c.measure = dict(ntk=False, features=False, predictions=False, kernel_baselines=True, kernel_baselines_n_test=48)
    c.log = dict(progress=False, report=False)
    c.sweep = dict(model=dict(depth=[1, 2], gamma=[0.01, 1.0]))
    return c
'''


@pytest.fixture(scope="module")
def baselines(tmp_path_factory):
    root = tmp_path_factory.mktemp("kernel_baselines")
    (root / "sweep.py").write_text(SWEEP)
    assert cli.main(["run", str(root / "sweep.py"), "--out", str(root / "out"), "--no-progress"]) == 0
    return scaling.load(root / "out")


def test_kernel_regression_with_the_final_ntk_reproduces_a_converged_lazy_network(baselines):
    """Full-batch GD to convergence: a linear model (depth 1, constant NTK; 16 points in D = 8, so GD ends at
    least squares, the ridgeless pseudo-inverse of a rank-8 kernel) equals kernel regression to 1e-6; a lazy
    ReLU network (gamma = 0.01, width 1024, train loss < 1e-10) to 1 % (its kernel moves by ~0.1 %)."""
    final = baselines.sel(kernel_step=1500)
    assert (baselines.train_loss.sel(depth=2).isel(step=-1) < 1e-10).all()
    linear = final.sel(depth=1)
    np.testing.assert_allclose(linear.kernel_test_loss, linear.kernel_net_test_loss, rtol=1e-6)
    np.testing.assert_allclose(linear.ntk_inf_test_loss, linear.kernel_net_test_loss, rtol=1e-6)
    lazy = final.sel(depth=2, gamma=0.01)
    assert _relative(lazy.kernel_test_loss, lazy.kernel_net_test_loss) < 0.01
    assert _relative(lazy.kernel_test_loss, baselines.kernel_test_loss.sel(depth=2, gamma=0.01, kernel_step=0)) < 0.01


def test_kernel_baselines_are_stored_beside_the_test_loss(baselines):
    assert list(baselines.kernel_step.values) == [0, 1500]
    names = ("kernel_test_loss", "kernel_net_test_loss", "ntk_inf_test_loss", "nngp_test_loss")
    for name in names:
        assert baselines[name].dims == ("depth", "gamma", "kernel_step") and np.isfinite(baselines[name]).all()
    with jax.enable_x64(True):
        test_set = data.stream(values(**{"data.task": "gegenbauer", "data.dim": 8, "data.degree": 2}), jnp.float64).test
    zero_loss = float(np.mean(np.sum(np.asarray(test_set[1][:48]) ** 2, -1)))  # a centred network starts at f = 0
    np.testing.assert_allclose(baselines.kernel_net_test_loss.sel(kernel_step=0), zero_loss, rtol=1e-12)
    for name in ("ntk_inf_test_loss", "nngp_test_loss"):  # the same training set and init scale throughout
        assert float(baselines[name].sel(depth=2).std()) < 1e-12
    np.testing.assert_allclose(baselines.kernel_test_loss.sel(kernel_step=0, gamma=1.0),
                               baselines.kernel_test_loss.sel(kernel_step=0, gamma=0.01), rtol=1e-9)


@pytest.mark.parametrize("fields,field", [
    ({}, "data.n_train"),  # online data
    ({"data.n_train": 32, "train.loss": "xent"}, "train.loss"),
    ({"data.n_train": 32, "data.task": "markov", "model.arch": "transformer"}, "data.task"),  # a target per position
])
def test_a_config_the_baselines_cannot_take_is_refused(fields, field):
    with pytest.raises(ConfigError) as error:
        checks.check_group(values(**{"measure.kernel_baselines": True, **fields}))
    assert error.value.field == field
    checks.check_group(values(**fields))  # fine without the measurement
