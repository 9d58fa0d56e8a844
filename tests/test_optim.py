"""The training recipes of scaling.optim: members of a vmapped group equal their solo runs with the
plain optax optimizer, lr schedules against optax's, their validation, the weight-decay rules,
Adam-atan2 and Lion."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import members, values

from scaling import checks, cli, optim, sweep, train, trees
from scaling.errors import ConfigError

STEPS = 100
SMALL = {"model.width": 16, "model.depth": 3, "data.dim": 8, "data.batch_size": 16, "train.steps": STEPS}
# An optimizer with a schedule, and the raw lrs of its members (sp, muP).  Every hyperparameter is exact in
# float32, so a member's float32 copy is the solo optimizer's Python float (1 - float32(0.999) is
# 1.3e-5 away from 1 - 0.999: Adam's second moment would differ by that much, whatever the code).
RECIPES = {
    "sgd": ({"optim.name": "sgd", "optim.momentum": 0.875, "optim.weight_decay": 2**-10, "optim.schedule": "cosine",
             "optim.warmup_steps": 10, "optim.final_lr": 0.125}, {"sp": [2**-6, 2**-5], "mup": [2**-6, 2**-5]}),
    "adam": ({"optim.name": "adam", "optim.b1": 0.875, "optim.b2": 1 - 2**-7, "optim.eps": 2**-27, "optim.schedule": "wsd",
              "optim.warmup_steps": 10, "optim.decay_steps": 30}, {"sp": [2**-8, 2**-7], "mup": [2**-5, 2**-4]}),
    "adamw": ({"optim.name": "adam", "optim.b2": 1 - 2**-10, "optim.eps": 2**-20, "optim.weight_decay": 2**-4,
               "optim.schedule": "linear", "optim.warmup_steps": 5, "optim.horizon": 120, "optim.final_lr": 0.25},
              {"sp": [2**-8, 2**-7], "mup": [2**-5, 2**-4]}),
}
ROLES = {"layer0": "input", "layer1": "hidden", "readout": "readout"}  # the MLP of depth 3 (models/mlp.py)


def optax_schedule(v, peak: float):
    """``optim.schedule`` peaking at ``peak`` as a user writes it with optax's own schedules, Python floats."""
    kind, warmup, end = v["optim.schedule"], v["optim.warmup_steps"], v["optim.final_lr"] * peak
    horizon = v["optim.horizon"] or v["train.steps"]
    if kind == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, horizon, end)
    rise = optax.linear_schedule(0.0, peak, warmup)
    if kind == "constant":
        return optax.join_schedules([rise, optax.constant_schedule(peak)], [warmup])
    if kind == "linear":
        return optax.join_schedules([rise, optax.linear_schedule(peak, end, horizon - warmup)], [warmup])
    decay = v["optim.decay_steps"] or horizon // 5  # warmup-stable-decay (Hägele et al. 2024)
    return optax.join_schedules([rise, optax.constant_schedule(peak), optax.linear_schedule(peak, end, decay)],
                                [warmup, horizon - decay])


def reference_schedule(v, peak: float):
    """``optax_schedule`` at the optimizer's step count as a float: optax divides its int32 count
    by an int, in float32 even under x64 (float32 runs: the same numbers)."""
    schedule = optax_schedule(v, peak)
    return lambda count: schedule(jnp.asarray(count, float))


def plain_optimizer(v, member: dict, lr: float = 1.0, eps: float = 1.0, decay: float = 1.0):
    """The member's optimizer written with plain optax (no inject_hyperparams), for a layer with
    these lr, eps and weight-decay multipliers: torch's SGD, Adam or AdamW."""
    schedule, wd = reference_schedule(v, member["lr_effective"] * lr), member["optim.weight_decay"] * decay
    if v["optim.name"] == "sgd":
        return optax.chain(optax.add_decayed_weights(wd), optax.sgd(schedule, member["optim.momentum"]))
    b1, b2, eps = member["optim.b1"], member["optim.b2"], member["optim.eps"] * eps
    return optax.adamw(schedule, b1, b2, eps, weight_decay=wd) if wd else optax.adam(schedule, b1, b2, eps)


def param_groups(program, v, member: dict):
    """muP as param groups (microsoft/mup's MuAdamW): one plain optimizer per parameter with its
    layer's multipliers from ``Parameterization.layer``, joined by ``optax.multi_transform``."""
    width, dim, rules = v["model.width"], v["data.dim"], program.rules
    fans = {"input": (dim, width), "hidden": (width, width), "readout": (width, 1)}
    layer = {f"{name}/w": rules.layer(role, *fans[role]) for name, role in ROLES.items()}
    layer |= {f"{name}/b": rules.layer("bias", 1, width) for name in ROLES if v["model.bias"] and name != "readout"}
    transforms = {path: plain_optimizer(v, member, r.lr, r.eps, r.decay) for path, r in layer.items()}
    labels = trees.unflatten({path: path for path in layer})
    return optax.multi_transform(transforms, labels), layer


def group_run(trainer, ms):
    """The members trained together: ``STEPS`` of ``vmap(program.step)`` in one compiled call;
    their initial states, final parameters and batch losses (members, steps)."""
    program = trainer.program
    arrays = train.member_arrays(program, ms)
    states = trainer.init_fn()(arrays)
    vstep = train.over_members(program.step, batched=("state", "member"))
    final, losses = train.jit(lambda s: jax.lax.scan(lambda s, t: vstep(s, arrays, t), s, jnp.arange(STEPS)))(states)
    return states, final["params"], losses.T


def solo_run(program, optimizer):
    """``(state, member) -> (params, losses)``: one member trained alone from its initial state on
    its batches and loss, with ``optimizer``; compiled."""

    def run(state, member):
        def body(carry, t):
            params, opt = carry
            loss, grads = jax.value_and_grad(program.objective)(params, state, member, program.batch(state, member, t))
            updates, opt = optimizer.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), loss

        (params, _), losses = jax.lax.scan(body, (state["params"], optimizer.init(state["params"])), jnp.arange(STEPS))
        return params, losses

    return jax.jit(run)


def relative_error(a, b) -> float:
    """max over leaves of max |a - b| / max |b|."""
    return max(float(jnp.max(jnp.abs(x - y)) / jnp.max(jnp.abs(y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("dtype,tolerance", [("float32", 1e-6), ("float64", 1e-12)])
@pytest.mark.parametrize("param", ["sp", "mup"])
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_members_of_a_vmapped_group_equal_their_solo_runs_with_plain_optax(recipe, param, dtype, tolerance):
    """gamma x eta x seed = 8 members in one compiled call against each alone with the optimizer
    written in plain optax: the user's own under sp (every multiplier 1), param groups under muP."""
    fields, lrs = RECIPES[recipe]
    with jax.enable_x64(dtype == "float64"):
        base = values(**SMALL, **fields, **{"model.param": param, "model.bias": param == "mup", "train.dtype": dtype})
        trainer = train.build(base)
        program = trainer.program
        ms = train.with_effective_lr(program, members(base, model__gamma=[0.5, 2.0], optim__lr=lrs[param], train__seed=[0, 1]))
        states, params, losses = group_run(trainer, ms)
        assert np.isfinite(losses).all() and (losses[:, -10:].mean(1) < 0.5 * losses[:, :10].mean(1)).all()  # they learn
        arrays, solos, errors = train.member_arrays(program, ms), {}, []
        for i, member in enumerate(ms):
            state = jax.tree.map(lambda a: a[i], states)
            if param == "sp":
                optimizer = plain_optimizer(base, member)
                assert all(float(s) == 1.0 for rule in optim.RULES for s in jax.tree.leaves(state[rule]))
            else:
                optimizer, layer = param_groups(program, base, member)
                for rule, field in zip(optim.RULES, ("lr", "eps", "decay")):  # what the model recorded
                    assert [float(trees.flatten(state[rule])[p]) for p in layer] == [getattr(r, field) for r in layer.values()]
            if member["optim.lr"] not in solos:  # gamma and the seed are not the optimizer's: one program per lr
                solos[member["optim.lr"]] = solo_run(program, optimizer)
            alone, alone_losses = solos[member["optim.lr"]](state, jax.tree.map(lambda a: a[i], arrays))
            errors.append((relative_error(jax.tree.map(lambda a: a[i], params), alone), relative_error(losses[i], alone_losses)))
        print(f"{recipe} {param} {dtype}: max relative error of the parameters, the losses", np.max(errors, axis=0))
        assert np.max(errors) <= tolerance, errors


def member_and_state(program, **axes):
    """One member's values (with lr_effective) as arrays and its initial state, unbatched."""
    ms = train.with_effective_lr(program, members(program.values, **axes))
    member = jax.tree.map(lambda a: a[0], train.member_arrays(program, ms))
    return member, program.init(member)


def evaluate(schedule, steps):
    """An ``optim.schedule`` at ``steps`` (constant without warmup is the peak itself)."""
    return schedule(steps) if callable(schedule) else jnp.full(steps.shape, schedule)


@pytest.mark.parametrize("horizon", [None, 60])
@pytest.mark.parametrize("warmup", [0, 10])
@pytest.mark.parametrize("kind", ["constant", "cosine", "linear", "wsd"])
def test_schedule_equals_optax_with_python_floats(kind, warmup, horizon):
    """At every step, beyond the horizon too: optax's schedules built by hand; float64 to float64's
    precision from the optimizer's int32 count (optax's own divide it in float32 under x64)."""
    peak, final = 0.3, 0.1
    v = values(**{"train.steps": 100, "optim.schedule": kind, "optim.warmup_steps": warmup, "optim.horizon": horizon,
                  "optim.final_lr": final})
    steps = np.arange(101)
    ours = np.asarray(evaluate(optim.schedule(v, jnp.float32(peak)), jnp.asarray(steps)))
    np.testing.assert_allclose(ours, optax_schedule(v, peak)(steps), rtol=1e-6, atol=1e-7)
    end = horizon or 100
    assert ours[warmup] == pytest.approx(peak) and ours[0] == (0.0 if warmup else pytest.approx(peak))
    assert ours[end] == pytest.approx(peak if kind == "constant" else final * peak) and (ours[end:] == ours[end]).all()
    with jax.enable_x64(True):
        exact = reference_schedule(v, peak)(steps)
        counts = jnp.asarray(steps, jnp.int32)  # optax's count
        np.testing.assert_allclose(evaluate(optim.schedule(v, jnp.float64(peak)), counts), exact, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("kind", ["constant", "cosine", "linear", "wsd"])
def test_a_run_steps_at_the_scheduled_lr(kind):
    """SGD without momentum or decay, sp: each step of a run moves the parameters by -lr(t) grad,
    lr(t) = -<change, grad> / <grad, grad> (float64), the schedule peaking at the member's lr."""
    lr, steps = 0.05, 60
    with jax.enable_x64(True):
        v = values(**{"model.param": "sp", "train.dtype": "float64", "train.steps": steps, "optim.lr": lr,
                      "optim.schedule": kind, "optim.warmup_steps": 10, "optim.horizon": 50, "optim.final_lr": 0.125})
        program = train.build(v).program
        member, state = member_and_state(program)

        def dot(a, b):
            return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

        def body(state, t):
            grads = jax.grad(program.objective)(state["params"], state, member, program.batch(state, member, t))
            new, _ = program.step(state, member, t)
            return new, -dot(jax.tree.map(jnp.subtract, new["params"], state["params"]), grads) / dot(grads, grads)

        _, taken = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)
        np.testing.assert_allclose(taken, reference_schedule(v, lr)(np.arange(steps)), rtol=1e-9, atol=1e-13)


def test_schedule_fields_are_swept_as_groups():
    """The schedule's numbers are static fields: a sweep over them is one group per point, each
    checked before any compute."""
    config = {"optim": {"schedule": "wsd"}, "train": {"steps": 100},
              "sweep": {"optim": {"warmup_steps": [0, 10], "decay_steps": [20, 40], "final_lr": [0.0, 0.5]}}}
    groups = sweep.groups(checks.resolve(config))
    points = [(g.values["optim.warmup_steps"], g.values["optim.decay_steps"], g.values["optim.final_lr"]) for g in groups]
    assert sorted(points) == sorted((w, d, f) for w in (0, 10) for d in (20, 40) for f in (0.0, 0.5))
    assert all(set(g.point) == {"optim.warmup_steps", "optim.decay_steps", "optim.final_lr"} for g in groups)
    assert len({g.id for g in groups}) == 8
    with pytest.raises(ConfigError) as error:
        checks.resolve({**config, "sweep": {"optim": {"warmup_steps": [10, 85]}}})  # 85 + 20 decay steps > 100
    assert (error.value.field, error.value.value) == ("optim.decay_steps", None)


BAD = [
    ({"optim": {"schedule": "cosine", "warmup_steps": 100}, "train": {"steps": 100}}, "optim.warmup_steps", 100),
    ({"optim": {"schedule": "linear", "warmup_steps": 40, "horizon": 40}, "train": {"steps": 100}}, "optim.warmup_steps", 40),
    ({"optim": {"schedule": "wsd", "warmup_steps": 50, "decay_steps": 60}, "train": {"steps": 100}}, "optim.decay_steps", 60),
    ({"optim": {"schedule": "wsd", "warmup_steps": 90}, "train": {"steps": 100}}, "optim.decay_steps", None),  # the fifth
    ({"optim": {"final_lr": 1.5}}, "optim.final_lr", 1.5),
    ({"optim": {"schedule": "step"}}, "optim.schedule", "step"),
    ({"optim": {"name": "adafactor"}}, "optim.name", "adafactor"),
    ({"optim": {"weight_decay_rule": "decoupled"}}, "optim.weight_decay_rule", "decoupled"),
    ({"optim": {"warmup_steps": -1}}, "optim.warmup_steps", -1),
    ({"optim": {"horizon": 0}}, "optim.horizon", 0),
]


@pytest.mark.parametrize("config,field,value", BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_a_bad_schedule_or_optimizer_is_refused_naming_its_field(config, field, value):
    with pytest.raises(ConfigError) as error:
        checks.resolve(config)
    assert (error.value.field, error.value.value) == (field, value)
    assert str(error.value).startswith(f"{field} = {value!r} is not allowed: ")


def test_a_schedule_longer_than_the_run_is_refused_before_any_compute(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["run", str(tiny_config_file), "--out", str(out), "--config.optim.schedule=cosine", "--config.optim.warmup_steps=20"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scaling: config error: optim.warmup_steps = 20 is not allowed") and "train.steps" in err, err
    assert not out.exists()


def decayed(program, lr: float, weight_decay: float, steps: int):
    """A member's parameters after ``steps`` of its optimizer on zero gradients, over their initial values."""
    member, state = member_and_state(program, optim__lr=[lr], optim__weight_decay=[weight_decay])
    optimizer = program.optimizer(member, state)
    params, opt, zero = state["params"], optimizer.init(state["params"]), jax.tree.map(jnp.zeros_like, state["params"])
    for _ in range(steps):
        updates, opt = optimizer.update(zero, opt, params)
        params = optax.apply_updates(params, updates)
    return trees.flatten(jax.tree.map(jnp.divide, params, state["params"]))


@pytest.mark.parametrize("name", ["sgd", "adam", "adam_atan2", "lion"])
def test_coupled_decay_shrinks_weights_by_the_lr_independent_by_the_schedule_alone(name):
    """With no gradient only the decay moves the weights (muP, biases, a warmup-cosine schedule s):
    coupled (AdamW's) by (1 - lr s(t) omega) per step in every layer, its decay multiplier the
    inverse of the layer's lr multiplier (microsoft/mup's MuAdamW); independent by (1 - s(t) omega)
    whatever the lr (Loshchilov & Hutter 2019; Wortsman et al. 2024)."""
    omega, steps = 0.25, 6
    fields = {"model.param": "mup", "model.bias": True, "optim.name": name, "optim.schedule": "cosine",
              "optim.warmup_steps": 2, "optim.horizon": 8}
    fraction = np.asarray(optax_schedule(values(**fields), 1.0)(np.arange(steps)), float)
    assert fraction[0] == 0 and fraction[1:].min() > 0.3  # no decay at the first step, then some
    for rule, rate in (("coupled", lambda lr: lr), ("independent", lambda lr: 1.0)):
        program = train.build(values(**fields, **{"optim.weight_decay_rule": rule})).program
        for lr in (2**-4, 2**-1):
            expected = np.prod(1 - rate(lr) * omega * fraction)
            for path, ratio in decayed(program, lr, omega, steps).items():
                np.testing.assert_allclose(ratio, expected, rtol=1e-6, err_msg=f"{rule} {path} lr={lr}")


def gradients(params, steps: int, scale: float):
    """``steps`` random gradient trees shaped like ``params``, of size ``scale``."""
    keys = jax.random.split(jax.random.key(3), steps)
    return [jax.tree.map(lambda p, k=k: scale * jax.random.normal(k, p.shape, p.dtype), params) for k in keys]


def updates(program, member, state, grads) -> list:
    """The member's optimizer updates on the sequence ``grads``."""
    optimizer = program.optimizer(member, state)
    opt, out = optimizer.init(state["params"]), []
    for g in grads:
        u, opt = optimizer.update(g, opt, state["params"])
        out.append(u)
    return out


def test_adam_atan2_is_atan2_of_the_corrected_moments_and_blind_to_the_loss_scale():
    """Adam-atan2 (Everett et al. 2024, section 4.3): -lr x layer lr x atan2(m_hat, sqrt(v_hat)) by
    hand; the same updates when the loss is scaled by 1e3, where Adam with its eps changes."""
    b1, b2, lr = 0.875, 0.96875, 0.25
    fields = {"model.param": "mup", "model.bias": True, "optim.b1": b1, "optim.b2": b2, "optim.lr": lr}
    atan2 = train.build(values(**fields, **{"optim.name": "adam_atan2"})).program
    member, state = member_and_state(atan2)
    grads = gradients(state["params"], 4, 1e-9)
    got = updates(atan2, member, state, grads)
    m = v = 0.0
    for t, (g, u) in enumerate(zip(grads, got), start=1):
        g = trees.flatten(jax.tree.map(lambda a: np.asarray(a, float), g))
        m = {p: b1 * (m[p] if t > 1 else 0.0) + (1 - b1) * g[p] for p in g}
        v = {p: b2 * (v[p] if t > 1 else 0.0) + (1 - b2) * g[p] ** 2 for p in g}
        for p, up in trees.flatten(u).items():
            layer_lr = float(trees.flatten(state["lr_scale"])[p])
            expected = -lr * layer_lr * np.arctan2(m[p] / (1 - b1**t), np.sqrt(v[p] / (1 - b2**t)))
            np.testing.assert_allclose(up, expected, rtol=1e-5, atol=1e-7 * lr * layer_lr, err_msg=f"{p} step {t}")
    scaled = updates(atan2, member, state, [jax.tree.map(lambda a: 1e3 * a, g) for g in grads])
    assert relative_error(scaled, got) < 1e-6
    adam = train.build(values(**fields, **{"optim.name": "adam"})).program
    member, state = member_and_state(adam)
    plain = updates(adam, member, state, grads)
    assert relative_error(updates(adam, member, state, [jax.tree.map(lambda a: 1e3 * a, g) for g in grads]), plain) > 0.1


def test_lion_steps_by_the_sign_and_trains():
    """Lion (Chen et al. 2023): the first update is -lr x layer lr x sign(grad), and a run learns."""
    base = values(**{"model.param": "mup", "optim.name": "lion", "optim.lr": 2**-4, "train.steps": 60})
    trainer = train.build(base)
    member, state = member_and_state(trainer.program)
    grads = gradients(state["params"], 1, 1.0)
    (first,) = updates(trainer.program, member, state, grads)
    for path, u in trees.flatten(first).items():
        g, layer_lr = trees.flatten(grads[0])[path], trees.flatten(state["lr_scale"])[path]
        np.testing.assert_allclose(u, -base["optim.lr"] * layer_lr * jnp.sign(g), rtol=1e-6)
    results = train.run(trainer, members(base))
    assert not results["diverged"].any() and results["test_loss"][0, -1] < 0.5 * results["test_loss"][0, 0]
