"""Coord checks: under muP every feature's size and its change over the first steps
are width-independent, for every architecture and optimizer; under SP with a width-independent
learning rate the changes blow up with width; under NTK parameterization the hidden features'
shrink like 1/sqrt(N).  With residual branches scaled by L^-alpha (depth-muP 1/2, CompleteP 1)
they are depth-independent too; with plain residual branches they grow with depth."""

import numpy as np
import pytest
from conftest import values

from scaling.coordcheck import OUTPUT, coord_check, depth_ratio, width_ratio

WIDE, NARROW = [64, 1024], [32, 512]  # the smallest and the largest width checked
PROBE = {"data.batch_size": 16, "data.n_probe": 32}
ARCHS = {  # group values, widths, optimizer and the muP / SP learning rates
    "mlp": ({"model.arch": "mlp", "data.dim": 32}, WIDE, "sgd", 0.05),
    "cnn": ({"model.arch": "cnn", "data.task": "cnn_teacher", "model.depth": 3, "data.image_size": 6}, WIDE, "sgd", 0.05),
    "resnet": ({"model.arch": "resnet", "data.task": "cnn_teacher", "model.depth": 1, "model.stages": 1,
                "data.image_size": 4}, WIDE, "sgd", 0.05),
    "transformer": ({"model.arch": "transformer", "data.task": "markov", "model.depth": 2, "data.context": 8,
                     "train.loss": "xent"}, NARROW, "adam", 0.01),
    "transformer_classifier": ({"model.arch": "transformer_classifier", "data.task": "cnn_teacher", "model.depth": 1,
                                "data.n_classes": 4, "train.loss": "xent"}, NARROW, "adam", 0.01),
}


def _group(arch, param, optimizer=None, lr=None, extra=None):
    group, _, arch_optimizer, arch_lr = ARCHS[arch]
    return values(**{**group, **PROBE, "model.param": param, "optim.name": optimizer or arch_optimizer,
                     "optim.lr": lr or arch_lr, **(extra or {})})


def _check(arch, param, optimizer=None, lr=None, widths=None, extra=None):
    return coord_check(_group(arch, param, optimizer, lr, extra), widths or ARCHS[arch][1], steps=3).isel(step=slice(1, None))


def _flat_across_widths(check):
    for size in ("feature_rms", "update_rms"):
        ratio = width_ratio(check[size])
        assert ((ratio > 0.5) & (ratio < 2)).all(), (size, ratio.to_pandas())


@pytest.mark.parametrize("arch", list(ARCHS))
def test_mup_features_and_their_updates_stay_within_a_factor_two_across_widths(arch):
    check = _check(arch, "mup")
    _flat_across_widths(check)
    assert (check.update_rms > 0).all()


@pytest.mark.parametrize("arch", list(ARCHS))
def test_sp_updates_blow_up_with_width_at_a_fixed_learning_rate(arch):
    """With Adam, whose updates do not shrink with the gradient, SP's grow like the width."""
    ratio = width_ratio(_check(arch, "sp", optimizer="adam", lr=1e-3).update_rms)
    assert float(ratio.max()) > 4, ratio.to_pandas()  # muP: < 2


def test_ntk_feature_updates_shrink_like_inverse_sqrt_width_while_the_output_moves():
    widths = [64, 256, 1024]
    check = _check("mlp", "ntk", lr=0.5, widths=widths).isel(step=-1, depth=0)
    slopes = {feature: np.polyfit(np.log(widths), np.log(check.update_rms.sel(feature=feature).values), 1)[0]
              for feature in check.feature.values}
    output = slopes.pop(OUTPUT)
    assert abs(output) < 0.2, output  # lazy training: the output moves O(1) (measured slope -0.11), the features do not
    for feature, slope in slopes.items():
        assert abs(slope + 0.5) < 0.1, (feature, slope)


# ---------------------------------------------------------------- muP rule of each optimizer
OPTIMIZERS = {  # optimizer, muP lr and the other fields; the muP rules are Parameterization._mup's
    "sgd_momentum": ("sgd", 0.05, {"optim.momentum": 0.9}),  # lr x N on every layer
    "adam": ("adam", 0.01, {}),  # lr x 1/sqrt(N) on hidden layers, eps x the gradient's size
    "adam_atan2": ("adam_atan2", 0.01, {}),  # as adam, with no eps
    "lion": ("lion", 0.01, {}),  # as adam: a sign update
}
DECAYS = {  # AdamW at lr 0.01 whose decay shrinks every weight by 10% a step, whatever the width
    "coupled": {"optim.weight_decay": 10.0},  # x lr x the layer's decay multiplier, 1 / its lr multiplier
    "independent": {"optim.weight_decay": 0.1, "optim.weight_decay_rule": "independent"},  # x the schedule only
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_mup_rule_of_each_optimizer_keeps_features_and_updates_within_a_factor_two_across_widths(name):
    optimizer, lr, extra = OPTIMIZERS[name]
    _flat_across_widths(_check("mlp", "mup", optimizer, lr, extra=extra))


@pytest.mark.parametrize("rule", list(DECAYS))
def test_mup_adamw_decay_shrinks_every_layer_alike_at_every_width(rule):
    """An MLP without biases is homogeneous: with each weight shrunk by 0.9 a step, h_l (behind
    l + 1 weights) shrinks by 0.9^((l + 1) t), the gradient steps' share (about 1% of its RMS) aside
    (measured: within 0.2%; with coupled decay not divided by Adam's hidden lr multiplier 1/sqrt(N),
    h1 at step 3: 0.70 (N = 64), 0.72 (1024) instead of 0.53).  The output's change is then -(1 - 0.9^(3t)) f(theta_0)
    / gamma, O(N^-1/2) under muP as f(theta_0) is (its limit has none): left out."""
    check = coord_check(_group("mlp", "mup", "adam", 0.01, {**DECAYS[rule], "model.bias": False}), WIDE).drop_sel(feature=OUTPUT)
    _flat_across_widths(check.isel(step=slice(1, None)))
    shrink = check.feature_rms / check.feature_rms.isel(step=0)
    layers = np.array([int(name.removeprefix("h")) for name in shrink.feature.values])
    expected = 0.9 ** ((layers[None, :] + 1) * shrink.step.values[:, None])  # (step, feature)
    assert np.allclose(shrink.values, np.broadcast_to(expected, shrink.shape), rtol=0.02), shrink.to_pandas()


@pytest.mark.parametrize("name", [*list(OPTIMIZERS)[1:], *DECAYS])
def test_sp_updates_of_every_adaptive_optimizer_blow_up_with_width(name):
    optimizer, _, extra = OPTIMIZERS[name] if name in OPTIMIZERS else ("adam", None, DECAYS[name])
    ratio = width_ratio(_check("mlp", "sp", optimizer, 1e-3, extra=extra).update_rms)
    assert float(ratio.max()) > 4, ratio.to_pandas()  # muP: < 2


# ---------------------------------------------------------------- depth: depth-muP and CompleteP
DEPTHS = [2, 16]
RESMLP = {"model.arch": "resmlp", "model.param": "mup", "data.dim": 16, "data.batch_size": 16, "data.n_probe": 16}
DEPTH_OPTIMIZERS = {  # optimizer, lr (small enough that no depth diverges) and the other fields
    "sgd": ("sgd", 0.005, {}),  # a block's hidden lr x L^(2 alpha - 1)
    "adam": ("adam", 0.01, {}),  # a block's hidden lr x L^(alpha - 1)
    "adam_eps": ("adam", 0.01, {"optim.eps": 1.0}),  # eps x muP's multipliers (x L^-alpha in a block) ~ the gradient
}


def _depth_check(name, alpha):
    optimizer, lr, extra = DEPTH_OPTIMIZERS[name]
    base = values(**{**RESMLP, "optim.name": optimizer, "optim.lr": lr, "model.residual_alpha": alpha, **extra})
    check = coord_check(base, [64], steps=3, depths=DEPTHS).isel(width=0, step=slice(1, None))
    return check.sel(feature=["last block", OUTPUT])


@pytest.mark.parametrize("alpha", [0.5, 1.0])
@pytest.mark.parametrize("name", list(DEPTH_OPTIMIZERS))
def test_depth_mup_and_completep_keep_the_last_block_and_output_updates_within_a_factor_two_from_depth_2_to_16(name, alpha):
    """Measured (step 3, depth 16 / depth 2): 1.1-1.2 (alpha 1/2), 0.8-1.0 (alpha 1).  Dropping the
    branch multiplier L^-alpha fails every case; the blocks' per-layer lr and eps rules move these
    ratios less (their share of the change is small next to the input layer's at beta = 1)."""
    check = _depth_check(name, alpha)
    for size in ("feature_rms", "update_rms"):
        ratio = depth_ratio(check[size])
        assert ((ratio > 0.5) & (ratio < 2)).all(), (size, ratio.to_pandas())


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_plain_residual_updates_grow_with_depth(name):
    """alpha = 0: the residual stream's variance grows like (1 + c)^L and the updates with it
    (measured at step 3, depth 16 / depth 2: last block 3000 (SGD), 130 (Adam); f 700, 40)."""
    ratio = depth_ratio(_depth_check(name, 0.0).update_rms)
    assert (ratio > 10).all(), ratio.to_pandas()  # depth-muP, CompleteP: < 2


def test_coordcheck_command_prints_a_table_and_writes_the_figure(tiny_config_file, tmp_path, capsys):
    import xarray as xr

    from scaling import cli

    out = tmp_path / "check"
    assert cli.main(["coordcheck", str(tiny_config_file), "--steps", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "width 8" in printed and "width 16" in printed and "h0" in printed  # the sweep's widths
    assert (out / "coordcheck.png").stat().st_size > 10_000
    check = xr.open_dataset(out / "coordcheck.nc")
    assert dict(check.sizes) == {"depth": 1, "width": 2, "step": 3, "feature": 3}  # h0, h1 and f


@pytest.mark.parametrize("flags,field", [(["--widths", "64"], "--widths"), (["--widths", "a,b"], "--widths"),
                                         (["--depths", "0,2"], "--depths"), (["--depths", "2,x"], "--depths"),
                                         (["--steps", "0"], "--steps"),
                                         (["--config.model.heads=3", "--config.model.arch=transformer",
                                           "--config.data.task=markov"], "model.heads")])
def test_coordcheck_refuses_bad_flags_before_any_compute(tiny_config_file, tmp_path, capsys, flags, field):
    from scaling import cli

    out = tmp_path / "check"
    assert cli.main(["coordcheck", str(tiny_config_file), "--out", str(out)] + flags) == 2
    err = capsys.readouterr().err
    assert field in err and "allowed" in err and not out.exists()


RESMLP_CONFIG = '''
import ml_collections

def get_config():
    c = ml_collections.ConfigDict()
    c.model = dict(arch="resmlp", depth=2, width=8, param="mup", residual_alpha=0.5)
    c.data = dict(task="powerlaw", dim=8, batch_size=8, n_test=16, n_probe=8)
    c.optim = dict(name="adam", lr=0.01)
    c.train = dict(steps=10)
    c.sweep = dict(model=dict(width=[8, 16], depth=[2, 3]))
    return c
'''


def test_coordcheck_over_depths_prints_a_depth_axis_and_writes_both_figures(tmp_path, capsys):
    import xarray as xr

    from scaling import checks, cli

    config, out = tmp_path / "resmlp.py", tmp_path / "check"
    config.write_text(RESMLP_CONFIG)
    assert cli._depths(None, checks.resolve(config)) == [2, 3]  # the sweep's, by default
    assert cli.main(["coordcheck", str(config), "--depths", "4,1", "--steps", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "depth" in printed and "4 / 1" in printed and "last block" in printed and "width 16" in printed
    assert (out / "coordcheck.png").stat().st_size > 10_000 and (out / "coordcheck_depth.png").stat().st_size > 10_000
    check = xr.open_dataset(out / "coordcheck.nc")
    assert dict(check.sizes) == {"depth": 2, "width": 2, "step": 2, "feature": 4}
    assert list(check.depth.values) == [1, 4] and list(check.feature.values) == ["h_in", "first block", "last block", "f"]
