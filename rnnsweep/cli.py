"""The ``rnnsweep`` command line: ``run`` a sweep file into a store, ``analyze`` it, ``info`` on a store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .store import StoreError
from .sweep import SweepError


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_sweep
    from .sweep import load_sweep

    sweep = load_sweep(args.sweep)  # validated before anything is created
    if args.resume and args.overwrite:
        raise SweepError("--resume and --overwrite exclude each other")
    if args.block_size is not None and args.block_size < 1:
        raise SweepError(f"--block-size: must be >= 1, got {args.block_size}")
    path = args.store or Path("runs") / f"{sweep.name}.zarr"
    try:
        run_sweep(sweep, path, resume=args.resume, overwrite=args.overwrite, block_size=args.block_size,
                  progress=not args.quiet)
    except KeyboardInterrupt:
        return 130
    print(path)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from . import store

    names = [args.sweep] if args.sweep else store.sweep_names(args.store) if Path(args.store, "zarr.json").is_file() else []
    if not names:
        raise StoreError(f"{args.store}: not an rnnsweep store, or it holds no sweep")
    infos = [store.summary(store.open_group(args.store, name)) for name in names]
    if args.json:
        print(json.dumps(infos if len(infos) > 1 else infos[0], indent=2))
        return 0
    for info in infos:
        print(format_info(info))
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze

    cell = None
    if args.cell:
        try:
            cell = {k.strip(): float(v) for k, v in (item.split("=") for item in args.cell.split(","))}
        except ValueError:
            raise SweepError(f"--cell: expected axis=value pairs like seed=0,lr=0.1,delay_ms=100, got {args.cell!r}")
    for path in args.stores:
        if not Path(path, "zarr.json").is_file():
            raise StoreError(f"{path}: not an rnnsweep store (no zarr.json)")
    out = args.out or Path(args.stores[0]).with_suffix("").with_name(Path(args.stores[0]).stem + "_analysis")
    try:
        summary = analyze(args.stores, out, n_boot=args.n_boot, cell=cell, progress=not args.quiet)
    except ValueError as e:
        raise StoreError(str(e)) from None
    print(out / "report.md")
    return 0 if summary else 1


def _cmd_theory(args: argparse.Namespace) -> int:
    from .theory import write_report

    try:
        t_delays = [float(x) for x in args.t_delays.split(",")]
    except ValueError:
        raise SweepError(f"--t-delays: expected numbers separated by commas, got {args.t_delays!r}") from None
    if len(t_delays) < 3 or min(t_delays) <= 1:
        raise SweepError("--t-delays: give at least three delays, all > 1")
    overlay = []
    for path in args.overlay or []:
        if not path.is_file():
            raise StoreError(f"--overlay: {path}: no such file (give the summary.json of rnnsweep analyze)")
        overlay.append(json.loads(path.read_text()))
    cases = write_report(args.out, t_delays, overlay)
    for c in cases:
        print(f"{c.label:24s} beta = {c.law.beta:.4f} +- {c.law.beta_se:.1g} (theory {c.expected_beta:g}); "
              f"max |measured/closed form - 1| = {max(abs(c.measured / c.closed_form - 1)):.1e}")
    print(args.out / "theory.md")
    return 0


def format_info(info: dict) -> str:
    lines = [f"sweep {info['sweep']}: {info['description']}".rstrip(": ")]
    for axis, values in info["grid"].items():
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        lines.append(f"  {axis:12s} {len(values):5d} values  [{shown}]")
    s = info["status"]
    lines.append(f"  cells        {info['n_cells']:5d}  ({100 * info['progress']:.1f}% finished: "
                 + ", ".join(f"{k} {v}" for k, v in s.items()) + ")")
    lines.append(f"  epochs       up to {info['max_epochs']}")
    for key, value in info["provenance"].items():
        lines.append(f"  {key:16s} {value}")
    for run in info["runs"]:
        lines.append(f"  run {run['started']} -> {run['finished']}: {run['cells_trained']} cells, "
                     f"{run['wall_time_s']} s on {run['device']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnsweep", description="Train massive RNN ensembles as vmapped JAX sweeps.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train every cell of a sweep file into a Zarr store")
    run.add_argument("sweep", help="sweep file (TOML), e.g. sweeps/demo.toml")
    run.add_argument("--store", type=Path, help="Zarr store directory (default: runs/<sweep name>.zarr)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="finish an interrupted run into an existing store")
    mode.add_argument("--overwrite", action="store_true", help="replace the sweep's results in an existing store")
    run.add_argument("--block-size", type=int, help="cells per vmapped block (default: run.block_size, or from memory)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)

    ana = sub.add_parser("analyze", help="classify networks, fit scaling laws, draw figures, write a report")
    ana.add_argument("stores", nargs="+", type=Path,
                     help="store(s) of one study; several are joined along lr (e.g. the narrow and broad no-post sweeps)")
    ana.add_argument("--out", type=Path, help="output folder (default: <store>_analysis next to the first store)")
    ana.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples over seeds for the beta interval (0: none)")
    ana.add_argument("--cell", help="cell to draw, e.g. seed=0,lr=0.1,delay_ms=100 (default: first LC, else SP)")
    ana.add_argument("--quiet", action="store_true", help="no progress bars")
    ana.set_defaults(func=_cmd_analyze)

    theory = sub.add_parser("theory", help="critical learning rates of the toy models: measured vs closed form, "
                                           "exponents, theory phase diagram")
    theory.add_argument("--out", type=Path, default=Path("runs/theory"), help="output folder (default: runs/theory)")
    theory.add_argument("--t-delays", default="50,100,200,400", help="delays T to measure at (comma separated)")
    theory.add_argument("--overlay", type=Path, nargs="*", help="summary.json files of full-RNN analyses to overlay")
    theory.set_defaults(func=_cmd_theory)

    info = sub.add_parser("info", help="grid, progress, status counts and provenance of a store")
    info.add_argument("store", type=Path)
    info.add_argument("--sweep", help="the sweep's name, when the store holds several")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SweepError, StoreError) as e:
        print(f"rnnsweep: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
