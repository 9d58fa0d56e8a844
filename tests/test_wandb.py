"""The wandb mirror: offline run files read back with wandb's own reader
(``wandb leet inspect --json``) and compared with the local results; failures of wandb
never stop a sweep.  Nothing here reaches the network."""

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import scaling
from scaling import claims
from scaling import config as config_lib
from scaling.log import mirror
from scaling.measure import ensemble

SWEEP = {
    "model": {"depth": 2},
    "data": {"dim": 4, "batch_size": 8, "n_test": 32, "n_probe": 8},
    "train": {"steps": 12, "n_logs": 4, "segments": 1},
    "measure": {"ntk_n_logs": 3, "features_n_logs": 3, "predictions_n_logs": 3},
    "log": {"progress": False, "wandb": {"mode": "offline", "project": "tests", "tags": ["ci"], "notes": "a test"},
            "claims": ["members_written"]},
    "sweep": {"model": {"width": [8, 16], "gamma": [0.5, 2.0]}, "optim": {"lr": [0.1, 1e5]}, "train": {"seed": [0, 1]},
              "zip": [["model.gamma", "optim.lr"]]},
}


def offline_runs(sweep_dir: Path) -> list[dict]:
    """Every offline run under DIR/wandb as wandb recorded it: config, history by step, final summary, files."""
    cli = Path(sys.executable).parent / "wandb"
    runs = []
    for run_dir in sorted((sweep_dir / "wandb").glob("offline-run-*")):
        printed = subprocess.run([str(cli), "leet", "inspect", "--json", str(run_dir)],
                                 capture_output=True, text=True, check=True, timeout=120).stdout
        records = [json.loads(line) for line in printed.splitlines() if line.strip()]
        run = next(r["run"] for r in records if r["type"] == "run")
        summary: dict = {}
        for r in records:
            if r["type"] == "summary":
                summary.update(r["summary"].get("update", {}))
        history = {r["history"].get("step", {}).get("num", 0): r["history"]["item"]
                   for r in records if r["type"] == "history"}
        files = [f["path"] for r in records if r["type"] == "files" for f in r["files"]["files"]]
        runs.append({"name": run["display_name"], "job_type": run.get("job_type"), "group": run["run_group"],
                     "project": run["project"], "tags": run.get("tags", []), "notes": run.get("notes"),
                     "config": run["config"]["update"], "summary": summary, "history": history, "files": files,
                     "dir": run_dir})
    return runs


def number(value) -> float:
    return float("nan") if value in (None, "NaN") else float(value)


def members_written(ds) -> list[claims.Verdict]:
    """A claim for the test: every member of the sweep is written."""
    written = float(ds.completed.sum())
    return [claims.Verdict("every member written", written, float(ds.completed.size), "exact", written == ds.completed.size)]


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    out = tmp_path_factory.mktemp("wandb") / "mirrored"
    claims.register("members_written", members_written)
    try:
        scaling.run(SWEEP, out)
        yield out, scaling.load(out), offline_runs(out)
    finally:
        del claims.REGISTRY["members_written"]


def test_one_run_per_point_with_the_swept_fields_and_the_resolved_config(mirrored):
    out, ds, runs = mirrored
    points = [r for r in runs if r["job_type"] == "point"]
    assert len(points) == 4 and len(runs) == 5  # 2 widths x 2 (gamma, lr); seeds are inside a run; + the report
    assert {r["group"] for r in runs} == {"mirrored"} and {r["project"] for r in runs} == {"tests"}
    assert all(r["tags"] == ["ci"] and r["notes"] == "a test" for r in runs)
    for run in points:
        config = run["config"]
        assert {"width", "gamma", "lr", "group_id", "seeds", "model", "data", "optim", "train", "measure"} <= set(config)
        assert config["model"]["width"] == config["width"] and config["optim"]["lr"] == config["lr"]
        assert config["model"]["gamma"] == config["gamma"] and config["seeds"] == {"seed": [0, 1]}
        assert run["name"] == f"width={config['width']},gamma={config['gamma']:g},lr={config['lr']:g}"
    assert sorted((r["config"]["width"], r["config"]["lr"]) for r in points) == [(8, 0.1), (8, 1e5), (16, 0.1), (16, 1e5)]


def test_history_and_summary_equal_the_local_results(mirrored):
    out, ds, runs = mirrored
    for run in (r for r in runs if r["job_type"] == "point"):
        point = ds.sel(width=run["config"]["width"], gamma=run["config"]["gamma"])
        history = run["history"]
        assert sorted(history) == sorted(set(ds.step.values) | set(ds.pred_step.values) | set(ds.ntk_step.values)
                                         | set(ds.feature_step.values))
        for name in ("train_loss", "test_loss"):
            for step in ds.step.values:
                logged = [number(history[step][f"{name}/seed={s}"]) for s in (0, 1)]
                np.testing.assert_allclose(logged, point[name].sel(step=step).values, rtol=1e-6)
                np.testing.assert_allclose(number(history[step][f"{name}/mean"]),
                                           float(point[name].sel(step=step).mean("seed")), rtol=1e-6)
        predictor = ensemble.ensemble_loss(point, "seed")
        for step in ds.pred_step.values:
            np.testing.assert_allclose(number(history[step]["probe_loss/ensemble"]),
                                       float(predictor.sel(pred_step=step)), rtol=1e-6)
        for step in ds.ntk_step.values:
            np.testing.assert_allclose(number(history[step]["ntk/alignment"]),
                                       float(point.ntk_alignment.sel(ntk_step=step).mean("seed")), rtol=1e-6)
            np.testing.assert_allclose(number(history[step]["ntk/eigenvalue_1"]),
                                       float(point.ntk_eigenvalues.sel(ntk_step=step).isel(eigen=0).mean("seed")), rtol=1e-6)
        assert any(k.startswith("weight_change/") for k in history[int(ds.feature_step[-1])])
        summary = run["summary"]
        assert summary["diverged"] == int(point.diverged.sum()) and summary["n_seeds"] == 2
        np.testing.assert_allclose(number(summary["final_test_loss"]),
                                   float(point.test_loss.isel(step=-1).mean("seed")), rtol=1e-6)
        curve = point.test_loss.mean("seed")
        if run["config"]["lr"] == 0.1:
            assert summary["diverged"] == 0 and summary["best_step"] == int(curve.step[curve.argmin("step")])
        else:
            assert summary["diverged"] == 2 and np.isnan(number(summary["final_test_loss"]))


def test_report_figures_and_the_best_lr_table_go_to_a_report_run(mirrored):
    out, ds, runs = mirrored
    (report,) = [r for r in runs if r["job_type"] == "report"]
    images = sorted(Path(f).name.split("_0_")[0] for f in report["files"] if f.startswith("media/images/report/"))
    assert images == sorted(p.stem for p in (out / "report").glob("*.png")) and len(images) >= 5
    (table,) = (report["dir"] / "files").glob("media/table/best_lr_*.table.json")
    logged = json.loads(table.read_text())
    assert logged["columns"][-4:] == ["best_lr", "test_loss", "diverged", "members"]
    assert len(logged["data"]) == 4  # width x gamma (the zipped lr is the column the best is taken over)
    (verdicts,) = (report["dir"] / "files").glob("media/table/claims_*.table.json")  # the config's claims
    assert json.loads(verdicts.read_text())["data"] == [["every member written", "8", "8", "exact", "holds"]]
    assert (out / "wandb" / mirror.MIRRORED_DIR).is_dir()


def test_above_max_runs_a_run_per_group_with_tables_and_finished_groups_are_mirrored_on_a_rerun(mirrored, tmp_path):
    out, ds, _ = mirrored
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("wandb", "report"))
    config = json.loads(json.dumps(SWEEP))
    config["log"]["wandb"]["max_runs"] = 3
    config["log"]["report"] = False
    scaling.run(config, copy)  # nothing left to train: the groups written before are mirrored now
    runs = offline_runs(copy)
    assert sorted(r["name"] for r in runs) == ["width=16", "width=8"] and {r["job_type"] for r in runs} == {"group"}
    for run in runs:
        width = run["config"]["width"]
        (members,) = (run["dir"] / "files").glob("media/table/members_*.table.json")
        table = json.loads(members.read_text())
        assert table["columns"] == ["width", "gamma", "seed", "step", "train_loss", "test_loss"]
        assert len(table["data"]) == 2 * 2 * ds.sizes["step"]
        for w, gamma, seed, step, _, test_loss in table["data"]:
            assert w == width
            local = float(ds.test_loss.sel(width=width, gamma=gamma, seed=seed, step=step))
            assert np.isclose(number(test_loss), local, rtol=1e-6, equal_nan=True)
        (points,) = (run["dir"] / "files").glob("media/table/points_*.table.json")
        assert len(json.loads(points.read_text())["data"]) == 2
    scaling.run(config, copy)
    assert len(offline_runs(copy)) == 2  # sent once: a second rerun sends nothing


SMALL = {
    "model": {"depth": 2, "width": 8},
    "data": {"dim": 4, "batch_size": 8, "n_test": 16, "n_probe": 4},
    "train": {"steps": 4, "n_logs": 3, "segments": 1},
    "measure": {"ntk": False, "features": False},
    "log": {"progress": False, "report": False, "wandb": {"mode": "offline", "timeout": 2.0}},
    "sweep": {"model": {"width": [8, 16]}, "optim": {"lr": [0.1, 0.2]}},
}


def _warnings(capfd) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if line.startswith("scaling: warning: wandb")]


def test_an_exception_in_wandb_is_one_warning_and_the_sweep_completes(tmp_path, capfd, monkeypatch):
    import wandb

    def broken(**kwargs):
        raise RuntimeError("no route to the server")

    monkeypatch.setattr(wandb, "init", broken)
    ds = scaling.load(scaling.run(SMALL, tmp_path / "s"))
    assert bool(ds.completed.all()) and np.isfinite(ds.test_loss).all()
    (warning,) = _warnings(capfd)
    assert "RuntimeError: no route to the server" in warning and "training goes on" in warning


def test_a_hanging_wandb_is_left_behind_after_the_timeout(tmp_path, capfd, monkeypatch):
    import time

    import wandb

    release = threading.Event()
    monkeypatch.setattr(wandb, "init", lambda **kwargs: release.wait(60))
    started = time.monotonic()
    ds = scaling.load(scaling.run(SMALL, tmp_path / "s"))
    waited = time.monotonic() - started
    release.set()
    assert bool(ds.completed.all())
    (warning,) = _warnings(capfd)
    assert "log.wandb.timeout = 2 s" in warning and waited < 40


def test_wandb_missing_is_one_warning(tmp_path, capfd, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    ds = scaling.load(scaling.run(SMALL, tmp_path / "s"))
    assert bool(ds.completed.all())
    (warning,) = _warnings(capfd)
    assert "not installed" in warning


def test_mode_comes_from_the_config_then_wandb_mode_and_a_bad_one_is_refused_before_compute(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert mirror.mode({"log.wandb.mode": None}) == "disabled"
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert mirror.mode({"log.wandb.mode": None}) == "offline"
    assert mirror.mode({"log.wandb.mode": "disabled"}) == "disabled"
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    config = json.loads(json.dumps(SMALL))
    del config["log"]["wandb"]["mode"]
    with pytest.raises(config_lib.ConfigError, match="WANDB_MODE = 'sometimes' is not allowed"):
        scaling.run(config, tmp_path / "s")
    assert not (tmp_path / "s").exists()
