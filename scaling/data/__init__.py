"""Tasks: synthetic tasks generated on the device and real datasets, each registered by the
module that defines it (``tasks.register``, ``tasks.register_stream``).

Every module here is imported with the package, so adding a task is adding a file (or
registering it from a config file or a test).  ``tasks`` holds the registry and the
``Stream`` a group's train loop reads its data from.
"""

from __future__ import annotations

import importlib
import pkgutil

from scaling.data.tasks import (KINDS, REGISTRY, Stream, SyntheticStream, Task, TaskSpec, class_targets, member_streams,
                                register, register_stream, stream, task_kind, with_derived, with_noise)

__all__ = ["KINDS", "REGISTRY", "Stream", "SyntheticStream", "Task", "TaskSpec", "class_targets", "member_streams",
           "register", "register_stream", "stream", "task_kind", "with_derived", "with_noise"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
