"""The members' predictions on the probe set, the data of ensembles over seeds and of the
distance between widths (``ensemble``; THEORY.md §6)."""

from __future__ import annotations

from scaling.analysis import mean_over_seeds, seed_dims
from scaling.measure import ensemble
from scaling.measure.registry import Figure, register
from scaling.report import ensembles


def measure(program, state, member, batch_loss) -> dict:
    """Probe predictions, (P,) for a single-output task, else (P, C)."""
    pred = program.stream.measured(program.predict_fixed(state, member, "probe"))
    return {"probe_pred": pred if program.stream.out_dim > 1 else pred[:, 0]}


def ensemble_probe_loss(point):
    """The squared error of the seed-averaged predictor on the probe set."""
    over = seed_dims(point)
    return ensemble.ensemble_loss(point, over) if over else ensemble.member_loss(point)


register(
    "predictions", "pred_step", measure, n_logs=16,
    dims=lambda program: {"probe_pred": ["probe"] + (["output"] if program.stream.out_dim > 1 else [])},
    history=lambda point: {"probe_loss/ensemble": ensemble_probe_loss(point),
                           "probe_loss/mean": mean_over_seeds(ensemble.member_loss(point))},
    summary=lambda point: {"final_probe_loss_ensemble": float(ensemble_probe_loss(point.isel(pred_step=-1)))},
    figures=(Figure("ensemble_vs_width.png", ensembles.ensemble_vs_width,
                    "Variance over seeds and squared bias of the final probe predictions against width "
                    "(THEORY.md §6), with a 1/N guide."),),
)
