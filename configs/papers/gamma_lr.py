"""The optimization landscape of SGD across the feature-learning strength γ (THEORY.md §4;
Atanasov, Meterez, Simon & Pehlevan, ICLR 2025).

Claim: the largest stable learning rate η_max grows like γ² for γ ≪ 1 and like γ^(2/L) for γ ≫ 1
(L weight matrices); the fitted slopes of the divergence edge over γ ∈ [10⁻², 10⁻¹] and [10, 10²]
must be within ± 0.15 of 2 and 2/L (``scaling.claims.gamma_lr``).  A μP deep linear network
of width 128 (L = 2) on 16-dimensional power-law features, 256 points, full-batch GD for 600
steps, over 8 γ and a learning-rate grid of 4 points per decade: about 2 minutes on a 2-core CPU.

    scaling run configs/papers/gamma_lr.py          # this CPU size
    scaling run configs/papers/gamma_lr.py:small    # the test's: 300 steps
    scaling run configs/papers/gamma_lr.py:full     # width 1024, L = 2 and 3, 8 lrs per decade (a GPU)
"""

import ml_collections
import numpy as np


def get_config(arg: str = "cpu"):
    sizes = {"small": dict(width=128, steps=300, per_decade=4, depths=[2]),
             "cpu": dict(width=128, steps=600, per_decade=4, depths=[2]),
             "full": dict(width=1024, steps=2000, per_decade=8, depths=[2, 3])}[arg]
    config = ml_collections.ConfigDict()
    config.model = dict(arch="deep_linear", param="mup", width=sizes["width"], depth=sizes["depths"][0])
    config.data = dict(task="powerlaw", dim=16, alpha=1.5, beta=0.8, noise=0.0, n_train=256, batch_size=None)
    config.optim = dict(name="sgd")
    config.train = dict(steps=sizes["steps"], n_logs=10)
    config.measure = dict(ntk=False, features=False, predictions=False)
    config.log = dict(claims=["gamma_lr"])
    gammas = np.concatenate([np.logspace(-2, -1, 4), np.logspace(1, 2, 4)]).round(6).tolist()
    lrs = np.logspace(-7, 4, 11 * sizes["per_decade"] + 1).round(10).tolist()
    config.sweep = dict(model=dict(gamma=gammas), optim=dict(lr=lrs))
    if len(sizes["depths"]) > 1:  # a page of figures and a pair of claims per depth
        config.sweep.model.depth = sizes["depths"]
    return config
