"""A muP CNN on the random-CNN teacher: width (channels) x gamma x lr.

3 conv layers + readout on 8 x 8 x 3 white-noise images whose target is a random
one-hidden-layer CNN (regression, unit variance); online SGD at lr = N * eta.
3 widths x 3 gammas x 5 learning rates = 45 runs in 3 groups, a few minutes on a 2-core
CPU (add seeds with `--config.sweep.train.seed=[0,1]`).  Paper scale: widths up to 512,
more gammas, data.image_size = 32.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="cnn", depth=4, param="mup", activation="relu")
    config.data = dict(task="cnn_teacher", image_size=8, channels=3, batch_size=32, n_probe=32)
    config.optim = dict(name="sgd")
    config.train = dict(steps=200, n_logs=12)
    config.measure = dict(ntk_every=[0, 50, 200])
    config.sweep = dict(
        model=dict(width=[16, 32, 64], gamma=[0.1, 1.0, 10.0]),
        optim=dict(lr=[0.003, 0.01, 0.03, 0.1, 0.3]),
    )
    return config
