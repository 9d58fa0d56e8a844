"""Parameter trees as flat dicts keyed by their '/'-joined paths ('layer0/w'), the names that
results, per-layer learning rates and leaf kernels share."""

from __future__ import annotations

from typing import Any

from flax import traverse_util

SEP = "/"


def flatten(tree) -> dict[str, Any]:
    """A nested dict of arrays by '/'-joined path, in the tree's order."""
    return traverse_util.flatten_dict(tree, sep=SEP)


def unflatten(flat: dict[str, Any]) -> dict:
    """The nested dict of a ``flatten``-ed one."""
    return traverse_util.unflatten_dict(flat, sep=SEP)
