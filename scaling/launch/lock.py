"""Claims on groups, so that workers sharing a sweep directory (SLURM array tasks, several
``scaling run`` processes, several hosts on a shared file system) never run a group twice.

A claim is ``DIR/locks/<name>.lock``, written whole under a temporary name and hard-linked
into place (``link`` fails if the name exists, atomically, NFS included), holding its owner's
host, pid and a random token.  Its mtime is the owner's heartbeat, renewed by a thread every
``stale_s / 10`` seconds.  A claim is *stale* when its owner is gone: a pid that no longer
exists on this host, or no heartbeat for ``stale_s`` seconds.  A stale claim is removed only
under ``<name>.lock.break`` (itself created exclusively), after reading it again, so of several
workers that find it stale one removes it and one of them claims the group.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path

LOCK_DIR = "locks"
BREAK_TIMEOUT_S = 60.0  # a `.break` file older than this was left by a worker that died breaking


@dataclasses.dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    token: str
    since: float  # time.time() at the claim

    def describe(self) -> str:
        return f"{self.host}:{self.pid}"


def lock_path(out: Path, name: str) -> Path:
    return Path(out) / LOCK_DIR / f"{name}.lock"


def read(path: Path) -> Owner | None:
    """The claim's owner, or None when there is no claim (or it vanished while read)."""
    try:
        return Owner(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _alive_here(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def is_stale(path: Path, owner: Owner, stale_s: float) -> bool:
    """The owner is gone: a dead pid on this host, or no heartbeat for ``stale_s`` seconds."""
    if owner.host == socket.gethostname() and not _alive_here(owner.pid):
        return True
    try:
        return time.time() - path.stat().st_mtime > stale_s
    except FileNotFoundError:
        return False


def live_owner(out: Path, name: str, stale_s: float) -> Owner | None:
    """Who holds a live claim on ``name`` (None: nobody, or only a stale claim)."""
    path = lock_path(out, name)
    owner = read(path)
    return None if owner is None or is_stale(path, owner, stale_s) else owner


def _break(path: Path, stale: Owner, stale_s: float) -> None:
    """Remove ``path`` if it still holds the stale claim of ``stale``; only one worker at a time."""
    breaker = path.with_name(path.name + ".break")
    try:
        fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            if time.time() - breaker.stat().st_mtime > BREAK_TIMEOUT_S:
                breaker.unlink()
        except FileNotFoundError:
            pass
        return
    try:
        current = read(path)
        if current is not None and current.token == stale.token and is_stale(path, current, stale_s):
            path.unlink()
    finally:
        os.close(fd)
        breaker.unlink(missing_ok=True)


class Claim:
    """A held claim: its heartbeat thread runs until ``release``; ``lost`` turns true if the
    claim file stopped being this claim's (broken by another worker after missed heartbeats)."""

    def __init__(self, path: Path, owner: Owner, stale_s: float):
        self.path, self.owner, self.lost = path, owner, False
        self._done = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, args=(stale_s / 10,), daemon=True,
                                      name=f"scaling-claim-{path.stem}")
        self._beat.start()

    def _heartbeat(self, every_s: float) -> None:
        while not self._done.wait(every_s):
            self.check()

    def check(self) -> bool:
        """Renew the heartbeat; False (and ``lost``) if the claim is no longer this one."""
        current = read(self.path)
        if current is None or current.token != self.owner.token:
            self.lost = True
            return False
        try:
            os.utime(self.path)
        except FileNotFoundError:
            self.lost = True
        return not self.lost

    def release(self) -> None:
        self._done.set()
        self._beat.join()
        current = read(self.path)
        if current is not None and current.token == self.owner.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(out: Path, name: str, stale_s: float) -> Claim | None:
    """Claim ``name`` for this process, breaking a stale claim; None if a live worker holds it."""
    path = lock_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = Owner(host=socket.gethostname(), pid=os.getpid(), token=secrets.token_hex(8), since=time.time())
    staged = path.with_name(f".{path.name}.{owner.token}")
    staged.write_text(json.dumps(dataclasses.asdict(owner)))
    try:
        for _ in range(3):  # tries again after a claim vanished or a stale one was broken
            try:
                os.link(staged, path)
                return Claim(path, owner, stale_s)
            except FileExistsError:
                holder = read(path)
                if holder is not None:
                    if not is_stale(path, holder, stale_s):
                        return None
                    _break(path, holder, stale_s)
        return None
    finally:
        staged.unlink(missing_ok=True)
