"""Online SGD in linear models against the exact recursion of its mode errors (THEORY.md §3;
Atanasov, Bordelon, Zavatone-Veth, Paquette & Pehlevan 2025, "Two-Point Deterministic
Equivalence for SGD in Linear Models").

Claim (``scaling.claims.two_point_sgd``): the seed-mean test loss follows the theory curve
``sgd_online`` within 3 % (beyond two standard errors of the mean) at every logged step n ≥ 10,
at each learning rate.

The linear model f = w·x/√D (a depth-1 ``deep_linear``, NTK parameterization, centred so
w(0) = 0) on the powerlaw task (α = 1.5, β = 0.8, σ² = 0.05, D = 100), a fresh batch of B = 4
each step, in float64; learning rates from a quarter to a half of the edge of stability.
About 3 minutes on a 2-core CPU.

    scaling run configs/papers/two_point_sgd.py          # this CPU size: 256 seeds, 3000 steps
    scaling run configs/papers/two_point_sgd.py:small    # the test's: 128 seeds, 1000 steps
    scaling run configs/papers/two_point_sgd.py:full     # D = 400, 1024 seeds, 10⁴ steps (a GPU)
"""

import ml_collections


def get_config(arg: str = "cpu"):
    sizes = {"small": dict(dim=100, seeds=128, steps=1000, lrs=[2.0, 8.0]),
             "cpu": dict(dim=100, seeds=256, steps=3000, lrs=[2.0, 8.0, 24.0]),
             "full": dict(dim=400, seeds=1024, steps=10_000, lrs=[2.0, 8.0, 24.0, 48.0])}[arg]
    config = ml_collections.ConfigDict()
    config.model = dict(arch="deep_linear", depth=1, param="ntk")
    config.data = dict(task="powerlaw", dim=sizes["dim"], alpha=1.5, beta=0.8, noise=0.05, batch_size=4, n_test=20000)
    config.optim = dict(name="sgd")
    config.train = dict(steps=sizes["steps"], n_logs=20, dtype="float64")
    config.measure = dict(ntk=False, features=False, predictions=False)
    config.theory = dict(name="sgd_online")
    config.log = dict(claims=["two_point_sgd"])
    config.sweep = dict(optim=dict(lr=sizes["lrs"]), data=dict(seed=list(range(sizes["seeds"]))))
    return config
