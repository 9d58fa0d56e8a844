"""Claims of papers, checked on a sweep's results: each is a registered function of the loaded
results (``scaling.load``) giving ``Verdict`` rows — the claim, what the sweep measured, what the
theory predicts, the tolerance (THEORY.md's) and whether it holds.

A config names the claims it checks in ``log.claims``; ``scaling run`` prints their verdict table
after the η* table and ``scaling report`` writes it at the top of the index page.  Each module of
this package registers one paper's claims (``configs/papers/`` runs them); a claim defined
elsewhere registers itself the same way.
"""

from __future__ import annotations

import importlib
import pkgutil

from scaling.claims.registry import REGISTRY, Verdict, html_table, named, register, table, verdicts

__all__ = ["REGISTRY", "Verdict", "html_table", "named", "register", "table", "verdicts"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
