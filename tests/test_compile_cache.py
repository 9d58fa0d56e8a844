"""JAX's persistent compilation cache (scaling/launch/compile_cache.py): where it lives, the
directories it refuses before any compute, and a second process that compiles nothing."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from jax import monitoring

from scaling import checks, cli
from scaling.errors import ConfigError
from scaling.launch import compile_cache
from scaling.launch.compile_cache import default_dir

HOME = Path("/home/someone")


@pytest.mark.parametrize("environ, expected", [
    ({"SCALING_CACHE_DIR": "/scratch/jax", "XDG_CACHE_HOME": "/xdg"}, Path("/scratch/jax")),
    ({"XDG_CACHE_HOME": "/xdg"}, Path("/xdg/scaling/jax")),
    ({"SCALING_CACHE_DIR": "", "XDG_CACHE_HOME": ""}, HOME / ".cache/scaling/jax"),  # empty: unset
    ({}, HOME / ".cache/scaling/jax"),
])
def test_default_dir(environ, expected):
    assert default_dir(environ, HOME) == expected


def test_bad_cache_dir_refused_before_any_compute(tiny_config_file, tmp_path, monkeypatch):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for path in (a_file, a_file / "below"):
        with pytest.raises(ConfigError) as error:
            checks.resolve(tiny_config_file, {"launch.compile_cache_dir": str(path)})
        assert error.value.field == "launch.compile_cache_dir" and f"{a_file} is not a directory" in error.value.allowed
    with pytest.raises(ConfigError, match="launch.compile_cache_dir"):
        checks.resolve(tiny_config_file, {"launch.compile_cache_dir": "' '"})
    monkeypatch.setenv("SCALING_CACHE_DIR", str(a_file))  # the default (None), resolved here
    with pytest.raises(ConfigError, match="launch.compile_cache_dir = None"):
        checks.resolve(tiny_config_file)
    checks.resolve(tiny_config_file, {"launch.compile_cache": "False"})  # off: the directory is not used
    out = tmp_path / "out"
    assert cli.main(["run", str(tiny_config_file), "--out", str(out), "--compile-cache-dir", str(a_file / "x")]) == 2
    assert not out.exists()


# A sweep in a fresh process, printing the programs it compiled (a backend compile that was not
# a load from the persistent cache) and its cache hits.
SWEEP = """
import json, sys
from jax import monitoring
import scaling

events = []  # each program's name, after "hit" where it came from the persistent cache

def on_event(event, **_):
    if event == "/jax/compilation_cache/cache_hits":
        events.append("hit")

def on_duration(event, seconds, fun_name="", **_):
    if event == "/jax/core/compile/backend_compile_duration":
        events.append(fun_name)

monitoring.register_event_listener(on_event)
monitoring.register_event_duration_secs_listener(on_duration)
scaling.run(sys.argv[1], sys.argv[2], overrides=json.loads(sys.argv[3]))
compiled = [name for i, name in enumerate(events) if name != "hit" and (i == 0 or events[i - 1] != "hit")]
print(json.dumps({"hits": events.count("hit"), "compiled": compiled}))
"""
SMALL = {"sweep.model.width": "[8]", "sweep.model.gamma": "[1.0]", "train.steps": "4", "train.n_logs": "2",
         "measure.ntk": "False", "measure.features": "False", "log.report": "False"}


def _sweep(config_file, out: Path, overrides: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", SWEEP, str(config_file), str(out), json.dumps(SMALL | overrides)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "compilation cache" not in done.stderr  # no warnings from JAX's cache
    return json.loads(done.stdout.splitlines()[-1])


def test_second_process_compiles_nothing(tiny_config_file, tmp_path):
    cache = {"launch.compile_cache_dir": str(tmp_path / "cache")}
    first = _sweep(tiny_config_file, tmp_path / "first", cache)
    assert {"jit(init)", "jit(advance)"} <= set(first["compiled"]) and first["hits"] == 0
    second = _sweep(tiny_config_file, tmp_path / "second", cache)
    assert second["compiled"] == [] and second["hits"] == len(first["compiled"])


def test_off_writes_nothing_and_on_again_loads(tmp_path):
    """Within one process (a test session, a notebook): on, off, on again; JAX decides at a
    process's first compile whether its cache is used, so each change must reset it."""
    cache, unused = tmp_path / "cache", tmp_path / "unused"
    hits = []
    count = lambda event, **_: hits.append(event) if event == "/jax/compilation_cache/cache_hits" else None  # noqa: E731
    monitoring.register_event_listener(count)
    seen = []  # (hits, files in the cache) after each step
    try:
        for enabled, path in [(True, cache), (False, unused), (True, cache)]:
            compile_cache.enable({"launch.compile_cache": enabled, "launch.compile_cache_dir": str(path)})
            jax.jit(lambda x: jnp.sin(x) * 3.0)(jnp.ones(3)).block_until_ready()  # a new function: no in-memory hit
            seen.append((len(hits), len(list(cache.iterdir()))))
    finally:
        monitoring.unregister_event_listener(count)
        compile_cache.enable({"launch.compile_cache": True, "launch.compile_cache_dir": None})  # the session's
    (hits_on, files_on), (hits_off, files_off), (hits_again, files_again) = seen
    assert not unused.exists() and files_on == files_off == files_again > 0  # off: nothing written anywhere
    assert (hits_on, hits_off, hits_again) == (0, 0, 1)  # on again: loaded from the cache
