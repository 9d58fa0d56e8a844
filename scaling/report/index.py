"""``scaling report DIR [--out]``: the sweep's figures as PNGs and an ``index.html`` showing them.

Drawn from the results on disk, so it works while the sweep runs (missing members are gaps).
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt

from scaling import store
from scaling.report import losses, training

FIGURES = [
    ("loss_curves.png", losses.loss_curves, "Test loss against step, a line per width at its best learning rate, a panel per γ."),
    ("gamma_lr.png", losses.gamma_lr_map, "Final test loss over γ and the learning rate at the largest width; "
     "η*(γ) marked, its log-slopes fitted below and above γ = 1, with γ² and γ^(2/L) for reference."),
    ("loss_vs_lr.png", losses.loss_vs_lr, "Final test loss against the learning rate, a line per width "
     "(μTransfer: under μP the optimum stays put as width grows)."),
    ("loss_vs_width.png", losses.loss_vs_width, "Final test loss against width at fixed γ and η."),
    ("ntk_spectra.png", training.ntk_spectra, "NTK eigenvalue spectra over training at the largest width."),
    ("alignment.png", training.alignment, "NTK-target alignment over training, a line per width."),
    ("ensemble_vs_width.png", training.ensemble_vs_width, "Variance over seeds and squared bias of the final "
     "probe predictions against width (THEORY.md §6), with a 1/N guide."),
]


def write(sweep_dir: str | Path, out: str | Path | None = None) -> Path:
    """Draw every figure the sweep's axes allow into ``out`` (default DIR/report); return index.html."""
    ds = store.load(sweep_dir)
    out = Path(out) if out is not None else Path(sweep_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    drawn = []
    for name, draw, caption in FIGURES:
        fig = draw(ds)
        if fig is None:
            continue
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        drawn.append((name, caption))
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
