"""Validation before any compute: one-line errors naming the field, the value and what is allowed."""

import subprocess
import sys
from pathlib import Path

import pytest

from scaling import checks, cli
from scaling import config as config_lib

CONFIGS = Path(__file__).parent.parent / "configs"

BAD = [
    ({"model.width": "0"}, "model.width", "0"),
    ({"model.depth": "0"}, "model.depth", "0"),
    ({"optim.lr": "0"}, "optim.lr", "0"),
    ({"optim.lr": "-1"}, "optim.lr", "-1"),
    ({"model.gamma": "0"}, "model.gamma", "0"),
    ({"data.n_train": "50", "data.batch_size": "100"}, "data.batch_size", "100"),
    ({"model.arch": "resnet9000"}, "model.arch", "resnet9000"),
    ({"data.task": "imagenet"}, "data.task", "imagenet"),
    ({"optim.name": "rmsprop"}, "optim.name", "rmsprop"),
    ({"model.param": "mup2"}, "model.param", "mup2"),
    ({"model.widht": "5"}, "model.widht", "5"),
    ({"sweep.model.widht": "[1, 2]"}, "sweep.model.widht", "[1, 2]"),
    ({"model.width": "1.5"}, "model.width", "1.5"),
    ({"model.center": "maybe"}, "model.center", "maybe"),
    ({"sweep.optim.lr": "[0.1, -1]"}, "sweep.optim.lr", "-1"),
    ({"train.steps": "0"}, "train.steps", "0"),
    ({"optim.momentum": "1.0"}, "optim.momentum", "1.0"),
    ({"data.task": "circle", "data.dim": "5"}, "data.dim", "5"),
    ({"sweep.model.gamma": "[]"}, "sweep.model.gamma", "[]"),
    ({"train.dtype": "float16"}, "train.dtype", "float16"),
    ({"foo.bar": "1"}, "foo", ""),
    ({"data.noise": "-0.1"}, "data.noise", "-0.1"),
    ({"sweep.zip": "[['model.width', 'optim.lr']]", "sweep.optim.lr": "[0.1]"}, "sweep.zip", "model.width"),
    ({"data.task": "gegenbauer", "data.dim": "2"}, "data.dim", "2"),
    ({"sweep.model.width": "[8, 0]"}, "sweep.model.width", "0"),
    ({"measure.ntk_every": "0"}, "measure.ntk_every", "0"),
    ({"measure.ntk_every": "[0, -5]"}, "measure.ntk_every", "-5"),
    ({"measure.features_every": "[0, 21]"}, "measure.features_every", "21"),
    ({"measure.ntk_top_k": "2"}, "measure.ntk_top_k", "2"),
    ({"measure.ntk_outputs": "diagonal"}, "measure.ntk_outputs", "diagonal"),
    ({"measure.predictions_n_logs": "1"}, "measure.predictions_n_logs", "1"),
    ({"data.classes": "[3]"}, "data.classes", "[3]"),
    ({"data.classes": "[3, 3]"}, "data.classes", "[3, 3]"),
    ({"data.classes": "[-1, 2]"}, "data.classes", "[-1, 2]"),
    ({"data.storage": "disk"}, "data.storage", "disk"),
    ({"data.tokens": "bpe"}, "data.tokens", "bpe"),
    ({"log.wandb.mode": "cloud"}, "log.wandb.mode", "cloud"),
    ({"log.wandb.tags": "'a'"}, "log.wandb.tags", "a"),
    ({"log.wandb.max_runs": "0"}, "log.wandb.max_runs", "0"),
    ({"log.wandb.timeout": "0"}, "log.wandb.timeout", "0"),
    ({"sweep.log.wandb.project": "['a', 'b']"}, "sweep.log.wandb.project", "a"),
]


@pytest.mark.parametrize("overrides,field,value", BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_config_is_refused_before_any_compute(tiny_config_file, tmp_path, capsys, overrides, field, value):
    out = tmp_path / "out"
    args = ["run", str(tiny_config_file), "--out", str(out)] + [f"--config.{k}={v}" for k, v in overrides.items()]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("scaling: config error: "), err
    assert field in err and value in err and "allowed" in err, err
    assert not out.exists()


def test_measurement_schedules():
    from scaling.measure.registry import schedule

    assert list(schedule(20, 8, 5)) == [0, 8, 16, 20]
    assert list(schedule(20, [5, 0, 5], 5)) == [0, 5]
    assert list(schedule(1000, None, 6)) == [0, 1, 6, 32, 178, 1000]
    resolved = config_lib.resolve({"measure": {"ntk_every": (10, 0)}})
    assert resolved.values["measure.ntk_every"] == [0, 10]


def test_bad_config_exit_status_and_no_traceback(tiny_config_file, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "scaling.cli", "run", str(tiny_config_file), "--out", str(out), "--config.model.width=-3"],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "model.width = -3" in result.stderr and ">= 1" in result.stderr
    assert not out.exists()


def test_missing_and_broken_config_files(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("def get_config():\n    return 1 / 0\n")
    for path in (tmp_path / "missing.py", broken):
        assert cli.main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
        assert "config error: config" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_defaults_fill_missing_fields_and_overrides_apply(tiny_config_file):
    config = config_lib.load_file(tiny_config_file)
    resolved = config_lib.resolve(config_lib.apply_overrides(config, {"model.depth": "4", "sweep.model.width": "32,64"}))
    assert resolved.values["model.depth"] == 4
    assert resolved.values["data.alpha"] == config_lib.SCHEMA["data.alpha"].default
    assert dict((f[0], [p[0] for p in pts]) for f, pts in resolved.axes)["model.width"] == [32, 64]


def test_a_config_file_returning_a_plain_dict_takes_overrides(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("def get_config():\n    return {'model': {'depth': 2}, 'sweep': {'optim': {'lr': [0.1, 0.2]}}}\n")
    config = config_lib.load_file(path)
    resolved = config_lib.resolve(config_lib.apply_overrides(config, {"model.depth": "4"}))
    assert resolved.values["model.depth"] == 4 and config["model"]["depth"] == 2  # the file's dict is not changed


def test_ints_are_accepted_for_floats_and_none_for_optional():
    resolved = config_lib.resolve({"model": {"gamma": 2}, "data": {"n_train": None}})
    assert resolved.values["model.gamma"] == 2.0 and isinstance(resolved.values["model.gamma"], float)
    assert resolved.values["data.n_train"] is None


def test_resolve_leaves_the_callers_config_as_it_was():
    config = {"sweep": {"model": {"width": [8, 16]}, "optim": {"lr": [0.1, 1.0]}, "zip": [["model.width", "optim.lr"]]}}
    first = config_lib.resolve(config)
    assert "zip" in config["sweep"] and config_lib.resolve(config) == first


def test_resolved_config_round_trips_through_json():
    resolved = config_lib.resolve({"sweep": {"model": {"width": [8, 16]}, "optim": {"lr": [0.1, 1.0]}}})
    again = config_lib.Resolved.from_json(resolved.to_json())
    assert again == resolved


def test_readme_example_config_is_valid(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    example = readme.split("```python\n")[1].split("```")[0]
    path = tmp_path / "example.py"
    path.write_text(example)
    resolved = config_lib.resolve(config_lib.load_file(path))
    assert {fields[0] for fields, _ in resolved.axes} == {"model.width", "model.gamma", "optim.lr", "train.seed"}


def test_sweep_must_be_a_section():
    with pytest.raises(config_lib.ConfigError, match="sweep"):
        config_lib.resolve({"sweep": [1, 2]})


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.py")))
def test_every_example_config_is_valid(name):
    from scaling import sweep

    path = CONFIGS / f"{name}.py"
    resolved = checks.resolve(path)  # checks every group's values
    assert len(sweep.groups(resolved)) >= 1
