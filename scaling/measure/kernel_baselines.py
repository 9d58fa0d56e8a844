"""Kernel-regression baselines beside the network's test loss (THEORY.md §7: "kernel regression with
the final NTK reproduces the network's learning curve"; §8: the final network ≈ kernel regression with
its final NTK).  Off by default (``measure.kernel_baselines``); taken at step 0 and at the last step.

On a member's training set (x, y) and the first ``measure.kernel_baselines_n_test`` test points, each
baseline is ridge(less) kernel regression (``theory.kernels.kernel_regression``) of the residual
y − f_init from the network's initial function f_init ((f(θ_0) − f0)/γ: zero when centred, the default),
and its test loss under ``train.loss`` = "mse":

- ``kernel_test_loss``: with the member's empirical NTK at that step (``measure.ntk``'s plain kernel of
  (f − f0)/γ, on train × train and test × train; several outputs share their mean per-output kernel, the
  trace over outputs / C, exact at infinite width where the NTK is diagonal in the outputs);
- ``ntk_inf_test_loss`` and ``nngp_test_loss``: with the infinite-width NTK and NNGP of the member's MLP
  (``theory.kernels.mlp_kernels``; "mlp" with a relu or linear activation, or "deep_linear").  They depend
  on the member's training set and init scale only, so they repeat over steps and widths;
- ``kernel_net_test_loss``: the network's own test loss on the same test points, the one to compare with.

Ridgeless regression drops the kernel's eigenvalues below n · eps · the largest: in float32 that is a
spectral cutoff near 1e-4 of the top eigenvalue for n = 1000, so compare in ``train.dtype = "float64"``.
The training set's kernels are n × n per member: members are taken one per call (``block``).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from scaling.config import Field, at_least, nonneg
from scaling.data import task_kind
from scaling.errors import ConfigError
from scaling.measure import ntk
from scaling.measure.registry import Figure, register
from scaling.report import baselines as baseline_figures
from scaling.theory import kernels

NAME = "measure.kernel_baselines"


def closed_form(values: dict[str, Any]) -> tuple[str, bool] | None:
    """(activation, bias) of an architecture whose infinite-width kernels ``mlp_kernels`` gives, else None."""
    if values["model.arch"] == "deep_linear":
        return "linear", False
    if values["model.arch"] == "mlp" and values["model.activation"] in kernels.ACTIVATIONS:
        return values["model.activation"], values["model.bias"]
    return None


def n_test(program) -> int:
    """The number of test points the baselines are evaluated on: the first ones."""
    return min(program.values[f"{NAME}_n_test"], program.stream.test[0].shape[0])


def measure(program, state, member, batch_loss) -> dict:
    """The test losses of kernel regression with the member's empirical NTK (and the infinite-width
    kernels) and of the network itself, on the same test points."""
    (x_train, y_train), n_train = state["data"]["train"], state["data"]["train"][0].shape[0]
    x_test, y_test = (a[:n_test(program)] for a in program.stream.test)
    gamma, values = member["model.gamma"], program.values
    x = jnp.concatenate([x_train, x_test])
    start = program.predict({**state, "params": state["params0"]}, member, x)  # f_init: 0 when centred

    def test_loss(kernel):
        fit = kernels.kernel_regression(kernel[:n_train, :n_train], kernel[n_train:, :n_train],
                                        y_train - start[:n_train], values[f"{NAME}_ridge"])
        return program.loss(start[n_train:] + fit, y_test)

    leaves = ntk.leaf_kernels(program.model, program.variables(state), x)
    network = program.predict_fixed(state, member, "test")[:n_test(program)]
    metrics = {"kernel_test_loss": test_loss(sum(leaves.values()) / (gamma**2 * program.stream.out_dim)),
               "kernel_net_test_loss": program.loss(network, y_test)}
    architecture = closed_form(values)
    if architecture is not None:
        activation, bias = architecture
        limit = kernels.mlp_kernels(x, x, values["model.depth"], activation, width=values["model.width"],
                                    param=values["model.param"], optimizer=program.rules.optimizer, bias=bias,
                                    init_scale=member["model.init_scale"], gamma=gamma)
        metrics |= {"ntk_inf_test_loss": test_loss(limit["ntk"]), "nngp_test_loss": test_loss(limit["nngp"])}
    return metrics


def dims(program) -> dict[str, list[str]]:
    names = ["kernel_test_loss", "kernel_net_test_loss"]
    if closed_form(program.values) is not None:
        names += ["ntk_inf_test_loss", "nngp_test_loss"]
    return {name: [] for name in names}


def block(program, n_members: int) -> int:
    """One member per call (``lax.map``): each member's kernels are its own n × n problem, and a
    vmapped call over several members with a few hundred test points deadlocked XLA's CPU runtime
    (jaxlib 0.10.2: every thread waiting, the call never returning) where one at a time runs."""
    return 1


def check(values: dict[str, Any]) -> None:
    if values["data.n_train"] is None:
        raise ConfigError("data.n_train", None, f"an integer >= 1 ({NAME} regresses on a finite training set)")
    if values["train.loss"] != "mse":
        raise ConfigError("train.loss", values["train.loss"], f"'mse' ({NAME} is kernel regression on the targets)")
    if task_kind(values) == "language":
        raise ConfigError("data.task", values["data.task"], f"a task of one target per example ({NAME})")


register(
    "kernel_baselines", "kernel_step", measure, dims, default=False,
    steps=lambda program: np.unique([0, program.steps]),
    fields={
        f"{NAME}_n_test": Field(int, 500, check=at_least(1), rule=">= 1 (test points of the baselines: the first ones)"),
        f"{NAME}_ridge": Field(float, 0.0, check=nonneg, rule=">= 0 (ridge of the kernel regressions; 0: ridgeless)"),
    },
    check=check, block=block,
    figures=(Figure("kernel_baselines.png", baseline_figures.baselines_vs_p,
                    "Test loss against P per width: the network E_N, kernel regression with its final and initial "
                    "empirical NTK, and the infinite-width NTK's E_∞; right, E_N / E_∞ and the onset level 2 "
                    "(THEORY.md §7: P* ∝ √N).", shows=("width", "n_train")),),
)
