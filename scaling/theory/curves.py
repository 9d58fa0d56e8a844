"""Theory curves on a sweep's own steps: a config names one with ``theory.name``, and each
member's results then hold ``theory_loss``, the predicted test loss at its logged steps
(same widths, data sizes, learning rates and noise), which ``scaling report`` overlays.

Each theory states the configs it describes (``requires``, plus a cross-field ``check``),
refused before any compute otherwise, and converts the framework's conventions to the
paper's: ``train.loss = "mse"`` has no ½, so gradient-flow time is t = 2ηn, and the output
is divided by γ, so t = 2ηn/γ² (THEORY.md §2 "Convention", §4).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import numpy as np

from scaling import config
from scaling.config import Field, at_least
from scaling.errors import ConfigError
from scaling.theory import dynamics, sgd, spectra


@dataclasses.dataclass(frozen=True)
class Theory:
    describes: str  # what it predicts, for error messages
    requires: dict[str, tuple]  # field -> the values the theory holds for
    check: Callable[[dict], None]  # cross-field conditions on a group's values
    loss: Callable[[dict, dict, np.ndarray], np.ndarray]  # (group values, member, steps) -> test loss


def gradient_flow_time(member: dict, steps: np.ndarray) -> np.ndarray:
    """t = 2 η n / γ²: the framework's SGD step on the mse (no ½) of f/γ, in the papers' time."""
    return 2 * member["lr_effective"] * np.asarray(steps, float) / member["model.gamma"] ** 2


@functools.lru_cache(maxsize=256)
def _rf_gf_curve(t: tuple, width: int, n_train: int, dim: int, alpha: float, beta: float, noise: float,
                 nodes: int) -> np.ndarray:
    spectrum = spectra.powerlaw(dim, alpha, beta)
    t = np.asarray(t)
    loss = np.full(t.shape, float(spectrum.target_power.sum()))  # t = 0: f = 0
    loss[t > 0] = dynamics.rf_gf_loss(t[t > 0], width, n_train, spectrum, noise, nodes)
    return loss


def _rf_gf_loss(values: dict, member: dict, steps: np.ndarray) -> np.ndarray:
    t = tuple(gradient_flow_time(member, steps).tolist())
    return _rf_gf_curve(t, values["model.width"], values["data.n_train"], values["data.dim"], values["data.alpha"],
                        values["data.beta"], member["data.noise"], values["theory.nodes"])


@functools.lru_cache(maxsize=256)
def _sgd_online_curve(steps: tuple, lr: float, batch: int, dim: int, alpha: float, beta: float, noise: float) -> np.ndarray:
    problem = sgd.linear(spectra.powerlaw(dim, alpha, beta), feature_scale=1 / dim)  # f = w·x/√D
    return sgd.sgd_loss(np.asarray(steps), lr, batch, problem, noise)


def _sgd_online_loss(values: dict, member: dict, steps: np.ndarray) -> np.ndarray:
    lr = float(gradient_flow_time(member, 1))  # the papers' η of the ½-loss: 2 η / γ²
    return _sgd_online_curve(tuple(np.asarray(steps).tolist()), lr, values["data.batch_size"], values["data.dim"],
                             values["data.alpha"], values["data.beta"], member["data.noise"])


def _online(values: dict) -> None:
    if values["data.n_train"] is not None:
        raise ConfigError("data.n_train", values["data.n_train"], "None (theory 'sgd_online' is one pass over fresh batches)")


def _full_batch(values: dict) -> None:
    if values["data.n_train"] is None:
        raise ConfigError("data.n_train", None, "a number of training points P (theory 'rf_gf' is gradient descent on P points)")
    if values["data.batch_size"] not in (None, values["data.n_train"]):
        raise ConfigError("data.batch_size", values["data.batch_size"],
                          f"None or data.n_train = {values['data.n_train']} (theory 'rf_gf' is full-batch gradient descent)")


GD_ON_POWERLAW = {
    "model.param": ("ntk",), "model.center": (True,), "optim.name": ("sgd",), "optim.momentum": (0.0,),
    "optim.weight_decay": (0.0,), "data.task": ("powerlaw",), "train.loss": ("mse",),
}

REGISTRY: dict[str, Theory] = {}
config.declare({"theory.name": Field(str, None, optional=True, choices=lambda: tuple(sorted(REGISTRY)))})


def register(name: str, theory: Theory, fields: dict[str, Field] | None = None) -> None:
    """A theory curve under ``theory.name = name``, with the config fields it reads beyond the core ones."""
    config.declare(fields or {})
    REGISTRY[name] = theory


register("rf_gf", Theory(
    describes="linear random features trained by full-batch gradient descent (THEORY.md §2)",
    requires={"model.arch": ("rf",), **GD_ON_POWERLAW}, check=_full_batch, loss=_rf_gf_loss,
), fields={"theory.nodes": Field(int, 32, check=at_least(4), rule=">= 4 (Talbot nodes M of a Laplace inversion)")})
register("sgd_online", Theory(
    describes="the linear model f = w·x/√D (deep_linear of depth 1) trained by online SGD (THEORY.md §3)",
    requires={"model.arch": ("deep_linear",), "model.depth": (1,), **GD_ON_POWERLAW}, check=_online,
    loss=_sgd_online_loss,
))


def check(values: dict[str, Any], swept: dict[str, list]) -> None:
    """Refuse a config the named theory does not describe: its ``requires`` on the group's values
    and on every swept value, then its cross-field check."""
    theory = REGISTRY[values["theory.name"]]
    for field, allowed in theory.requires.items():
        for value in swept.get(field, [values[field]]):
            if value not in allowed:
                raise ConfigError(field, value, f"{' or '.join(map(repr, allowed))} for theory.name = "
                                  f"{values['theory.name']!r}: {theory.describes}")
    theory.check(values)


def theory_loss(values: dict, members: list[dict], steps: np.ndarray) -> np.ndarray:
    """The theory's test loss for each member (with its ``lr_effective``) at ``steps``: (members, steps)."""
    theory = REGISTRY[values["theory.name"]]
    return np.stack([theory.loss(values, member, steps) for member in members])
