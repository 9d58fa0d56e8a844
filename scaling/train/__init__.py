"""The train loop of a group (``loop`` says how a group runs).

- ``program``: what a group compiles and one member's pure functions (init, forward, step);
- ``loop``: the ``Trainer``: the compiled programs and the resumable chunk loop with its host stops;
- ``group``: building a group's trainer, chunking its members and assembling their results.
"""

from __future__ import annotations

from scaling.train.group import (MAX_CHUNK, build, chunk_size, member_arrays, member_bytes, member_fields, result_coords,
                                 result_dims, run, with_effective_lr)
from scaling.train.loop import Snapshot, Trainer, jit, over_members
from scaling.train.program import Program

__all__ = ["MAX_CHUNK", "Program", "Snapshot", "Trainer", "build", "chunk_size", "jit", "member_arrays", "member_bytes",
           "member_fields", "over_members", "result_coords", "result_dims", "run", "with_effective_lr"]
