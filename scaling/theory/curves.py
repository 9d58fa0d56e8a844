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
import itertools
from typing import Any, Callable

import numpy as np

from scaling import config
from scaling.config import Field, at_least
from scaling.errors import ConfigError
from scaling.parameterization import Parameterization, lr_factor
from scaling.theory import alignment, dynamics, feature_learning, sgd, spectra


@dataclasses.dataclass(frozen=True)
class Theory:
    describes: str  # what it predicts, for error messages
    requires: dict[str, tuple]  # field -> the values the theory holds for
    check: Callable[[dict], None]  # cross-field conditions on a group's values
    loss: Callable[[dict, dict, np.ndarray], np.ndarray]  # (group values, member, steps) -> test loss
    check_members: Callable[[dict, dict], None] | None = None  # (group values, swept) -> None: on members' values


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


CONSTANT_LR = {"optim.schedule": ("constant",), "optim.warmup_steps": (0,)}  # the theories' time is 2 eta n / gamma^2
GD_ON_POWERLAW = {
    "model.param": ("ntk",), "model.center": (True,), "optim.name": ("sgd",), "optim.momentum": (0.0,),
    "optim.weight_decay": (0.0,), "optim.weight_decay_rule": ("coupled",), "data.task": ("powerlaw",),
    "train.loss": ("mse",), **CONSTANT_LR,
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


# ---- feature learning: the mode ODE (THEORY.md §5) and silent alignment (§8)

def _member_values(values: dict, swept: dict, fields: tuple[str, ...]) -> list[dict]:
    """Every combination of the (vmapped) ``fields``' swept values a member may take: a superset
    of the members when some are zipped."""
    combos = itertools.product(*(swept.get(field, [values[field]]) for field in fields))
    return [values | dict(zip(fields, combo)) for combo in combos]


def _lr_effective(values: dict) -> float:
    """A depth-``model.depth`` deep_linear member's ``lr_effective`` (``train.with_effective_lr``)."""
    factor = lr_factor(values["optim.lr_rule"], values["optim.name"], values["model.gamma"], values["model.depth"])
    return float(values["optim.lr"] * factor)


def _mode_ode_spectrum(dim: int, alpha: float, beta: float) -> spectra.Spectrum:
    """The powerlaw task in the features ψ = x/√D the first layer reads (μP, §4): eigenvalues
    λ_k/D and teacher √D w̄, the same target power."""
    spectrum = spectra.powerlaw(dim, alpha, beta)
    return spectra.Spectrum(spectrum.eigenvalues / dim, spectrum.target_power)


@functools.lru_cache(maxsize=256)
def _mode_ode_curve(t: tuple, gamma: float, dim: int, alpha: float, beta: float) -> np.ndarray:
    return 2 * feature_learning.flow_loss(_mode_ode_spectrum(dim, alpha, beta), gamma, np.asarray(t))


def _mode_ode_loss(values: dict, member: dict, steps: np.ndarray) -> np.ndarray:
    """The μP net f = wᵀW x/(γN√D), lr = ηN per layer, is the ODE's f = aᵀWψ/(γN) in ψ = x/√D,
    at the ODE's γ = model.gamma and time t = 2ηn/γ² (its lr γ²N on the ½-loss); the mse is
    twice the ODE's ½vᵀΛv."""
    t = tuple(gradient_flow_time(member, steps).tolist())
    return _mode_ode_curve(t, float(member["model.gamma"]), values["data.dim"], values["data.alpha"], values["data.beta"])


MODE_ODE_STEP = 0.05  # the largest step 2η/γ² · λ_max · kernel_bound (in ψ = x/√D) the framework may take


def _mode_ode_values(values: dict) -> None:
    if values["model.width"] < values["data.dim"]:
        raise ConfigError("model.width", values["model.width"], f">= data.dim = {values['data.dim']} (theory "
                          "'mode_ode' is the infinite-width net, whose WᵀW/N starts at the identity)")


def _mode_ode_members(values: dict, swept: dict) -> None:
    spectrum = _mode_ode_spectrum(values["data.dim"], values["data.alpha"], values["data.beta"])
    for member in _member_values(values, swept, ("optim.lr", "model.gamma")):
        gamma = member["model.gamma"]
        step = 2 * _lr_effective(member) / gamma**2 * spectrum.eigenvalues.max() * feature_learning.kernel_bound(spectrum, gamma)
        if step > MODE_ODE_STEP:
            most = member["optim.lr"] * MODE_ODE_STEP / step
            raise ConfigError("optim.lr", member["optim.lr"], f"<= {most:.3g} at model.gamma = {gamma} for theory "
                              f"'mode_ode' (gradient flow: a step (2η/γ²)(λ_1/D)·2(1 + γ√D|w̄|) <= {MODE_ODE_STEP})")


def _alignment_net(values: dict, member: dict) -> tuple[float, float, float]:
    """The framework's depth-2 linear net as the net of ``alignment.simulate``: balanced init stds
    and dT/dn (``alignment.balanced``), from the parameterization's init stds, multipliers and lr
    multipliers, the init scale and the output's 1/γ."""
    rules = Parameterization(values["model.param"], values["optim.name"])
    first = rules.layer("input", values["data.dim"], values["model.width"])
    last = rules.layer("readout", values["model.width"], 1)
    scale, gamma, lr = member["model.init_scale"], member["model.gamma"], member["lr_effective"]
    return alignment.balanced(scale * first.std * first.mult, scale * last.std * last.mult / gamma,
                              lr * first.lr * first.mult**2, lr * last.lr * last.mult**2 / gamma**2)


@functools.lru_cache(maxsize=256)
def _alignment_curve(steps: tuple, rate: float, signal: float, width: int, sigma_w: float, sigma_a: float) -> np.ndarray:
    return 2 * alignment.saxe_loss(rate * np.asarray(steps, float), signal, width, sigma_w, sigma_a)


def _alignment_loss(values: dict, member: dict, steps: np.ndarray) -> np.ndarray:
    sigma_w, sigma_a, rate = _alignment_net(values, member)
    return _alignment_curve(tuple(np.asarray(steps).tolist()), float(rate), values["data.signal"], values["model.width"],
                            float(sigma_w), float(sigma_a))


ALIGNMENT_INIT = 0.01  # the largest N(σ_W² + σ_a²)/(4s): small initialization
ALIGNMENT_STEP = 0.05  # the largest step s·dT of gradient descent for gradient flow


def _whitened_batches(values: dict) -> None:
    n_train, batch, dim = values["data.n_train"], values["data.batch_size"], values["data.dim"]
    if n_train is None and batch < dim:
        raise ConfigError("data.batch_size", batch, f">= data.dim = {dim} (theory 'alignment' needs whitened "
                          "batches, XᵀX/B = I)")
    if n_train is not None and n_train < dim:
        raise ConfigError("data.n_train", n_train, f">= data.dim = {dim} (theory 'alignment' needs XᵀX/P = I)")
    if n_train is not None and batch not in (None, n_train):
        raise ConfigError("data.batch_size", batch, f"None or data.n_train = {n_train} (theory 'alignment' is "
                          "full-batch on whitened data)")


def _alignment_members(values: dict, swept: dict) -> None:
    s = values["data.signal"]
    for member in _member_values(values, swept, ("optim.lr", "model.gamma", "model.init_scale")):
        sigma_w, sigma_a, rate = _alignment_net(values, member | {"lr_effective": _lr_effective(member)})
        scale = values["model.width"] * (sigma_w**2 + sigma_a**2) / (4 * s)
        if scale > ALIGNMENT_INIT:
            most = member["model.init_scale"] * np.sqrt(ALIGNMENT_INIT / scale)
            raise ConfigError("model.init_scale", member["model.init_scale"], f"<= {most:.3g} at model.gamma = "
                              f"{member['model.gamma']} for theory 'alignment' (small init: N(σ_W² + σ_a²)/4 <= "
                              f"{ALIGNMENT_INIT} s)")
        if rate * s > ALIGNMENT_STEP:
            most = member["optim.lr"] * ALIGNMENT_STEP / (rate * s)
            raise ConfigError("optim.lr", member["optim.lr"], f"<= {most:.3g} at model.gamma = {member['model.gamma']} "
                              f"for theory 'alignment' (gradient flow: s·dT <= {ALIGNMENT_STEP} per step)")


register("mode_ode", Theory(
    describes="the infinite-width two-layer linear net in μP under population gradient flow (THEORY.md §5)",
    requires={"model.arch": ("deep_linear",), "model.depth": (2,), **GD_ON_POWERLAW, "model.param": ("mup",),
              "model.init_scale": (1.0,), "data.n_train": (None,)},
    check=_mode_ode_values, loss=_mode_ode_loss, check_members=_mode_ode_members,
))
register("alignment", Theory(
    describes="the two-layer linear net from small init on whitened data, Saxe's solution (THEORY.md §8)",
    requires={"model.arch": ("deep_linear",), "model.depth": (2,), "model.center": (False,), "optim.name": ("sgd",),
              "optim.momentum": (0.0,), "optim.weight_decay": (0.0,), "data.task": ("whitened",),
              "train.loss": ("mse",), "data.noise": (0.0,), **CONSTANT_LR},
    check=_whitened_batches, loss=_alignment_loss, check_members=_alignment_members,
))


# ---- linear random features: ridge, online gradient flow, online SGD (THEORY.md §1–§3)

def _rf_lr(member: dict) -> float:
    """The papers' η of the ½-loss, 2η/γ² (``gradient_flow_time`` of one step), from a member's
    values before the framework adds ``lr_effective`` (``rf`` has one layer)."""
    factor = float(lr_factor(member["optim.lr_rule"], member["optim.name"], member["model.gamma"], 1))
    return float(gradient_flow_time(member | {"lr_effective": member["optim.lr"] * factor}, 1))


@functools.lru_cache(maxsize=256)
def _rf_flow_curve(t: tuple, width: int, n_train: float, dim: int, alpha: float, beta: float, noise: float, nodes: int,
                   ridge: float, offset: float) -> np.ndarray:
    spectrum = spectra.powerlaw(dim, alpha, beta)
    t = np.asarray(t)
    loss = np.full(t.shape, float(spectrum.target_power.sum()))  # t = 0: f = 0
    loss[t > 0] = dynamics.rf_gf_loss(t[t > 0], width, n_train, spectrum, noise, nodes, ridge, offset)
    return loss


def _rf_ridge_loss(values: dict, member: dict, steps: np.ndarray) -> np.ndarray:
    """Coupled weight decay ω on the stored readout w = w₀ + γθ (centred, f = θ·Aψ/√N): in the
    papers' time t = 2ηn/γ², dθ/dt = −∇(½-loss) − λ(θ + w₀/γ), ridge λ = ωγ²/2 of §1's
    objective (1/P)Σ(y − f)² + λ|θ|², pulling θ towards −w₀/γ, w₀ ~ N(0, init_scale²)."""
    gamma = member["model.gamma"]
    t = tuple(gradient_flow_time(member, steps).tolist())
    return _rf_flow_curve(t, values["model.width"], values["data.n_train"], values["data.dim"], values["data.alpha"],
                          values["data.beta"], member["data.noise"], values["theory.nodes"],
                          member["optim.weight_decay"] * gamma**2 / 2, (member["model.init_scale"] / gamma) ** 2)


def _rf_ridge_values(values: dict) -> None:
    n_train, batch = values["data.n_train"], values["data.batch_size"]
    if n_train is None:
        raise ConfigError("data.n_train", None, "a number of training points P (theory 'rf_ridge' is gradient descent "
                          "on P points; online: 'rf_online' or 'sgd_rf')")
    if batch not in (None, n_train):
        raise ConfigError("data.batch_size", batch, f"None or data.n_train = {n_train} (theory 'rf_ridge' is "
                          "full-batch gradient descent)")


def _rf_ridge_members(values: dict, swept: dict) -> None:
    for decay in swept.get("optim.weight_decay", [values["optim.weight_decay"]]):
        if decay <= 0:
            raise ConfigError("optim.weight_decay", decay, "> 0 for theory 'rf_ridge' (gradient flow with ridge "
                              "λ = ωγ²/2; without weight decay: theory.name = 'rf_gf')")


def _fresh_batches(name: str, values: dict) -> None:
    if values["data.n_train"] is not None:
        raise ConfigError("data.n_train", values["data.n_train"], f"None for theory {name!r}: online training on "
                          "fresh batches (on P points: 'rf_gf', with weight decay 'rf_ridge')")


def _rf_online_loss(values: dict, member: dict, steps: np.ndarray) -> np.ndarray:
    """§2's flow at P = ∞ (label noise enters through the P samples only), t = 2ηn/γ²."""
    t = tuple(gradient_flow_time(member, steps).tolist())
    return _rf_flow_curve(t, values["model.width"], np.inf, values["data.dim"], values["data.alpha"], values["data.beta"],
                          0.0, values["theory.nodes"], 0.0, 0.0)


ONLINE_FLOW_TOLERANCE = 0.03  # the largest |L/L_flow − 1| of SGD (by §3's recursion) that 'rf_online' accepts


@functools.lru_cache(maxsize=256)
def _online_departure(lr: float, batch: int, steps: int, dim: int, alpha: float, beta: float, width: int,
                      noise: float) -> tuple[float, float]:
    """max over steps n ≤ ``steps`` of |L_n/L_flow(ηn) − 1| for gradient descent (B = ∞: the
    discretization) and for SGD at ``batch`` (its noise: the kernel term (η²/B)ΣK(E + σ² + σ_F²)
    of §3's Volterra form), by §3's exact recursion on one draw of A (seed 0)."""
    problem = sgd.random_features(spectra.powerlaw(dim, alpha, beta), width, np.random.default_rng(0))
    n = np.unique(np.geomspace(1, steps, 200).astype(int))
    flow = problem.misspecification + np.exp(-2 * lr * np.outer(n, problem.eigenvalues)) @ (
        problem.eigenvalues * problem.initial)
    departure = [np.max(np.abs(sgd.sgd_loss(n, lr, b, problem, noise) / flow - 1)) for b in (np.inf, batch)]
    return float(departure[0]), float(departure[1])


def _rf_online_members(values: dict, swept: dict) -> None:
    batch, tolerance = values["data.batch_size"], ONLINE_FLOW_TOLERANCE
    for member in _member_values(values, swept, ("optim.lr", "model.gamma", "data.noise")):
        lr, gamma = member["optim.lr"], member["model.gamma"]
        gd, sgd_ = _online_departure(_rf_lr(member), batch, values["train.steps"], values["data.dim"],
                                     values["data.alpha"], values["data.beta"], values["model.width"],
                                     float(member["data.noise"]))
        if gd > tolerance:
            raise ConfigError("optim.lr", lr, f"about <= {lr * tolerance / gd:.3g} at model.gamma = {gamma} for theory "
                              f"'rf_online' (gradient flow): its gradient steps depart from the flow by {gd:.1%} > "
                              f"{tolerance:.0%}, about in proportion to the lr (THEORY.md §2: ηλ_max ≲ 0.1)")
        if sgd_ > tolerance:
            raise ConfigError("data.batch_size", batch, f"a larger batch (or optim.lr < {lr}) for theory 'rf_online': "
                              f"with SGD's noise, the kernel term (η²/B)ΣK(E + σ² + σ_F²) of THEORY.md §3, the loss "
                              f"departs from the flow by {sgd_:.1%} > {tolerance:.0%}; theory.name = 'sgd_rf' is the "
                              "curve at this batch")


@functools.lru_cache(maxsize=32)
def _feature_draws(dim: int, alpha: float, beta: float, width: int, draws: int) -> tuple[sgd.LinearProblem, ...]:
    """§3's problems z = Aψ/√N for ``draws`` draws of A (seeds 0, 1, ...)."""
    spectrum = spectra.powerlaw(dim, alpha, beta)
    return tuple(sgd.random_features(spectrum, width, np.random.default_rng(seed)) for seed in range(draws))


@functools.lru_cache(maxsize=256)
def _sgd_rf_curve(steps: tuple, lr: float, batch: int, dim: int, alpha: float, beta: float, width: int, draws: int,
                  noise: float) -> np.ndarray:
    problems = _feature_draws(dim, alpha, beta, width, draws)
    return np.mean([sgd.sgd_loss(np.asarray(steps), lr, batch, problem, noise) for problem in problems], axis=0)


def _sgd_rf_loss(values: dict, member: dict, steps: np.ndarray) -> np.ndarray:
    """§3's recursion at η = 2η_framework/γ² (the ½-loss on z = Aψ/√N), averaged over draws of A."""
    return _sgd_rf_curve(tuple(np.asarray(steps).tolist()), float(gradient_flow_time(member, 1)),
                         values["data.batch_size"], values["data.dim"], values["data.alpha"], values["data.beta"],
                         values["model.width"], values["theory.feature_draws"], member["data.noise"])


def _sgd_rf_members(values: dict, swept: dict) -> None:
    batch, draws = values["data.batch_size"], values["theory.feature_draws"]
    problems = _feature_draws(values["data.dim"], values["data.alpha"], values["data.beta"], values["model.width"], draws)
    edge = min(sgd.max_stable_lr(batch, problem.eigenvalues) for problem in problems)
    for member in _member_values(values, swept, ("optim.lr", "model.gamma")):
        lr = _rf_lr(member)
        if lr >= edge:
            most = member["optim.lr"] * edge / lr
            raise ConfigError("optim.lr", member["optim.lr"], f"< {most:.4g} at model.gamma = {member['model.gamma']} "
                              f"for theory 'sgd_rf': online SGD at batch {batch} diverges beyond it (THEORY.md §3: "
                              "every ρ_i < 1 and (η/B)Σλ_i/(2 − ηλ_i(1 + 1/B)) < 1, on theory.feature_draws "
                              f"= {draws} draws of A)")


RF_GD = {"model.arch": ("rf",), **GD_ON_POWERLAW}
register("rf_ridge", Theory(
    describes="linear random features trained by full-batch gradient descent with weight decay (THEORY.md §1, §2)",
    requires={field: allowed for field, allowed in RF_GD.items() if field != "optim.weight_decay"},
    check=_rf_ridge_values, loss=_rf_ridge_loss, check_members=_rf_ridge_members,
))
register("rf_online", Theory(
    describes="linear random features trained online, where SGD's noise is negligible: the P = ∞ gradient flow "
              "(THEORY.md §2)",
    requires=RF_GD, check=functools.partial(_fresh_batches, "rf_online"), loss=_rf_online_loss,
    check_members=_rf_online_members,
))
register("sgd_rf", Theory(
    describes="linear random features trained by online SGD: the exact recursion averaged over draws of A (THEORY.md §3)",
    requires=RF_GD, check=functools.partial(_fresh_batches, "sgd_rf"), loss=_sgd_rf_loss,
    check_members=_sgd_rf_members,
), fields={"theory.feature_draws": Field(int, 4, check=at_least(1),
                                         rule=">= 1 (draws of the features A that theory 'sgd_rf' averages over)")})


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
    if theory.check_members is not None:
        theory.check_members(values, swept)


def theory_loss(values: dict, members: list[dict], steps: np.ndarray) -> np.ndarray:
    """The theory's test loss for each member (with its ``lr_effective``) at ``steps``: (members, steps)."""
    theory = REGISTRY[values["theory.name"]]
    return np.stack([theory.loss(values, member, steps) for member in members])
