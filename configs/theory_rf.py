"""Linear random features trained by full-batch gradient descent against the theory L(t, N, P)
(THEORY.md §2; Bordelon, Atanasov & Pehlevan, ICML 2024).

f = w·Aψ/√N (NTK parameterization, A frozen, centred so w(0) = 0) on the powerlaw task
(λ_k = k^-α, w̄_k²λ_k = k^-(1+αβ), D modes) with P training points and label noise σ²;
the theory curve is stored beside every member's losses and overlaid by `scaling report`.
Widths on both sides of P show the model bottleneck (N < P) and the late-time rise of the
loss as the network fits the noise (N > P).  About a minute on a 2-core CPU.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="rf", param="ntk")
    config.data = dict(task="powerlaw", dim=400, alpha=1.5, beta=0.8, noise=0.05, n_train=200, batch_size=200,
                       n_test=2000)
    config.optim = dict(name="sgd", lr=0.1)
    config.train = dict(steps=5000, n_logs=25, dtype="float64")
    config.measure = dict(ntk=False, features=False)
    config.theory = dict(name="rf_gf")
    seeds = list(range(8))  # each member draws its own features A and its own P points
    config.sweep = dict(model=dict(width=[50, 100, 200, 400]), train=dict(seed=seeds), data=dict(seed=seeds),
                        zip=[["train.seed", "data.seed"]])
    return config
