"""The claims' registry: ``register`` is all a paper's claims module calls; ``verdicts`` of a loaded
sweep, as a table (``scaling run``) and as HTML (the report's index page)."""

from __future__ import annotations

import dataclasses
import html
from typing import Callable

import numpy as np
import xarray as xr
from rich.table import Table

from scaling import config
from scaling.analysis import config_values, page_name, pages, seed_dims
from scaling.config import StringsField
from scaling.measure.registry import Figure


@dataclasses.dataclass(frozen=True)
class Verdict:
    claim: str  # what is claimed, with its paper's section
    measured: float  # what the sweep gives
    predicted: float | str  # the theory's value (or a statement: "> wide loss")
    tolerance: str  # how close counts as holding, e.g. "± 0.15" or "8 % relative"
    holds: bool | None  # None: not resolved at this size (too noisy, or the networks under-trained, to tell)


@dataclasses.dataclass(frozen=True)
class Claims:
    check: Callable[[xr.Dataset], list[Verdict]]  # (loaded sweep) -> its verdicts
    figures: tuple[Figure, ...] = ()  # the paper's key figures, drawn first in the report


REGISTRY: dict[str, Claims] = {}
config.declare({"log.claims": StringsField(choices=lambda: tuple(sorted(REGISTRY)))})


def register(name: str, check: Callable[[xr.Dataset], list[Verdict]], figures: tuple[Figure, ...] = ()) -> None:
    """A set of claims under ``log.claims = [name]``: ``check(ds)`` gives their verdicts; ``figures``
    (``measure.Figure``), a paper's own figures, go to the top of the report of a config naming it."""
    REGISTRY[name] = Claims(check, figures)


def named(ds: xr.Dataset) -> list[Claims]:
    """The claims the sweep's config names (``log.claims``)."""
    return [REGISTRY[name] for name in config_values(ds).get("log.claims", [])]


def verdicts(ds: xr.Dataset) -> list[Verdict]:
    """The verdicts of the claims the sweep's config names (``log.claims``)."""
    ds = ds.squeeze([d for d in ds.diverged.dims if ds.sizes[d] == 1])  # a swept axis of one value is no axis
    return [verdict for claims in named(ds) for verdict in claims.check(ds)]


def relative(measured: float, predicted: float) -> float:
    """|measured − predicted| / |predicted|."""
    return abs(measured - predicted) / abs(predicted)


def theory_agreement(ds: xr.Dataset, tolerance: float, first_step: int = 1, n_se: float = 2.0,
                     section: str = "") -> list[Verdict]:
    """Does the seed-mean test loss follow the config's theory curve (``theory_loss``)?  Per point of
    the swept non-seed axes: the largest relative deviation over the logged steps ≥ ``first_step``;
    holds when at every such step it is at most ``tolerance`` or within ``n_se`` standard errors of
    the seed mean (THEORY.md's "within 8 % (2.5 SE)")."""
    name = config_values(ds)["theory.name"]
    verdicts = []
    for where in pages(ds, ()):
        point = ds.sel(where).sel(step=slice(first_step, None))
        seeds = seed_dims(point.test_loss)
        mean, predicted = point.test_loss.mean(seeds), point.theory_loss.mean(seeds)
        error = point.test_loss.std(seeds) / np.sqrt(np.prod([point.sizes[d] for d in seeds])) if seeds else 0 * mean
        deviation = abs(mean - predicted)
        holds = bool(((deviation <= tolerance * predicted) | (deviation <= n_se * error)).all())
        label = f" ({page_name(where)})" if where else ""
        verdicts.append(Verdict(f"test loss on the theory '{name}' at every step ≥ {first_step}{label}{section}: "
                                "worst relative deviation", float((deviation / predicted).max()), 0.0,
                                f"{tolerance:.0%} or {n_se:g} SE", holds))
    return verdicts


def cells(verdict: Verdict) -> list[str]:
    """A verdict's row: claim, measured, predicted, tolerance, outcome (``COLUMNS``)."""
    number = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    outcome = {True: "holds", False: "does not hold", None: "not resolved"}[verdict.holds]
    return [verdict.claim, number(verdict.measured), number(verdict.predicted), verdict.tolerance, outcome]


def headline(rows: list[Verdict]) -> str:
    """"claims: 3 of 4 hold" (", 1 not resolved at this size" where some are not)."""
    unresolved = sum(v.holds is None for v in rows)
    return (f"claims: {sum(v.holds is True for v in rows)} of {len(rows)} hold"
            + (f", {unresolved} not resolved at this size" if unresolved else ""))


COLUMNS = ("claim", "measured", "predicted", "tolerance", "verdict")


def table(rows: list[Verdict]) -> Table:
    """The verdicts as the table ``scaling run`` prints."""
    out = Table(title=headline(rows))
    for column in COLUMNS:
        out.add_column(column, justify="left" if column == "claim" else "right")
    for verdict in rows:
        out.add_row(*cells(verdict), style={True: None, False: "red", None: "yellow"}[verdict.holds])
    return out


def html_table(rows: list[Verdict]) -> str:
    """The verdicts as an HTML table for the report's index page ("" without claims)."""
    if not rows:
        return ""
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells(v)) + "</tr>" for v in rows)
    return (f"<h2>{html.escape(headline(rows))}</h2>"
            f"<table><tr>{head}</tr>{body}</table>")
