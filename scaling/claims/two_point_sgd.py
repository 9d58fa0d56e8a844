"""Online SGD in linear models (THEORY.md §3; Atanasov, Bordelon, Zavatone-Veth, Paquette &
Pehlevan 2025, "Two-point deterministic equivalence for SGD in linear models"): the test loss of
online SGD follows the exact recursion of its mode errors, a Volterra equation whose forcing and
kernel are one- and two-point functionals of the feature covariance.  Pass (THEORY.md §3
"Experiment"): within 3 % at every n ∈ [10, T], here beyond two standard errors of the seed mean.
"""

from __future__ import annotations

import xarray as xr

from scaling.claims.registry import Verdict, register, theory_agreement

TOLERANCE, FIRST_STEP = 0.03, 10


def check(ds: xr.Dataset) -> list[Verdict]:
    return theory_agreement(ds, TOLERANCE, FIRST_STEP, section="; §3")


register("two_point_sgd", check)
