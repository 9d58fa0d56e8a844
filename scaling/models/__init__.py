"""Architectures: each is one file of this package that calls ``registry.register``.

Every module here is imported with the package, so adding an architecture is adding a
file; one defined elsewhere (a config file, a test) registers itself the same way.
"""

from __future__ import annotations

import importlib
import pkgutil

from scaling.models.registry import REGISTRY, ModelSpec, n_layers, register

__all__ = ["REGISTRY", "ModelSpec", "n_layers", "register"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
