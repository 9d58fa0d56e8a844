"""The linear model trained by online SGD against the exact mode recursion (THEORY.md §3;
Atanasov, Bordelon, Zavatone-Veth, Paquette & Pehlevan 2025).

f = w·x/√D (a depth-1 `deep_linear`, NTK parameterization, centred so w(0) = 0) on the
powerlaw task with label noise σ², a fresh batch of B = 4 each step, 256 data seeds; the
learning rates run up to the edge of stability (the theory's bound is η ≈ 63 here, in the
framework's lr), where the loss stops falling and SGD's noise floor rises.  The theory curve
is stored beside every member's losses and overlaid by `scaling report`.  About 2 minutes.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="deep_linear", depth=1, param="ntk")
    config.data = dict(task="powerlaw", dim=100, alpha=1.5, beta=0.8, noise=0.05, batch_size=4, n_test=20000)
    config.optim = dict(name="sgd")
    config.train = dict(steps=2000, n_logs=20, dtype="float64")
    config.measure = dict(ntk=False, features=False, predictions=False)
    config.theory = dict(name="sgd_online")
    config.sweep = dict(optim=dict(lr=[2.0, 8.0, 24.0, 48.0]), data=dict(seed=list(range(256))))
    return config
