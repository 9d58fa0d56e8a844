"""Measurements taken during training, each one module of this package that registers itself
(``registry.register``): losses, probe predictions, the NTK, feature-learning signals.

Every module here is imported with the package, so adding a measurement is adding a file;
``spectrum`` and ``ensemble`` hold what is computed from their results (kernel spectra and
alignment; ensembles over seeds and the distance between widths).
"""

from __future__ import annotations

import importlib
import pkgutil

from scaling.measure.registry import REGISTRY, Figure, Measurement, active, register, step_coords

__all__ = ["REGISTRY", "Figure", "Measurement", "active", "register", "step_coords"]

for _name in sorted((m.name for m in pkgutil.iter_modules(__path__)), key=lambda name: name != "loss"):
    importlib.import_module(f"{__name__}.{_name}")  # the losses first: their figures open the report
