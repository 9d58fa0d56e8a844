"""Train and test loss at the log steps (``train.n_logs``, ``train.log_spacing``): always on."""

from __future__ import annotations

from scaling.analysis import mean_over_seeds, seed_labels
from scaling.measure.registry import Figure, log_steps, register
from scaling.report import losses

LOSSES = ("train_loss", "test_loss")


def measure(program, state, member, batch_loss) -> dict:
    """Test loss and train loss (the step's batch loss online, the full training set otherwise)."""
    metrics = {"test_loss": program.loss(program.predict_fixed(state, member, "test"), program.stream.test[1])}
    if "train" not in state["data"]:
        metrics["train_loss"] = batch_loss
    else:
        metrics["train_loss"] = program.loss(program.predict_fixed(state, member, "train"), state["data"]["train"][1])
    return metrics


def history(point) -> dict:
    """Each loss per seed and its mean over seeds."""
    rows = {}
    for name in LOSSES:
        for where, label in seed_labels(point):
            rows[f"{name}/{label}"] = point[name].isel(where)
        rows[f"{name}/mean"] = mean_over_seeds(point[name])
    return rows


register(
    "loss", "step", measure,
    dims=lambda program: {name: [] for name in LOSSES},
    steps=lambda program: log_steps(program.steps, program.values["train.n_logs"], program.values["train.log_spacing"]),
    history=history,
    figures=(
        Figure("loss_curves.png", losses.loss_curves,
               "Test loss against step, a line per width at its best learning rate, a panel per γ; the widest "
               "width's power law in time fitted over the last 1.5 decades of steps, with its 95 % interval."),
        Figure("loss_vs_time.png", losses.loss_vs_time,
               "Test loss against gradient-flow time t = 2ηn/γ² (THEORY.md §2, §4) at the largest width, a line per "
               "learning rate: curves that fall on one another are in the gradient-flow regime."),
        Figure("compute.png", losses.compute_frontier,
               "Test loss against compute C = N·steps, a line per width at its best lr; the compute-optimal envelope "
               "and its power law L* ∝ C^a fitted over its last two decades, with the 95 % interval (THEORY.md §2, §5)."),
        Figure("gamma_lr.png", losses.gamma_lr_map,
               "Final test loss over γ and the learning rate at the largest width; η*(γ), the grid's best and its "
               "log-quadratic refinement with a 90 % bootstrap interval over seeds, and the divergence edge η_max(γ); "
               "η* ∝ γ^a fitted below and above γ = 1 with 95 % intervals, and γ² and γ^(2/L) for reference."),
        Figure("loss_vs_lr.png", losses.loss_vs_lr, "Final test loss against the learning rate, a line per width "
               "(μTransfer: under μP the optimum stays put as width grows)."),
        Figure("learning_curves.png", losses.learning_curves, "Learning curves: final test loss against the number of "
               "training points P, a line per width at each point's best learning rate, a panel per γ; the widest "
               "width's power law in P, with its 95 % interval.", shows=(*losses.SHOWN, "n_train")),
        Figure("loss_vs_width.png", losses.loss_vs_width, "Final test loss against width at fixed γ and η, with "
               "the power law ∝ N^a fitted over the widths shown and its 95 % interval."),
        Figure("lr_transfer.png", losses.lr_transfer, "Learning-rate transfer: η* against width (at the largest "
               "depth) and against depth (at the largest width), a line per parameterization (μP against SP) and γ; "
               "each η* the log-quadratic vertex of the final test loss over lr with its 90 % bootstrap interval over "
               "seeds (hollow: the grid's best), the fitted η* ∝ N^a, L^a with 95 % intervals and the drift "
               "log10(max η* / min η*) in decades.", shows=losses.TRANSFER_SHOWN),
    ),
)
