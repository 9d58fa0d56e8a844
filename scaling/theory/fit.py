"""Power laws fitted to measurements: exponent, prefactor and a confidence interval."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats


@dataclasses.dataclass(frozen=True)
class PowerLawFit:
    exponent: float  # a in y ≈ c x^a
    prefactor: float  # c
    stderr: float  # standard error of a
    interval: tuple[float, float]  # confidence interval of a
    n_points: int
    r_squared: float  # of the straight line in log-log: how well a power law describes the points


def fit_power_law(x, y, window: tuple[float, float] | None = None, confidence: float = 0.95) -> PowerLawFit:
    """Least squares of log y on log x over the points with x in ``window`` (inclusive) and
    finite, positive x and y; the interval is Student's t on the slope's standard error."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if window is not None:
        keep &= (x >= window[0]) & (x <= window[1])
    if keep.sum() < 3:
        raise ValueError(f"a power-law fit needs 3 or more positive points in the window {window}, got {int(keep.sum())}")
    result = stats.linregress(np.log(x[keep]), np.log(y[keep]))
    half = stats.t.ppf(0.5 + confidence / 2, keep.sum() - 2) * result.stderr
    return PowerLawFit(float(result.slope), float(np.exp(result.intercept)), float(result.stderr),
                       (float(result.slope - half), float(result.slope + half)), int(keep.sum()),
                       float(result.rvalue**2))
