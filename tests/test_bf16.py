"""Mixed precision, ``train.dtype = "bfloat16"``: float32 state and measurements, the step's
forward and backward in bfloat16; refused where a run is compared with exact linear algebra."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import members, values

from scaling import checks, train
from scaling.errors import ConfigError

BF16 = {"train.dtype": "bfloat16"}


def _member_state(base):
    """A group's program, its first member (one member's arrays) and that member's state at step 0."""
    program = train.build(base).program
    arrays = train.member_arrays(program, train.with_effective_lr(program, members(base)))
    member = jax.tree.map(lambda a: a[0], arrays)
    return program, member, jax.jit(program.init)(member)


def _dot_dtypes(fn, *args) -> set[str]:
    """The output dtypes of the matrix products in ``fn``'s program (its gradient's included)."""
    text = str(jax.make_jaxpr(fn)(*args))
    return {line.split("=")[0].split(":")[-1].split("[")[0] for line in text.splitlines() if "= dot_general" in line}


def _floats(tree) -> set[str]:
    return {str(leaf.dtype) for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)}


def test_the_step_runs_in_bfloat16_on_float32_parameters():
    base = values(**BF16, **{"data.n_train": 32})  # a training set: the step's own cached f(theta_0)
    program, member, state = _member_state(base)
    assert program.dtype == jnp.float32 and program.compute_model.dtype == jnp.bfloat16
    assert _floats(state["params"]) == _floats(state["opt"]) == _floats(member) == {"float32"}
    batch = program.batch(state, member, 0, training=True)
    assert _dot_dtypes(lambda p: jax.grad(program.objective)(p, state, member, batch, training=True),
                       state["params"]) == {"bf16"}
    assert _dot_dtypes(lambda p: program.objective(p, state, member, batch), state["params"]) == {"f32"}  # measured
    x, _, f0 = batch
    assert jnp.all(program.apply(state["params"], state, x, training=True) - f0 == 0)  # centred at init, in bf16 too
    new, loss = program.step(state, member, 0)
    assert _floats(new["params"]) == _floats(new["opt"]) == {"float32"} and loss.dtype == jnp.float32


def test_the_bfloat16_batch_loss_is_the_float32_one_to_bfloat16_rounding():
    base = values(**{"model.center": False})  # uncentred: the output at init is not 0
    program32, member, state = _member_state(base)
    program16 = train.build({**base, **BF16}).program
    batch = program32.batch(state, member, 0)
    loss32 = program32.objective(state["params"], state, member, batch, training=True)
    loss16 = program16.objective(state["params"], state, member, batch, training=True)
    assert loss16 != loss32
    np.testing.assert_allclose(loss16, loss32, rtol=1e-2)


def test_a_bfloat16_loss_curve_tracks_float32_within_3_percent_over_50_steps():
    """Test loss at 6 log steps of 50, two learning rates x two seeds, trained on 64 points in
    batches of 16: bf16 rounding moves it by about 1 % (float32 measurements of both)."""
    base = values(**{"train.steps": 50, "train.n_logs": 6, "train.segments": 1, "data.n_train": 64})
    ms = members(base, optim__lr=[0.1, 0.4], train__seed=[0, 1])
    loss32 = train.run(train.build(base), ms)["test_loss"]
    loss16 = train.run(train.build({**base, **BF16}), ms)["test_loss"]
    assert loss16.dtype == np.float32 and loss32[:, -1].max() < 0.8 * loss32[:, 0].min()  # it trained
    np.testing.assert_allclose(loss16, loss32, rtol=0.03)
    assert not np.array_equal(loss16, loss32)


def test_measurements_at_step_0_equal_float32_ones():
    """Same init, measured by the float32 model: test loss, predictions and the NTK at step 0 are the
    float32 group's exactly (uncentred, so they are not trivially 0)."""
    base = values(**{"model.center": False, "train.steps": 4, "train.n_logs": 2, "train.segments": 1,
                     "measure.ntk": True, "measure.ntk_every": [0, 4]})
    ms = members(base, optim__lr=[0.1], train__seed=[0, 1])
    r32 = train.run(train.build(base), ms)
    r16 = train.run(train.build({**base, **BF16}), ms)
    for key, at0 in (("test_loss", np.s_[:, 0]), ("probe_pred", np.s_[:, 0]), ("ntk", np.s_[:, 0])):
        np.testing.assert_array_equal(r16[key][at0], r32[key][at0], err_msg=key)
    assert not np.array_equal(r16["test_loss"][:, -1], r32["test_loss"][:, -1])  # trained apart


@pytest.mark.parametrize("overrides", [
    {"theory.name": "sgd_online", "model.arch": "deep_linear", "model.depth": 1},
    {"model.arch": "rf"},
])
def test_bfloat16_is_refused_with_theory_overlays_and_random_features(overrides):
    checks.check_group(values(**overrides))  # float32: fine
    with pytest.raises(ConfigError) as error:
        checks.check_group(values(**BF16, **overrides))
    assert error.value.field == "train.dtype" and error.value.value == "bfloat16"
    assert "'float32' or 'float64'" in str(error.value)


def test_bfloat16_is_accepted_with_the_default_measurements():
    checks.check_group(values(**BF16, **{"measure.ntk": True, "measure.features": True}))


IMAGES = {"data.task": "cnn_teacher", "data.image_size": 4, "data.channels": 2}


@pytest.mark.parametrize("overrides", [
    {"model.arch": "cnn", **IMAGES, "model.width": 6, "model.depth": 3, "model.bias": True},
    {"model.arch": "transformer", "data.task": "markov", "data.vocab": 5, "data.context": 4, "model.width": 8,
     "model.heads": 2, "model.depth": 1, "train.loss": "xent"},
])
def test_cnn_and_transformer_train_in_bfloat16(overrides):
    """A few jitted steps (the loop around them is the MLP's above): finite losses, float32 parameters."""
    base = values(**BF16, **overrides, **{"data.n_probe": 6, "data.n_test": 16, "data.batch_size": 8})
    checks.check_group(base)
    program, member, state = _member_state(base)
    assert program.mixed
    step, losses = jax.jit(program.step), []
    for t in range(4):
        state, loss = step(state, member, t)
        losses.append(float(loss))
    assert np.isfinite(losses).all() and losses[-1] != losses[0]
    assert _floats(state["params"]) == {"float32"}
