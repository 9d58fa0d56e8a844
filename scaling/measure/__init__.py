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

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
