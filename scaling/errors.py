"""The errors a run reports to its user, each in one line: a leaf module, imported by every layer."""

from __future__ import annotations

import signal
from typing import Any


class ConfigError(ValueError):
    """A bad config, flag or file: names the field, the value and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field} = {value!r} is not allowed: {allowed}")


class OutputError(Exception):
    """The sweep directory cannot be written (full, read-only, gone); what was written before is intact."""


class Stopped(Exception):
    """The run stopped on a signal, after saving the group in training."""

    def __init__(self, signum: int, where: str):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}{where}")


class ClaimLost(Exception):
    """Another worker broke this worker's claim on a group (missed heartbeats); the group is left to it."""

    def __init__(self, group_id: str):
        super().__init__(f"the claim on group {group_id} was taken over by another worker")
