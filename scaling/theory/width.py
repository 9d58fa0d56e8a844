"""How networks of finite width N differ from the infinite-width limit (THEORY.md §6; Vyas et al.,
"Feature-Learning Networks Are Consistent Across Widths At Realistic Scales", NeurIPS 2023).

To leading order in 1/N, a width-N network's predictions deviate from the limit by an
initialization *variance* c_v(t)/N, which averaging seeds removes, and a *bias* c_b(t)/N, which
it does not: L(f_N) ≈ L_∞ + (c_v' + c_b')/N and L(E_seeds f_N) ≈ L_∞ + c_b'/N.  The measured
split is ``scaling.measure.ensemble.width_distance``; these functions fit and evaluate it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scaling.theory.fit import PowerLawFit, fit_power_law


@dataclasses.dataclass(frozen=True)
class WidthCorrections:
    variance: PowerLawFit  # Var_seeds f_N ≈ c_v N^{exponent}, exponent ≈ −1
    bias: PowerLawFit  # ‖E f_N − f_ref‖² ≈ c_b N^{exponent}


def fit_width_corrections(widths, variance, bias, window: tuple[float, float] | None = None) -> WidthCorrections:
    """Power laws of the prediction variance and squared bias against width (the reference width,
    whose bias is 0, drops out of the bias fit)."""
    return WidthCorrections(fit_power_law(widths, variance, window), fit_power_law(widths, bias, window))


def expected_losses(widths, infinite_loss: float, variance_coefficient: float, bias_coefficient: float):
    """(member loss, ensemble loss) at each width: L_∞ + (c_v + c_b)/N and L_∞ + c_b/N (§6)."""
    widths = np.asarray(widths, float)
    return (infinite_loss + (variance_coefficient + bias_coefficient) / widths,
            infinite_loss + bias_coefficient / widths)
