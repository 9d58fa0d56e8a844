"""The theory module (THEORY.md) against exact limits, brute-force simulation and the framework's
own training; a config naming a theory stores its curve and the report overlays it."""

import numpy as np
import pytest

import scaling
from scaling import config as config_lib
from scaling import checks
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


@pytest.mark.parametrize("N,P", [(150, 300), (300, 150), (100, np.inf)])
def test_rf_gf_loss_matches_brute_force_gradient_flow(N, P):
    """THEORY.md §2: within 8 % (and 2.5 standard errors) at every t, averaged over draws."""
    t = np.logspace(0, 4, 9)
    rng = np.random.default_rng(0)
    sims = np.stack([dynamics.simulate(t, N, P, SPECTRUM, 0.05, rng) for _ in range(30)])
    mean, error = sims.mean(0), sims.std(0) / np.sqrt(len(sims))
    theory = dynamics.rf_gf_loss(t, N, P, SPECTRUM, 0.05)
    assert np.all(np.abs(mean - theory) < np.maximum(0.08 * theory, 2.5 * error)), np.c_[t, mean / theory]


def test_rf_gf_loss_falls_as_t_to_the_minus_beta_when_width_and_data_are_large():
    """THEORY.md §2: slope −β ± 0.05 over t ∈ [10, 10³].  THEORY.md asks only N, P ≥ 10 t^{1/α}
    (1000 here), yet at N = P = 1000 the theory and a brute-force simulation (`dynamics.simulate`,
    6 draws, D = 2000) agree on a slope of −0.64: the finite-size bend reaches further than that
    rule, so the check runs at N = P = 20000."""
    from scaling.theory import fit

    t = np.logspace(1, 3, 9)
    loss = dynamics.rf_gf_loss(t, 20000, 20000, spectra.powerlaw(30000, 1.5, 0.8))
    assert fit.fit_power_law(t, loss).exponent == pytest.approx(-0.8, abs=0.05)


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
    legend = [t.get_text() for t in panel.get_legend().get_texts()]
    assert len(dashed) == 2 and legend[:2] == ["simulation", "theory (rf_gf)"]
    assert legend[2].startswith("∝ step^") and "step ∈ [6.32, 200]" in legend[2]  # the widest's power law in time
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
        checks.resolve(config)
    assert (error.value.field, error.value.value) == (field, value)


def _ridge_draws(P, ridge_, draws, noise, rng, width=None):
    """Brute force: ridge on P samples (on random features z = Aψ/√N when ``width``), the exact
    test error against w̄ of each draw."""
    lam = SPECTRUM.eigenvalues
    teacher = SPECTRUM.teacher
    errors = []
    for _ in range(draws):
        X = rng.standard_normal((P, len(lam))) * np.sqrt(lam)
        y = X @ teacher + np.sqrt(noise) * rng.standard_normal(P)
        A = None if width is None else rng.standard_normal((width, len(lam)))
        Z = X if A is None else X @ A.T / np.sqrt(width)
        w = np.linalg.lstsq(Z.T @ Z / P + ridge_ * np.eye(Z.shape[1]), Z.T @ y / P, rcond=None)[0]
        effective = w if A is None else A.T @ w / np.sqrt(width)
        errors.append((effective - teacher) @ (lam * (effective - teacher)))
    return np.asarray(errors)


@pytest.mark.parametrize("P,ridge_", [(100, 1e-3), (300, 1e-3), (100, 0.1), (300, 0.1)])
def test_ridge_and_random_feature_errors_match_simulation(P, ridge_):
    """THEORY.md §1: within 6 % for ridge and 8 % for random features (N = 200), 30 draws."""
    rng = np.random.default_rng(1)
    ridge_sims = _ridge_draws(P, ridge_, 30, 0.05, rng)
    assert abs(ridge_sims.mean() / ridge.ridge_test_error(P, ridge_, SPECTRUM, 0.05) - 1) < 0.06
    rf_sims = _ridge_draws(P, ridge_, 30, 0.05, rng, width=200)
    assert abs(rf_sims.mean() / ridge.rf_test_error(200, P, ridge_, SPECTRUM, 0.05) - 1) < 0.08


def test_ridge_train_error_and_gcv_match_simulation():
    """E_tr = (λ/κ)²(E_g + σ²) within 2 %; GCV from the data minus σ² within 10 % of E_g (§1)."""
    rng = np.random.default_rng(2)
    lam, P, ridge_, noise = SPECTRUM.eigenvalues, 300, 1e-2, 0.05
    teacher = SPECTRUM.teacher
    train, estimates = [], []
    for _ in range(30):
        X = rng.standard_normal((P, len(lam))) * np.sqrt(lam)
        y = X @ teacher + np.sqrt(noise) * rng.standard_normal(P)
        covariance = X.T @ X / P
        w = np.linalg.solve(covariance + ridge_ * np.eye(len(lam)), X.T @ y / P)
        train.append(np.mean((X @ w - y) ** 2))
        dof = np.trace(covariance @ np.linalg.inv(covariance + ridge_ * np.eye(len(lam))))
        estimates.append(ridge.gcv(train[-1], dof, P))
    assert abs(np.mean(train) / ridge.ridge_train_error(P, ridge_, SPECTRUM, noise) - 1) < 0.02
    assert abs((np.mean(estimates) - noise) / ridge.ridge_test_error(P, ridge_, SPECTRUM, noise) - 1) < 0.10


def test_kappa_solves_its_equation_and_is_symmetric_in_n_and_p():
    eigenvalues = SPECTRUM.eigenvalues
    k = ridge.kappa(0.01, (150, 300), eigenvalues)
    d1 = spectra.df1(k, eigenvalues)
    assert k * (1 - d1 / 150) * (1 - d1 / 300) == pytest.approx(0.01, rel=1e-9)
    assert ridge.kappa(0.01, (300, 150), eigenvalues) == pytest.approx(k, rel=1e-9)
    assert spectra.df1(ridge.kappa(0.0, (np.inf, 100), eigenvalues), eigenvalues) == pytest.approx(100, rel=1e-9)
    np.testing.assert_allclose(ridge.kappa([0.0, 0.01, 0.1], (np.inf, 100), eigenvalues).shape, (3,))


def test_online_sgd_recursion_matches_the_framework(tmp_path):
    """THEORY.md §3: the linear model f = w·x/√D trained by the framework with online SGD (batch 4,
    512 data seeds, 1/8 of the largest stable rate) against the recursion, within 3 % at n ≥ 10."""
    from scaling.theory import sgd

    config = {
        "model": {"arch": "deep_linear", "depth": 1, "param": "ntk"},
        "data": {"task": "powerlaw", "dim": 100, "batch_size": 4, "noise": 0.05, "n_test": 50000, "n_probe": 8},
        "optim": {"name": "sgd", "lr": 8.0},
        "train": {"steps": 1000, "n_logs": 10, "dtype": "float64", "segments": 1},
        "measure": {"ntk": False, "features": False, "predictions": False},
        "theory": {"name": "sgd_online"},
        "log": {"progress": False, "report": False},
        "sweep": {"data": {"seed": list(range(512))}},
    }
    lam = spectra.powerlaw(100, 1.5, 0.8).eigenvalues / 100
    assert 2 * 8.0 == pytest.approx(sgd.max_stable_lr(4, lam) / 8, rel=0.05)
    ds = scaling.load(scaling.run(config, tmp_path / "sgd"))
    late = ds.step >= 10
    ratio = (ds.test_loss.mean("seed") / ds.theory_loss.isel(seed=0)).where(late, drop=True)
    assert np.all(np.abs(ratio - 1) < 0.03), ratio.values


def test_sgd_stability_bound_and_noise_floor():
    """Below the bound the recursion settles at the noise floor; above it, it diverges (§3)."""
    from scaling.theory import sgd

    problem = sgd.linear(SPECTRUM)
    edge = sgd.max_stable_lr(4, problem.eigenvalues)
    assert sgd.stability_sum(edge, 4, problem.eigenvalues) == pytest.approx(1.0)
    settled = sgd.sgd_loss([20000], 0.5 * edge, 4, problem, 0.05)[0]
    several = sgd.sgd_loss([10, 100], [0.1 * edge, 0.5 * edge], 4, problem, 0.05)  # vectorized over lr
    np.testing.assert_allclose(several[1], sgd.sgd_loss([10, 100], 0.5 * edge, 4, problem, 0.05))
    floor = sgd.noise_floor(0.5 * edge, 4, problem, 0.05)
    assert settled == pytest.approx(floor, rel=0.05)  # the bias has decayed below the floor's 5 %
    diverged = sgd.sgd_loss([5000], 1.05 * edge, 4, problem, 0.05)[0]
    assert not np.isfinite(diverged) or diverged > 1e3


def test_random_features_trained_by_the_framework_follow_the_gradient_flow_theory(tmp_path):
    """THEORY.md §2: the framework's `rf` model under full-batch gradient descent (lr 0.05, so
    t = 0.1 n; 32 draws of features and data) against L(t, N, P), within 8 % at every logged step."""
    seeds = list(range(32))
    config = {
        "model": {"arch": "rf", "param": "ntk"},
        "data": {"task": "powerlaw", "dim": 200, "noise": 0.05, "n_test": 10000, "n_probe": 8},
        "optim": {"name": "sgd", "lr": 0.05},
        "train": {"steps": 2000, "n_logs": 12, "dtype": "float64", "segments": 1},
        "measure": {"ntk": False, "features": False, "predictions": False},
        "theory": {"name": "rf_gf"},
        "log": {"progress": False, "report": False},
        "sweep": {"model": {"width": [50, 100]}, "data": {"n_train": [100, 50], "batch_size": [100, 50], "seed": seeds},
                  "train": {"seed": seeds},
                  "zip": [["model.width", "data.n_train", "data.batch_size"], ["train.seed", "data.seed"]]},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "gd"))
    ratio = ds.test_loss.mean("train_seed") / ds.theory_loss.isel(train_seed=0)
    assert np.all(np.abs(ratio - 1) < 0.08), ratio.values


def test_power_law_fit_recovers_a_known_exponent_with_its_interval():
    from scaling.theory import fit

    rng = np.random.default_rng(3)
    x = np.logspace(0, 3, 40)
    y = 2.0 * x**-0.75 * np.exp(0.05 * rng.standard_normal(40))
    y[:5] = 10.0  # outside the window: ignored
    result = fit.fit_power_law(x, y, window=(10, 1000))
    assert result.interval[0] < -0.75 < result.interval[1] and result.interval[1] - result.interval[0] < 0.1
    assert result.prefactor == pytest.approx(2.0, rel=0.2) and result.n_points == sum((x >= 10) & (x <= 1000))
    with pytest.raises(ValueError, match="3 or more"):
        fit.fit_power_law(x, y, window=(2000, 3000))


@pytest.mark.parametrize("layers", [2, 3])
def test_scalar_chain_divergence_threshold_scales_as_gamma_squared_then_gamma_to_two_over_l(layers):
    """THEORY.md §4: fitted log-slopes of the largest convergent η over γ ∈ [10⁻², 10⁻¹] and
    [10¹, 10²] within ±0.15 of 2 and 2/L (gradient descent on the chain, simulated)."""
    from scaling.theory import fit, learning_rate

    small, large = np.logspace(-2, -1, 5), np.logspace(1, 2, 5)
    lazy = [learning_rate.chain_divergence_lr(g, layers) for g in small]
    rich = [learning_rate.chain_divergence_lr(g, layers) for g in large]
    assert fit.fit_power_law(small, lazy).exponent == pytest.approx(2.0, abs=0.15)
    assert fit.fit_power_law(large, rich).exponent == pytest.approx(2 / layers, abs=0.15)
    np.testing.assert_allclose(learning_rate.gamma_lr_factor([0.1, 10.0], layers), [0.01, 10 ** (2 / layers)])


@pytest.mark.parametrize("layers", [2, 3, 4])
def test_scalar_chain_plateau_matches_its_formula_at_large_gamma(layers):
    from scaling.theory import learning_rate

    gamma = 1000.0
    lr = 0.05 * float(learning_rate.chain_max_lr(gamma, layers))
    losses = learning_rate.chain_losses(gamma, [lr], layers, steps=20000)[:, 0]
    half = int(np.argmax(losses < 0.5 * losses[0]))
    assert half == pytest.approx(learning_rate.chain_plateau_time(gamma, layers, lr), rel=0.15)


def test_feature_learning_speeds_up_hard_tasks_only():
    """THEORY.md §5: in the mode ODE (800 modes, t ∈ [10, 100]), the rich (γ = 1) loss falls faster
    than the lazy one by χ(β) − β = 1/6 at β = 0.5 and not at all at β = 1.5, within 0.05 (the
    lazy slope is compared, not the truncated absolute one)."""
    from scaling.theory import feature_learning, fit

    times = np.logspace(0, 2, 12)
    for beta, gain in ((0.5, 2 / 3 - 1 / 2), (1.5, 0.0)):
        spectrum = spectra.powerlaw(800, 1.5, beta)
        lazy = fit.fit_power_law(times, feature_learning.mode_ode_loss(spectrum, 0.0, times, 0.05), (10, 100)).exponent
        rich = fit.fit_power_law(times, feature_learning.mode_ode_loss(spectrum, 1.0, times, 0.05), (10, 100)).exponent
        assert lazy - rich == pytest.approx(gain, abs=0.05)
        assert float(feature_learning.time_exponent(beta)) - beta == pytest.approx(gain)
    assert feature_learning.task_class(1.5, 0.5) == "hard" and feature_learning.task_class(1.5, 1.5) == "super-easy"
    assert feature_learning.compute_optimal_exponent(2.0, 0.5, rich=False) == pytest.approx(2 * 0.5 / 3)


def test_variance_limited_onset_grows_as_the_square_root_of_width():
    """THEORY.md §7: in the toy (4 target modes, a flat tail of trace 1), P* where the width-N
    error is twice the infinite-width one scales as N^{0.5 ± 0.1} and sits near √(τN/λ_T)."""
    from scaling.theory import fit, onset

    toy = onset.toy_spectrum(4, 1.0, 1.0, 20000)
    widths = np.array([1000, 4000, 16000])
    onsets = [onset.measured_onset(n, toy, np.logspace(0.5, 3.5, 40)) for n in widths]
    assert fit.fit_power_law(widths, onsets).exponent == pytest.approx(0.5, abs=0.1)
    np.testing.assert_allclose(onsets, onset.onset_sample_size(widths, 1.0, 1.0), rtol=0.2)
    np.testing.assert_allclose(ridge.ridge_test_error(200, 0.0, toy), onset.infinite_width_error(200, 1.0, 1.0), rtol=0.2)


def test_variance_floor_matches_random_features_with_unlimited_data():
    """THEORY.md §7: the error of the best predictor on N random features z = Aψ/√N (P = ∞; toy of
    4 target modes of λ_T = 2 and a flat tail of trace τ = 1 over 10⁴ modes; 12 draws of A) is
    τ/(Nλ_T) within 15 % at N = 100 and 400, and that of the mean of E = 4 draws' predictors is
    τ/(Nλ_T E) within 15 %."""
    from scaling.theory import onset

    toy = onset.toy_spectrum(4, 2.0, 1.0, 10000)
    lam, teacher = toy.eigenvalues, toy.teacher
    rng = np.random.default_rng(0)
    for width in (100, 400):
        single, ensembled = [], []
        for _ in range(3):
            effective = []
            for _ in range(4):
                A = rng.standard_normal((width, len(lam)))
                theta = np.linalg.solve((A * lam) @ A.T / width, A @ (lam * teacher) / np.sqrt(width))
                effective.append(A.T @ theta / np.sqrt(width))  # the best z-space predictor, in ψ-space
            effective = np.asarray(effective)
            single += [((v - teacher) ** 2 * lam).sum() for v in effective]
            ensembled.append(((effective.mean(0) - teacher) ** 2 * lam).sum())
        assert np.mean(single) == pytest.approx(onset.variance_floor(width, 2.0, 1.0), rel=0.15)
        assert np.mean(ensembled) == pytest.approx(onset.variance_floor(width, 2.0, 1.0, ensembles=4), rel=0.15)


def test_deep_linear_network_trained_by_the_framework_aligns_silently(tmp_path):
    """THEORY.md §8 on the framework's two-layer linear network (SP, width = D = 20, so every weight
    starts N(0, σ²); whitened data, s = 2, full-batch GD at t = 2ηn): the loss-drop time t₂ grows
    with ln(1/σ²) at slope 1/(2s) ± 5 %, the NTK aligns (95 % of its rise) at a t₁ that varies
    < 15 % across σ, before the loss has moved (L/L₀ > 0.95 at t₁ for σ ≤ 10⁻³), from 1/√D-ish
    to 2/√(D + 3)."""
    from scaling.theory import alignment

    dim, s, lr, sigmas = 20, 2.0, 0.01, np.array([1e-2, 1e-3, 1e-4, 1e-5])
    config = {
        "model": {"arch": "deep_linear", "depth": 2, "width": dim, "param": "sp", "center": False},
        "data": {"task": "whitened", "dim": dim, "signal": s, "n_train": 100, "batch_size": 100, "n_test": 100,
                 "n_probe": 40},
        "optim": {"name": "sgd", "lr": lr},
        "train": {"steps": 400, "n_logs": 101, "log_spacing": "linear", "dtype": "float64", "segments": 1},
        "measure": {"ntk_every": 5, "ntk_kernels": False, "features": False, "predictions": False},
        "log": {"progress": False, "report": False},
        "sweep": {"model": {"init_scale": (sigmas * np.sqrt(dim)).tolist()}},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "silent"))
    time, ntk_time = 2 * lr * ds.step.values, 2 * lr * ds.ntk_step.values
    drops, aligned = [], []
    for i, sigma in enumerate(sigmas):
        loss = ds.test_loss.isel(init_scale=i).values
        j = int(np.argmax(loss < 0.5 * loss[0]))  # the half-loss crossing, interpolated in log loss
        w = np.log(0.5 * loss[0] / loss[j - 1]) / np.log(loss[j] / loss[j - 1])
        drops.append(time[j - 1] + w * (time[j] - time[j - 1]))
        align = ds.ntk_alignment.isel(init_scale=i).values
        aligned.append(ntk_time[np.argmax(align >= align[0] + 0.95 * (align.max() - align[0]))])
        assert align.max() == pytest.approx(alignment.final_alignment(dim), rel=0.02)
        if sigma <= 1e-3:
            assert np.interp(aligned[-1], time, loss) > 0.95 * loss[0]
    slope = np.polyfit(np.log(1 / sigmas**2), drops, 1)[0]
    assert slope == pytest.approx(1 / (2 * s), rel=0.05)
    assert max(aligned) / min(aligned) < 1.15
    # the formula is the leading logarithm: the loss-half time differs from it by O(1/s)
    np.testing.assert_allclose(drops, alignment.loss_drop_time(s, sigmas, dim), atol=0.5 / s)


def test_simulated_two_layer_linear_net_matches_the_silent_alignment_timescales():
    """THEORY.md §8 check (D = 20, N = 100, s = 2, numpy gradient flow): loss-half times within 3 %
    of (1/2s) ln(s/(Nσ²)) for σ = 10⁻²..10⁻⁶; the alignment reaches 95 % of its rise at the same
    time for every σ, from ≈ 1/√D to 2/√(D + 3)."""
    from scaling.theory import alignment

    dim, width, s = 20, 100, 2.0
    times = np.linspace(0.05, 8, 160)
    aligned = []
    for sigma in (1e-2, 1e-3, 1e-4, 1e-6):
        loss, align = alignment.simulate(dim, width, s, sigma, times, np.random.default_rng(0))
        half = times[np.argmax(loss < 0.5 * loss[0])]
        assert half == pytest.approx(alignment.loss_drop_time(s, sigma, width), rel=0.03)
        aligned.append(times[np.argmax(align >= align[0] + 0.95 * (align.max() - align[0]))])
        assert align[0] == pytest.approx(alignment.initial_alignment(dim), rel=0.1)
        assert align.max() == pytest.approx(alignment.final_alignment(dim), rel=0.01)
    assert max(aligned) / min(aligned) < 1.15


@pytest.mark.parametrize("depth", [3, 4])
def test_deep_loss_drop_time_is_a_power_law_in_the_initial_scale(depth):
    """THEORY.md §8, depth L > 2: gradient flow (scipy, rtol 10⁻¹⁰) on the scalar chain f = Π_ℓ a_ℓ,
    a_ℓ(0) = σ, loss ½(f − s)², s = 2: the loss-half time is σ^{−(L−2)}/((L−2)s) within 1/s for
    σ = 10⁻¹..10⁻³, while the time itself spans three (L = 3) or six (L = 4) decades."""
    from scipy import integrate

    from scaling.theory import alignment

    s = 2.0

    def half(t, a):
        return (np.prod(a) - s) ** 2 - 0.5 * s**2

    half.terminal = True
    for sigma in (1e-1, 1e-2, 1e-3):
        predicted = float(alignment.deep_loss_drop_time(s, sigma, depth))
        flow = integrate.solve_ivp(lambda t, a: -(np.prod(a) - s) * np.prod(a) / a, (0, 10 * predicted),
                                   np.full(depth, sigma), method="LSODA", events=half, rtol=1e-10, atol=1e-14)
        assert flow.t_events[0][0] == pytest.approx(predicted, abs=1 / s)


def test_prediction_variance_and_bias_fall_as_one_over_width(tmp_path):
    """THEORY.md §6 on the framework's random-feature model (16 seeds of the features, the same
    data): the prediction variance over seeds and the squared distance of the ensemble mean from
    the widest ensemble's (N = 4096) fall as N^{-1 ± 0.15} over N = 64..512."""
    from scaling.measure import ensemble
    from scaling.theory import width as width_theory

    config = {
        "model": {"arch": "rf", "param": "ntk"},
        "data": {"task": "powerlaw", "dim": 200, "n_train": 100, "batch_size": 100, "n_test": 64, "n_probe": 64},
        "optim": {"name": "sgd", "lr": 0.1},
        "train": {"steps": 100, "n_logs": 3, "dtype": "float64", "segments": 1},
        "measure": {"ntk": False, "features": False, "predictions_every": [100]},
        "log": {"progress": False, "report": False},
        "sweep": {"model": {"width": [64, 128, 256, 512, 4096]}, "train": {"seed": list(range(16))}},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "widths")).isel(pred_step=-1)
    split = ensemble.width_distance(ds.probe_pred)
    narrow = ds.width.values[:-1]
    fits = width_theory.fit_width_corrections(narrow, split.variance.values[:-1], split.bias.values[:-1])
    assert fits.variance.exponent == pytest.approx(-1.0, abs=0.15)
    assert fits.bias.exponent == pytest.approx(-1.0, abs=0.15)
    member, ensembled = width_theory.expected_losses(narrow, 0.1, 1.0, 0.5)
    np.testing.assert_allclose(member - ensembled, 1.0 / narrow)


def test_online_sgd_on_random_features_matches_the_recursion():
    """THEORY.md §3 for z = Aψ/√N: 400 simulated SGD runs with one draw of A (D = 100, N = 50,
    B = 4) against the recursion in the eigenbasis of AΛAᵀ/N for the same A, within 3 %."""
    from scaling.theory import sgd

    spectrum = spectra.powerlaw(100, 1.5, 0.8)
    lam, width, batch, noise, runs = spectrum.eigenvalues, 50, 4, 0.05, 400
    teacher = spectrum.teacher
    A = np.random.default_rng(5).standard_normal((width, len(lam)))
    problem = sgd.random_features(spectrum, width, np.random.default_rng(5))
    lr = 0.25 * sgd.max_stable_lr(batch, problem.eigenvalues)
    steps = np.array([10, 30, 100, 300, 1000])
    rng = np.random.default_rng(6)
    w, losses = np.zeros((runs, width)), []
    effective = lambda w: w @ A / np.sqrt(width) - teacher  # noqa: E731
    for n in range(steps.max() + 1):
        if n in steps:
            losses.append(((effective(w) ** 2) * lam).sum(1))
        x = rng.standard_normal((runs, batch, len(lam))) * np.sqrt(lam)
        z = x @ A.T / np.sqrt(width)
        residual = np.einsum("rbn,rn->rb", z, w) - (x @ teacher + np.sqrt(noise) * rng.standard_normal((runs, batch)))
        w -= lr / batch * np.einsum("rb,rbn->rn", residual, z)
    simulated = np.asarray(losses).mean(1)
    np.testing.assert_allclose(simulated, sgd.sgd_loss(steps, lr, batch, problem, noise), rtol=0.03)
