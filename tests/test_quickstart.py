"""The README's main job: the quickstart sweep, end to end (slow)."""

from pathlib import Path

import numpy as np
import pytest

import scaling
from scaling import cli

CONFIG = Path(__file__).parent.parent / "configs" / "quickstart.py"


@pytest.mark.slow
def test_quickstart_runs_and_crosses_the_edge_of_stability(tmp_path, capsys):
    out = tmp_path / "qs"
    assert cli.main(["run", str(CONFIG), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "best lr" in printed and str(out) in printed and str(out / "report" / "index.html") in printed
    ds = scaling.load(out)
    assert ds.sizes["width"] == 3 and ds.sizes["gamma"] >= 5 and ds.sizes["lr"] >= 6 and ds.sizes["seed"] == 2
    assert ds.completed.all()
    assert 0 < int(ds.diverged.sum()) < ds.diverged.size  # some members diverge, most do not
    final = ds.test_loss.isel(step=-1).mean("seed")
    best = final.fillna(np.inf).argmin("lr")
    assert (ds.lr[best].sel(gamma=ds.gamma.min()) < ds.lr[best].sel(gamma=ds.gamma.max())).all()
