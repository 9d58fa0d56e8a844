"""Quickstart: a 3-layer muP MLP on power-law features, width x gamma x lr x seed.

3 widths x 5 gammas x 8 learning rates x 2 seeds = 240 runs in 3 compiled groups,
a few minutes on a 2-core CPU.  The lr grid crosses the edge of stability, so the
largest rates diverge at small gamma (eta* ~ gamma^2 there, THEORY.md section 4).
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="mlp", depth=3, param="mup", activation="relu")
    config.data = dict(task="powerlaw", dim=32, alpha=1.5, beta=0.8, noise=0.0, batch_size=32)
    config.optim = dict(name="sgd")
    config.train = dict(steps=1000, n_logs=25)
    config.sweep = dict(
        model=dict(width=[64, 128, 256], gamma=[0.1, 0.3, 1.0, 3.0, 10.0]),
        optim=dict(lr=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]),
        train=dict(seed=[0, 1]),
    )
    return config
