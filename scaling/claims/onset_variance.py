"""The onset of variance-limited behaviour (THEORY.md §7; Atanasov, Bordelon, Sainathan & Pehlevan,
ICLR 2023): the test error E_N of a width-N network leaves the infinite-width learning curve E_∞ at
P* ∝ √N, and kernel regression with the network's final empirical NTK reproduces its test error.

Read from ``measure.kernel_baselines`` at its last step, on the same capped test points:
E_N = ``kernel_net_test_loss`` (each member is one network: its own error, not an ensemble's),
E_∞ = ``ntk_inf_test_loss`` (ridgeless regression with the infinite-width NTK on the member's training
set) and the final-eNTK regression ``kernel_test_loss``; each averaged over the seeds (init seeds with
data seeds zipped) first, E_∞ also over widths (it does not depend on N).

- P*(N): the first P (``data.n_train``, increasing) where E_N / E_∞ reaches 2, interpolated linearly
  in (log P, log E_N/E_∞) between the two bracketing sizes; the slope of log P* against log N
  (``theory.fit.fit_power_law``) must be 0.5 ± 0.1 (THEORY.md §7 "Experiment").
- The final-eNTK regression against the network: |E_kernel − E_N| / E_N at every (N, P), within
  ``KERNEL_TOLERANCE`` (the paper's Fig. 1/5: the final NTK's learning curve lies on the network's
  for every N and α; 20 %, the spread of the seed means at the few seeds a CPU affords).

Both compare converged networks with converged (ridgeless) regressions: a point (N, P) counts only
where every seed reached ``train.stop_loss`` (``stopped_step`` ≥ 0; the paper trains to 10⁻⁶).  The
slope is not resolved (None) when a network its onsets are read from has not converged, nor the
kernel claim when no point has: an under-trained network is not the paper's E_N.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from scaling.analysis import mean_over_seeds, page_name, pages, seed_dims
from scaling.claims.registry import Verdict, register
from scaling.theory.fit import fit_power_law

SLOPE, SLOPE_TOLERANCE, ONSET_RATIO, KERNEL_TOLERANCE = 0.5, 0.1, 2.0, 0.2


def onset(sizes: np.ndarray, ratio: np.ndarray, level: float = ONSET_RATIO) -> float:
    """The first size where ``ratio`` reaches ``level``, interpolated in (log size, log ratio) between
    the sizes that bracket it; NaN when it never does or already does at the first size."""
    above = np.flatnonzero(ratio >= level)
    if not above.size or above[0] == 0:
        return float("nan")
    i = above[0]
    weight = np.log(level / ratio[i - 1]) / np.log(ratio[i] / ratio[i - 1])
    return float(np.exp(np.log(sizes[i - 1]) + weight * np.log(sizes[i] / sizes[i - 1])))


def learning_curves(point: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """(E_N, E_∞, E_kernel) at the last baseline step, seed means: E_N and E_kernel over (width,
    n_train), E_∞ over n_train."""
    final = point.isel(kernel_step=-1)
    infinite = mean_over_seeds(final.ntk_inf_test_loss)
    return (mean_over_seeds(final.kernel_net_test_loss), infinite.mean([d for d in infinite.dims if d != "n_train"]),
            mean_over_seeds(final.kernel_test_loss))


def onsets(network: xr.DataArray, infinite: xr.DataArray) -> np.ndarray:
    """P*(N) per width of ``network`` (width, n_train): where E_N / E_∞ first reaches 2."""
    sizes = network.n_train.values.astype(float)
    return np.array([onset(sizes, (network.sel(width=w) / infinite).values) for w in network.width.values])


def converged(point: xr.Dataset) -> xr.DataArray:
    """Over (width, n_train): every seed reached ``train.stop_loss`` (all True without one)."""
    if "stopped_step" not in point:
        return xr.ones_like(point.diverged.isel({d: 0 for d in seed_dims(point.diverged)}), bool)
    reached = point.stopped_step >= 0
    return reached.all(seed_dims(reached)) if seed_dims(reached) else reached


def unconverged(done: xr.DataArray, bracket: dict) -> list[str]:
    """The (N, P) of the widths' P ≤ their onset's upper bracket where a network has not converged."""
    return [f"N = {w}, P = {p}" for w, last in bracket.items() for p in done.n_train.values[:last + 1]
            if not bool(done.sel(width=w, n_train=p))]


def check(ds: xr.Dataset) -> list[Verdict]:
    verdicts = []
    for where in pages(ds, ("width", "n_train")):
        point = ds.sel(where)
        network, infinite, kernel = learning_curves(point)
        done = converged(point).transpose("width", "n_train")
        label = f"{page_name(where)}; " if where else ""
        found = onsets(network, infinite)
        widths = network.width.values
        sizes = network.n_train.values
        bracket = {w: int(np.searchsorted(sizes, p)) if np.isfinite(p) else len(sizes) - 1 for w, p in zip(widths, found)}
        missing = unconverged(done, bracket)
        try:
            slope = fit_power_law(widths, found).exponent
        except ValueError:  # fewer than three widths with an onset inside the P grid
            slope = float("nan")
        onset_list = ", ".join(f"{p:.3g}" for p in found)
        note = f"; not converged at {', '.join(missing)}" if missing else ""
        verdicts.append(Verdict(f"P* ∝ N^a where E_N = 2 E_∞ (P* = {onset_list} at N = "
                                f"{', '.join(str(w) for w in widths)}; {label}§7{note}): slope a",
                                float(slope), SLOPE, f"± {SLOPE_TOLERANCE}",
                                None if missing else bool(abs(slope - SLOPE) <= SLOPE_TOLERANCE)))
        deviation = (abs(kernel - network) / network).where(done)
        if not bool(done.any()):
            verdicts.append(Verdict(f"kernel regression with the final eNTK reproduces the network's test loss "
                                    f"({label}§7; no network converged)", float("nan"), 0.0,
                                    f"≤ {KERNEL_TOLERANCE:.0%}", None))
            continue
        worst = deviation.where(deviation == deviation.max(), drop=True)
        at = f"N = {int(worst.width.values[0])}, P = {int(worst.n_train.values[0])}"
        verdicts.append(Verdict(f"kernel regression with the final eNTK reproduces the network's test loss: worst "
                                f"|E_kernel − E_N| / E_N over the {int(done.sum())} converged (N, P) of "
                                f"{done.size} (at {at}; {label}§7)",
                                float(deviation.max()), 0.0, f"≤ {KERNEL_TOLERANCE:.0%}",
                                bool(deviation.max() <= KERNEL_TOLERANCE)))
    return verdicts


register("onset_variance", check)
