"""``scaling run | coordcheck CONFIG [--out DIR] [--config.FIELD=VALUE ...]``; ``scaling status | report DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scaling.config import SCHEMA, leaf
from scaling.errors import ConfigError

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


# ``scaling run`` flags for the launch.* fields: --devices, --shard, --partition, --time-min, ...
LAUNCH_FLAGS = {path: "--" + path.removeprefix("launch.").removeprefix("slurm.").replace("_", "-")
                for path in SCHEMA if path.startswith("launch.")}


def _cmd_run(args, extra) -> int:
    from scaling import checks
    from scaling.errors import OutputError, Stopped
    from scaling.launch import devices, runner

    flags = {path: getattr(args, path) for path in LAUNCH_FLAGS if getattr(args, path) is not None}
    resolved = checks.resolve(args.config, _overrides(extra) | flags)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    if args.launcher == "slurm":
        return _submit(resolved, out, args)
    devices.initialize(args.coordinator, args.num_processes, args.process_id)
    try:
        runner.run(resolved, out, progress=False if args.no_progress else None, overwrite=args.overwrite)
    except Stopped as stop:
        print(f"scaling: {stop}; run the same command again to continue", file=sys.stderr)
        return 128 + stop.signum
    except OutputError as error:
        print(f"scaling: error: {error}", file=sys.stderr)
        return 1
    if devices.primary():
        _print_results(resolved, out)
    return 0


def _submit(resolved, out: Path, args) -> int:
    """``--launcher slurm``: one array task per group (or chunk of groups); ``--wait`` for them."""
    from scaling import store
    from scaling.launch import slurm

    tasks = slurm.submit(resolved, out, args.overwrite)
    if not tasks:
        print(f"scaling: every group of {out} is done; nothing submitted")
        _print_results(resolved, out)
        return 0
    n_groups = sum(len(task["groups"]) for task in tasks)
    print(f"submitted job array {tasks[0]['job'].split('_')[0]}: {len(tasks)} tasks for {n_groups} groups; "
          f"logs in {out / store.SLURM_DIR}; `scaling status {out}` shows where they stand", flush=True)
    if not args.wait:
        return 0
    slurm.wait(tasks)
    if incomplete := _print_results(resolved, out):
        print(f"scaling: error: the tasks ended with {len(incomplete)} groups not done; their logs are in "
              f"{out / store.SLURM_DIR}", file=sys.stderr)
        return 1
    return 0


def _print_results(resolved, out: Path) -> list[str]:
    """The η* table, the verdicts of the config's claims, where the results are and the report;
    returns the groups not done."""
    from rich.console import Console

    from scaling import analysis, claims, store

    ds = store.load(out)
    console = Console()
    console.print(analysis.best_lr_table(ds))
    incomplete = ds.attrs["incomplete_groups"]
    if not incomplete and (verdicts := claims.verdicts(ds)):
        console.print(claims.table(verdicts))
    console.print(f"results: {out}   (in Python: scaling.load({str(out)!r}))", soft_wrap=True)  # paths stay whole
    if resolved.values["log.report"] and not incomplete:
        console.print(f"report:  {out / 'report' / 'index.html'}   (scaling report {out} draws it again)", soft_wrap=True)
    return incomplete


DEFAULT_COORD_WIDTHS = [64, 128, 256, 512, 1024]


def _sizes(text: str, flag: str, at_least: int, example: str) -> list[int]:
    """``--widths`` / ``--depths``: ``at_least`` or more comma-separated integers >= 1, sorted."""
    try:
        sizes = sorted({int(size) for size in text.split(",")})
    except ValueError:
        sizes = []
    if len(sizes) < at_least or sizes[0] < 1:
        count = "two or more" if at_least > 1 else "one or more"
        raise ConfigError(flag, text, f"{count} comma-separated integers >= 1, e.g. {example}")
    return sizes


def _swept(resolved, field: str) -> list[int]:
    """The values the sweep gives ``field`` when it sweeps two or more, else []."""
    for fields, points in resolved.axes:
        if field in fields and len(points) > 1:
            return sorted({p[fields.index(field)] for p in points})
    return []


def _widths(text: str | None, resolved) -> list[int]:
    """``--widths 64,256,1024``; else the sweep's widths when it sweeps two or more; else the default."""
    if text is not None:
        return _sizes(text, "--widths", 2, "64,256,1024")
    return _swept(resolved, "model.width") or DEFAULT_COORD_WIDTHS


def _depths(text: str | None, resolved) -> list[int]:
    """``--depths 2,4,8,16``; else the sweep's depths when it sweeps ``model.depth``; else the config's."""
    if text is not None:
        return _sizes(text, "--depths", 1, "2,4,8,16")
    return _swept(resolved, "model.depth") or [resolved.values["model.depth"]]


def _coord_table(check, title: str):
    """The update RMS (feature RMS) at the last step: a row per feature and depth with its
    widest / narrowest ratio, and with several depths a row per feature of the deepest /
    shallowest ratio at each width."""
    from rich.table import Table

    from scaling.coordcheck import depth_ratio, width_ratio

    last = check.isel(step=-1)
    widths, depths = [int(w) for w in check.width.values], [int(d) for d in check.depth.values]
    by_width, by_depth = width_ratio(last.update_rms), depth_ratio(last.update_rms)
    table = Table(title=title)
    table.add_column("feature")
    table.add_column("depth", justify="right")
    for width in widths:
        table.add_column(f"width {width}", justify="right")
    table.add_column("widest / narrowest", justify="right")
    for feature in check.feature.values:
        for row, depth in enumerate(depths):
            at = last.sel(depth=depth, feature=feature)
            cells = [f"{at.update_rms.sel(width=w):.3g} ({at.feature_rms.sel(width=w):.3g})" for w in widths]
            table.add_row(str(feature) if row == 0 else "", str(depth), *cells,
                          f"{float(by_width.sel(depth=depth, feature=feature)):.2f}")
        if len(depths) > 1:
            table.add_row("", f"{depths[-1]} / {depths[0]}",
                          *[f"{float(by_depth.sel(width=w, feature=feature)):.2f}" for w in widths], "")
            table.add_section()
    return table


def _cmd_coordcheck(args, extra) -> int:
    from rich.console import Console

    from scaling import checks
    from scaling.coordcheck import coord_check
    from scaling.report import coord

    if args.steps < 1:
        raise ConfigError("--steps", args.steps, "an integer >= 1")
    resolved = checks.resolve(args.config, _overrides(extra))
    widths, depths = _widths(args.widths, resolved), _depths(args.depths, resolved)
    base = resolved.values
    for width in widths:  # every width and depth must make a valid group, before any compute
        for depth in depths:
            checks.check_group({**base, "model.width": width, "model.depth": depth})
    out = Path(args.out or Path("runs") / f"{Path(args.config).stem}_coordcheck")
    check = coord_check(base, widths, args.steps, depths)
    fixed = f"{base['model.arch']}, {base['model.param']}, {base['optim.name']} lr={base['optim.lr']:g}, gamma={base['model.gamma']:g}"
    if "model.residual_alpha" in base:
        fixed += f", alpha={base['model.residual_alpha']:g}"
    console = Console()
    console.print(_coord_table(check, f"coord check at step {args.steps} ({fixed}): RMS of h_t - h_0 (feature RMS)"))
    paths = [coord.plot(check, out / "coordcheck.png", f"coord check: {fixed}")]
    if len(depths) > 1:
        paths.append(coord.plot(check, out / "coordcheck_depth.png", f"coord check: {fixed}", along="depth"))
    check.to_netcdf(out / "coordcheck.nc")
    console.print(f"figures: {'  '.join(map(str, paths))}   data: {out / 'coordcheck.nc'} (xarray.open_dataset)", soft_wrap=True)
    return 0


def _cmd_status(args, extra) -> int:
    from rich.console import Console

    from scaling.launch import status

    if extra:
        raise ConfigError("argument", extra[0], "scaling status DIR (no other arguments)")
    statuses = status.group_statuses(args.dir)
    console = Console()
    console.print(status.table(statuses, f"sweep {args.dir}"))
    console.print(status.totals(statuses), soft_wrap=True)  # one line, whatever the terminal width
    return 0


def _cmd_report(args, extra) -> int:
    from scaling.report import index

    if extra:
        raise ConfigError("argument", extra[0], "scaling report DIR [--out OUT] (no other arguments)")
    if not (Path(args.dir) / "sweep.json").is_file():
        raise ConfigError("DIR", args.dir, "a sweep directory (one holding sweep.json)")
    print(f"report: {index.write(args.dir, args.out)}")
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
    run.add_argument("--overwrite", action="store_true",
                     help="delete the results of another sweep in --out instead of refusing it")
    run.add_argument("--launcher", choices=("local", "slurm"), default="local",
                     help="local: here, on this machine's devices; slurm: one array task per group (submitit)")
    run.add_argument("--wait", action="store_true", help="with --launcher slurm: wait for every task to end")
    launch = run.add_argument_group("launch (the launch.* config fields)")
    for path, flag in LAUNCH_FLAGS.items():
        launch.add_argument(flag, dest=path, metavar=leaf(path).upper(), help=SCHEMA[path].allowed())
    hosts = run.add_argument_group("several hosts (jax.distributed; in a SLURM step of several tasks, read from its variables)")
    hosts.add_argument("--coordinator", help="HOST:PORT of process 0")
    hosts.add_argument("--num-processes", type=int, help="processes in all, one per host")
    hosts.add_argument("--process-id", type=int, help="this process's index, 0 .. num-processes - 1")
    check = commands.add_parser(
        "coordcheck", help="per-layer feature and update RMS against width and depth over the first steps (table and PNGs)",
        epilog=f"overrides: {USAGE_OVERRIDE}",
    )
    check.add_argument("config", help="a Python file defining get_config()")
    check.add_argument("--widths", help="comma-separated widths (default: the sweep's, else 64..1024)")
    check.add_argument("--depths", help="comma-separated depths, model.depth (default: the sweep's, else the config's)")
    check.add_argument("--steps", type=int, default=3, help="optimizer steps (default 3)")
    check.add_argument("--out", help="directory of the figure and data (default: runs/<config name>_coordcheck)")
    state = commands.add_parser("status", help="groups done / running / pending, divergences, time left")
    state.add_argument("dir", help="a sweep directory")
    report = commands.add_parser("report", help="the sweep's figures (PNG) and an index.html showing them")
    report.add_argument("dir", help="a sweep directory")
    report.add_argument("--out", help="directory of the report (default: DIR/report)")
    args, extra = parser.parse_known_args(argv)
    commands_by_name = {"run": _cmd_run, "coordcheck": _cmd_coordcheck, "status": _cmd_status, "report": _cmd_report}
    try:
        return commands_by_name[args.command](args, extra)
    except ConfigError as error:
        print(f"scaling: config error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
