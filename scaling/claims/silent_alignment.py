"""Silent alignment (THEORY.md §8; Atanasov, Bordelon & Pehlevan, ICLR 2022): from a small
initialization σ on whitened data, the tangent kernel aligns with the target at a time t₁ = O(1/s)
that does not depend on σ, while the loss has not moved, and the loss drops only at
t₂ ≈ (1/2s) ln(s/(Nσ²)).

Times are gradient-flow times t = 2ηn/γ² (``theory.curves.gradient_flow_time``) of the members
along ``model.init_scale`` (σ up to a constant), read off the logged losses and NTK alignments by
linear interpolation.  Pass (THEORY.md §8 "Experiment"): the slope of t₂ against ln(1/σ²) within
5 % of 1/(2s); t₁ varying by less than 15 % across σ; the loss above 0.95 L₀ at t₁ for σ ≤ 10⁻³.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from scaling.analysis import shown_values
from scaling.claims.registry import Verdict, register, relative
from scaling.measure.registry import Figure
from scaling.report import silent_alignment as figures
from scaling.theory import alignment

SLOPE_TOLERANCE, SPREAD_TOLERANCE, QUIET_LOSS, QUIET_BELOW = 0.05, 0.15, 0.95, 1e-3


def timescales(member: xr.Dataset, gamma: float) -> tuple[float, float, float]:
    """(t₁, t₂, L(t₁)/L₀) of one member (``theory.alignment.measured_timescales``), from its test
    loss and NTK alignment at gradient-flow times."""
    rate = 2 * float(member.lr_effective) / gamma**2
    return alignment.measured_timescales(rate * member.step.values, member.test_loss.values,
                                         rate * member.ntk_step.values, member.ntk_alignment.values)


def check(ds: xr.Dataset) -> list[Verdict]:
    sigmas = ds.init_scale.values
    values = shown_values(ds, ds.test_loss.isel(init_scale=0, drop=True))
    s = values["data.signal"]
    found = np.array([timescales(ds.sel(init_scale=sigma), values["model.gamma"]) for sigma in sigmas])
    t1, t2, quiet = found.T
    slope = float(np.polyfit(np.log(1 / sigmas**2), t2, 1)[0])
    spread = float((np.nanmax(t1) - np.nanmin(t1)) / np.nanmean(t1))
    small = sigmas <= QUIET_BELOW
    quietest = float(np.min(quiet[small])) if small.any() else float("nan")
    return [
        Verdict("loss drop t₂ against ln(1/σ²): slope 1/(2s) (§8)", slope, 1 / (2 * s),
                f"{SLOPE_TOLERANCE:.0%} relative", relative(slope, 1 / (2 * s)) <= SLOPE_TOLERANCE),
        Verdict(f"alignment time t₁ ≈ {np.nanmean(t1) * s:.2g}/s independent of σ: (max − min)/mean over σ",
                spread, 0.0, f"< {SPREAD_TOLERANCE:.0%}", spread < SPREAD_TOLERANCE),
        Verdict(f"silent: L(t₁)/L₀ for σ ≤ {QUIET_BELOW:g} (the kernel aligns before the loss moves)", quietest,
                f"> {QUIET_LOSS}", f"> {QUIET_LOSS}", quietest > QUIET_LOSS),
    ]


register("silent_alignment", check, figures=(
    Figure("silent_alignment.png", figures.timescales,
           "Silent alignment (THEORY.md §8): the loss L/L₀ (Saxe's solution dashed) and the NTK-target alignment "
           "against gradient-flow time, a line per initial scale σ; the alignment time t₁ is the same for every σ "
           "while the loss drop t₂ moves by (1/2s) ln(1/σ²).", shows=("init_scale",)),))
