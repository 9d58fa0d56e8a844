"""The optimization landscape of SGD across the feature-learning strength γ (THEORY.md §4;
Atanasov, Meterez, Simon & Pehlevan, ICLR 2025): the largest stable learning rate grows like γ²
for γ ≪ 1 (lazy) and like γ^(2/L) for γ ≫ 1 (rich), L the number of weight matrices.

η_max(γ) is the divergence edge of the lr grid (``analysis.divergence_edge``) at the largest
width, and its power laws are fitted over γ ∈ [10⁻², 10⁻¹] and [10, 10²]; pass: within ± 0.15 of
2 and 2/L (THEORY.md §4 "Experiment").  A depth axis gives a pair of claims per depth.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from scaling import models
from scaling.analysis import divergence_edge, pages, shown_values
from scaling.claims.registry import Verdict, register
from scaling.theory.fit import fit_power_law
from scaling.theory.learning_rate import gamma_lr_exponents

LAZY, RICH = (1e-2, 1e-1), (1e1, 1e2)  # the γ windows of the fits
TOLERANCE = 0.15


def edge_exponents(diverged: xr.DataArray) -> tuple[float, float]:
    """The fitted exponents of η_max(γ) over the lazy and the rich window (NaN with fewer than
    three finite edges in a window); ``diverged`` over (gamma, lr, seeds)."""
    gammas = diverged.gamma.values
    edges = np.array([divergence_edge(diverged.sel(gamma=g)) for g in gammas])
    out = []
    for window in (LAZY, RICH):
        try:
            out.append(fit_power_law(gammas, edges, (window[0] * 0.999, window[1] * 1.001)).exponent)
        except ValueError:
            out.append(float("nan"))
    return out[0], out[1]


def check(ds: xr.Dataset) -> list[Verdict]:
    verdicts = []
    for where in pages(ds, ("gamma", "lr", "width")):
        at = ds.diverged.sel(where)
        if "width" in at.dims:
            at = at.isel(width=-1)
        values = shown_values(ds, at)
        n_layers = models.n_layers(values)
        small, large = gamma_lr_exponents(n_layers, values["optim.name"])
        lazy, rich = edge_exponents(at)
        label = f"L = {n_layers}" + "".join(f", {d} = {v}" for d, v in where.items() if d != "depth")
        for measured, predicted, regime, window in ((lazy, small, "γ ≪ 1", LAZY), (rich, large, "γ ≫ 1", RICH)):
            verdicts.append(Verdict(
                claim=f"η_max ∝ γ^a for {regime}, γ ∈ [{window[0]:g}, {window[1]:g}] ({label}; §4)",
                measured=measured, predicted=predicted, tolerance=f"± {TOLERANCE}",
                holds=bool(abs(measured - predicted) <= TOLERANCE)))
    return verdicts


register("gamma_lr", check)
