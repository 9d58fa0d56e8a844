"""Ensembles over seeds and the distance between widths (THEORY.md §6; Vyas et al., NeurIPS 2023).

A network of width N differs from the infinite-width limit by an initialization-dependent
*variance* (∝ 1/N, removed by averaging seeds) and a *bias* of narrow width that
ensembling does not remove.  With f_ref the ensemble mean at a reference (the widest) width,

    E_seeds ‖f_N − f_ref‖² = ‖E_seeds f_N − f_ref‖² + Var_seeds(f_N)
            distance       =         bias          +    variance

exactly, where ‖g‖² is the mean over probe points of the sum over outputs of g², and the
variance is the population one (ddof = 0).  Over E seeds, ``bias`` also holds the seed noise
of both ensemble means, about (Var_N + Var_ref)/E, which falls as 1/N like the variance;
the mean shift itself is O(1/N), so the noise-free squared bias falls faster, while the
ensemble loss gap, linear in the shift, falls as 1/N.

The functions take ``ds.probe_pred`` (dims: swept axes, ``pred_step``, ``probe`` and, for
several outputs, ``output``) or the Dataset of ``scaling.load``, and keep every dimension
they do not reduce.  NaN propagates: a diverged or not-yet-run member makes the numbers
it enters NaN.  To leave such members out, select the seeds to keep first.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import xarray as xr

Dims = Hashable | Sequence[Hashable]


def _squared_norm(error: xr.DataArray) -> xr.DataArray:
    """‖g‖²: the mean over ``probe`` of the sum over ``output`` (when present) of g²."""
    squared = error**2
    if "output" in squared.dims:
        squared = squared.sum("output", skipna=False)
    return squared.mean("probe", skipna=False)


def ensemble_mean(pred: xr.DataArray, over: Dims = "seed") -> xr.DataArray:
    """The ensemble-averaged predictor f̄ = E_seeds f, pointwise (THEORY.md §6)."""
    return pred.mean(over, skipna=False)


def ensemble_variance(pred: xr.DataArray, over: Dims = "seed") -> xr.DataArray:
    """Var_seeds(f) (ddof = 0), averaged over probe points and summed over outputs: the
    initialization variance, ≈ c_v(t)/N in μP (THEORY.md §6)."""
    return _squared_norm(pred - ensemble_mean(pred, over)).mean(over, skipna=False)


def member_loss(ds: xr.Dataset) -> xr.DataArray:
    """Each member's squared error on the probe set, ‖f − y‖² against ``ds.probe_target``."""
    return _squared_norm(ds.probe_pred - ds.probe_target)


def ensemble_loss(ds: xr.Dataset, over: Dims = "seed") -> xr.DataArray:
    """The squared error of the ensemble-averaged predictor on the probe set, ‖f̄ − y‖².

    The mean member loss exceeds it by the ensemble variance (THEORY.md §6: ensembling
    removes the variance term, not the bias of narrow width)."""
    return _squared_norm(ensemble_mean(ds.probe_pred, over) - ds.probe_target)


def width_distance(pred: xr.DataArray, reference: Hashable | None = None, over: Dims = "seed",
                   dim: Hashable = "width") -> xr.Dataset:
    """Distance of each width's members from the reference ensemble mean, split in two.

    Returns ``distance`` = E_seeds ‖f_N − f_ref‖², ``bias`` = ‖E_seeds f_N − f_ref‖² (the
    distance of the ensemble mean) and ``variance`` = Var_seeds(f_N), with distance =
    bias + variance; f_ref is the ensemble mean at ``dim`` = ``reference`` (default: the
    largest value), so its bias is 0.  Every other dimension is kept (``pred_step``, ``gamma``, …)."""
    if reference is None:
        reference = pred[dim].max().item()
    f_ref = ensemble_mean(pred.sel({dim: reference}, drop=True), over)
    distance = _squared_norm(pred - f_ref).mean(over, skipna=False)
    bias = _squared_norm(ensemble_mean(pred, over) - f_ref)
    variance = ensemble_variance(pred, over)
    return xr.Dataset({"distance": distance, "bias": bias, "variance": variance}, attrs={"reference": reference})
