"""SP, NTK and muP (mean-field) with feature-learning strength gamma.

The one place that decides, per layer role, the init std of the stored weight, the
forward multiplier applied to it and the learning-rate multiplier of its updates
(an "abc-parameterization", Yang & Hu 2021).  muP follows the mean-field code of
Atanasov, Meterez, Simon & Pehlevan (ICLR 2025; THEORY.md section 4):

    h1 = W1 x / sqrt(D),   h_{l+1} = W_l phi(h_l) / sqrt(N),   f = w_L . phi(h_L) / N,

all weights N(0, 1), the output divided by gamma and centred, f(theta) - f(theta_0),
and plain SGD at lr = N * eta for every layer.  ``optim.lr`` is always the papers'
raw eta; the optional ``lr_rule = "gamma"`` rescales it by gamma^2 (gamma <= 1) or
gamma^(2/L) (gamma > 1) for SGD, and by gamma or gamma^(1/L) for Adam (its updates do
not scale with the gradient, so the exponents halve).

Roles: ``input`` (fan-in is the data dimension), ``hidden`` (width -> width),
``readout`` (width -> outputs), ``bias`` (a width-sized vector added to a layer).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

ROLES = ("input", "hidden", "readout", "bias")


@dataclasses.dataclass(frozen=True)
class LayerRule:
    std: float  # init std of the stored parameter
    mult: float  # forward multiplier
    lr: float  # learning-rate multiplier


@dataclasses.dataclass(frozen=True)
class Parameterization:
    name: str  # sp | ntk | mup
    optimizer: str  # sgd | adam

    def layer(self, role: str, fan_in: int, fan_out: int) -> LayerRule:
        """Init std, forward multiplier and lr multiplier of one layer."""
        if role not in ROLES:
            raise ValueError(f"layer role {role!r}: allowed {ROLES}")
        if role == "bias":
            width = fan_out
            lr = width if (self.name, self.optimizer) == ("mup", "sgd") else 1.0
            return LayerRule(std=1.0, mult=1.0, lr=float(lr))
        if self.name == "sp":
            return LayerRule(std=1 / math.sqrt(fan_in), mult=1.0, lr=1.0)
        if self.name == "ntk":
            return LayerRule(std=1.0, mult=1 / math.sqrt(fan_in), lr=1.0)
        # muP / mean-field: the readout averages over the width instead of summing.
        width = fan_out if role == "input" else fan_in
        mult = 1 / fan_in if role == "readout" else 1 / math.sqrt(fan_in)
        if self.optimizer == "sgd":
            lr = width
        else:  # Adam: effective update mult * lr must be Theta(1/N) hidden, Theta(1) otherwise
            lr = 1 / math.sqrt(width) if role == "hidden" else 1.0
        return LayerRule(std=1.0, mult=mult, lr=float(lr))

    def describe(self) -> str:
        """The learning-rate convention, stored with every result."""
        if self.name == "sp":
            return "sp: W ~ N(0, 1/fan_in); every layer at lr = optim.lr"
        if self.name == "ntk":
            return "ntk: W ~ N(0, 1), forward W / sqrt(fan_in); every layer at lr = optim.lr"
        if self.optimizer == "sgd":
            return "mup (mean-field): readout 1/N; every layer at lr = optim.lr * N"
        return "mup (mean-field): readout 1/N; Adam lr = optim.lr x (input 1, hidden 1/sqrt(N), readout 1)"


def lr_factor(rule: str, optimizer: str, gamma, n_layers: int):
    """Multiplier of the raw lr under ``optim.lr_rule`` (THEORY.md section 4: eta* ~ gamma^2 | gamma^(2/L))."""
    gamma = np.asarray(gamma, dtype=float)
    if rule == "none":
        return np.ones_like(gamma)
    small, large = (2.0, 2.0 / n_layers) if optimizer == "sgd" else (1.0, 1.0 / n_layers)
    return np.where(gamma <= 1, gamma**small, gamma**large)


def output(f, f0, gamma):
    """The network's output: (f - f0) / gamma (f0 = 0 when not centred)."""
    return (f - f0) / gamma
