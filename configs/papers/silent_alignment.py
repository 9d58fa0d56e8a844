"""Silent alignment (THEORY.md §8; Atanasov, Bordelon & Pehlevan, "Neural Networks as Kernel
Learners: The Silent Alignment Effect", ICLR 2022).

Claims (``scaling.claims.silent_alignment``): from a small initialization σ on whitened data, the
NTK aligns with the target at a time t₁ that does not depend on σ (spread < 15 %), while the loss
has not moved (L(t₁) > 0.95 L₀ for σ ≤ 10⁻³), and the loss drops at t₂ ≈ (1/2s) ln(s/(Nσ²)):
the slope of t₂ against ln(1/σ²) is 1/(2s) within 5 %.

A two-layer linear network f = aᵀWx (``deep_linear`` of depth 2, standard parameterization so the
weights are N(0, σ²/fan_in) with σ = ``model.init_scale``, not centred) of width 100, on D = 20
whitened inputs (P = 200 points, XᵀX/P = I) with a teacher of norm s = 2, full-batch GD with a
small step (gradient-flow time t = 2ηn = 10 over 1000 steps), σ over four decades; the NTK on 64
whitened probe points every 5 steps.  About a minute on a 2-core CPU.

    scaling run configs/papers/silent_alignment.py          # this CPU size
    scaling run configs/papers/silent_alignment.py:small    # the test's: the NTK every 10 steps
    scaling run configs/papers/silent_alignment.py:full     # D = 100, width 1000, σ over six decades, t = 20
"""

import ml_collections


def get_config(arg: str = "cpu"):
    sizes = {"small": dict(dim=20, width=100, steps=1000, ntk_every=10, sigmas=[1e-2, 1e-3, 1e-4, 1e-6]),
             "cpu": dict(dim=20, width=100, steps=1000, ntk_every=5, sigmas=[1e-2, 1e-3, 1e-4, 1e-6]),
             "full": dict(dim=100, width=1000, steps=2000, ntk_every=2,
                          sigmas=[1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8])}[arg]
    config = ml_collections.ConfigDict()
    config.model = dict(arch="deep_linear", depth=2, param="sp", width=sizes["width"], center=False)
    config.data = dict(task="whitened", dim=sizes["dim"], signal=2.0, n_train=10 * sizes["dim"], batch_size=None,
                       n_probe=64)
    config.optim = dict(name="sgd", lr=0.005)
    config.train = dict(steps=sizes["steps"], n_logs=sizes["steps"] // 5 + 1, log_spacing="linear")
    config.measure = dict(ntk_every=sizes["ntk_every"], ntk_kernels=False, features=False, predictions=False)
    config.theory = dict(name="alignment")  # Saxe's solution of the aligned mode, dashed beside the loss curves
    config.log = dict(claims=["silent_alignment"])
    config.sweep = dict(model=dict(init_scale=sizes["sigmas"]))
    return config
