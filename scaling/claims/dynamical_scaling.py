"""A dynamical model of neural scaling laws (THEORY.md §2; Bordelon, Atanasov & Pehlevan, ICML
2024): the test loss of linear random features trained by gradient flow on P points, L(t, N, P),
has a deterministic equivalent (``theory.dynamics.rf_gf_loss``, the overlay ``rf_gf``), with the
model (N) and data (P) bottlenecks and, with label noise, the late-time rise of the loss as a
model with N > P fits the noise.

Pass (THEORY.md §2 "Experiment"): within 8 % (2.5 SE) at every logged t; and the rise
L(T)/min_t L of each N > P point within 8 % of the theory's, where the theory has the loss rise
by 5 % or more within the run.
"""

from __future__ import annotations

import xarray as xr

from scaling.analysis import page_name, pages, seed_dims, shown_values
from scaling.claims.registry import Verdict, register, relative, theory_agreement

TOLERANCE, N_SE, VISIBLE_RISE = 0.08, 2.5, 1.05


def rise(loss: xr.DataArray) -> float:
    """L(T) / min_t L of a seed-mean loss curve: how far the loss climbs back from its minimum."""
    return float(loss.isel(step=-1) / loss.min("step"))


def check(ds: xr.Dataset) -> list[Verdict]:
    verdicts = theory_agreement(ds, TOLERANCE, 1, N_SE, section="; §2")
    for where in pages(ds, ()):
        point = ds.sel(where)
        values = shown_values(ds, point.test_loss)
        if values["model.width"] <= values["data.n_train"]:
            continue
        seeds = seed_dims(point.test_loss)
        measured, predicted = rise(point.test_loss.mean(seeds)), rise(point.theory_loss.mean(seeds))
        if predicted < VISIBLE_RISE:  # the run ends before the noise is fitted
            continue
        verdicts.append(Verdict(f"late-time rise L(T)/min L as N > P fits the label noise ({page_name(where)}; §2)",
                                measured, predicted, f"{TOLERANCE:.0%} relative",
                                relative(measured, predicted) <= TOLERANCE))
    return verdicts


register("dynamical_scaling", check)
