"""The onset of variance-limited behaviour (THEORY.md §7; Atanasov, Bordelon, Sainathan &
Pehlevan, ICLR 2023): the finite-width error leaves the infinite-width learning curve at
P* ∝ √N.

Toy model: ridgeless linear random features (§1) for a kernel whose target lives in an
m-dimensional top eigenspace of eigenvalue λ_T, plus a flat tail of total trace τ.
"""

from __future__ import annotations

import numpy as np

from scaling.theory import ridge
from scaling.theory.spectra import Spectrum


def toy_spectrum(m: int, top: float, tail_trace: float, tail_modes: int) -> Spectrum:
    """m modes of eigenvalue λ_T carrying the target (unit power in all), then ``tail_modes`` modes
    of total trace τ and no target."""
    eigenvalues = np.concatenate([np.full(m, top), np.full(tail_modes, tail_trace / tail_modes)])
    power = np.concatenate([np.full(m, 1.0 / m), np.zeros(tail_modes)])
    return Spectrum(eigenvalues, power)


def infinite_width_error(P, top: float, tail_trace: float):
    """E_∞ ≈ (τ/(Pλ_T))² ∝ P^{-2} (§7)."""
    return (tail_trace / (np.asarray(P, float) * top)) ** 2


def variance_floor(N, top: float, tail_trace: float, ensembles: int = 1):
    """The RF variance floor ≈ τ/(Nλ_T), divided by the number of ensembled seeds E (§7)."""
    return tail_trace / (np.asarray(N, float) * top * ensembles)


def onset_sample_size(N, top: float, tail_trace: float, ensembles: int = 1):
    """P* = √(τNE/λ_T), where the floor meets the infinite-width curve (§7)."""
    return np.sqrt(tail_trace * np.asarray(N, float) * ensembles / top)


def measured_onset(N: int, spectrum: Spectrum, sizes) -> float:
    """P* from the §1 ridgeless formulas on ``spectrum``: the first P of ``sizes`` (increasing)
    where the width-N error reaches twice the infinite-width one, interpolated in log P."""
    sizes = np.asarray(sizes, float)
    ratio = np.array([ridge.rf_test_error(N, P, 0.0, spectrum) / ridge.ridge_test_error(P, 0.0, spectrum)
                      for P in sizes])
    above = np.nonzero(ratio >= 2)[0]
    if len(above) == 0 or above[0] == 0:
        return float("nan")
    i = above[0]
    weight = np.log(2 / ratio[i - 1]) / np.log(ratio[i] / ratio[i - 1])
    return float(np.exp(np.log(sizes[i - 1]) + weight * np.log(sizes[i] / sizes[i - 1])))
