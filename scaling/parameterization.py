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

Roles: ``input`` (fan-in is the data dimension; 1 for a one-hot token or position
embedding, whose input has unit norm), ``hidden`` (width -> width; a convolution's fan-in
counts its k x k taps), ``readout`` (width -> outputs), ``bias`` (a width-sized vector
added to a layer).  Two forward multipliers that are not a layer's: the attention-logit
scale (1/sqrt(d_head), 1/d_head under muP; Yang et al. 2022, "Tensor Programs V") and the
residual-branch multiplier of deep residual networks (``branch_multiplier``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from scaling.theory.learning_rate import gamma_lr_factor

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

    def attention_scale(self, head_dim: int) -> float:
        """Multiplier of the attention logits q.k: 1/d_head under muP (q and k become correlated
        during training, so q.k grows like d_head), 1/sqrt(d_head) otherwise."""
        return 1 / head_dim if self.name == "mup" else 1 / math.sqrt(head_dim)

    def describe(self) -> str:
        """The learning-rate convention, stored with every result."""
        if self.name == "sp":
            return "sp: W ~ N(0, 1/fan_in); every layer at lr = optim.lr"
        if self.name == "ntk":
            return "ntk: W ~ N(0, 1), forward W / sqrt(fan_in); every layer at lr = optim.lr"
        if self.optimizer == "sgd":
            return "mup (mean-field): readout 1/N; every layer at lr = optim.lr * N"
        return "mup (mean-field): readout 1/N; Adam lr = optim.lr x (input 1, hidden 1/sqrt(N), readout 1)"


BRANCH_SCALINGS = ("one", "sqrt_depth", "depth")


def branch_multiplier(scaling: str, beta: float, n_blocks: int) -> float:
    """Multiplier of each residual branch, x + m * branch(x): beta, beta/sqrt(L) (depth-muP,
    Bordelon et al. 2024; Yang et al. 2024) or beta/L, with L the number of residual blocks."""
    depth = {"one": 1.0, "sqrt_depth": math.sqrt(n_blocks), "depth": float(n_blocks)}[scaling]
    return beta / depth


def lr_factor(rule: str, optimizer: str, gamma, n_layers: int):
    """Multiplier of the raw lr under ``optim.lr_rule`` (THEORY.md section 4: eta* ~ gamma^2 | gamma^(2/L))."""
    if rule == "none":
        return np.ones_like(np.asarray(gamma, dtype=float))
    return gamma_lr_factor(gamma, n_layers, optimizer)


def output(f, f0, gamma):
    """The network's output: (f - f0) / gamma (f0 = 0 when not centred)."""
    return (f - f0) / gamma
