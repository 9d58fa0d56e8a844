"""The sweep directory: refusing one that holds another sweep, checking it can be written, and
telling a failure to write it from other errors.

``prepare`` records the sweep in ``sweep.json`` (store.py) before any group runs.  A directory
holding another sweep is refused with the fields that differ (config.changes), unless it is
the same sweep or one extended by new axis values, or ``--overwrite`` deletes that sweep's own
entries (never other files, never while a worker holds a claim on one of its groups).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from scaling import checkpoint, store
from scaling import config as config_lib
from scaling.errors import ConfigError
from scaling.launch import lock

SWEEP_ENTRIES = (store.SWEEP_FILE, "groups", checkpoint.CHECKPOINT_DIR, lock.LOCK_DIR, store.SLURM_DIR, "report", "wandb")
WRITE_TEST = ".scaling-write-test-"
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}  # the disk, wherever it is hit
DENIED_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT}  # output errors when the path is in DIR


def output_error(error: OSError, out: Path) -> bool:
    """Whether ``error`` is a failure to write the sweep directory (not, say, a missing dataset)."""
    inside = error.filename is not None and Path(str(error.filename)).resolve().is_relative_to(out.resolve())
    return error.errno in FULL_ERRNOS or (error.errno in DENIED_ERRNOS and inside)


def _own(path: Path) -> bool:
    """A file or directory a sweep makes in its directory."""
    return path.name in SWEEP_ENTRIES or path.name.startswith((WRITE_TEST, f".{store.SWEEP_FILE}."))


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=WRITE_TEST)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ConfigError("--out", str(out), f"a directory this process can write to ({error.strerror})")


def prepare(out: Path, resolved: config_lib.Resolved, overwrite: bool = False) -> None:
    """Check ``out`` can be written; refuse a directory holding another sweep (listing the fields
    that differ) unless ``overwrite``, which deletes that sweep's files; record this sweep, which
    may extend the one there by new values of its axes."""
    _check_writable(out)
    if (out / store.SWEEP_FILE).exists():
        if overwrite:
            _delete_sweep(out, resolved)
        elif differences := config_lib.changes(store.read_sweep(out), resolved):
            raise ConfigError(
                "--out", str(out), "a directory of this same sweep, or of one it extends by new axis values; "
                "the sweep there differs in:\n  " + "\n  ".join(differences)
                + "\nUse another --out, or --overwrite to delete its results")
    elif any(not _own(path) for path in out.iterdir()):  # (other workers may be starting the same sweep)
        raise ConfigError("--out", str(out), "a new or empty directory, or a sweep directory")
    store.write_sweep(out, resolved)


def _delete_sweep(out: Path, resolved: config_lib.Resolved) -> None:
    """--overwrite: delete the sweep's own files (never others), unless a worker is running it."""
    stale_s = resolved.values["checkpoint.stale_lock_s"]
    for claimed in sorted((out / lock.LOCK_DIR).glob("*.lock")):
        if owner := lock.live_owner(out, claimed.stem, stale_s):
            raise ConfigError("--overwrite", True, f"a sweep no worker is running ({owner.describe()} "
                              f"is running {claimed.stem} in {out})")
    for name in SWEEP_ENTRIES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
