"""The theory module (THEORY.md) against exact limits, brute-force simulation and the framework's
own training; a config naming a theory stores its curve and the report overlays it."""

import numpy as np
import pytest

import scaling
from scaling import config as config_lib
from scaling.report import losses
from scaling.theory import curves, dynamics, ridge, spectra

SPECTRUM = spectra.powerlaw(400, 1.5, 0.8)


def test_rf_gf_loss_reduces_to_its_limits():
    t = np.logspace(0, 4, 9)
    exact = (SPECTRUM.target_power * np.exp(-2 * SPECTRUM.eigenvalues * t[:, None])).sum(1)  # N = P = ∞: Σ w̄²λ e^{-2λt}
    np.testing.assert_allclose(dynamics.rf_gf_loss(t, np.inf, np.inf, SPECTRUM), exact, rtol=1e-3)  # Talbot, M = 32
    late = dynamics.rf_gf_loss([1e6], 100, 300, SPECTRUM, 0.05)  # t → ∞: the ridgeless RF error of §1
    np.testing.assert_allclose(late, ridge.rf_test_error(100, 300, 0.0, SPECTRUM, 0.05), rtol=1e-4)
    late = dynamics.rf_gf_loss([1e6], np.inf, 300, SPECTRUM, 0.05)  # N = ∞: ridgeless regression
    np.testing.assert_allclose(late, ridge.ridge_test_error(300, 0.0, SPECTRUM, 0.05), rtol=1e-3)


def _gradient_flow_rf(N, P, t, draws, noise, rng):
    """Brute force: random features A and P samples drawn, gradient flow on (1/2P)Σ(f − y)² from
    w = 0 solved exactly in the eigenbasis of the empirical feature covariance; the exact test
    loss (w̄ known) of every draw at every t."""
    lam = SPECTRUM.eigenvalues
    teacher = np.sqrt(SPECTRUM.target_power / lam)
    out = []
    for _ in range(draws):
        A = rng.standard_normal((N, len(lam)))
        X = rng.standard_normal((P, len(lam))) * np.sqrt(lam)
        y = X @ teacher + np.sqrt(noise) * rng.standard_normal(P)
        Z = X @ A.T / np.sqrt(N)
        e, V = np.linalg.eigh(Z.T @ Z / P)
        b = V.T @ (Z.T @ y / P)
        row = []
        for time in t:
            w = V @ (np.where(e > 1e-12, -np.expm1(-e * time) / np.maximum(e, 1e-12), 0.0) * b)  # b ⟂ the null space
            residual = A.T @ w / np.sqrt(N) - teacher
            row.append(residual @ (lam * residual))
        out.append(row)
    return np.asarray(out)


@pytest.mark.parametrize("N,P", [(150, 300), (300, 150)])
def test_rf_gf_loss_matches_brute_force_gradient_flow(N, P):
    """THEORY.md §2: within 8 % (and 2.5 standard errors) at every t, averaged over draws."""
    t = np.logspace(0, 4, 9)
    sims = _gradient_flow_rf(N, P, t, 30, 0.05, np.random.default_rng(0))
    mean, error = sims.mean(0), sims.std(0) / np.sqrt(len(sims))
    theory = dynamics.rf_gf_loss(t, N, P, SPECTRUM, 0.05)
    assert np.all(np.abs(mean - theory) < np.maximum(0.08 * theory, 2.5 * error)), np.c_[t, mean / theory]


THEORY_SWEEP = {
    "model": {"arch": "rf", "param": "ntk"},
    "data": {"task": "powerlaw", "dim": 64, "noise": 0.05, "n_train": 32, "batch_size": 32, "n_test": 256, "n_probe": 8},
    "optim": {"name": "sgd", "lr": 0.1},
    "train": {"steps": 200, "n_logs": 8, "segments": 1, "dtype": "float64"},
    "measure": {"ntk": False, "features": False, "predictions": False},
    "theory": {"name": "rf_gf"},
    "log": {"progress": False, "report": False},
    "sweep": {"model": {"width": [16, 64]}, "train": {"seed": [0, 1, 2, 3]}, "data": {"seed": [0, 1, 2, 3]},
              "zip": [["train.seed", "data.seed"]]},
}


def test_a_config_naming_a_theory_stores_its_curve_and_the_report_overlays_it(tmp_path):
    ds = scaling.load(scaling.run(THEORY_SWEEP, tmp_path / "rf"))
    assert set(ds.theory_loss.dims) == {"width", "train_seed", "step"}
    values = config_lib.resolve(THEORY_SWEEP).values
    for width in (16, 64):
        member = {"lr_effective": 0.1, "model.gamma": 1.0, "data.noise": 0.05}
        expected = curves.theory_loss({**values, "model.width": width}, [member], ds.step.values)[0]
        np.testing.assert_allclose(ds.theory_loss.sel(width=width).transpose("train_seed", "step").values, np.broadcast_to(expected, (4, ds.sizes["step"])))
    assert np.all(ds.theory_loss.isel(step=0).values == pytest.approx(spectra.powerlaw(64, 1.5, 0.8).target_power.sum()))
    simulated, predicted = ds.test_loss.mean("train_seed").isel(step=-1), ds.theory_loss.isel(train_seed=0, step=-1)
    assert np.all(np.abs(simulated / predicted - 1) < 0.5)  # the same curve, roughly (4 seeds, 32 points)
    panel = losses.loss_curves(ds).axes[0]
    dashed = [line for line in panel.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 2 and [t.get_text() for t in panel.get_legend().get_texts()] == ["simulation", "theory (rf_gf)"]
    np.testing.assert_allclose(dashed[0].get_ydata(), ds.theory_loss.sel(width=16).isel(train_seed=0).values[1:])
    width = losses.loss_vs_width(ds).axes[0]
    assert [line.get_label() for line in width.lines][-1] == "theory (rf_gf)"


@pytest.mark.parametrize("change,field,value", [
    ({"model": {"arch": "mlp"}}, "model.arch", "mlp"),
    ({"data": {"batch_size": 16}}, "data.batch_size", 16),
    ({"data": {"n_train": None, "batch_size": 8}}, "data.n_train", None),
    ({"sweep": {"optim": {"momentum": [0.0, 0.9]}}}, "optim.momentum", 0.9),
    ({"theory": {"name": "dmft"}}, "theory.name", "dmft"),
    ({"sweep": {"theory": {"nodes": [16, 32]}}}, "sweep.theory.nodes", [16, 32]),
])
def test_a_config_the_theory_does_not_describe_is_refused(change, field, value):
    config = {k: dict(v) for k, v in THEORY_SWEEP.items()}
    for section, fields in change.items():
        config[section] = {**config.get(section, {}), **fields}
    with pytest.raises(config_lib.ConfigError) as error:
        config_lib.resolve(config)
    assert (error.value.field, error.value.value) == (field, value)
