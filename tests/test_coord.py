"""Coord checks: under muP every feature's size and its change over the first steps
are width-independent, for every architecture; under SP with a width-independent learning
rate the changes blow up with width; under NTK parameterization they shrink like 1/sqrt(N)."""

import numpy as np
import pytest
from conftest import values

from scaling.coordcheck import coord_check, width_ratio

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


def _check(arch, param, optimizer=None, lr=None, widths=None):
    group, arch_widths, arch_optimizer, arch_lr = ARCHS[arch]
    base = values(**{**group, **PROBE, "model.param": param, "optim.name": optimizer or arch_optimizer,
                     "optim.lr": lr or arch_lr})
    return coord_check(base, widths or arch_widths, steps=3).isel(step=slice(1, None))


@pytest.mark.parametrize("arch", list(ARCHS))
def test_mup_features_and_their_updates_stay_within_a_factor_two_across_widths(arch):
    check = _check(arch, "mup")
    for name in ("feature_rms", "update_rms"):
        ratio = width_ratio(check[name])
        assert ((ratio > 0.5) & (ratio < 2)).all(), (name, ratio.to_pandas())
    assert (check.update_rms > 0).all()


@pytest.mark.parametrize("arch", list(ARCHS))
def test_sp_updates_blow_up_with_width_at_a_fixed_learning_rate(arch):
    """With Adam, whose updates do not shrink with the gradient, SP's grow like the width."""
    ratio = width_ratio(_check(arch, "sp", optimizer="adam", lr=1e-3).update_rms)
    assert float(ratio.max()) > 4, ratio.to_pandas()  # muP: < 2


def test_ntk_feature_updates_shrink_like_inverse_sqrt_width():
    widths = [64, 256, 1024]
    check = _check("mlp", "ntk", lr=0.5, widths=widths).isel(step=-1)
    for feature in check.feature.values:
        sizes = check.update_rms.sel(feature=feature).values
        slope = np.polyfit(np.log(widths), np.log(sizes), 1)[0]
        assert abs(slope + 0.5) < 0.1, (feature, sizes, slope)


def test_coordcheck_command_prints_a_table_and_writes_the_figure(tiny_config_file, tmp_path, capsys):
    import xarray as xr

    from scaling import cli

    out = tmp_path / "check"
    assert cli.main(["coordcheck", str(tiny_config_file), "--steps", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "width 8" in printed and "width 16" in printed and "h0" in printed  # the sweep's widths
    assert (out / "coordcheck.png").stat().st_size > 10_000
    check = xr.open_dataset(out / "coordcheck.nc")
    assert dict(check.sizes) == {"width": 2, "step": 3, "feature": 2}


@pytest.mark.parametrize("flags,field", [(["--widths", "64"], "--widths"), (["--widths", "a,b"], "--widths"),
                                         (["--steps", "0"], "--steps"),
                                         (["--config.model.heads=3", "--config.model.arch=transformer",
                                           "--config.data.task=markov"], "model.heads")])
def test_coordcheck_refuses_bad_flags_before_any_compute(tiny_config_file, tmp_path, capsys, flags, field):
    from scaling import cli

    out = tmp_path / "check"
    assert cli.main(["coordcheck", str(tiny_config_file), "--out", str(out)] + flags) == 2
    err = capsys.readouterr().err
    assert field in err and "allowed" in err and not out.exists()
