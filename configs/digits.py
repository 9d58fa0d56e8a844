"""A muP MLP on a real dataset that ships with scikit-learn: the 8x8 digits, no download.

Ten classes, one-hot MSE targets, a fixed training set of P = 1024 images (the rest of the
1297 training images unused; 500 test images), minibatches of 64, SGD at lr = N * eta.
3 widths x 3 gammas x 4 learning rates x 2 data seeds (which images form the training set)
= 72 runs in 3 groups, a few minutes on a 2-core CPU.  The digits are written in TFDS format
under the TFDS data directory on first use.  The same sweep on MNIST:
`--config.data.task=tfds --config.data.name=mnist` on a machine where it is prepared.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="mlp", depth=3, param="mup", activation="relu")
    config.data = dict(task="digits", n_train=1024, batch_size=64, n_test=500, n_probe=64)
    config.optim = dict(name="sgd")
    config.train = dict(steps=1000, n_logs=20)
    config.measure = dict(ntk_every=[0, 100, 1000], features_every=[0, 100, 1000])
    config.sweep = dict(
        model=dict(width=[64, 256, 1024], gamma=[0.1, 1.0, 10.0]),
        optim=dict(lr=[0.01, 0.1, 0.3, 1.0]),
        data=dict(seed=[0, 1]),
    )
    return config
