"""Stopping cleanly on SIGTERM / SIGINT / SIGUSR2: the group in training saves at its next host
stop (checkpoint.py) and the run stops with ``errors.Stopped``."""

from __future__ import annotations

import signal
import threading

from scaling.errors import Stopped


class Signals:
    """While entered (in the main thread): SIGTERM, SIGINT and SIGUSR2 (SLURM's warning before a
    time limit or preemption, as submitit asks for it) set ``received``, which training checks at
    its next host stop; a second SIGINT interrupts at once.  On exit the previous handlers are back."""

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def check(self, where: str = "") -> None:
        """Raise ``Stopped`` if a signal came."""
        if self.received is not None:
            raise Stopped(self.received, where)

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
