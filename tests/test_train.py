"""The train loop: chunking invariance, divergence isolation, common random numbers, data."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import members, values

from scaling import checks, train
from scaling.errors import ConfigError
from scaling.measure.registry import log_steps
from scaling.parameterization import Parameterization


_PROGRAMS = {}


def _train(base, ms):
    """Train with one Program per distinct config, so its compiled functions are reused."""
    key = json.dumps(base, sort_keys=True)  # values hold lists (log.wandb.tags)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = train.build(base)
    return train.run(_PROGRAMS[key], ms)


@pytest.mark.parametrize("chunk", [1, 3, 5])
def test_member_in_a_chunk_equals_member_alone(chunk):
    measured = {"measure.ntk": True, "measure.features": True}
    base = values(**{"train.max_members": chunk}, **measured)
    ms = members(base, optim__lr=[0.05, 0.1, 0.2], train__seed=[0, 1])
    together = _train(base, ms)
    for i in (0, 4):
        alone = _train(values(**{"train.max_members": 1}, **measured), [ms[i]])  # compiled once for all chunks
        for key in ("train_loss", "test_loss", "probe_pred", "ntk", "ntk_eigenvalues", "weight_change"):
            np.testing.assert_allclose(together[key][i], alone[key][0], rtol=1e-5, atol=1e-7)


def test_keys_come_from_values_not_positions():
    base = values()
    both = _train(base, members(base, train__seed=[0, 1], data__seed=[3, 4]))
    last = _train(base, members(base, train__seed=[1], data__seed=[4]))
    np.testing.assert_allclose(both["test_loss"][3], last["test_loss"][0], rtol=1e-5)


def test_batches_drawn_once_for_members_sharing_data_equal_their_own():
    base = values()
    shared = _train(base, members(base, optim__lr=[0.05, 0.1]))  # one data seed: shared batches
    own = _train(base, members(base, optim__lr=[0.05], data__seed=[0, 1]))  # two data seeds: per member
    for key in ("train_loss", "test_loss", "probe_pred"):
        np.testing.assert_allclose(shared[key][0], own[key][0], rtol=1e-5, atol=1e-7)


def test_diverging_members_change_no_other_member():
    base = values()
    calm = _train(base, members(base, optim__lr=[0.05, 0.1, 0.2]))
    wild = _train(base, members(base, optim__lr=[0.05, 0.1, 1e6]))
    for key in ("train_loss", "test_loss", "probe_pred"):
        np.testing.assert_array_equal(calm[key][:2], wild[key][:2])
    assert not calm["diverged"].any()
    assert list(wild["diverged"]) == [False, False, True]
    step = wild["diverged_step"][2]
    assert 0 <= step <= base["train.steps"]
    logged = log_steps(base["train.steps"], base["train.n_logs"], base["train.log_spacing"])
    assert np.isnan(wild["test_loss"][2][logged >= step]).all()
    assert np.isfinite(wild["test_loss"][2][logged < step]).all()


def test_full_batch_is_batch_size_none_and_is_refused_online():
    full = values(**{"data.n_train": 24, "data.batch_size": None})
    ms = members(full, optim__lr=[0.05, 0.1])
    as_none, as_number = _train(full, ms), _train(full | {"data.batch_size": 24}, ms)
    for key in ("train_loss", "test_loss", "probe_pred"):
        np.testing.assert_array_equal(as_none[key], as_number[key])
    with pytest.raises(ConfigError, match="data.batch_size = None is not allowed: an integer >= 1 when data.n_train is None"):
        checks.resolve({"data": {"batch_size": None}})


def test_a_member_below_stop_loss_stops_there_and_keeps_its_metrics():
    """Full-batch GD logged at every step: a member stops at the first step whose training loss
    is below ``train.stop_loss`` and keeps the parameters it had there; without the stop it
    trains on; the other member never reaches it."""
    base = values(**{"data.n_train": 16, "data.batch_size": None, "train.steps": 40, "train.n_logs": 41,
                     "train.log_spacing": "linear"})
    ms = members(base, optim__lr=[0.01, 0.2])
    free = _train(base, ms)
    threshold = float(free["train_loss"][1, 10])
    stopped = _train(base | {"train.stop_loss": threshold}, ms)
    first = int(np.argmax(free["train_loss"][1] < threshold))
    assert first > 10 and list(stopped["stopped_step"]) == [-1, first] and not stopped["diverged"].any()
    assert free["train_loss"][0].min() >= threshold  # the slow member never gets there
    np.testing.assert_allclose(stopped["test_loss"][0], free["test_loss"][0], rtol=1e-6)
    np.testing.assert_allclose(stopped["test_loss"][1, :first + 1], free["test_loss"][1, :first + 1], rtol=1e-6)
    assert (stopped["test_loss"][1, first:] == stopped["test_loss"][1, first]).all()  # frozen from there on
    assert free["test_loss"][1, -1] < free["test_loss"][1, first]  # where it would have gone on
    assert "stopped_step" not in free


def test_members_differing_in_gamma_or_lr_share_init_and_batches():
    base = values()
    trainer = train.build(base)
    program = trainer.program
    ms = train.with_effective_lr(program, members(base, model__gamma=[0.5, 2.0], optim__lr=[0.1, 0.3]))
    arrays = train.member_arrays(program, ms)
    states = jax.vmap(program.init)(arrays)
    for leaf in jax.tree.leaves(states["params"]):
        assert jnp.all(leaf == leaf[:1])
    batches = jax.vmap(lambda m: program.stream.batch({}, m, 7))(arrays)
    assert jnp.all(batches[0] == batches[0][:1])


@pytest.mark.parametrize("param", ["sp", "ntk", "mup"])
@pytest.mark.parametrize("arch", ["mlp", "rf", "deep_linear"])
def test_centering_gives_zero_output_at_init(param, arch):
    base = values(**{"model.param": param, "model.arch": arch, "model.bias": arch == "mlp"})
    trainer = train.build(base)
    program = trainer.program
    ms = members(base, model__gamma=[0.1, 10.0])
    arrays = train.member_arrays(program, train.with_effective_lr(program, ms))
    states = jax.vmap(program.init)(arrays)
    f = jax.vmap(program.predict, in_axes=(0, 0, None))(states, arrays, program.stream.test[0])
    assert jnp.all(f == 0)
    uncentred_trainer = train.build({**base, "model.center": False})
    uncentred = uncentred_trainer.program
    f = jax.vmap(uncentred.predict, in_axes=(0, 0, None))(jax.vmap(uncentred.init)(arrays), arrays, program.stream.test[0])
    assert jnp.std(f) > 0


def test_finite_training_set_full_batch_and_minibatch():
    base = values(**{"data.n_train": 32, "data.batch_size": 32})
    trainer = train.build(base)
    program = trainer.program
    member = train.member_arrays(program, train.with_effective_lr(program, members(base)))
    state = jax.vmap(program.init)(member)
    one = jax.tree.map(lambda a: a[0], state)
    member_one = jax.tree.map(lambda a: a[0], member)
    x, y, f0 = program.batch(one, member_one, 5)
    np.testing.assert_array_equal(x, one["data"]["train"][0])
    np.testing.assert_array_equal(f0, program.f0(one, x))  # the cached f(theta_0) of the training set
    mini_trainer = train.build(values(**{"data.n_train": 32, "data.batch_size": 8}))
    mini = mini_trainer.program
    xb, yb, f0b = mini.batch(one, member_one, 5)
    assert xb.shape == (8, 8) and yb.shape == (8, 1)
    np.testing.assert_allclose(f0b, program.f0(one, xb), rtol=1e-6)
    rows = {tuple(r) for r in np.asarray(one["data"]["train"][0]).round(6)}
    assert all(tuple(r) in rows for r in np.asarray(xb).round(6))
    # logged train loss is the loss on the whole training set
    results = train.run(trainer, members(base))
    assert np.isfinite(results["train_loss"]).all() and results["train_loss"][0, -1] < results["train_loss"][0, 0]


def test_label_noise_enters_training_targets_not_test_targets():
    base = values(**{"data.n_train": 64})
    trainer = train.build(base)
    program = trainer.program
    clean = program.stream.member_data(0, 0.0)["train"]
    noisy = program.stream.member_data(0, 0.5)["train"]
    np.testing.assert_array_equal(clean[0], noisy[0])
    assert 0.3 < float(jnp.var(noisy[1] - clean[1])) < 0.7
    assert program.stream.test[1].shape == (64, 1)


def test_training_reduces_loss_with_sgd_momentum_and_adam():
    for name, lr, momentum in [("sgd", 0.2, 0.0), ("sgd", 0.1, 0.9), ("adam", 0.1, 0.0)]:
        base = values(**{"optim.name": name, "optim.lr": lr, "optim.momentum": momentum, "train.steps": 60})
        results = _train(base, members(base))
        assert results["test_loss"][0, -1] < 0.5 * results["test_loss"][0, 0], name


def test_cross_entropy_on_sign_labels_learns():
    base = values(**{"train.loss": "xent", "optim.lr": 0.5, "train.steps": 60})
    results = _train(base, members(base))
    assert results["test_loss"][0, 0] == pytest.approx(np.log(2), rel=1e-5)
    assert results["test_loss"][0, -1] < 0.9 * np.log(2)


def test_log_steps_are_spaced_and_include_both_ends():
    steps = log_steps(1000, 30, "log")
    assert steps[0] == 0 and steps[-1] == 1000 and len(steps) <= 30 and np.all(np.diff(steps) > 0)
    ratios = steps[-5:][1:] / steps[-5:][:-1]
    assert np.allclose(ratios, ratios.mean(), rtol=0.05)
    assert list(log_steps(10, 6, "linear")) == [0, 2, 4, 6, 8, 10]


def test_lr_rule_scales_raw_lr_by_gamma():
    base = values(**{"optim.lr_rule": "gamma", "model.depth": 3})
    ms = train.with_effective_lr(train.build(base).program, members(base, model__gamma=[0.1, 1.0, 8.0]))
    np.testing.assert_allclose([m["lr_effective"] for m in ms], [0.1 * 0.01, 0.1, 0.1 * 8 ** (2 / 3)])
    adam = {**base, "optim.name": "adam"}
    ms = train.with_effective_lr(train.build(adam).program, members(adam, model__gamma=[0.1, 8.0]))
    np.testing.assert_allclose([m["lr_effective"] for m in ms], [0.1 * 0.1, 0.1 * 8 ** (1 / 3)])


def test_parameterization_rules():
    """(std, mult, lr, eps, decay) per role: THEORY.md section 4 and README's parameterization table."""
    mup = Parameterization("mup", "sgd")
    assert dataclasses.astuple(mup.layer("input", 10, 64)) == pytest.approx((1.0, 10**-0.5, 64, 1 / 64, 1 / 64))
    assert mup.layer("hidden", 64, 64).mult == pytest.approx(1 / 8) and mup.layer("hidden", 64, 64).lr == 64
    assert mup.layer("readout", 64, 1).mult == pytest.approx(1 / 64)
    adam = Parameterization("mup", "adam")
    assert dataclasses.astuple(adam.layer("hidden", 64, 64)) == pytest.approx((1.0, 1 / 8, 1 / 8, 64**-1.5, 8))
    assert dataclasses.astuple(adam.layer("readout", 64, 1)) == pytest.approx((1.0, 1 / 64, 1, 1 / 64, 1))
    assert Parameterization("mup", "lion").layer("hidden", 64, 64).lr == pytest.approx(1 / 8)
    independent = Parameterization("mup", "adam", weight_decay="independent")
    assert independent.layer("hidden", 64, 64).decay == 1.0
    ntk = Parameterization("ntk", "sgd").layer("hidden", 64, 64)
    assert dataclasses.astuple(ntk) == (1.0, 1 / 8, 1.0, 1.0, 1.0)
    sp = Parameterization("sp", "adam").layer("hidden", 64, 64)
    assert dataclasses.astuple(sp) == (1 / 8, 1.0, 1.0, 1.0, 1.0)


@pytest.mark.parametrize("alpha", [0.5, 0.75, 1.0])
def test_depth_mup_rules_of_a_hidden_layer_in_one_of_L_residual_branches(alpha):
    """A block's update must be O(1/L) with its branch multiplier L^-alpha: Adam's lr L^(alpha-1),
    SGD's L^(2 alpha-1) (its gradient carries L^-alpha), Adam's eps L^-alpha (Dey et al. 2025, table 1);
    outside the branches, and for the plain residual (alpha = 0), nothing depends on L."""
    for optimizer, exponent in (("adam", alpha - 1), ("sgd", 2 * alpha - 1)):
        rules = Parameterization("mup", optimizer, residual_alpha=alpha)
        shallow, deep = rules.layer("hidden", 64, 64, blocks=2), rules.layer("hidden", 64, 64, blocks=16)
        assert deep.lr / shallow.lr == pytest.approx(8**exponent)
        assert deep.eps / shallow.eps == pytest.approx(8**-alpha)
        assert deep.lr * deep.decay == pytest.approx(1.0)  # coupled decay: lr x decay is the member's lr
        assert rules.layer("readout", 64, 1, blocks=0) == Parameterization("mup", optimizer).layer("readout", 64, 1)
    plain = Parameterization("mup", "adam")
    assert plain.layer("hidden", 64, 64, blocks=16) == plain.layer("hidden", 64, 64)


def test_mean_field_output_at_init_shrinks_with_width_ntk_does_not():
    def output_std(param, width):
        base = values(**{"model.param": param, "model.width": width, "model.center": False, "data.n_test": 256})
        trainer = train.build(base)
        program = trainer.program
        arrays = train.member_arrays(program, train.with_effective_lr(program, members(base, train__seed=list(range(8)))))
        f = jax.vmap(program.predict, in_axes=(0, 0, None))(jax.vmap(program.init)(arrays), arrays, program.stream.test[0])
        return float(jnp.std(f))

    assert output_std("mup", 1024) / output_std("mup", 64) == pytest.approx(0.25, rel=0.3)
    assert output_std("ntk", 1024) / output_std("ntk", 64) == pytest.approx(1.0, rel=0.3)


def test_float64_on_request(tmp_path):
    import subprocess
    import sys

    code = (
        "import numpy as np, jax; from scaling import train; from tests_float64_helper import run; run()"
    )
    helper = tmp_path / "tests_float64_helper.py"
    helper.write_text(
        "import jax\njax.config.update('jax_enable_x64', True)\n"
        "import sys; sys.path.insert(0, %r)\n"
        "from conftest import values, members\nfrom scaling import train\n"
        "def run():\n"
        "    base = values(**{'train.dtype': 'float64'})\n"
        "    r = train.run(train.build(base), members(base))\n"
        "    assert r['test_loss'].dtype == 'float64', r['test_loss'].dtype\n"
        "    print('ok')\n" % str(__import__('pathlib').Path(__file__).parent)
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


@pytest.mark.parametrize("n_train,batch_size", [(None, 16), (32, 8), (32, 32)])
def test_uncentred_networks_train_online_and_on_fixed_sets(n_train, batch_size):
    base = values(**{"model.center": False, "data.n_train": n_train, "data.batch_size": batch_size,
                     "train.steps": 40, "optim.lr": 0.2})
    results = _train(base, members(base))
    assert results["test_loss"][0, -1] < results["test_loss"][0, 0]


@pytest.mark.parametrize("overrides", [
    {"optim.name": "adam", "data.n_train": 64},
    {"model.arch": "transformer", "data.task": "markov", "data.vocab": 16, "data.context": 32, "model.heads": 4,
     "train.loss": "xent", "data.batch_size": 8, "optim.name": "adam"},
])
def test_member_memory_estimate_bounds_the_compiled_step(overrides):
    """``member_bytes`` (one member's compiled loop; an accelerator's chunk size) times the members
    is the memory of a chunk's compiled loop within the slack that ``MEMORY_FRACTION`` leaves."""
    trainer = train.build(values(**{"model.width": 64, **overrides}))
    program = trainer.program
    arrays = train.member_arrays(program, train.with_effective_lr(program, members(program.values, train__seed=range(4))))
    states = jax.eval_shape(trainer.init_fn(), arrays)
    compiled = trainer.advance_fn().lower(states, arrays, 0, 1, None).compile().memory_analysis()
    per_member = (compiled.temp_size_in_bytes + compiled.argument_size_in_bytes + compiled.output_size_in_bytes
                  - compiled.alias_size_in_bytes) / 4
    assert 0.8 * per_member < train.member_bytes(program) < 2 * per_member


def test_on_an_accelerator_a_chunk_is_what_fits_in_its_memory(monkeypatch):
    program = train.build(values()).program
    member = train.member_bytes(program)
    for memory, chunk in [(10 * member, 5), (0, 1), (1e6 * member, train.MAX_CHUNK)]:
        monkeypatch.setattr(type(program.placement), "memory_bytes", lambda self, m=memory: m)
        assert train.chunk_size(program) == chunk
    assert train.chunk_size(train.build(values(**{"train.max_members": 3})).program) == 3
