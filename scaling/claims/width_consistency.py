"""Feature-learning networks are consistent across widths (THEORY.md §6; Vyas et al., NeurIPS 2023):
a μP network of width N differs from the widest by an initialization variance Var_seeds(f_N) ∝ 1/N,
which ensembling over seeds removes, and a bias ∝ 1/N, which it does not: the ensemble of narrow
networks is worse than the wide one, L(f̄_N) − L(f̄_ref) ∝ 1/N.

On the test set at the last logged step (``test_pred``, ``measure.test_predictions``), per point
of the swept axes other than width and the seeds, with the widest width as the reference:
- the variance over seeds (``ensemble.width_distance``) is fitted against N over the other widths;
- the ensemble's loss L(f̄_N) (``ensemble.seed_ensemble_loss``) over E seeds exceeds the infinite
  ensemble's by the seed noise Var/E on average, whose unbiased estimate V̂/(E − 1) (V̂ the ddof = 0
  variance) is subtracted at each width, reference included.  What is left fluctuates by the
  projection of the seed noise on the residual, 2⟨f̄ − y, f_i − f̄⟩ averaged over the E seeds, of
  standard error (SE) ∝ √(L·Var/E) ∝ 1/√(N E) against a gap ∝ 1/N: resolving width N takes E ∝ N;
- against a finite reference R the gap is c (N^a − R^a), not a power law: its exponent is fitted
  to gap / (1 − (R/N)^a) = c N^a with a iterated to its fixed point (from −1).  The seed noise of
  the gaps (each width's own and the reference's, common to all) gives the SE of a, which must be
  at most half the tolerance for the slope to be measured at all: beyond, the claim is not resolved
  at this size (it takes E ≈ 4000 seeds: the ``full`` size).
Pass (THEORY.md §6 "Experiment"): both slopes within ± 0.15 of −1 (``fit_power_law``; its 95 %
interval from the scatter in the claim) and the narrowest ensemble's loss above the widest's by
more than ``N_SE`` standard errors.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from scaling.analysis import page_name, pages, seed_dims
from scaling.claims.registry import Verdict, register
from scaling.measure import ensemble
from scaling.theory.fit import PowerLawFit, fit_power_law

EXPONENT, TOLERANCE, N_SE = -1.0, 0.15, 2.0


def _inner(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """⟨a, b⟩: the mean over the points of the sum over outputs (``ensemble``'s ‖·‖²'s inner product)."""
    product = a * b
    if "output" in product.dims:
        product = product.sum("output")
    return product.mean(ensemble.points_dim(product))


def noise_corrected_loss(point: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """The seed ensemble's test loss less its seed-noise bias, ‖f̄ − y‖² − V̂/(E − 1), and the
    standard error of that estimate to leading order, √(Var_i 2⟨f̄ − y, f_i − f̄⟩ / E)."""
    over = seed_dims(point.test_pred)
    n_seeds = int(np.prod([point.sizes[d] for d in over]))
    mean = ensemble.ensemble_mean(point.test_pred, over)
    variance = ensemble.ensemble_variance(point.test_pred, over)
    loss = ensemble.seed_ensemble_loss(point, "test") - variance / (n_seeds - 1)
    projection = 2 * _inner(mean - point.test_target, point.test_pred - mean)
    error = np.sqrt((projection**2).sum(over) / (n_seeds - 1) / n_seeds)
    return loss, error


def gap_exponent(widths: np.ndarray, gaps: np.ndarray, reference: float, iterations: int = 100) -> PowerLawFit:
    """Fit of gap(N) = c (N^a − R^a) for N < R: the power law gap / (1 − (R/N)^a) = c N^a, a
    iterated from −1 to its fixed point (``fit_power_law`` raises without three positive points)."""
    exponent, fit = EXPONENT, None
    for _ in range(iterations):
        fit = fit_power_law(widths, gaps / (1 - (reference / widths) ** exponent))
        if abs(fit.exponent - exponent) < 1e-9 or fit.exponent >= 0:  # no decay: nothing to correct
            break
        exponent = fit.exponent
    return fit if fit.exponent < 0 else fit_power_law(widths, gaps)


def slope_noise(widths: np.ndarray, gaps: np.ndarray, errors: np.ndarray, reference_error: float) -> float:
    """The standard error of the least-squares slope of log gap on log N from the seed noise of the
    gaps (``errors``, each width's own) and of the reference, which shifts every gap alike."""
    x = np.log(widths)
    weights = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    return float(np.sqrt(np.sum((weights * errors / gaps) ** 2) + (reference_error * np.sum(weights / gaps)) ** 2))


def _slope_verdict(claim: str, fit: PowerLawFit | None, tolerance: str, resolved: bool = True) -> Verdict:
    """Holds when the fitted exponent is within the tolerance of −1; not resolved (None) when the
    seed noise of the slope is too large to tell."""
    measured = fit.exponent if fit else float("nan")
    interval = f", 95 % CI [{fit.interval[0]:.2f}, {fit.interval[1]:.2f}]" if fit else ""
    holds = bool(fit and abs(measured - EXPONENT) <= TOLERANCE) if resolved else None
    return Verdict(claim + interval, measured, EXPONENT, tolerance, holds)


def _fit_or_none(fit, *args) -> PowerLawFit | None:
    try:
        return fit(*args)
    except ValueError:
        return None


def check(ds: xr.Dataset) -> list[Verdict]:
    verdicts = []
    for where in pages(ds, ("width",)):
        point = ds.sel(where).isel(test_pred_step=-1)
        step = int(point.test_pred_step)
        over = seed_dims(point.test_pred)
        n_seeds = int(np.prod([point.sizes[d] for d in over]))
        split = ensemble.width_distance(point.test_pred, over=over)
        reference = split.attrs["reference"]
        narrow = np.sort(point.width.values[point.width.values != reference])
        loss, error = noise_corrected_loss(point)
        gap = (loss - loss.sel(width=reference)).sel(width=narrow).values
        own, shared = error.sel(width=narrow).values, float(error.sel(width=reference))
        gap_error = np.sqrt(own**2 + shared**2)
        label = f"N = {narrow.min()}–{narrow.max()}, ref {reference}, E = {n_seeds}, step {step}" + (
            f", {page_name(where)}" if where else "")
        variance_fit = _fit_or_none(fit_power_law, narrow, split.variance.sel(width=narrow).values)
        gap_fit = _fit_or_none(gap_exponent, narrow, gap, reference)
        noise = slope_noise(narrow, gap, own, shared) if np.all(gap > 0) else float("inf")
        verdicts += [
            _slope_verdict(f"Var_seeds f_N ∝ N^a ({label}; §6)", variance_fit, f"± {TOLERANCE}"),
            _slope_verdict(f"L(f̄_N) − L(f̄_ref) ∝ N^a − ref^a, gaps {', '.join(f'{g:.2g}' for g in gap)} "
                           f"({', '.join(f'{r:.1f}' for r in gap / gap_error)} SE), seed-noise SE of a {noise:.2f} "
                           f"({label}; §6)", gap_fit, f"± {TOLERANCE}, SE of a ≤ {TOLERANCE / N_SE:g}",
                           noise <= TOLERANCE / N_SE),
            Verdict(f"L(f̄_{narrow.min()}) − L(f̄_{reference}): narrow ensemble worse ({label}; §6)", float(gap[0]),
                    "> 0", f"> {N_SE:g} SE = {N_SE * gap_error[0]:.2g}", bool(gap[0] > N_SE * gap_error[0])),
        ]
    return verdicts


register("width_consistency", check)
