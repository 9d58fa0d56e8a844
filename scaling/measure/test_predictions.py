"""The members' predictions on the test set over training (off by default): the ensemble over
seeds and the distance between widths along training, on the test set (THEORY.md §6;
``ensemble``).

Memory: every member stores n_test × outputs numbers at each of its steps, so a sweep's
``test_pred`` holds members × steps × n_test × outputs floats, on disk and in ``scaling.load``
(1000 members × 16 steps × 1000 test points are 64 MB in float32); thin it with
``measure.test_predictions_n_logs`` or ``data.n_test``.  Each group's meta holds the test
set's targets (``launch/runner.py``), loaded as ``test_target``: they depend on the group's
static data fields only, never on ``data.seed`` (``data/tasks.py``), so the seeds of an
ensemble share them.  The ensemble's test loss (wandb history ``test_loss/ensemble``) is its
squared error, the test loss of ``train.loss = "mse"``.
"""

from __future__ import annotations

from scaling.measure import ensemble
from scaling.measure.registry import Figure, register
from scaling.report import ensembles


def measure(program, state, member, batch_loss) -> dict:
    """Test predictions, (n_test,) for a single-output task, else (n_test, C)."""
    pred = program.stream.measured(program.predict_fixed(state, member, "test"))
    return {"test_pred": pred if program.stream.out_dim > 1 else pred[:, 0]}


register(
    "test_predictions", "test_pred_step", measure, n_logs=16, default=False,
    dims=lambda program: {"test_pred": ["test"] + (["output"] if program.stream.out_dim > 1 else [])},
    history=lambda point: {"test_loss/ensemble": ensemble.seed_ensemble_loss(point, "test")},
    summary=lambda point: {"final_test_loss_ensemble":
                           float(ensemble.seed_ensemble_loss(point.isel(test_pred_step=-1), "test"))},
    figures=(Figure("ensemble_over_steps.png", ensembles.ensemble_over_steps,
                    "Over training, per width at the lr best at the largest width: the squared test error of the "
                    "ensemble over seeds and of the mean member (left); the distance of the members to the widest "
                    "ensemble's test predictions, split in bias² and variance over seeds (right; THEORY.md §6)."),),
)
