"""The sharpness measurement against dense Hessians (``jax.hessian``), a linear model's exact
Hessian, and through ``scaling run``: results, wandb history and the report figure."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import members, values
from jax.flatten_util import ravel_pytree

import scaling
from scaling import cli, train, trees
from scaling import config as config_lib
from scaling.log import records
from scaling.measure import sharpness as sharpness_lib
from scaling.measure.registry import schedule
from scaling.report import sharpness as sharpness_figures

pytestmark = pytest.mark.usefixtures("reuse_programs")  # the MLP's program serves two tests


def _member_state(base, lr):
    """A built program, one member's values (with lr_effective) and its initial state, unbatched."""
    trainer = train.build(base)
    program = trainer.program
    member = train.with_effective_lr(program, members(base, optim__lr=[lr]))
    arrays = train.member_arrays(program, member)
    state = jax.tree.map(lambda a: a[0], trainer.init_fn()(arrays))
    return program, jax.tree.map(lambda a: a[0], arrays), state


def _measured(program, state, member):
    return jax.jit(lambda state, member: sharpness_lib.measure(program, state, member, None))(state, member)


def _dense_hessian(program, state, member):
    """The Hessian of the measured loss over the flattened parameters, by ``jax.hessian``."""

    def hessian(state, member):
        flat, unravel = ravel_pytree(state["params"])
        batch = sharpness_lib.loss_batch(program, state)
        return jax.hessian(lambda p: program.objective(unravel(p), state, member, batch))(flat)

    return np.asarray(jax.jit(hessian)(state, member))


def _mlp(n_train):
    return values(**{"model.width": 8, "model.bias": True, "model.gamma": 0.5, "train.dtype": "float64",
                     "data.n_train": n_train, "data.batch_size": None if n_train else 16, "measure.sharpness": True})


@pytest.mark.parametrize("n_train", [32, None])  # the training set; online: the probe set
def test_power_iteration_equals_the_top_eigenvalue_of_the_dense_hessian(n_train):
    with jax.enable_x64(True):
        program, member, state = _member_state(_mlp(n_train), lr=0.3)
        state = {**state, "params": jax.tree.map(lambda p: p * 1.3, state["params"])}  # away from init
        measured = _measured(program, state, member)
        eigenvalues = np.linalg.eigvalsh(_dense_hessian(program, state, member))
        assert eigenvalues[-1] > 1.5 * eigenvalues[-2] and eigenvalues[-1] > -eigenvalues[0]  # a top one to find
        np.testing.assert_allclose(measured["sharpness"], eigenvalues[-1], rtol=1e-3)
        x = program.stream.probe[0] if n_train is None else state["data"]["train"][0]
        assert sharpness_lib.loss_batch(program, state)[0] is x


def test_lr_weighted_sharpness_is_the_top_eigenvalue_of_the_preconditioned_hessian():
    """lambda_max(P^1/2 H P^1/2), P = diag(lr_effective x lr_scale per leaf), with a different scale per leaf."""
    with jax.enable_x64(True):
        program, member, state = _member_state(_mlp(32), lr=0.3)
        scales = {path: s * (1 + 2 * i) for i, (path, s) in enumerate(trees.flatten(state["lr_scale"]).items())}
        state = {**state, "params": jax.tree.map(lambda p: p * 1.3, state["params"]), "lr_scale": trees.unflatten(scales)}
        measured = _measured(program, state, member)
        lr = trees.unflatten({path: jnp.full(p.shape, member["lr_effective"] * scales[path])
                              for path, p in trees.flatten(state["params"]).items()})
        root, hessian = np.sqrt(ravel_pytree(lr)[0]), _dense_hessian(program, state, member)
        top = np.linalg.eigvalsh(root[:, None] * hessian * root[None, :])[-1]
        np.testing.assert_allclose(measured["sharpness_lr"], top, rtol=1e-3)
        plain = np.linalg.eigvalsh(hessian)[-1] * root.max() ** 2
        assert abs(top - plain) > 0.05 * top  # the per-leaf scales matter here: one lr would not do


def test_linear_model_hessian_is_two_xtx_over_p_d_gamma_squared():
    """f = w . x / sqrt(D) (deep_linear, depth 1, NTK parameterization), mse on the full batch:
    L = (1/P) sum_i ((f_i - f0_i) / gamma - y_i)^2, so H = 2 X^T X / (P D gamma^2) exactly."""
    n_train, dim, gamma, lr = 32, 8, 0.5, 0.2
    with jax.enable_x64(True):
        base = values(**{"model.arch": "deep_linear", "model.depth": 1, "model.param": "ntk", "model.gamma": gamma,
                         "model.center": True, "train.loss": "mse", "train.dtype": "float64", "data.dim": dim,
                         "data.n_train": n_train, "data.batch_size": None, "measure.sharpness": True})
        program, member, state = _member_state(base, lr=lr)
        x = np.asarray(state["data"]["train"][0])
        exact = 2 * x.T @ x / (n_train * dim * gamma**2)
        np.testing.assert_allclose(_dense_hessian(program, state, member), exact, rtol=1e-12, atol=1e-14)
        top = np.linalg.eigvalsh(exact)[-1]
        measured = _measured(program, state, member)  # the default 20 iterations
        np.testing.assert_allclose(measured["sharpness"], top, rtol=1e-3)
        np.testing.assert_allclose(measured["sharpness_lr"], lr * top, rtol=1e-3)  # NTK: every layer at lr


def test_off_by_default_and_bad_iterations_are_refused(tiny_config_file, tmp_path, capsys):
    assert config_lib.resolve({}).values["measure.sharpness"] is False
    out = tmp_path / "out"
    assert cli.main(["run", str(tiny_config_file), "--out", str(out), "--config.measure.sharpness_iters=0"]) == 2
    err = capsys.readouterr().err
    assert "measure.sharpness_iters" in err and "allowed" in err and not out.exists()


SWEEP = '''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.model = dict(arch="mlp", depth=2, width=8, param="sp")
    c.data = dict(task="powerlaw", dim=8, n_train=32, batch_size=None, n_test=64, n_probe=8)
    c.train = dict(steps=20, n_logs=4, segments=1)
    c.measure = dict(ntk=False, features=False, sharpness=True, sharpness_every=[0, 5, 20])
    c.log = dict(progress=False)
    c.sweep = dict(model=dict(gamma=[0.5, 1.0]), optim=dict(lr=[0.05, 0.2]))
    return c
'''


def test_sharpness_through_scaling_run_results_history_and_figure(tmp_path):
    config_file = tmp_path / "sharp.py"
    config_file.write_text(SWEEP)
    out = tmp_path / "out"
    assert cli.main(["run", str(config_file), "--out", str(out), "--no-progress"]) == 0
    ds = scaling.load(out)
    assert list(ds.sharpness_step.values) == list(schedule(20, [0, 5, 20], 12)) == [0, 5, 20]
    for name in ("sharpness", "sharpness_lr"):
        assert set(ds[name].dims) == {"gamma", "lr", "sharpness_step"}
        assert np.isfinite(ds[name]).all() and (ds[name] > 0).all()
    # SP: every layer at lr (no lr rule), so P = lr I and sharpness_lr = lr x sharpness
    np.testing.assert_allclose(ds.sharpness_lr, (ds.lr * ds.sharpness).transpose(*ds.sharpness_lr.dims), rtol=1e-3)
    point = ds.isel(gamma=0, lr=0)
    rows = dict(records.history(point))
    assert [step for step in rows if "sharpness/mean" in rows[step]] == [0, 5, 20]
    assert rows[5]["sharpness_lr/mean"] == pytest.approx(float(point.sharpness_lr.sel(sharpness_step=5)))
    fig = sharpness_figures.sharpness(ds)
    panels = fig.axes[:2]
    assert [ax.get_title() for ax in panels] == ["γ = 0.5", "γ = 1"]
    assert all(any(list(line.get_ydata()) == [2, 2] for line in ax.get_lines()) for ax in panels)  # momentum 0
    assert sharpness_figures.sharpness(ds.drop_vars(["sharpness", "sharpness_lr"])) is None
