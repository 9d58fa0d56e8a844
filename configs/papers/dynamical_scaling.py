"""A dynamical model of neural scaling laws (THEORY.md §2; Bordelon, Atanasov & Pehlevan, ICML 2024).

Claims (``scaling.claims.dynamical_scaling``): the test loss of linear random features trained by
full-batch gradient descent follows the deterministic equivalent L(t, N, P) (the overlay
``rf_gf``) within 8 % (2.5 SE) at every logged time, on both sides of N = P; and where N > P the
loss climbs back from its minimum as the model fits the label noise, by the theory's factor
within 8 %.

f = w·Aψ/√N (NTK parameterization, A frozen, centred so w(0) = 0) on the powerlaw task
(α = 1.5, β = 0.8, σ² = 0.05, D = 600), N ∈ {150, 300} × P ∈ {150, 300}, 16 seeds (each its own
features A and its own P points), lr 0.025 for 10⁴ steps: gradient-flow time t = 2ηn up to 500
(a small step, so that gradient descent is close to the flow: at lr 0.1 it is 11 % off at t ≈ 1).
About 4 minutes on a 2-core CPU.

    scaling run configs/papers/dynamical_scaling.py          # this CPU size
    scaling run configs/papers/dynamical_scaling.py:small    # the test's: D = 400, 8 seeds, lr 0.05, t ≤ 400
    scaling run configs/papers/dynamical_scaling.py:full     # D = 2000, N, P up to 1000, 32 seeds, t ≤ 10⁴ (a GPU)
"""

import ml_collections


def get_config(arg: str = "cpu"):
    sizes = {"small": dict(dim=400, sizes=[150, 300], seeds=8, lr=0.05, steps=4000),
             "cpu": dict(dim=600, sizes=[150, 300], seeds=16, lr=0.025, steps=10_000),
             "full": dict(dim=2000, sizes=[250, 500, 1000], seeds=32, lr=0.025, steps=200_000)}[arg]
    config = ml_collections.ConfigDict()
    config.model = dict(arch="rf", param="ntk")
    config.data = dict(task="powerlaw", dim=sizes["dim"], alpha=1.5, beta=0.8, noise=0.05, batch_size=None,
                       n_test=2000)
    config.optim = dict(name="sgd", lr=sizes["lr"])  # a step of t = 2η: gradient descent close to gradient flow
    config.train = dict(steps=sizes["steps"], n_logs=25, dtype="float64")
    config.measure = dict(ntk=False, features=False, predictions=False)
    config.theory = dict(name="rf_gf")
    config.log = dict(claims=["dynamical_scaling"])
    seeds = list(range(sizes["seeds"]))
    config.sweep = dict(model=dict(width=sizes["sizes"]), data=dict(n_train=sizes["sizes"], seed=seeds),
                        train=dict(seed=seeds), zip=[["train.seed", "data.seed"]])
    return config
