"""Sweep expansion: axes -> groups (static points) x members (vmapped points).

A *group* is one point of the static axes and compiles to one program; its *members*
are the points of the vmapped axes and train together under ``vmap``.  Member ids and
PRNG keys are derived from the members' values, never from their positions (keys.py), so a
member's numbers do not depend on which other members share its program.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from typing import Any

import numpy as np

from scaling.config import SCHEMA, Resolved, leaf


@dataclasses.dataclass(frozen=True)
class Group:
    id: str
    values: dict[str, Any]  # every field, static point applied, vmapped fields at their base
    point: dict[str, Any]  # the static swept fields of this group
    members: list[dict[str, Any]]  # the vmapped fields of each member


def is_static_axis(fields: tuple[str, ...]) -> bool:
    return any(not SCHEMA[f].vmapped for f in fields)


def coord_names(resolved: Resolved) -> dict[str, str]:
    """Swept field path -> coordinate name: its leaf name, or the full path where leaves collide."""
    paths = [f for fields, _ in resolved.axes for f in fields]
    leaves = [leaf(p) for p in paths]
    return {p: leaf(p) if leaves.count(leaf(p)) == 1 else p.replace(".", "_") for p in paths}


def _slug(point: dict[str, Any], names: dict[str, str]) -> str:
    if not point:
        return "all"
    text = ",".join(f"{names[p]}={v}" for p, v in point.items())
    if len(text) > 96 or any(c in text for c in "/\\ :"):
        return "g" + hashlib.sha1(text.encode()).hexdigest()[:12]
    return text


def _product(axes) -> list[dict[str, Any]]:
    points = [[]] if not axes else itertools.product(*(pts for _, pts in axes))
    return [
        {f: v for (fields, _), values in zip(axes, combo) for f, v in zip(fields, values)}
        for combo in points
    ]


def groups(resolved: Resolved) -> list[Group]:
    names = coord_names(resolved)
    static = [a for a in resolved.axes if is_static_axis(a[0])]
    vmapped = [a for a in resolved.axes if not is_static_axis(a[0])]
    vmapped_fields = [p for p, f in SCHEMA.items() if f.vmapped]
    out = []
    for point in _product(static):
        values = {**resolved.values, **point}
        members = [{p: values[p] for p in vmapped_fields} | m for m in _product(vmapped)]
        static_point = {p: v for p, v in point.items() if not SCHEMA[p].vmapped}
        out.append(Group(id=_slug(point, names), values=values, point=static_point, members=members))
    return out


def stack(members: list[dict[str, Any]], dtype) -> dict[str, np.ndarray]:
    """Member values as arrays: one entry per vmapped field, leading axis = members."""
    out = {}
    for path in members[0]:
        column = [m[path] for m in members]
        out[path] = np.asarray(column, dtype=np.int32 if path in SCHEMA and SCHEMA[path].type is int else dtype)
    return out

