"""A normalization-free muP ResNet with 1/sqrt(depth) residual branches, swept over width and depth.

2 stages of `depth` pre-activation blocks (widths N and 2N) on 8 x 8 x 3 images of the
random-CNN teacher with 4 classes (cross-entropy).  Depth-muP branches (beta/sqrt(L)) keep
the best learning rate in place as depth grows; compare `model.residual_alpha = 0` (plain residual).
2 widths x 2 depths x 4 learning rates x 2 seeds = 32 runs in 4 groups, a few minutes on CPU.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="resnet", stages=2, param="mup", norm="none", residual_alpha=0.5)
    config.data = dict(task="cnn_teacher", image_size=8, channels=3, n_classes=4, batch_size=32, n_probe=48)
    config.optim = dict(name="sgd")
    config.train = dict(steps=200, n_logs=12, loss="xent")
    config.measure = dict(ntk_n_logs=3, features_n_logs=6)
    config.sweep = dict(
        model=dict(width=[8, 16], depth=[1, 3]),
        optim=dict(lr=[0.01, 0.03, 0.1, 0.3]),
        train=dict(seed=[0, 1]),
    )
    return config
