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
ADAPTIVE = ("adam", "adam_atan2", "lion")  # optimizers whose update does not scale with the gradient


@dataclasses.dataclass(frozen=True)
class LayerRule:
    std: float  # init std of the stored parameter
    mult: float  # forward multiplier
    lr: float  # learning-rate multiplier
    eps: float = 1.0  # multiplier of Adam's epsilon: the size of the parameter's gradient
    decay: float = 1.0  # multiplier of coupled weight decay


@dataclasses.dataclass(frozen=True)
class Parameterization:
    """``residual_alpha``: residual branches are multiplied by L^-alpha (0: plain residual;
    1/2 depth-muP, Bordelon et al. 2024 and Yang et al. 2024; 1 CompleteP, Dey et al. 2025);
    ``weight_decay``: ``coupled`` (scaled by the lr) or ``independent``."""

    name: str  # sp | ntk | mup
    optimizer: str  # sgd | adam | adam_atan2 | lion
    residual_alpha: float = 0.0
    weight_decay: str = "coupled"

    def layer(self, role: str, fan_in: int, fan_out: int, blocks: int = 0) -> LayerRule:
        """Init std, forward multiplier and lr, epsilon and weight-decay multipliers of one layer;
        ``blocks``: L when the layer sits in one of L residual branches (0 otherwise)."""
        if role not in ROLES:
            raise ValueError(f"layer role {role!r}: allowed {ROLES}")
        if self.name == "sp":
            return LayerRule(std=1.0 if role == "bias" else 1 / math.sqrt(fan_in), mult=1.0, lr=1.0)
        if self.name == "ntk":
            return LayerRule(std=1.0, mult=1.0 if role == "bias" else 1 / math.sqrt(fan_in), lr=1.0)
        return self._mup(role, fan_in, fan_out, blocks)

    def _mup(self, role: str, fan_in: int, fan_out: int, blocks: int) -> LayerRule:
        """muP / mean-field: the readout averages over the width instead of summing.  The
        backward signal at a width-N layer is O(1/N), so gradients are O(1/N) (input, readout,
        bias) and O(N^-3/2) (hidden); Adam's epsilon follows them (Yang & Littwin 2023;
        Everett et al. 2024).  SGD's lr is N for every layer; an adaptive optimizer's update is
        O(1), so its lr is 1/sqrt(N) on hidden weights (effective update mult * lr = 1/N).
        Coupled decay is divided by the lr multiplier, so each step shrinks every weight by
        lr * decay whatever the width and depth (microsoft/mup's MuAdamW; Wang & Aitchison 2024)."""
        width = fan_in if role in ("hidden", "readout") else fan_out
        mult = {"bias": 1.0, "readout": 1 / fan_in}.get(role, 1 / math.sqrt(fan_in))
        adaptive = self.optimizer in ADAPTIVE
        if not adaptive:
            lr = float(width)
        else:
            lr = 1 / math.sqrt(width) if role == "hidden" else 1.0
        eps = 1 / (fan_out * math.sqrt(fan_in)) if role == "hidden" else 1 / width
        if blocks and self.residual_alpha:  # depth-muP / CompleteP: a block's update is O(1/L)
            alpha = self.residual_alpha
            lr *= blocks ** (alpha - 1) if adaptive else blocks ** (2 * alpha - 1)
            eps *= blocks**-alpha
        decay = 1 / lr if self.weight_decay == "coupled" else 1.0
        return LayerRule(std=1.0, mult=mult, lr=lr, eps=eps, decay=decay)

    def branch_multiplier(self, beta: float, n_blocks: int) -> float:
        """Multiplier of each of the L = ``n_blocks`` residual branches, x + m * branch(x):
        m = beta * L^-alpha."""
        return beta * n_blocks ** -self.residual_alpha

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
        depth = f"; residual branches L^-{self.residual_alpha:g}" if self.residual_alpha else ""
        if self.optimizer not in ADAPTIVE:
            return f"mup (mean-field): readout 1/N; every layer at lr = optim.lr * N{depth}"
        return f"mup (mean-field): readout 1/N; {self.optimizer} lr = optim.lr x (input 1, hidden 1/sqrt(N), readout 1){depth}"


def lr_factor(rule: str, optimizer: str, gamma, n_layers: int):
    """Multiplier of the raw lr under ``optim.lr_rule`` (THEORY.md section 4: eta* ~ gamma^2 | gamma^(2/L))."""
    if rule == "none":
        return np.ones_like(np.asarray(gamma, dtype=float))
    return gamma_lr_factor(gamma, n_layers, optimizer)


def output(f, f0, gamma):
    """The network's output: (f - f0) / gamma (f0 = 0 when not centred)."""
    return (f - f0) / gamma
