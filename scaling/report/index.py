"""``scaling report DIR [--out]``: the sweep's figures as PNGs and an ``index.html`` showing them.

Drawn from the results on disk, so it works while the sweep runs (missing members are gaps).
"""

from __future__ import annotations

import html
from pathlib import Path

from scaling import measure, store


def write(sweep_dir: str | Path, out: str | Path | None = None) -> Path:
    """Draw every figure of the measurements (``scaling.measure``) that the sweep's axes allow into
    ``out`` (default DIR/report); return index.html."""
    ds = store.load(sweep_dir)
    out = Path(out) if out is not None else Path(sweep_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    drawn = []
    for figure in (figure for m in measure.REGISTRY.values() for figure in m.figures):
        fig = figure.draw(ds)
        if fig is None:  # its measurement is off, or its axes are missing
            continue
        fig.savefig(out / figure.file, dpi=110, bbox_inches="tight")
        drawn.append((figure.file, figure.caption))
    incomplete = ds.attrs.get("incomplete_groups", [])
    status = f"<p>{len(incomplete)} groups not finished: the figures show what is written so far.</p>" if incomplete else ""
    body = "\n".join(f'<figure><img src="{name}" alt="{name}"><figcaption>{html.escape(caption)}</figcaption></figure>'
                     for name, caption in drawn)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(str(sweep_dir))}</title>"
            "<style>body{font-family:sans-serif;max-width:1400px;margin:auto}img{max-width:100%}"
            "figure{margin:2em 0}</style></head>"
            f"<body><h1>sweep {html.escape(str(sweep_dir))}</h1>{status}\n{body}\n</body></html>")
    index = out / "index.html"
    index.write_text(page)
    return index
