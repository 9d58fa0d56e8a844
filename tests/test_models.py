"""CNN, ResNet and transformers: roles, the parameterization's multipliers, the NTK
against brute force, divergence isolation, task kinds and config checks."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import members, values

from scaling import config as config_lib
from scaling import checks, models, train, trees
from scaling.models import layers
from scaling.measure import ntk as ntk_lib
from scaling.parameterization import Parameterization

IMAGES = {"data.task": "cnn_teacher", "data.image_size": 4, "data.channels": 2}
SMALL = {  # one small group per architecture and input kind
    "cnn": {"model.arch": "cnn", **IMAGES, "model.width": 6, "model.depth": 3, "model.bias": True},
    "resnet": {"model.arch": "resnet", **IMAGES, "model.width": 4, "model.depth": 1, "model.stages": 2},
    "transformer": {"model.arch": "transformer", "data.task": "markov", "data.vocab": 5, "data.context": 4,
                    "model.width": 8, "model.heads": 2, "model.depth": 2, "train.loss": "xent",
                    "model.activation": "gelu"},
    "vit": {"model.arch": "transformer_classifier", **IMAGES, "data.n_classes": 3, "model.patch_size": 2,
            "model.width": 8, "model.heads": 2, "model.depth": 1, "train.loss": "xent"},
    "sequence_classifier": {"model.arch": "transformer_classifier", "data.task": "markov_classes", "data.vocab": 5,
                            "data.context": 6, "data.n_classes": 2, "model.width": 8, "model.heads": 2,
                            "model.depth": 1},
}


def small(name, **overrides):
    return values(**{**SMALL[name], "data.n_probe": 6, "data.n_test": 16, "data.batch_size": 8, **overrides})


def _state(trainer, base):
    program = trainer.program
    member = train.with_effective_lr(program, members(base))
    arrays = train.member_arrays(program, member)
    state = jax.tree.map(lambda a: a[0], trainer.init_fn()(arrays))
    return jax.tree.map(lambda a: a[0], arrays), state


@pytest.mark.parametrize("name,param", [("cnn", "mup"), ("resnet", "sp"), ("transformer", "mup"), ("vit", "ntk")])
def test_ntk_equals_brute_force_jacobian_kernel(name, param):
    """Structured kernels of convolutions, embeddings and attention projections (per position)
    against J J^T of the measured output (a language model's last position), float64."""
    with jax.enable_x64(True):
        base = small(name, **{"model.param": param, "train.dtype": "float64", "model.gamma": 0.5})
        trainer = train.build(base)
        program = trainer.program
        member, state = _state(trainer, base)
        state = {**state, "params": jax.tree.map(lambda p: p * 1.1, state["params"])}  # away from init
        x = program.stream.probe[0]
        f0 = program.stream.measured(program.apply(state["params0"], state, x))

        def measured(params):
            return ((program.stream.measured(program.apply(params, state, x)) - f0) / 0.5).reshape(x.shape[0], -1)

        jacobian = jax.jacobian(measured)(state["params"])
        flat = jnp.concatenate([j.reshape(j.shape[0], j.shape[1], -1) for j in jax.tree.leaves(jacobian)], axis=2)
        expected = jnp.einsum("pcn,qcn->pq", flat, flat)
        kernel = ntk_lib.measure(program, state, member, None)["ntk"]
        np.testing.assert_allclose(kernel, expected, rtol=1e-10, atol=1e-10 * float(jnp.abs(expected).max()))


@pytest.mark.parametrize("name,overrides", [
    ("cnn", {"model.width": 32, "data.image_size": 8, "data.n_probe": 32}),
    ("transformer", {"model.width": 32, "data.context": 16, "data.vocab": 8, "data.n_probe": 16}),
])
def test_ntk_memory_estimate_bounds_the_compiled_call_and_sets_the_member_blocks(name, overrides, monkeypatch):
    base = small(name, **overrides)
    trainer = train.build(base)
    program = trainer.program
    member, state = _state(trainer, base)
    estimate = ntk_lib.memory_bytes(program.model, program.variables(state), program.stream.probe[0],
                                    program.stream.out_dim, False)
    ntk = functools.partial(ntk_lib.measure, program, batch_loss=None)
    compiled = jax.jit(ntk).lower(state, member).compile().memory_analysis()
    assert compiled.temp_size_in_bytes < 1.25 * estimate < 5 * compiled.temp_size_in_bytes
    monkeypatch.setattr(ntk_lib, "MEMORY_BYTES", 3 * estimate)
    assert ntk_lib.block(program, 16) == 3


def _lr_scales(name, param, optimizer, width=16):
    """The per-leaf lr multipliers the layers record at init (no data: a dummy input of the right kind)."""
    base = small(name, **{"model.param": param, "optim.name": optimizer, "model.width": width})
    model = models.REGISTRY[base["model.arch"]].build(base, 5, Parameterization(param, optimizer), jnp.float32)
    x = jnp.zeros((1, 4), jnp.int32) if name == "transformer" else jnp.zeros((1, 4, 4, 2))
    variables = jax.jit(lambda key: model.init(key, x, mutable=["params", "lr_scale"]))(jax.random.key(0))
    return {path: float(v) for path, v in trees.flatten(variables["lr_scale"]).items()}


def test_transformer_roles_give_mup_adam_and_sgd_learning_rates():
    width = 16
    adam = _lr_scales("transformer", "mup", "adam", width)
    assert adam["embed/w"] == adam["position/w"] == adam["readout/w"] == 1.0  # input and readout: Theta(1)
    for path in ("block0_attn/query/w", "block0_attn/out/w", "block0_fc/w"):
        assert adam[path] == pytest.approx(1 / math.sqrt(width))  # hidden: 1/sqrt(fan_in)
    assert adam["block0_proj/w"] == pytest.approx(1 / math.sqrt(4 * width))
    sgd = _lr_scales("transformer", "mup", "sgd", width)
    assert sgd["embed/w"] == sgd["readout/w"] == sgd["block1_attn/key/w"] == width  # lr = N * eta (mean field)
    assert all(v == 1.0 for v in _lr_scales("transformer", "sp", "adam", width).values())


def test_convolution_fan_in_counts_the_kernel_taps():
    sgd = _lr_scales("cnn", "mup", "sgd", 8)
    assert sgd["conv0/w"] == 8 and sgd["conv1/w"] == 9 * 8 and sgd["readout/w"] == 8
    assert _lr_scales("cnn", "mup", "adam", 8)["conv1/w"] == pytest.approx(1 / math.sqrt(72))


@pytest.mark.parametrize("k,stride,size", [(3, 1, 8), (3, 2, 7), (1, 2, 8), (5, 1, 6)])
def test_convolution_as_patches_equals_the_native_convolution(k, stride, size):
    x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 4))
    native = jax.lax.conv_general_dilated(x, w, (stride, stride), "SAME", dimension_numbers=layers.IMAGE_DIMS)
    patches = layers.image_patches(x, k, stride) @ w.reshape(-1, 4)
    np.testing.assert_allclose(patches, native, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layers.conv2d(x, w, stride), native, rtol=1e-5, atol=1e-5)


def test_attention_logit_scale_and_residual_branch_multiplier():
    assert Parameterization("mup", "adam").attention_scale(64) == 1 / 64
    assert Parameterization("sp", "adam").attention_scale(64) == Parameterization("ntk", "sgd").attention_scale(64) == 1 / 8
    assert Parameterization("mup", "sgd").branch_multiplier(0.5, 16) == 0.5  # plain residual
    assert Parameterization("mup", "sgd", residual_alpha=0.5).branch_multiplier(2.0, 16) == 0.5  # depth-muP
    assert Parameterization("sp", "adam", residual_alpha=1.0).branch_multiplier(2.0, 16) == 0.125  # CompleteP


def test_residual_branch_multiplier_scales_the_branches():
    """With beta -> 0 the normalization-free ResNet is its stem, shortcuts and readout alone."""
    outputs = {}
    for beta in (1e-12, 1.0):
        base = small("resnet", **{"model.norm": "none", "model.residual_alpha": 1.0, "model.residual_beta": beta,
                                  "model.stages": 1, "model.center": False})
        trainer = train.build(base)
        program = trainer.program
        _, state = _state(trainer, base)
        x = program.stream.probe[0]
        outputs[beta] = program.apply(state["params"], state, x)
        stem = program.model.apply({"params": state["params"]}, x, mutable=["features"])[1]["features"]["h_stem"][0]
        readout = state["params"]["readout"]["w"]
        rule = program.rules.layer("readout", readout.shape[0], 1)
        without_blocks = jnp.mean(jax.nn.relu(stem), axis=(1, 2)) @ readout * rule.mult
    np.testing.assert_allclose(outputs[1e-12], without_blocks, rtol=1e-5)
    assert not np.allclose(outputs[1.0], without_blocks, rtol=1e-2)


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_diverging_members_change_no_other_member(name):
    base = small(name, **{"train.steps": 6, "train.n_logs": 3, "measure.features": True,
                          "measure.predictions_every": [0, 3, 6]})
    trainer = train.build(base)
    program = trainer.program
    calm = train.run(trainer, members(base, optim__lr=[0.01, 0.02, 0.03]))
    wild = train.run(trainer, members(base, optim__lr=[0.01, 0.02, 1e8]))
    assert list(calm["diverged"]) == [False, False, False] and list(wild["diverged"]) == [False, False, True]
    for key in ("train_loss", "test_loss", "probe_pred", "feature_rms"):
        np.testing.assert_array_equal(calm[key][:2], wild[key][:2])
        assert np.isnan(wild[key][2][-1]).all()
    if name == "transformer":  # a language model's measurements see its last position
        assert program.stream.probe[1].shape == (6, 4, 5)  # next-token distributions at every position
        np.testing.assert_allclose(program.stream.probe_target, program.stream.probe[1][:, -1])
        assert calm["probe_pred"].shape == (3, 3, 6, 5)
        assert train.result_dims(program)["probe_pred"] == ["pred_step", "probe", "output"]


@pytest.mark.parametrize("overrides,field", [
    ({"model.arch": "cnn", "data.task": "powerlaw"}, "model.arch"),
    ({"model.arch": "transformer", "data.task": "cnn_teacher"}, "model.arch"),
    ({"model.arch": "mlp", "data.task": "markov"}, "model.arch"),
    ({"model.arch": "transformer", "data.task": "markov", "model.width": 10, "model.heads": 4}, "model.heads"),
    ({"model.arch": "transformer_classifier", "data.task": "cnn_teacher", "data.image_size": 5}, "model.patch_size"),
    ({"model.arch": "transformer_classifier", "data.task": "markov_classes"}, "data.n_classes"),
])
def test_architectures_refuse_what_they_cannot_build(overrides, field):
    with pytest.raises(config_lib.ConfigError) as error:
        checks.check_group(values(**overrides))
    assert error.value.field == field
    assert "allowed" in str(error.value)
