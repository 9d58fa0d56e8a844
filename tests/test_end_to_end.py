"""`scaling run` + `scaling.load`: the results a researcher analyses."""

import json
import os

import numpy as np
import pytest

import scaling
from scaling import cli, config as config_lib, store, sweep


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from conftest import TINY_CONFIG

    root = tmp_path_factory.mktemp("e2e")
    config = root / "tiny.py"
    config.write_text(TINY_CONFIG)
    out = root / "out"
    assert cli.main(["run", str(config), "--out", str(out)]) == 0
    return config, out


def test_run_prints_table_and_path(tiny_run, capsys):
    config, out = tiny_run
    assert cli.main(["run", str(config), "--out", str(out)]) == 0  # finished groups are skipped
    printed = capsys.readouterr().out
    assert "best lr" in printed and str(out) in printed and "diverged" in printed
    assert f"report:  {out / 'report' / 'index.html'}" in printed and (out / "report" / "loss_curves.png").is_file()


def test_load_gives_dataset_with_swept_coordinates(tiny_run):
    _, out = tiny_run
    ds = scaling.load(out)
    assert set(ds.dims) == {"width", "gamma", "lr", "seed", "step", "probe", "pred_step", "ntk_step", "feature_step",
                            "probe2", "eigen", "param", "feature"}
    assert list(ds.width.values) == [8, 16] and list(ds.lr.values) == [0.1, 1e5]
    assert ds.step.values[0] == 0 and ds.step.values[-1] == 20
    for name in ("train_loss", "test_loss", "diverged", "diverged_step", "probe_pred", "probe_target", "completed"):
        assert name in ds
    assert ds.completed.all() and ds.attrs["incomplete_groups"] == []
    assert ds.diverged.sel(lr=1e5).all() and not ds.diverged.sel(lr=0.1).any()
    assert (ds.diverged_step.sel(lr=1e5) >= 0).all() and (ds.diverged_step.sel(lr=0.1) == -1).all()
    calm = ds.test_loss.sel(lr=0.1)
    assert np.isfinite(calm).all() and (calm.isel(step=-1) < calm.isel(step=0)).all()
    assert ds.probe_pred.sel(lr=0.1).isel(pred_step=0).pipe(np.abs).max() == 0  # centred at init
    assert "mup" in ds.attrs["lr_convention"]
    assert list(ds.param.values) == ["layer0/w", "layer1/w", "readout/w"] and list(ds.feature.values) == ["h0", "h1"]
    assert ds.ntk.dims[-3:] == ("ntk_step", "probe", "probe2") and ds.ntk_eigenvalues.sizes["eigen"] == 8
    calm = ds.sel(lr=0.1)
    assert (abs(calm.ntk_distance.isel(ntk_step=0)) < 1e-6).all() and (calm.weight_change.isel(feature_step=0) == 0).all()
    assert (calm.ntk_distance.isel(ntk_step=-1) > 0).all() and (calm.weight_change.isel(feature_step=-1) > 0).all()
    assert np.isnan(ds.ntk_alignment.sel(lr=1e5).isel(ntk_step=-1)).all()  # diverged members are NaN
    resolved = config_lib.Resolved.from_json(json.loads(ds.attrs["config"]))
    assert resolved.values["model.param"] == "mup"


def test_rerun_skips_finished_groups_and_refuses_a_changed_config(tiny_run, capsys):
    config, out = tiny_run
    files = sorted((out / "groups").iterdir())
    before = [f.stat().st_mtime_ns for f in files]
    assert cli.main(["run", str(config), "--out", str(out)]) == 0
    assert [f.stat().st_mtime_ns for f in files] == before
    assert cli.main(["run", str(config), "--out", str(out), "--config.model.depth=2"]) == 2
    assert "--out" in capsys.readouterr().err
    assert [f.stat().st_mtime_ns for f in files] == before


def test_load_reports_missing_and_partial_groups(tiny_run, tmp_path):
    _, out = tiny_run
    copy = tmp_path / "copy"
    os.system(f"cp -r {out} {copy}")
    resolved = store.read_sweep(copy)
    first, second = sweep.groups(resolved)
    store.group_path(copy, second.id).unlink()
    meta, arrays = store.read_group(copy, first.id)
    half = len(first.members) // 2
    members = first.members[:half]
    results = {k: v[:half] for k, v in arrays.items() if not k.startswith(store.MEMBER_PREFIX)}
    store.write_group(copy, first, members, results, {**meta, "complete": False})
    ds = scaling.load(copy)
    assert sorted(ds.attrs["incomplete_groups"]) == sorted([first.id, second.id])
    assert int(ds.completed.sum()) == half
    assert np.isnan(ds.test_loss.sel(width=16)).all()


def test_zipped_axes_and_colliding_leaf_names(tmp_path):
    config = {
        "model": {"width": 8, "depth": 2},
        "data": {"dim": 4, "n_test": 16, "n_probe": 4},
        "train": {"steps": 4, "n_logs": 3, "segments": 1},
        "log": {"progress": False, "report": False},
        "sweep": {
            "model": {"width": [8, 16]}, "data": {"batch_size": [4, 8], "seed": [0, 1]}, "train": {"seed": [0, 1]},
            "zip": [["model.width", "data.batch_size"]],
        },
    }
    ds = scaling.load(scaling.run(config, tmp_path / "z"))
    assert {"width", "data_seed", "train_seed"} <= set(ds.dims) and "batch_size" not in ds.dims
    assert list(ds.batch_size.values) == [4, 8] and ds.batch_size.dims == ("width",)
    assert ds.completed.all()


def test_not_a_sweep_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a sweep directory"):
        scaling.load(tmp_path)


def test_out_directory_with_other_files_is_refused(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli.main(["run", str(tiny_config_file), "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_final_loss_reads_each_group_at_its_own_last_step(tmp_path):
    from scaling import analysis

    config = {
        "model": {"width": 8, "depth": 2},
        "data": {"dim": 4, "n_test": 16, "n_probe": 4, "batch_size": 4},
        "train": {"n_logs": 3, "segments": 1},
        "log": {"progress": False, "report": False},
        "sweep": {"train": {"steps": [4, 8]}, "optim": {"lr": [0.1, 0.2]}},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "s"))
    final = analysis.final_test_loss(ds)
    assert np.isfinite(final).all()
    assert float(final.sel(steps=4, lr=0.1)) == float(ds.test_loss.sel(steps=4, lr=0.1, step=4))


def test_training_set_sizes_sweep_at_full_batch_and_members_stop_below_stop_loss(tmp_path):
    from scaling import analysis
    from scaling.log import records
    from scaling.report import losses

    config = {
        "model": {"width": 32, "depth": 2},
        "data": {"dim": 4, "n_test": 16, "n_probe": 4, "batch_size": None},
        "train": {"steps": 200, "n_logs": 5, "segments": 1, "stop_loss": 0.01},
        "measure": {"ntk": False, "features": False},
        "log": {"progress": False, "report": False},
        "sweep": {"data": {"n_train": [4, 64]}, "optim": {"lr": [0.01, 0.5]}},
    }
    ds = scaling.load(scaling.run(config, tmp_path / "p"))
    assert list(ds.n_train.values) == [4, 64] and ds.stopped_step.dims == ("n_train", "lr")
    assert bool(ds.completed.all())
    assert int(ds.stopped_step.sel(n_train=4, lr=0.5)) > 0  # 4 points are fitted quickly
    assert int(ds.stopped_step.sel(lr=0.01).max()) == -1  # too slow to get there
    for n_train in (4, 64):
        point = ds.sel(n_train=n_train, lr=0.5)
        assert records.summary(point)["stopped"] == int(point.stopped_step >= 0)
    panel = next(ax for ax in losses.learning_curves(ds).axes if ax.get_xlabel() == "training points P")
    np.testing.assert_array_equal(panel.lines[0].get_xdata(), [4, 64])  # one line (one width), at each P's best lr
    final = analysis.final_test_loss(ds)
    expected = [float(final.sel(n_train=p, lr=analysis.best_lr(final.sel(n_train=p)))) for p in (4, 64)]
    np.testing.assert_allclose(panel.lines[0].get_ydata(), expected)


def test_status_counts_groups_divergences_and_estimates_the_time_left(tiny_run, tmp_path, capsys):
    from scaling.launch import status

    _, out = tiny_run
    assert cli.main(["status", str(out)]) == 0
    printed = capsys.readouterr().out
    n_diverged = int(scaling.load(out).diverged.sum())
    assert n_diverged > 0  # lr 1e5 diverges
    assert "2 done, 0 running, 0 stopped, 0 pending of 2 groups" in printed and f"{n_diverged} members diverged" in printed
    assert "finished" in printed
    copy = tmp_path / "copy"
    os.system(f"cp -r {out} {copy}")
    first, second = sweep.groups(store.read_sweep(copy))
    store.group_path(copy, second.id).unlink()
    meta, arrays = store.read_group(copy, first.id)
    half = len(first.members) // 2
    results = {k: v[:half] for k, v in arrays.items() if not k.startswith(store.MEMBER_PREFIX)}
    store.write_group(copy, first, first.members[:half], results, {**meta, "elapsed_s": 10.0, "complete": False})
    stopped, pending = status.group_statuses(copy)
    assert (stopped.state, stopped.members_done, stopped.members) == ("stopped", half, len(first.members))
    assert stopped.diverged == int(arrays["diverged"][:half].sum()) and stopped.updated_s_ago < 60
    assert (pending.state, pending.members_done, pending.elapsed_s) == ("pending", 0, None)
    left = status.seconds_left([stopped, pending])
    assert left == pytest.approx(10.0 / half * (len(first.members) - half + len(second.members)))
    assert cli.main(["status", str(copy)]) == 0
    printed = capsys.readouterr().out
    assert "0 done, 0 running, 1 stopped, 1 pending of 2 groups" in printed and f"about {status.duration(left)} left" in printed


def test_status_of_a_directory_without_a_sweep(tmp_path, capsys):
    assert cli.main(["status", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "DIR" in err and "sweep.json" in err


def test_report_draws_the_loss_figures_with_their_axes(tiny_run, tmp_path, capsys):
    from scaling import measure
    from scaling.report import ensembles, kernels, losses

    _, out = tiny_run
    assert cli.main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "index.html").read_text()
    names = [figure.file for m in measure.REGISTRY.values() for figure in m.figures]  # every measurement's
    assert names == ["loss_curves.png", "loss_vs_time.png", "compute.png", "gamma_lr.png", "loss_vs_lr.png",
                     "learning_curves.png", "loss_vs_width.png", "lr_transfer.png", "ntk_spectra.png", "alignment.png",
                     "kernel_baselines.png", "ensemble_vs_width.png", "sharpness.png", "ensemble_over_steps.png"]
    not_drawn = ["learning_curves.png", "kernel_baselines.png", "sharpness.png", "ensemble_over_steps.png"]  # no P
    # axis; measurements off
    assert not any((tmp_path / "report" / name).exists() for name in not_drawn)
    for name in [n for n in names if n not in not_drawn]:
        assert (tmp_path / "report" / name).stat().st_size > 10_000 and f'src="{name}"' in page
    ds = scaling.load(out)
    curves = losses.loss_curves(ds)
    panels = [ax for ax in curves.axes if ax.get_title().startswith("γ")]
    assert [ax.get_title() for ax in panels] == ["γ = 0.5", "γ = 2"]
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in panels)
    assert panels[0].get_ylabel() == "test loss" and len(panels[0].lines) == 2  # one line per width
    assert any(ax.get_ylabel() == "width N" for ax in curves.axes)  # the colour bar
    heat = losses.gamma_lr_map(ds).axes[0]
    assert (heat.get_xlabel(), heat.get_ylabel()) == ("learning rate η (raw)", "γ")
    best = heat.lines[0].get_xdata()  # eta*(gamma): lr 1e5 diverges, so 0.1 at both gammas
    np.testing.assert_allclose(best, [0.1, 0.1])
    width = losses.loss_vs_width(ds).axes[0]
    np.testing.assert_array_equal(width.lines[0].get_xdata(), [8, 16])
    spectra = [ax for ax in kernels.ntk_spectra(ds).axes if ax.get_title().startswith("γ")]
    assert all((ax.get_xlabel(), ax.get_xscale(), ax.get_yscale()) == ("rank k", "log", "log") for ax in spectra)
    assert len(spectra[0].lines) == ds.sizes["ntk_step"]  # a spectrum per measured step
    variance = ensembles.ensemble_vs_width(ds).axes[0]
    assert [line.get_label() for line in variance.lines] == ["variance Var_seeds f", "bias² vs width 16", "∝ 1/N"]
    expected = scaling.load(out).probe_pred.isel(pred_step=-1).sel(gamma=0.5, lr=0.1).var("seed").mean("probe")
    np.testing.assert_allclose(variance.lines[0].get_ydata(), expected, rtol=1e-5)
    assert cli.main(["report", str(tmp_path / "nothing")]) == 2


def test_report_draws_a_page_per_value_of_an_axis_no_figure_shows(tiny_run, tmp_path, monkeypatch):
    """A swept axis the figures do not show (here a depth added to the tiny sweep) is not held at
    its first value: each figure is drawn once per depth, named in its title and file."""
    from matplotlib import image

    from scaling import analysis
    from scaling.report import index

    _, out = tiny_run
    ds = scaling.load(out)
    deeper = ds.expand_dims(depth=[2, 3]).copy(deep=True)
    deeper["test_loss"].loc[dict(depth=3)] = deeper.test_loss.sel(depth=3) * 10  # the pages must differ
    monkeypatch.setattr(store, "load", lambda path: deeper)
    assert analysis.pages(deeper, ("gamma", "width", "lr")) == [{"depth": 2}, {"depth": 3}]
    assert analysis.pages(deeper, ("gamma", "width", "lr", "depth")) == [{}]
    page = index.write(out, tmp_path / "report").read_text()
    first, second = (tmp_path / "report" / f"loss_curves-depth={d}.png" for d in (2, 3))
    assert first.is_file() and second.is_file() and not (tmp_path / "report" / "loss_curves.png").exists()
    assert 'src="loss_curves-depth%3D2.png"' in page and "depth = 3" in page
    assert not np.array_equal(image.imread(first), image.imread(second))
    from scaling.report import losses

    titled = losses.loss_curves(ds.expand_dims(depth=[2, 3]))  # called directly, the held value is named
    assert "(depth=2)" in titled.get_suptitle()
    single = losses.loss_curves(ds.expand_dims(depth=[2]))  # a swept axis of one value: nothing to name
    assert "depth" not in single.get_suptitle() and [len(ax.lines) for ax in single.axes[:2]] == [2, 2]
