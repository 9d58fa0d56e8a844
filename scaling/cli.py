"""``scaling run CONFIG [--out DIR] [--config.FIELD=VALUE ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scaling.config import ConfigError

USAGE_OVERRIDE = "--config.SECTION.FIELD=VALUE (or --config.sweep.SECTION.FIELD=[v1,v2])"


def _overrides(extra: list[str]) -> dict[str, str]:
    """Parse ``--config.a.b=v`` / ``--config.a.b v`` pairs."""
    out, items = {}, list(extra)
    while items:
        item = items.pop(0)
        if not item.startswith("--config."):
            raise ConfigError("argument", item, USAGE_OVERRIDE)
        key, eq, value = item[len("--config."):].partition("=")
        if not eq:
            if not items:
                raise ConfigError("argument", item, USAGE_OVERRIDE)
            value = items.pop(0)
        out[key] = value
    return out


def _cmd_run(args, extra) -> int:
    from scaling import runner, store, summary

    from rich.console import Console

    resolved = runner.resolve(args.config, _overrides(extra))
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    runner.run(resolved, out, progress=False if args.no_progress else None)
    console = Console()
    console.print(summary.best_lr_table(store.load(out)))
    console.print(f"results: {out}   (in Python: scaling.load({str(out)!r}))")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scaling", description="Width x gamma x learning-rate sweeps in JAX.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run a sweep (groups already finished are skipped)", epilog=f"overrides: {USAGE_OVERRIDE}"
    )
    run.add_argument("config", help="a Python file defining get_config()")
    run.add_argument("--out", help="sweep directory (default: runs/<config name>)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    args, extra = parser.parse_known_args(argv)
    try:
        return {"run": _cmd_run}[args.command](args, extra)
    except ConfigError as error:
        print(f"scaling: config error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
