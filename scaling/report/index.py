"""``scaling report DIR [--out]``: the sweep's figures as PNGs and an ``index.html`` showing them.

Drawn from the results on disk, so it works while the sweep runs (missing members are gaps).
A figure shows some swept axes (``Figure.shows``: γ, width, lr by default); it is drawn once per
value of every other swept axis (depth, P, ...), each page named in its title and file name, so
that no axis is silently held at one value.
"""

from __future__ import annotations

import html
import urllib.parse
from pathlib import Path

import xarray as xr

from scaling import claims, measure, store
from scaling.analysis import page_name, pages, value_label


def _draw(figure: measure.Figure, ds: xr.Dataset, where: dict, out: Path) -> str | None:
    """Draw ``figure`` at the selection ``where`` into ``out``; its file name, or None when not drawn."""
    fig = figure.draw(ds.sel(where) if where else ds)
    if fig is None:  # its measurement is off, or its axes are missing
        return None
    file = figure.file
    if where:
        name = page_name(where)
        fig.suptitle(f"{fig.get_suptitle()} · {name}" if fig.get_suptitle() else name)
        stem, suffix = file.rsplit(".", 1)
        file = f"{stem}-{','.join(f'{d}={value_label(v)}' for d, v in where.items())}.{suffix}"
    fig.savefig(out / file, dpi=110, bbox_inches="tight")
    return file


def _image(file: str, label: str = "") -> str:
    caption = f"<figcaption>{html.escape(label)}</figcaption>" if label else ""
    return f'<figure><img src="{urllib.parse.quote(file)}" alt="{html.escape(file)}">{caption}</figure>'


def write(sweep_dir: str | Path, out: str | Path | None = None) -> Path:
    """Draw the figures of the claims the config names (``scaling.claims``), then every figure of the
    measurements (``scaling.measure``) that the sweep's axes allow, into ``out`` (default
    DIR/report), a page per value of the axes it does not show, below the claims' verdicts (once every
    group is done); return index.html."""
    ds = store.load(sweep_dir)
    out = Path(out) if out is not None else Path(sweep_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    blocks = []
    figures = [figure for c in claims.named(ds) for figure in c.figures]  # a paper's own figures first
    for figure in figures + [figure for m in measure.REGISTRY.values() for figure in m.figures]:
        selections = pages(ds, figure.shows)
        drawn = [(file, page_name(where)) for where in selections if (file := _draw(figure, ds, where, out))]
        if not drawn:
            continue
        if len(selections) == 1 and not selections[0]:
            blocks.append(_image(drawn[0][0], figure.caption))
        else:
            images = "".join(_image(file, label) for file, label in drawn)
            blocks.append(f"<section><p>{html.escape(figure.caption)}</p><div class='pages'>{images}</div></section>")
    incomplete = ds.attrs.get("incomplete_groups", [])
    status = f"<p>{len(incomplete)} groups not finished: the figures show what is written so far.</p>" if incomplete else ""
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(str(sweep_dir))}</title>"
            "<style>body{font-family:sans-serif;max-width:1400px;margin:auto}img{max-width:100%}"
            "figure{margin:2em 0}.pages{display:flex;flex-wrap:wrap;gap:1em}.pages figure{flex:1 1 45%;margin:0}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:0.2em 0.6em}</style></head>"
            f"<body><h1>sweep {html.escape(str(sweep_dir))}</h1>{status}\n"
            f"{'' if incomplete else claims.html_table(claims.verdicts(ds))}\n"
            + "\n".join(blocks) + "\n</body></html>")
    index = out / "index.html"
    index.write_text(page)
    return index
