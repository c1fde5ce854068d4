"""The ``rnnsweep`` command line: run, init, submit, check, analyze, inspect, theory, plan, bench, info, list."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from . import compile_cache
from .limits import LimitError
from .registry import PluginError, load_plugins
from .store import StoreError
from .sweep import SweepError


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_sweep
    from .schedule import part_from_env
    from .sweep import load_sweep

    sweep = load_sweep(args.sweep)  # validated before anything is created
    if args.resume and args.overwrite:
        raise SweepError("--resume and --overwrite exclude each other")
    if args.block_size is not None and args.block_size < 1:
        raise SweepError(f"--block-size: must be >= 1, got {args.block_size}")
    path = args.store or Path("runs") / f"{sweep.name}.zarr"
    part = _parse_part(args.part) if args.part else part_from_env()
    received = []

    def stop(signum, frame):
        # SIGTERM (what Slurm sends before the kill) and Ctrl-C: checkpoint the block in flight at the
        # next chunk boundary, then stop; a second signal stops at once
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt
        print(f"\nrnnsweep: {signal.Signals(signum).name}: stopping at the next chunk boundary "
              "(the block in flight is checkpointed); send it again to stop now", file=sys.stderr)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        run_sweep(sweep, path, resume=args.resume, overwrite=args.overwrite, block_size=args.block_size,
                  progress=not args.quiet, part=part, allow_large=args.allow_large,
                  stop_requested=lambda: bool(received))
    except KeyboardInterrupt:
        return 128 + (received[0] if received else signal.SIGINT)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(path)
    return 0


def _parse_part(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise SweepError(f"--part: expected i/n like 0/4, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise SweepError(f"--part: need 0 <= i < n, got {text!r}")
    return i, n


def _cmd_init(args: argparse.Namespace) -> int:
    from .runner import create_store
    from .sweep import load_sweep

    sweep = load_sweep(args.sweep)
    create_store(args.store, sweep, overwrite=args.overwrite, allow_large=args.allow_large)
    print(f"rnnsweep: created {args.store} for sweep {sweep.name!r} ({sweep.n_cells} cells, all pending)",
          file=sys.stderr)
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    from .cluster import submit
    from .sweep import load_sweep

    sweep = load_sweep(args.sweep)
    if args.parts < 1:
        raise SweepError(f"--parts: must be >= 1, got {args.parts}")
    path = args.store or Path("runs") / f"{sweep.name}.zarr"
    slurm = {}
    for item in args.slurm or []:
        key, _, value = item.partition("=")
        if not value:
            raise SweepError(f"--slurm: expected key=value, got {item!r}")
        slurm[key] = int(value) if value.isdigit() else value
    try:
        submit(args.sweep, path, args.parts, args.logs, cluster="local" if args.local else None, wait=args.wait,
               slurm=slurm, plugins=tuple(_plugins(args)), allow_large=args.allow_large)
    except RuntimeError as e:
        raise StoreError(str(e)) from None
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from . import store

    names = [args.sweep] if args.sweep else store.sweep_names(args.store) if Path(args.store, "zarr.json").is_file() else []
    if not names:
        raise StoreError(f"{args.store}: not an rnnsweep store, or it holds no sweep")
    from .cluster import parts_progress

    infos = [dict(store.summary(store.open_group(args.store, name)), parts=parts_progress(args.store, name))
             for name in names]
    if args.json:
        print(json.dumps(infos if len(infos) > 1 else infos[0], indent=2))
        return 0
    for info in infos:
        print(format_info(info))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from . import store
    from .integrity import check_sweep, repair

    if not Path(args.store, "zarr.json").is_file():
        raise StoreError(f"{args.store}: not an rnnsweep store (no zarr.json)")
    names = [args.sweep] if args.sweep else store.sweep_names(args.store)
    damaged = 0
    reports = []
    for name in names:
        report = check_sweep(args.store, name)
        reports.append(report)
        if not args.json:
            print(report.describe())
        damaged += report.n_damaged
        if report.damages and args.repair:
            n = repair(report)
            print(f"rnnsweep: {n} cells of the damaged units of {name!r} returned to pending; retrain them with "
                  f"'rnnsweep run SWEEP.toml --store {args.store} --resume'", file=sys.stderr)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports] if len(reports) > 1 else reports[0].to_dict(), indent=2))
    return 0 if damaged == 0 or args.repair else 1


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze
    from .analysis.classes import Classes
    from .analysis.conditions import condition_named
    from .analysis.learnability import Learnability
    from .analysis.mechanism import MechanismConfig
    from .analysis.scaling import Scaling

    cell = _parse_cell(args.cell) if args.cell else None
    if args.n_boot < 0:
        raise SweepError(f"--n-boot: must be >= 0, got {args.n_boot}")
    for path in args.stores:
        if not Path(path, "zarr.json").is_file():
            raise StoreError(f"{path}: not an rnnsweep store (no zarr.json)")
    out = args.out or Path(args.stores[0]).with_suffix("").with_name(Path(args.stores[0]).stem + "_analysis")
    try:
        if args.condition:
            condition_named(args.condition)
        mechanism = MechanismConfig(method=args.index)
        configured = {"classes": Classes(cell=cell, mechanism=mechanism),
                      "scaling": Scaling(n_boot=args.n_boot, method=args.fits),
                      "learnability": Learnability(n_boot=args.n_boot)}
        if args.finder_starts is not None:
            from .analysis.dynamics import FinderConfig
            from .analysis.dynamics_analysis import Dynamics
            configured["dynamics"] = Dynamics(finder=FinderConfig(n_initial=args.finder_starts))
        configured = _set_options(configured, args.set or [])
        summary = analyze(args.stores, out, only=_names(args.only), skip=_names(args.skip) or (),
                          also=["dynamics"] if args.dynamics else (), configured=configured, condition=args.condition, progress=not args.quiet)
    except ValueError as e:
        raise StoreError(str(e)) from None
    print(out / "report.md")
    return 0 if summary else 1


def _set_options(configured: dict, items: list[str]) -> dict:
    """``--set NAME.OPTION=VALUE`` (VALUE in TOML: ``0.5``, ``"mse"``, ``true``) applied to the analyses'
    instances: the option is checked against the analysis's class as a sweep file's setting is."""
    import dataclasses
    import tomllib

    from . import settings
    from .analysis import analyses

    tables: dict[str, dict] = {}
    for item in items:
        key, sep, text = item.partition("=")
        name, dot, option = key.strip().partition(".")
        if not (sep and dot and name and option):
            raise SweepError(f"--set: expected NAME.OPTION=VALUE such as search_phase.threshold=0.5, got {item!r}")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()  # a bare word: a string
        tables.setdefault(name, {})[option] = value
    known = analyses()
    out = dict(configured)
    for name, table in tables.items():
        if name not in known:
            raise SweepError(f"--set: unknown analysis {name!r} (known: {', '.join(known)})")
        checked = settings.build(known[name], table, f"--set {name}")
        values = {k: getattr(checked, k) for k in table}
        out[name] = dataclasses.replace(out[name], **values) if name in out else checked
    return out


def _parse_cell(text: str) -> dict[str, float]:
    """``seed=0,lr=0.1,delay_ms=100`` -> ``{"seed": 0.0, "lr": 0.1, "delay_ms": 100.0}``."""
    try:
        pairs = [(k.strip(), float(v)) for k, v in (item.split("=") for item in text.split(","))]
    except ValueError:
        raise SweepError(f"--cell: expected axis=value pairs like seed=0,lr=0.1,delay_ms=100, got {text!r}") from None
    names = [k for k, _ in pairs]
    repeated = sorted({k for k in names if names.count(k) > 1})
    if repeated:
        raise SweepError(f"--cell: {', '.join(repeated)} given more than once in {text!r}")
    return dict(pairs)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .analysis.inspect import CellError, inspect_cell

    cell = _parse_cell(args.cell)
    try:
        summary = inspect_cell(args.store, cell, args.out, sweep=args.sweep, progress=not args.quiet)
    except CellError as e:
        raise StoreError(str(e)) from None
    print(summary["figures"][0])
    return 0


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def _cmd_list(args: argparse.Namespace) -> int:
    from .catalog import catalog, format_catalog

    entries = catalog()
    print(json.dumps(entries, indent=2) if args.json else format_catalog(entries))
    return 0


def _cmd_theory(args: argparse.Namespace) -> int:
    from .analysis.theory import write_report

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


def _cmd_plan(args: argparse.Namespace) -> int:
    from .plan import Throughput, format_plan, plan_sweep
    from .sweep import load_sweep

    paths = args.sweeps or sorted(Path("sweeps").glob("*.toml"))
    sweeps = [load_sweep(p) for p in paths]  # validate all before measuring anything
    if not sweeps:
        raise SweepError("no sweep files given (and none in ./sweeps)")
    if args.throughput:
        if not args.throughput.is_file():
            raise StoreError(f"--throughput: {args.throughput}: no such file")
        throughput = Throughput.from_results(args.throughput)
    else:
        throughput = Throughput.calibrate()
    rows = [plan_sweep(s, throughput, args.block_size) for s in sweeps if not s.model.has_own_loss]
    skipped = [s.name for s in sweeps if s.model.has_own_loss]
    print(format_plan(rows, throughput))
    if skipped:
        print(f"(not projected, toy models take seconds: {', '.join(skipped)})")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_benchmarks, write_results

    torch_fn = None
    baseline = Path(__file__).resolve().parent.parent / "benchmarks" / "torch_baseline.py"
    if args.torch:
        if not baseline.is_file():
            print("rnnsweep: the PyTorch baseline lives in benchmarks/ of a source checkout; skipping it", file=sys.stderr)
        else:
            # importable by name, so that its spawned worker processes can import it too
            sys.path.insert(0, str(baseline.parent))
            import torch_baseline

            if torch_baseline.available():
                torch_fn = lambda n_steps: torch_baseline.torch_throughput(n_steps, epochs=5)  # noqa: E731
            else:
                print("rnnsweep: PyTorch is not installed; skipping the baseline (pip install -e '.[bench]')",
                      file=sys.stderr)
    sizes = tuple(int(x) for x in args.sizes.split(","))
    try:
        peak_sizes = tuple(int(x) for x in args.peak_sizes.split(","))
    except ValueError:
        raise SweepError(f"--peak-sizes: expected matrix sizes separated by commas, got {args.peak_sizes!r}") from None
    result = run_benchmarks((args.steps,), sizes, args.min_time, torch_fn, peak_sizes=peak_sizes)
    for path in write_results(result, args.out, "rnnsweep " + " ".join(sys.argv[1:])):
        print(path)
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
    snapshots = info["snapshots"]
    if snapshots:
        lines.append(f"  snapshots    {snapshots['count']} of the parameters, every {snapshots['every']} epochs from 0 "
                     "(NaN past a cell's end)")
    for key, value in info["provenance"].items():
        lines.append(f"  {key:16s} {value}")
    for run in info["runs"]:
        lines.append(f"  run {run['started']} -> {run['finished']}: {run['cells_trained']} cells, "
                     f"{run['wall_time_s']} s on {run['device']}")
    for p in info.get("parts", []):
        lines.append(f"  part {p['part']}/{p['parts']}: {p['done']}/{p['cells']} cells done, {p['wall_time_s']} s")
    return "\n".join(lines)


def _plugins(args: argparse.Namespace) -> list[str]:
    """Plug-ins named before and after the command's name."""
    return (args.plugin or []) + (getattr(args, "plugins_after", None) or [])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnsweep", description="Train massive RNN ensembles as vmapped JAX sweeps.")
    parser.add_argument("--plugin", action="append", metavar="FILE_OR_MODULE",
                        help="import a plug-in (a .py file or a module) that registers model families, tasks or "
                             "analyses; repeatable; also read from RNNSWEEP_PLUGINS")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugin", action="append", dest="plugins_after", metavar="FILE_OR_MODULE",
                        help="import a plug-in that registers model families, tasks or analyses (repeatable)")

    run = sub.add_parser("run", parents=[common], help="train every cell of a sweep file into a Zarr store")
    run.add_argument("sweep", help="sweep file (TOML), e.g. sweeps/demo.toml")
    run.add_argument("--store", type=Path, help="Zarr store directory (default: runs/<sweep name>.zarr)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="finish an interrupted run into an existing store")
    mode.add_argument("--overwrite", action="store_true", help="replace the sweep's results in an existing store")
    run.add_argument("--block-size", type=int, help="cells per vmapped block (default: run.block_size, or from memory)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--part", help="train only part i of n (e.g. 0/4) of a store made by 'rnnsweep init'; "
                                    "default from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT when set")
    run.add_argument("--allow-large", action="store_true",
                     help="create a store above the size ceilings (cells, network-epochs, store size; see the README's Limits)")
    run.set_defaults(func=_cmd_run)

    init = sub.add_parser("init", parents=[common], help="create a sweep's whole store up front (for parts and clusters)")
    init.add_argument("store", type=Path)
    init.add_argument("sweep", help="sweep file (TOML)")
    init.add_argument("--overwrite", action="store_true", help="replace the sweep's results in an existing store")
    init.add_argument("--allow-large", action="store_true",
                     help="create a store above the size ceilings (cells, network-epochs, store size; see the README's Limits)")
    init.set_defaults(func=_cmd_init)

    submit = sub.add_parser("submit", parents=[common], help="run a sweep as a job array of parts through submitit (Slurm or local)")
    submit.add_argument("sweep", help="sweep file (TOML)")
    submit.add_argument("--parts", type=int, required=True, help="number of parts (array tasks)")
    submit.add_argument("--store", type=Path, help="Zarr store (default: runs/<sweep name>.zarr); created if missing")
    submit.add_argument("--logs", type=Path, default=Path("runs/submitit"), help="submitit's log folder")
    submit.add_argument("--local", action="store_true", help="use submitit's local executor even if Slurm is there")
    submit.add_argument("--wait", action="store_true", help="wait for every part to finish")
    submit.add_argument("--slurm", nargs="*", help="extra executor parameters key=value, e.g. slurm_partition=gpu "
                                                  "gpus_per_node=1 timeout_min=600")
    submit.add_argument("--allow-large", action="store_true",
                     help="create a store above the size ceilings (cells, network-epochs, store size; see the README's Limits)")
    submit.set_defaults(func=_cmd_submit)

    check = sub.add_parser("check", parents=[common], help="verify that every finished cell of a store has readable, "
                           "complete results; --repair returns damaged cells to pending")
    check.add_argument("store", type=Path)
    check.add_argument("--sweep", help="only this sweep of the store")
    check.add_argument("--repair", action="store_true", help="return the damaged cells' units to pending, for --resume")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=_cmd_check)

    ana = sub.add_parser("analyze", parents=[common], help="classify networks, fit scaling laws, draw figures, write a report")
    ana.add_argument("stores", nargs="+", type=Path,
                     help="store(s) of one study; several are joined along lr (e.g. the narrow and broad no-post sweeps)")
    ana.add_argument("--out", type=Path, help="output folder (default: <store>_analysis next to the first store)")
    ana.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples over seeds for the beta interval and the critical learning rates' intervals "
                          "(0: none)")
    ana.add_argument("--cell", help="cell to draw, e.g. seed=0,lr=0.1,delay_ms=100 (default: first LC, else SP)")
    ana.add_argument("--only", help="run only these analyses (comma separated; what they require runs too); "
                                    "see 'rnnsweep list'")
    ana.add_argument("--skip", help="skip these analyses (comma separated)")
    ana.add_argument("--dynamics", action="store_true",
                     help="also run the opt-in 'dynamics' analysis: slow, fixed and ghost points of every finished "
                          "network by class and, with training snapshots ([run] snapshot_every), the SP<->LC switches "
                          "during training")
    ana.add_argument("--finder-starts", type=int, default=None, metavar="N",
                     help="initial states per network of the dynamics analysis's fixed-point finder (default 64; "
                          "more find more of a network's saddles and rarely visited stable points, at a cost "
                          "proportional to N)")
    ana.add_argument("--condition", help="the paper's condition whose classification rules and fits to follow "
                                         "(default: from the store's model and task), e.g. nopost, post, long_tau, "
                                         "no_memory; see 'rnnsweep list'")
    ana.add_argument("--index", choices=("reference", "robust"), default="reference",
                     help="mechanism index: the reference code's (default) or rnnsweep's noise-free robust one; the "
                          "report compares both either way")
    ana.add_argument("--fits", choices=("reference", "robust"),
                     help="boundary fits: the reference's single-start curve_fit (the paper's conditions' default) or "
                          "rnnsweep's grid of starts (better on coarse grids); the report shows both")
    ana.add_argument("--set", action="append", metavar="NAME.OPTION=VALUE",
                     help="an analysis's option (see 'rnnsweep list'), e.g. search_phase.threshold=0.5; repeatable")
    ana.add_argument("--quiet", action="store_true", help="no progress bars")
    ana.set_defaults(func=_cmd_analyze)

    ins = sub.add_parser("inspect", parents=[common], help="one figure sheet of one trained network: training curves, "
                         "outputs, raster, state-space trajectories with slow/fixed points, their spectra, "
                         "and (with snapshots) its mechanism over training")
    ins.add_argument("store", type=Path, help="the Zarr store (made by rnnsweep run)")
    ins.add_argument("--cell", required=True, help="the network, by a value of every grid axis, e.g. "
                                                   "seed=0,lr=0.1,delay_ms=100 (values on the grid, never rounded to it)")
    ins.add_argument("--out", type=Path, help="output folder (default: <store>_inspect next to the store)")
    ins.add_argument("--sweep", help="the sweep's name, when the store holds several")
    ins.add_argument("--quiet", action="store_true", help="no progress messages")
    ins.set_defaults(func=_cmd_inspect)

    theory = sub.add_parser("theory", parents=[common], help="critical learning rates of the toy models: measured vs closed form, "
                                           "exponents, theory phase diagram")
    theory.add_argument("--out", type=Path, default=Path("runs/theory"), help="output folder (default: runs/theory)")
    theory.add_argument("--t-delays", default="50,100,200,400", help="delays T to measure at (comma separated)")
    theory.add_argument("--overlay", type=Path, nargs="*", help="summary.json files of full-RNN analyses to overlay")
    theory.set_defaults(func=_cmd_theory)

    plan = sub.add_parser("plan", parents=[common], help="projected wall time and peak memory of sweep files before launch")
    plan.add_argument("sweeps", nargs="*", type=Path, help="sweep files (default: every sweeps/*.toml)")
    plan.add_argument("--throughput", type=Path, help="benchmarks.json measured on the target machine "
                                                       "(default: a 20-second calibration here)")
    plan.add_argument("--block-size", type=int, help="cells per block (default: as the runner chooses)")
    plan.set_defaults(func=_cmd_plan)

    bench = sub.add_parser("bench", parents=[common], help="quick throughput benchmark on this machine (full suite: benchmarks/run.py)")
    bench.add_argument("--out", type=Path, default=Path("runs/bench"))
    bench.add_argument("--steps", type=int, default=46, help="sequence length (16, 46 or 96)")
    bench.add_argument("--sizes", default="1,8,64", help="ensemble sizes")
    bench.add_argument("--min-time", type=float, default=2.0)
    bench.add_argument("--torch", action="store_true", help="also run the PyTorch baseline (needs torch)")
    bench.add_argument("--peak-sizes", default="2048,4096", help="square matmul sizes for the float32 peak "
                                                                 "(comma separated; the best rate counts)")
    bench.set_defaults(func=_cmd_bench)

    info = sub.add_parser("info", parents=[common], help="grid, progress, status counts, snapshots and provenance of a store")
    info.add_argument("store", type=Path)
    info.add_argument("--sweep", help="the sweep's name, when the store holds several")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_info)

    lst = sub.add_parser("list", parents=[common], help="every model family, task and analysis, with its settings and sweepable axes")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    compile_cache.enable()
    try:
        load_plugins(_plugins(args))
        return args.func(args)
    except (SweepError, StoreError, PluginError, LimitError) as e:
        print(f"rnnsweep: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
