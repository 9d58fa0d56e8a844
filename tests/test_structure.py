"""The package's shape: no import cycles, no process-wide state changed by importing it, and the
README's field table is the schema's."""

import ast
import subprocess
import sys
from pathlib import Path

from scaling import config

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scaling"


def _modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports, anywhere in it (function-level imports
    included).  ``from a import b`` imports ``a.b`` when that is a module, else ``a``; a
    package that imports its modules by discovery (``pkgutil.iter_modules``) imports each."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        source = path.read_text()
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                edges |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        if path.name == "__init__.py" and "pkgutil.iter_modules(__path__)" in source:
            edges |= {m for m in modules if m.rsplit(".", 1)[0] == name and m != name}
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    graph = import_graph()
    assert "scaling.config" in graph["scaling.checks"]  # a module-level import
    assert "scaling.launch.status" in graph["scaling.cli"]  # a function-level import
    assert "scaling.measure.ntk" in graph["scaling.measure"]  # discovery


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_config_depends_only_on_leaf_modules():
    graph = import_graph()
    assert graph["scaling.config"] <= {"scaling.errors"}
    assert graph["scaling.errors"] == set() and graph["scaling.keys"] == set()


def third_party_imports() -> list[str]:
    """Every module outside the package that it imports, anywhere."""
    names = set()
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names.add(node.module)
    return sorted(n for n in names if n.split(".")[0] != "scaling")


IMPORT_EVERYTHING = """
import importlib, logging, pkgutil, signal, sys, warnings
for name in sys.argv[1:]:  # what the package imports, first: their own import-time state is theirs
    try:
        importlib.import_module(name)
    except ImportError:  # an optional one (tensorflow)
        pass
import jax, matplotlib

def state():
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in sorted(logging.root.manager.loggerDict)]
    return {
        "unraisablehook": sys.unraisablehook, "excepthook": sys.excepthook,
        "signals": {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)},
        "loggers": {l.name: (list(l.filters), list(l.handlers), l.level) for l in loggers},
        "warnings": list(warnings.filters), "matplotlib_backend": matplotlib.rcParams._get_backend_or_none(),
        "x64": jax.config.jax_enable_x64,
    }

before = state()
import scaling
for module in pkgutil.walk_packages(scaling.__path__, "scaling."):
    importlib.import_module(module.name)
after = state()
after["loggers"] = {name: logger for name, logger in after["loggers"].items() if name in before["loggers"]}
changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
print("CHANGED", changed if changed else "")
"""


def test_importing_scaling_changes_no_process_wide_state():
    """Logging filters, handlers and levels, the unraisable and exception hooks, signal handlers,
    warning filters, matplotlib's backend and jax's x64 flag are as they were before importing
    every module of the package (the modules it imports imported first)."""
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING, *third_party_imports()], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "CHANGED", done.stdout[-3000:]


def test_readme_field_table_is_the_schema():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- fields: scaling.config.fields_table() -->\n")
    table = readme[start:readme.index("<!-- /fields -->")].split("\n", 1)[1].strip()
    assert table == config.fields_table()
    for path in config.SCHEMA:  # every field, core or registered, is in it
        assert f"`{path.split('.', 1)[1]}`" in table
