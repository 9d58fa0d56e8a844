"""Scaling and renormalization in high-dimensional regression (THEORY.md §1; Atanasov,
Zavatone-Veth & Pehlevan 2024).

Claims (``scaling.claims.renormalized_ridge``): linear random features fitted with ridge λ on P
points have the test error E_g of the renormalized ridge κ, λ = κ(1 − D1/N)(1 − D1/P): the final
test loss within 8 % (2.5 SE) of E_g at every (N, P, λ) where gradient descent has converged; and
the whole training curve within 8 % (2.5 SE) of the gradient flow with ridge (the overlay
``rf_ridge``).

f = w·Aψ/√N (NTK parameterization, A frozen, centred, initial readout ×10⁻³ so that weight decay
pulls towards the ridge solution itself) on the powerlaw task (α = 1.5, β = 0.8, σ² = 0.05,
D = 600), N ∈ {100, 300} × P ∈ {100, 300}, weight decay ω ∈ {0.02, 0.2} (ridge λ = ω/2 = 0.01,
0.1), full-batch gradient descent at lr 0.05 for 6000 steps (gradient-flow time t = 2ηn = 600:
converged; at lr 0.1 the early steps are 9 % off the flow), 24 seeds of features and data, in
float64.  About 5 minutes on a 2-core CPU.

    scaling run configs/papers/renormalized_ridge.py          # this CPU size
    scaling run configs/papers/renormalized_ridge.py:small    # the test's: D = 400, 12 seeds, t ≤ 150 (λ = 0.1 converges)
    scaling run configs/papers/renormalized_ridge.py:full     # D = 2000, N, P up to 1000, λ down to 10⁻³, 64 seeds
"""

import ml_collections


def get_config(arg: str = "cpu"):
    sizes = {"small": dict(dim=400, sizes=[100, 300], decays=[0.02, 0.2], seeds=12, lr=0.05, steps=1500),
             "cpu": dict(dim=600, sizes=[100, 300], decays=[0.02, 0.2], seeds=24, lr=0.05, steps=6000),
             "full": dict(dim=2000, sizes=[100, 300, 1000], decays=[0.002, 0.02, 0.2], seeds=64, lr=0.025,
                          steps=200_000)}[arg]
    config = ml_collections.ConfigDict()
    config.model = dict(arch="rf", param="ntk", init_scale=1e-3)
    config.data = dict(task="powerlaw", dim=sizes["dim"], alpha=1.5, beta=0.8, noise=0.05, batch_size=None,
                       n_test=4000)
    config.optim = dict(name="sgd", lr=sizes["lr"])  # a step of t = 2η ≤ 0.1: gradient descent close to the flow
    config.train = dict(steps=sizes["steps"], n_logs=25, dtype="float64")
    config.measure = dict(ntk=False, features=False, predictions=False)
    config.theory = dict(name="rf_ridge")
    config.log = dict(claims=["renormalized_ridge"])
    seeds = list(range(sizes["seeds"]))
    config.sweep = dict(model=dict(width=sizes["sizes"]), data=dict(n_train=sizes["sizes"], seed=seeds),
                        optim=dict(weight_decay=sizes["decays"]), train=dict(seed=seeds),
                        zip=[["train.seed", "data.seed"]])
    return config
