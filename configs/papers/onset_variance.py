"""The onset of variance-limited behaviour (THEORY.md §7; Atanasov, Bordelon, Sainathan & Pehlevan,
"The Onset of Variance-Limited Behavior for Networks in the Lazy and Rich Regimes", ICLR 2023).

Claims (``scaling.claims.onset_variance``): the test error E_N of one width-N network leaves the
infinite-width NTK's learning curve E_∞ at P* ∝ √N, P* where E_N = 2 E_∞: the log-slope of P* against N
is 0.5 ± 0.1 (seed means first, P* interpolated in log-log between the bracketing P); and kernel
regression with each network's final empirical NTK reproduces its test error within 20 % at every
(N, P).  Both on converged networks only (every seed below ``train.stop_loss``): where the onsets
are read from networks that have not converged, the slope is "not resolved".

x uniform on S⁴ (D = 5), y = Q₂(β·x) at unit RMS (``gegenbauer``, k = 2); a ReLU MLP with two hidden
layers (depth 3), NTK parameterization, no bias, centred (f − f₀), in the lazy regime of the paper's
α = 1/γ = 10 (``model.gamma = 0.1``, lr 4 rescaled by γ²), full-batch GD on P points until the train
loss is below 10⁻⁶ (``train.stop_loss``, the paper's) or the last step, float64; one group per P,
N ∈ {32, 128, 512}; E_N, E_∞ and the final-eNTK regression on the first 500 test points
(``measure.kernel_baselines``).  At the CPU sizes the networks at P ≥ 64 do not reach 10⁻⁶ within
the steps, so the slope is not resolved (a run of 4000 steps to P = 512 gave P* = 76, 113, 172 at
N = 32, 128, 512, a slope of 0.29 from under-trained networks); the kernel claim holds on the
converged points (6 % worst).  The ``full`` size trains 3·10⁴ steps.  About 6 minutes on a 2-core CPU.

    scaling run configs/papers/onset_variance.py          # this CPU size: P ∈ {16 … 256}, 2 seeds, 3000 steps
    scaling run configs/papers/onset_variance.py:small    # the test's: P ∈ {16 … 128}, 2 seeds, 2000 steps
    scaling run configs/papers/onset_variance.py:full     # N up to 2048, P ∈ {8 … 4096}, 20 seeds, 3·10⁴ steps (a GPU)
"""

import ml_collections


def get_config(arg: str = "cpu"):
    sizes = {"small": dict(widths=[32, 128, 512], sizes=[16, 32, 64, 128], seeds=2, steps=2000),
             "cpu": dict(widths=[32, 128, 512], sizes=[16, 32, 64, 128, 256], seeds=2, steps=3000),
             "full": dict(widths=[32, 128, 512, 2048], sizes=[8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
                          seeds=20, steps=30_000)}[arg]
    config = ml_collections.ConfigDict()
    config.model = dict(arch="mlp", depth=3, param="ntk", activation="relu", bias=False, gamma=0.1)
    config.data = dict(task="gegenbauer", dim=5, degree=2, batch_size=None, n_test=500)
    config.optim = dict(name="sgd", lr=4.0, lr_rule="gamma")
    config.train = dict(steps=sizes["steps"], n_logs=10, stop_loss=1e-6, dtype="float64")
    config.measure = dict(ntk=False, features=False, predictions=False, kernel_baselines=True,
                          kernel_baselines_n_test=500)
    config.log = dict(claims=["onset_variance"])
    seeds = list(range(sizes["seeds"]))
    config.sweep = dict(model=dict(width=sizes["widths"]), data=dict(n_train=sizes["sizes"], seed=seeds),
                        train=dict(seed=seeds), zip=[["train.seed", "data.seed"]])
    return config
