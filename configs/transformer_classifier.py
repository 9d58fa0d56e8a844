"""A muP vision transformer (transformer_classifier on 2 x 2 patches) on the random-CNN teacher
with 4 classes, Adam, width x gamma x lr.

One bidirectional block, 4 heads, mean pooling; 8 x 8 x 3 images make 16 patches.
The same architecture classifies token sequences: `--config.data.task=markov_classes
--config.data.n_classes=2`.  2 widths x 2 gammas x 4 learning rates x 2 seeds = 32 runs.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="transformer_classifier", depth=1, heads=4, patch_size=2, param="mup",
                        activation="gelu")
    config.data = dict(task="cnn_teacher", image_size=8, channels=3, n_classes=4, batch_size=32, n_probe=48)
    config.optim = dict(name="adam")
    config.train = dict(steps=300, n_logs=15, loss="xent")
    config.measure = dict(ntk_n_logs=3, features_n_logs=6)
    config.sweep = dict(
        model=dict(width=[32, 64], gamma=[1.0, 4.0]),
        optim=dict(lr=[1e-3, 3e-3, 1e-2, 3e-2]),
        train=dict(seed=[0, 1]),
    )
    return config
