"""Quickstart: a 3-layer muP MLP on power-law features, width x gamma x lr x seed.

3 widths x 7 gammas x 10 learning rates x 2 seeds = 420 runs in 3 compiled groups,
about 3 minutes on a 2-core CPU.  The raw lr grid (THEORY.md section 4 convention:
SGD at N * lr) spans the edge of stability from the lazy regime, where the largest
stable rate grows like gamma^2, to the rich one, where it grows like gamma^(2/L).
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="mlp", depth=3, param="mup", activation="relu")
    config.data = dict(task="powerlaw", dim=32, alpha=1.5, beta=0.8, noise=0.0, batch_size=32)
    config.optim = dict(name="sgd")
    config.train = dict(steps=1000, n_logs=25)
    config.sweep = dict(
        model=dict(width=[64, 128, 256], gamma=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]),
        optim=dict(lr=[3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]),
        train=dict(seed=[0, 1]),
    )
    return config
