"""A muP decoder-only transformer language model on a random Markov chain, with Adam.

2 pre-norm blocks, 4 heads, context 16 over a vocabulary of 16 tokens drawn from an order-2
chain (each token depends on the previous two, so attention is needed) with Zipf-distributed
transitions (data.alpha); the loss is cross-entropy against the chain's next-token
distribution, so its floor is the chain's entropy rate.  Under muP (attention 1/d_head,
readout 1/width, Adam lr 1/sqrt(fan_in) on hidden layers) the best learning rate stays put
as width grows -- run it again with `--config.model.param=sp` to watch it drift.
3 widths x 5 learning rates x 2 seeds = 30 runs in 3 groups, a few minutes on CPU.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.model = dict(arch="transformer", depth=2, heads=4, param="mup", activation="gelu")
    config.data = dict(task="markov", vocab=16, order=2, context=16, alpha=1.5, batch_size=16, n_test=128, n_probe=16)
    config.optim = dict(name="adam")
    config.train = dict(steps=200, n_logs=12, loss="xent")
    config.measure = dict(ntk_every=[0, 200], features_n_logs=6)
    config.sweep = dict(
        model=dict(width=[32, 64, 128]),
        optim=dict(lr=[1e-2, 3e-2, 1e-1, 3e-1, 1.0]),
        train=dict(seed=[0, 1]),
    )
    return config
