"""Ensembles over seeds and the distance between widths (THEORY.md §6; Vyas et al., NeurIPS 2023).

A network of width N differs from the infinite-width limit by an initialization-dependent
*variance* (∝ 1/N, removed by averaging seeds) and a *bias* of narrow width that
ensembling does not remove.  With f_ref the ensemble mean at a reference (the widest) width,

    E_seeds ‖f_N − f_ref‖² = ‖E_seeds f_N − f_ref‖² + Var_seeds(f_N)
            distance       =         bias          +    variance

exactly, where ‖g‖² is the mean over the points of a fixed set (the probe or the test set)
of the sum over outputs of g², and the variance is the population one (ddof = 0).  Over E
seeds, ``bias`` also holds the seed noise of both ensemble means, about (Var_N + Var_ref)/E,
which falls as 1/N like the variance; the mean shift itself is O(1/N), so the noise-free
squared bias falls faster, while the ensemble loss gap, linear in the shift, falls as 1/N.

The functions take predictions on a fixed set of points, ``ds.probe_pred`` (dims: swept axes,
``pred_step``, ``probe`` and, for several outputs, ``output``) or ``ds.test_pred`` (``test_pred_step``,
``test``[, ``output``]; ``measure/test_predictions.py``), or the Dataset of ``scaling.load`` with
``points`` naming the set, and keep every dimension they do not reduce (over training steps,
the numbers come out along the step coordinate).  NaN propagates: a diverged or not-yet-run
member makes the numbers it enters NaN.  To leave such members out, select the seeds to keep first.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import xarray as xr

from scaling.analysis import seed_dims

Dims = Hashable | Sequence[Hashable]
POINTS = ("probe", "test")  # the fixed sets predictions are stored on: ``{points}_pred``, ``{points}_target``


def points_dim(da: xr.DataArray) -> str:
    """The fixed set ``da`` is on: its one dimension among ``POINTS``."""
    found = [d for d in POINTS if d in da.dims]
    if len(found) != 1:
        raise ValueError(f"predictions need exactly one of the dimensions {POINTS}, got {da.dims}")
    return found[0]


def _squared_norm(error: xr.DataArray) -> xr.DataArray:
    """‖g‖²: the mean over the points (``probe`` or ``test``) of the sum over ``output`` (when present) of g²."""
    squared = error**2
    if "output" in squared.dims:
        squared = squared.sum("output", skipna=False)
    return squared.mean(points_dim(squared), skipna=False)


def ensemble_mean(pred: xr.DataArray, over: Dims = "seed") -> xr.DataArray:
    """The ensemble-averaged predictor f̄ = E_seeds f, pointwise (THEORY.md §6)."""
    return pred.mean(over, skipna=False)


def ensemble_variance(pred: xr.DataArray, over: Dims = "seed") -> xr.DataArray:
    """Var_seeds(f) (ddof = 0), averaged over the points and summed over outputs: the
    initialization variance, ≈ c_v(t)/N in μP (THEORY.md §6)."""
    return _squared_norm(pred - ensemble_mean(pred, over)).mean(over, skipna=False)


def member_loss(ds: xr.Dataset, points: str = "probe") -> xr.DataArray:
    """Each member's squared error on the ``points`` set (``probe`` or ``test``), ‖f − y‖² of
    ``ds[points + "_pred"]`` against ``ds[points + "_target"]``: the test loss under ``train.loss = "mse"``."""
    return _squared_norm(ds[f"{points}_pred"] - ds[f"{points}_target"])


def ensemble_loss(ds: xr.Dataset, over: Dims = "seed", points: str = "probe") -> xr.DataArray:
    """The squared error of the ensemble-averaged predictor on the ``points`` set, ‖f̄ − y‖².

    The mean member loss exceeds it by the ensemble variance (THEORY.md §6: ensembling
    removes the variance term, not the bias of narrow width)."""
    return _squared_norm(ensemble_mean(ds[f"{points}_pred"], over) - ds[f"{points}_target"])


def seed_ensemble_loss(ds: xr.Dataset, points: str = "probe") -> xr.DataArray:
    """``ensemble_loss`` over every seed dimension ``ds`` has (``scaling.analysis.seed_dims``); each
    member's own loss when it has none."""
    over = seed_dims(ds)
    return ensemble_loss(ds, over, points) if over else member_loss(ds, points)


def width_distance(pred: xr.DataArray, reference: Hashable | None = None, over: Dims = "seed",
                   dim: Hashable = "width") -> xr.Dataset:
    """Distance of each width's members from the reference ensemble mean, split in two.

    Returns ``distance`` = E_seeds ‖f_N − f_ref‖², ``bias`` = ‖E_seeds f_N − f_ref‖² (the
    distance of the ensemble mean) and ``variance`` = Var_seeds(f_N), with distance =
    bias + variance; f_ref is the ensemble mean at ``dim`` = ``reference`` (default: the
    largest value), so its bias is 0.  Every other dimension is kept (``pred_step`` or
    ``test_pred_step``, ``gamma``, …)."""
    if reference is None:
        reference = pred[dim].max().item()
    f_ref = ensemble_mean(pred.sel({dim: reference}, drop=True), over)
    distance = _squared_norm(pred - f_ref).mean(over, skipna=False)
    bias = _squared_norm(ensemble_mean(pred, over) - f_ref)
    variance = ensemble_variance(pred, over)
    return xr.Dataset({"distance": distance, "bias": bias, "variance": variance}, attrs={"reference": reference})
