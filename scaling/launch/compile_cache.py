"""JAX's persistent compilation cache, on for every sweep (``launch.compile_cache``): a small
sweep is mostly compile time, and a rerun, a resumed group or another sweep of the same group
shapes loads its programs from disk instead of compiling them again.

The cache is process-wide JAX state: ``enable`` sets it from a config's values before anything
compiles, and resets JAX's cache object when the setting changes (JAX decides once per process,
at its first compile, whether the cache is used).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import jax
from jax.experimental.compilation_cache import compilation_cache

from scaling.config import SCHEMA
from scaling.errors import ConfigError

ENV_DIR = "SCALING_CACHE_DIR"
DIR_FIELD = "launch.compile_cache_dir"
# JAX writes an entry only if its compile took at least this long (default 1 s): our groups'
# programs often compile faster on CPU, and loading one is still cheaper than compiling it.
MIN_COMPILE_SECONDS = 0.0


def default_dir(environ: Mapping[str, str], home: Path) -> Path:
    """Where the cache lives when ``launch.compile_cache_dir`` is None: $SCALING_CACHE_DIR, else
    the XDG cache directory's scaling/jax, else ~/.cache/scaling/jax."""
    if environ.get(ENV_DIR):
        return Path(environ[ENV_DIR]).expanduser()
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]).expanduser() / "scaling" / "jax"
    return home / ".cache" / "scaling" / "jax"


def cache_dir(values: dict[str, Any]) -> Path:
    """The cache directory of a config's values, absolute (for the messages that name it)."""
    given = values[DIR_FIELD]
    return (Path(given).expanduser() if given is not None else default_dir(os.environ, Path.home())).absolute()


def unusable(path: Path) -> str | None:
    """Why ``path`` cannot serve as the cache directory (None: it can), without creating it: the
    nearest part of it that exists must be a directory this process may write into."""
    existing = next(p for p in (path, *path.parents) if os.path.exists(p))  # (False where a parent is unreadable)
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def check(values: dict[str, Any]) -> None:
    """Refuse a cache directory that cannot be created or written, before any compute."""
    if not values["launch.compile_cache"]:
        return
    path = cache_dir(values)
    if (reason := unusable(path)) is not None:
        raise ConfigError(DIR_FIELD, values[DIR_FIELD], f"{SCHEMA[DIR_FIELD].allowed()}, where a directory can be "
                          f"created and written ({path}: {reason}); or launch.compile_cache = False")


def enable(values: dict[str, Any]) -> Path | None:
    """Turn JAX's persistent compilation cache on in ``cache_dir(values)``, or off if
    ``launch.compile_cache`` is False; return the directory in use (None: off).

    A failed read or write of an entry only costs a compile (JAX then compiles as usual), so its
    warnings, one per program, are silenced."""
    check(values)
    path = cache_dir(values) if values["launch.compile_cache"] else None
    settings = {"jax_enable_compilation_cache": path is not None,
                "jax_persistent_cache_min_compile_time_secs": MIN_COMPILE_SECONDS}
    if path is not None:
        settings["jax_compilation_cache_dir"] = str(path)
    if any(getattr(jax.config, name) != value for name, value in settings.items()):
        for name, value in settings.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()
    warnings.filterwarnings("ignore", message="Error (reading|writing) persistent compilation cache entry")
    return path
