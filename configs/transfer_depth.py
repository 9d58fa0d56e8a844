"""Learning-rate transfer across width and depth: μP with depth-μP branches against SP (μTransfer,
Yang et al. 2021; depth-μP, Bordelon, Noci, Li, Hanin & Pehlevan 2024 and Yang et al. 2024).

A residual MLP (``resmlp``: L blocks h + β L^-α W φ(h)/√N) trained with Adam (constant lr, online
batches of 32) on a single-index teacher (``gegenbauer``: y = Q_2(β·x), x on the sphere S^15), over
widths × depths × an lr grid of 2 points per decade × 2 seeds, once under μP with depth-μP branches,
α = 1/2 (each block's hidden lr × L^-1/2, Adam's ε × L^-1/2: the resmlp's one-layer blocks are
Bordelon et al.'s case; CompleteP's α = 1 targets blocks of several layers), and once under SP
with plain residual branches (α = 0), the two zipped into the axis ``param``.  The report's
``lr_transfer.png`` shows η* (the log-quadratic vertex of the final test loss over lr,
``analysis.lr_optimum``) against width and against depth, a line per parameterization, with the
fitted slopes η* ∝ N^a, L^a and the drift in decades: under μP η* stays put, under SP it falls with
width (Adam's hidden updates grow like N) and with depth (the branches add up).

    scaling run configs/transfer_depth.py          # widths 32-256, depths 1-8, 10 lrs: 640 runs in 32
                                                   # groups, about 5 CPU-minutes (7 on 2 busy cores)
    scaling run configs/transfer_depth.py:small    # a smoke size: 2 widths, 2 depths, 100 steps
    scaling run configs/transfer_depth.py:full     # widths to 2048, depths to 32, 4 lrs per decade (a GPU)
"""

import ml_collections
import numpy as np


def get_config(arg: str = "cpu"):
    sizes = {"small": dict(widths=[32, 64], depths=[2, 4], steps=100, lrs=(-3, 0.5, 8)),
             "cpu": dict(widths=[32, 64, 128, 256], depths=[1, 2, 4, 8], steps=300, lrs=(-4, 0.5, 10)),
             "full": dict(widths=[128, 256, 512, 1024, 2048], depths=[1, 2, 4, 8, 16, 32], steps=3000,
                          lrs=(-7, 0.5, 31))}[arg]  # SP's η* falls to ~1e-6 at N = 2048, L = 32
    config = ml_collections.ConfigDict()
    config.model = dict(arch="resmlp", param="mup", width=sizes["widths"][0], depth=sizes["depths"][0],
                        activation="relu", residual_alpha=0.5)
    config.data = dict(task="gegenbauer", dim=16, degree=2, batch_size=32, n_test=500)
    config.optim = dict(name="adam")
    config.train = dict(steps=sizes["steps"], n_logs=8)
    config.measure = dict(ntk=False, features=False, predictions=False)
    config.sweep = dict(
        model=dict(width=sizes["widths"], depth=sizes["depths"], param=["mup", "sp"], residual_alpha=[0.5, 0.0]),
        optim=dict(lr=[float(f"{lr:.3g}") for lr in np.logspace(*sizes["lrs"])]),
        train=dict(seed=[0, 1]),
        zip=[["model.param", "model.residual_alpha"]],
    )
    return config
