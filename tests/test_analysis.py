"""Reading a loaded sweep: η* from a log-quadratic fit with its bootstrap interval, and the
divergence edge, on constructed losses."""

import numpy as np
import pytest
import xarray as xr

from scaling import analysis

LRS = 3.0 ** np.arange(-4, 3)  # a grid three times apart, as sweeps use


def landscape(optimum: float, curvature: float = 0.7, noise: float = 0.0, seeds: int = 1, rng_seed: int = 0):
    """Final losses exp(c (log η − log η*)²) over (lr, seed), each seed's times 1 + noise·N(0, 1)."""
    rng = np.random.default_rng(rng_seed)
    clean = np.exp(curvature * (np.log(LRS) - np.log(optimum)) ** 2)
    values = clean[:, None] * (1 + noise * rng.standard_normal((len(LRS), seeds)))
    return xr.DataArray(values, dims=("lr", "seed"), coords={"lr": LRS, "seed": np.arange(seeds)})


@pytest.mark.parametrize("optimum", [0.5, 1.2, 0.13])
def test_lr_optimum_is_the_vertex_of_a_log_quadratic_landscape(optimum):
    found = analysis.lr_optimum(landscape(optimum))
    assert found.fitted and found.lr == pytest.approx(optimum, rel=1e-9)
    assert np.isnan(found.interval).all()  # one seed: nothing to resample


def test_lr_optimum_interval_covers_the_optimum_over_noisy_seeds():
    covered = []
    for rng_seed in range(20):
        found = analysis.lr_optimum(landscape(0.7, noise=0.05, seeds=8, rng_seed=rng_seed), n_boot=200)
        assert found.fitted and found.interval[0] <= found.lr <= found.interval[1]
        assert found.interval[1] / found.interval[0] < 3  # within a grid step
        covered.append(found.interval[0] <= 0.7 <= found.interval[1])
    assert np.mean(covered) >= 0.7  # a 90 % interval, from 20 draws


def test_lr_optimum_falls_back_to_the_grids_best_at_its_edge_and_beside_a_diverged_lr():
    at_edge = analysis.lr_optimum(landscape(50.0))
    assert not at_edge.fitted and at_edge.lr == LRS[-1]
    beside = landscape(1.0)
    beside[LRS > 1.5] = np.nan  # diverged
    found = analysis.lr_optimum(beside)
    assert not found.fitted and found.lr == 1.0
    assert analysis.lr_optimum(beside * np.nan) is None


def test_divergence_edge_is_between_the_last_stable_lr_and_the_first_diverged():
    diverged = xr.DataArray(np.zeros((len(LRS), 2), bool), dims=("lr", "seed"), coords={"lr": LRS})
    assert np.isnan(analysis.divergence_edge(diverged))  # past the grid
    diverged[5, 1] = True  # one seed at lr 3 diverged, both at 9
    diverged[6] = True
    assert analysis.divergence_edge(diverged) == pytest.approx(np.sqrt(1 * 3))
    diverged[0, 0] = True
    assert np.isnan(analysis.divergence_edge(diverged))  # even the smallest diverged


def test_compute_envelope_follows_the_compute_optimal_exponent():
    """L = N^-a + t^-b with C = N t: the frontier min_N L falls as C^(-ab/(a+b)) (THEORY.md §2)."""
    a, b = 1.0, 0.5
    widths = 2.0 ** np.arange(4, 15)
    steps = np.geomspace(1, 1e6, 200)
    curves = {n: (n * steps, n**-a + steps**-b) for n in widths}
    envelope = analysis.compute_envelope(curves)
    inside = (envelope.compute > 1e5) & (envelope.compute < 1e8)  # the frontier between widths, not at its ends
    slope = np.polyfit(np.log(envelope.compute[inside]), np.log(envelope.loss[inside]), 1)[0]
    assert slope == pytest.approx(-a * b / (a + b), abs=0.02)
    assert np.all(np.diff(envelope.width[inside]) >= 0)  # the optimal width grows with compute
    for c, loss, n in zip(envelope.compute, envelope.loss, envelope.width):  # the lowest curve there, and on it
        at_c = [np.exp(np.interp(np.log(c), np.log(x), np.log(y), left=np.inf, right=np.inf)) for x, y in curves.values()]
        assert loss == pytest.approx(min(at_c), rel=1e-9)
        assert loss == pytest.approx(np.exp(np.interp(np.log(c), *map(np.log, curves[n]))), rel=1e-9)


def test_compute_envelope_refuses_a_single_curve():
    with pytest.raises(ValueError, match="two or more curves"):
        analysis.compute_envelope({8: (np.array([1.0, 10.0]), np.array([1.0, 0.5]))})
