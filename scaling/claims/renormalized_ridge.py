"""Scaling and renormalization in high-dimensional regression (THEORY.md §1; Atanasov,
Zavatone-Veth & Pehlevan 2024): the test error of linear random features fitted by ridge λ on P
points is E_g of the renormalized ridge κ solving λ = κ(1 − D1(κ)/N)(1 − D1(κ)/P)
(``theory.ridge.rf_test_error``), the fluctuations of the features and the data absorbed into κ.

The framework fits by gradient descent with weight decay ω (ridge λ = ωγ²/2), whose whole curve is
the overlay ``rf_ridge``; once it has converged, its end is the §1 estimator.  Pass (THEORY.md §1
"Experiment", RF): within 8 % (2.5 SE) of the overlay at every logged step, and the final test loss
within 8 % (2.5 SE) of E_g where the overlay has converged (its end within 1 % of E_g; a centred
net's initial readout adds a pull of (init_scale/γ)² to the ridge solution, kept small here).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from scaling.analysis import page_name, pages, seed_dims, shown_values
from scaling.claims.registry import Verdict, register, theory_agreement
from scaling.theory import ridge, spectra

TOLERANCE, N_SE, CONVERGED = 0.08, 2.5, 0.01


def renormalized_error(values: dict) -> float:
    """§1's E_g of linear random features at the point's N, P, ridge λ = ωγ²/2 and noise."""
    spectrum = spectra.powerlaw(values["data.dim"], values["data.alpha"], values["data.beta"])
    ridge_lambda = values["optim.weight_decay"] * values["model.gamma"] ** 2 / 2
    return float(ridge.rf_test_error(values["model.width"], values["data.n_train"], ridge_lambda, spectrum,
                                     values["data.noise"]))


def check(ds: xr.Dataset) -> list[Verdict]:
    verdicts = theory_agreement(ds, TOLERANCE, 1, N_SE, section="; §1")
    for where in pages(ds, ()):
        point = ds.sel(where).isel(step=-1)
        seeds = seed_dims(point.test_loss)
        values = shown_values(ds, point.test_loss.isel({d: 0 for d in seeds}))
        predicted = renormalized_error(values)
        if abs(float(point.theory_loss.mean(seeds)) / predicted - 1) > CONVERGED:  # the flow has not reached it
            continue
        final = point.test_loss
        mean = float(final.mean(seeds))
        error = float(final.std(seeds)) / np.sqrt(final.size)
        verdicts.append(Verdict(f"final test loss = E_g of the renormalized ridge ({page_name(where)}; §1)", mean,
                                predicted, f"{TOLERANCE:.0%} or {N_SE:g} SE",
                                abs(mean - predicted) <= max(TOLERANCE * predicted, N_SE * error)))
    return verdicts


register("renormalized_ridge", check)
