"""The paper configs (``configs/papers/``): each runs at its reduced size (``FILE:small``) and every
claim it checks holds (``scaling.claims``), its verdict table printed and on the report's page."""

from pathlib import Path

import pytest

import scaling
from scaling import checks, claims, cli, config
from scaling.errors import ConfigError

# the claims (their start) that the reduced size cannot resolve, by paper: the ensemble loss gap's
# slope needs E ≈ 4000 seeds (scaling.claims.width_consistency); the onset P* needs networks trained
# to the stop loss at every P, more steps than the small size takes (scaling.claims.onset_variance)
UNRESOLVED = {"width_consistency": ["L(f̄_N) − L(f̄_ref) ∝ N^a"], "onset_variance": ["P* ∝ N^a"]}
PAPERS = sorted(Path(__file__).parents[1].joinpath("configs", "papers").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("paper", PAPERS, ids=[p.stem for p in PAPERS])
def test_paper_config_reproduces_its_claims(paper, tmp_path, capsys):
    out = tmp_path / paper.stem
    assert cli.main(["run", f"{paper}:small", "--out", str(out), "--config.log.progress=False"]) == 0
    verdicts = claims.verdicts(scaling.load(out))
    printed = capsys.readouterr().out
    headline = claims.registry.headline(verdicts)
    assert verdicts and headline in printed, printed
    assert not [v for v in verdicts if v.holds is False]  # every claim resolved at this size holds
    unresolved = [v.claim for v in verdicts if v.holds is None]
    expected = UNRESOLVED.get(paper.stem, [])
    assert len(unresolved) == len(expected) and all(c.startswith(e) for c, e in zip(unresolved, expected)), unresolved
    assert headline in (out / "report" / "index.html").read_text()


@pytest.mark.parametrize("paper", PAPERS, ids=[p.stem for p in PAPERS])
def test_paper_configs_resolve_at_every_size_and_name_their_claims(paper):
    for arg in ("small", None, "full"):
        source = str(paper) if arg is None else f"{paper}:{arg}"
        resolved = checks.resolve(source, {})  # every group checked, before any compute
        assert resolved.values["log.claims"], source


def test_a_config_argument_and_unknown_claims_are_refused_clearly(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("def get_config(arg='a'):\n    return {'log': {'claims': [arg]}}\n")
    with pytest.raises(ConfigError) as error:
        checks.resolve(f"{path}:nothing", {})
    assert "log.claims" in str(error.value) and "'nothing'" in str(error.value) and "'gamma_lr'" in str(error.value)
    with pytest.raises(ConfigError, match="FILE:ARG"):
        config.load_file(tmp_path / "missing.py:full")
