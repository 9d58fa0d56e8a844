"""How feature learning can improve neural scaling laws (THEORY.md §5; Bordelon, Atanasov &
Pehlevan, ICLR 2025).

Claims (``scaling.claims.feature_learning_scaling``): the loss falls as t^{-χ}, χ = β lazy and
χ = β·max(1, 2/(1+β)) rich, so feature learning speeds up the hard task β = 0.5 (slopes −0.5
lazy, −0.667 rich) and not the easy task β = 1.5 (−1.5 both): each slope fitted over a decade
of mode time τ = t/D within ± 0.1 of −χ, and the lazy − rich difference within ± 0.1 of
2β/(1+β) − β (THEORY.md §5); and the network follows the infinite-width proxy ``mode_ode``
within 8 % (2.5 SE) up to τ = 5.

A μP two-layer linear network f = wᵀWx/(γN√D) (``deep_linear`` of depth 2, centred) of width
N = 32 D on the powerlaw task (α = 1.5, D = 128), online SGD on fresh batches of 32 with
``lr_rule = "gamma"`` (gradient-flow time t = 2ηn, the same for every γ), at γ = 0.01 (lazy)
and γ = 1.5/√D (rich: the proxy's γ in the unscaled modes of THEORY.md is γ√D), β = 0.5 and 1.5
(a static axis: a page each), 2 seeds, 10⁴ steps: τ up to 21, where the truncation at k = D
shows.  The learning rate is the largest the overlay allows at the rich γ on β = 0.5 (a step
(2η)(λ_1/D)·2(1 + γ√D|w̄|) ≤ 0.05).  About 6 minutes on a 2-core CPU.

    scaling run configs/papers/feature_learning_scaling.py          # this CPU size
    scaling run configs/papers/feature_learning_scaling.py:small    # the test's: D = 64, N = 16 D
    scaling run configs/papers/feature_learning_scaling.py:full     # D = 512, N = 32 D, 8 seeds (a GPU)
"""

import math

import ml_collections


def get_config(arg: str = "cpu"):
    sizes = {"small": dict(dim=64, width=1024, batch=32, n_test=4096, seeds=2, steps=8000, lr=0.085),
             "cpu": dict(dim=128, width=4096, batch=32, n_test=8192, seeds=2, steps=10_000, lr=0.135),
             "full": dict(dim=512, width=16384, batch=256, n_test=16384, seeds=8, steps=17_000, lr=0.33)}[arg]
    dim = sizes["dim"]
    config = ml_collections.ConfigDict()
    config.model = dict(arch="deep_linear", depth=2, param="mup", width=sizes["width"])
    config.data = dict(task="powerlaw", dim=dim, alpha=1.5, batch_size=sizes["batch"], n_test=sizes["n_test"])
    config.optim = dict(name="sgd", lr=sizes["lr"], lr_rule="gamma")
    config.train = dict(steps=sizes["steps"], n_logs=40, segments=1)
    config.measure = dict(ntk=False, features=False, predictions=False)
    config.theory = dict(name="mode_ode")
    config.log = dict(claims=["feature_learning_scaling"])
    seeds = list(range(sizes["seeds"]))
    config.sweep = dict(model=dict(gamma=[0.01, round(1.5 / math.sqrt(dim), 4)]), data=dict(beta=[0.5, 1.5], seed=seeds),
                        train=dict(seed=seeds), zip=[["train.seed", "data.seed"]])
    return config
