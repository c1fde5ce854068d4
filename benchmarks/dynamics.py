"""Benchmark the slow/fixed-point finder: networks per second, vmapped over networks against
per-network loops, on the same machine in one run.

    python benchmarks/dynamics.py --store runs/demo.zarr [--store ...] [--train 1000] --out DIR

``--train N`` first trains a store of N small networks (DCD, 32 neurons, a short budget: networks at
every stage of learning) under DIR. For every store, over its finished networks:

* ``all at once``: :func:`rnnsweep.analysis.dynamics.network_points` on every network of a trial
  length (what ``rnnsweep analyze --dynamics`` runs), with each of ``--batches`` networks' minimisations
  side by side per compiled call;
* ``loop``: the same compiled finder called once per network (its initial states still batched):
  the FixedPointFinder way, one network at a time, with the same solver;
* ``stepped``: one network at a time with the solver's iterations driven from Python, one compiled
  BFGS step of all initial states per call until every one has converged (how FixedPointFinder and
  the reference's per-network scripts drive their optimisers).

Compile time is excluded from every rate (each program is warmed up first) and reported apart. The
loops run on at most ``--loop-networks`` networks and their rate is per network. The found point
counts of the loop and the vmapped finder are compared on those networks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optimistix as optx  # noqa: E402

from rnnsweep.analysis import dynamics as dyn  # noqa: E402
from rnnsweep.analysis.study import Source  # noqa: E402
from rnnsweep.bench import machine_info  # noqa: E402
from rnnsweep.schema import Status  # noqa: E402

TRAIN_SWEEP = """
name = "fixed_points_{n}"
description = "{n} small DCD networks at every stage of learning, for the finder benchmark"
root_seed = 0
[model]
family = "leaky_rnn"
n_neurons = 32
[task]
name = "dcd"
dt_ms = 5.0
cue_ms = 30.0
response_ms = 50.0
trials_per_cue = 16
[train]
epochs = "60"
chunk_epochs = 60
[grid]
seed = {seeds}
lr = [0.3, 0.1]
delay_ms = [0.0, 100.0]
"""


def train_store(n: int, folder: Path) -> Path:
    path = folder / f"fixed_points_{n}.zarr"
    if (path / "zarr.json").is_file():
        return path
    sweep = folder / f"fixed_points_{n}.toml"
    sweep.write_text(TRAIN_SWEEP.format(n=n, seeds=max(1, n // 4)))
    subprocess.run([sys.executable, "-m", "rnnsweep", "run", str(sweep), "--store", str(path), "--quiet"], check=True,
                   cwd=ROOT)
    return path


def groups(source: Source) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """(timing, stacked final parameters) of the finished networks, one entry per trial length."""
    cells = [tuple(ix) for ix in np.argwhere(source.status == Status.DONE)]
    return [(timing, source.params(members)) for timing, members in source.by_timing(cells)]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def stepped_counts(source: Source, timing: dict, params: dict[str, np.ndarray], cfg: dyn.FinderConfig,
                   cache: dict) -> None:
    """One network: BFGS steps of all its initial states from Python until all have terminated."""
    field = dyn.model_field(source.model)
    solver = optx.BFGS(rtol=cfg.rtol, atol=cfg.atol)
    fn = lambda x, p: (dyn.speed(field, p, x), None)  # noqa: E731
    starts = dyn.compiled_starts(source.model, source.task, timing, cfg)
    with jax.default_matmul_precision("highest"):
        x0 = np.asarray(starts({k: jnp.asarray(v) for k, v in params.items()})[0])
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        if "step" not in cache:
            def init(p, x0):
                f_struct = jax.ShapeDtypeStruct((), x0.dtype)
                return jax.vmap(lambda y: solver.init(fn, y, p, {}, f_struct, None, frozenset()))(x0)

            def step(p, ys, states):
                ys, states, _ = jax.vmap(lambda y, s: solver.step(fn, y, p, {}, s, frozenset()))(ys, states)
                done, _ = jax.vmap(lambda y, s: solver.terminate(fn, y, p, {}, s, frozenset()))(ys, states)
                return ys, states, jnp.all(done)

            cache["init"], cache["step"] = jax.jit(init), jax.jit(step)
        x0 = jnp.asarray(x0, jnp.float64)
        p = {k: jnp.asarray(v[0], jnp.float64) for k, v in params.items()}
        states = cache["init"](p, x0)
        ys = x0
        for _ in range(cfg.max_steps):
            ys, states, done = cache["step"](p, ys, states)
            if bool(done):
                break
        jax.block_until_ready(ys)


def bench_store(path: Path, batches: list[int], loop_networks: int, stepped_networks: int, log) -> dict:
    source = Source.open(path)
    parts = groups(source)
    n = sum(len(next(iter(p.values()))) for _, p in parts)
    single = dyn.FinderConfig(batch_size=1)
    row = {"store": str(path), "networks": n, "n_neurons": int(getattr(source.model, "n_neurons", 0)),
           "trial_lengths": len(parts), "n_initial": single.n_initial, "batches": batches, "vmapped": {}}
    for batch in batches:  # networks per compiled call
        cfg = dyn.FinderConfig(batch_size=batch)
        compile_s = 0.0  # every program compiled first (the lane shapes of this batch, each trial length)
        for timing, params in parts:
            compile_s += timed(lambda: dyn.network_points(source.model, source.task, params, timing, cfg))[1]
        results, vmapped_s = timed(lambda: [dyn.network_points(source.model, source.task, params, timing, cfg)
                                            for timing, params in parts])
        row["vmapped"][batch] = {"seconds": vmapped_s, "networks_per_s": n / vmapped_s,
                                 "first_call_s": compile_s}
        log(f"{path.name}: {batch} networks per call: {n} networks in {vmapped_s:.2f} s = {n / vmapped_s:.1f} "
            "networks/s")
    best = max(row["vmapped"], key=lambda b: row["vmapped"][b]["networks_per_s"])
    row["best_batch"] = best
    row["vmapped_networks_per_s"] = row["vmapped"][best]["networks_per_s"]
    counts = np.concatenate([r.counts() for r in results])
    row["points_by_label"] = {lab: int(counts[:, k].sum()) for k, lab in enumerate(dyn.LABELS)}
    for timing, params in parts:  # the loop's programs
        dyn.network_points(source.model, source.task, {k: v[:1] for k, v in params.items()}, timing, single)

    # the loop over networks, same compiled finder
    budget, loop_s, looped, same = loop_networks, 0.0, 0, 0
    for (timing, params), result in zip(parts, results):
        for k in range(min(budget - looped, len(next(iter(params.values()))))):
            one = {name: v[k:k + 1] for name, v in params.items()}
            pts, dt = timed(lambda: dyn.network_points(source.model, source.task, one, timing, single))
            loop_s += dt
            looped += 1
            same += int(np.array_equal(pts.counts()[0], result.counts()[k]))
    row["loop_networks"] = looped
    row["loop_networks_per_s"] = looped / loop_s
    row["loop_same_counts"] = same
    log(f"{path.name}: loop {looped} networks in {loop_s:.2f} s = {looped / loop_s:.1f} networks/s "
        f"({same} of {looped} with the same point counts as vmapped)")

    cache: dict = {}
    timing, params = parts[0]
    cfg = dyn.FinderConfig()
    stepped_counts(source, timing, {k: v[:1] for k, v in params.items()}, cfg, cache)  # compile
    k_max = min(stepped_networks, len(next(iter(params.values()))))
    _, stepped_s = timed(lambda: [stepped_counts(source, timing, {k: v[i:i + 1] for k, v in params.items()}, cfg,
                                                 cache) for i in range(k_max)])
    row["stepped_networks"] = k_max
    row["stepped_networks_per_s"] = k_max / stepped_s
    log(f"{path.name}: stepped {k_max} networks in {stepped_s:.2f} s = {k_max / stepped_s:.1f} networks/s")
    row["speedup_vs_loop"] = row["vmapped_networks_per_s"] / row["loop_networks_per_s"]
    row["speedup_vs_stepped"] = row["vmapped_networks_per_s"] / row["stepped_networks_per_s"]
    return row


def markdown(rows: list[dict], machine: dict, command: str) -> str:
    lines = ["# Slow/fixed-point finder: vmapped over networks vs per-network loops", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores; device {machine['device']}; "
             f"Python {machine['python']}, JAX {machine['jax']}.", "", f"Command: `{command}`", "",
             "| store | networks | N | networks per call | all at once net/s | loop net/s | stepped net/s | "
             "vs loop | vs stepped | same counts |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for batch, v in r["vmapped"].items():
            lines.append(f"| {Path(r['store']).name} | {r['networks']} | {r['n_neurons']} | {batch} | "
                         f"{v['networks_per_s']:.1f} | {r['loop_networks_per_s']:.1f} | "
                         f"{r['stepped_networks_per_s']:.2f} | {v['networks_per_s'] / r['loop_networks_per_s']:.2f}x | "
                         f"{v['networks_per_s'] / r['stepped_networks_per_s']:.1f}x | "
                         f"{r['loop_same_counts']}/{r['loop_networks']} |")
    lines += ["", "all at once: every network of the store through one finder call per trial length "
              "(`network_points`, what `analyze --dynamics` runs), with that many networks' minimisations side "
              "by side per compiled call; loop: the same finder called once per network; stepped: one network "
              "at a time, the solver's steps driven from Python. Compiles excluded (every program is run once "
              "first)."]
    return "\n".join(lines + [""])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, action="append", default=[])
    ap.add_argument("--train", type=int, help="first train a store of this many small networks under --out")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batches", default="1,8,64", help="networks per compiled call to measure (comma separated)")
    ap.add_argument("--loop-networks", type=int, default=200)
    ap.add_argument("--stepped-networks", type=int, default=10)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stores = list(args.store)
    if args.train:
        stores.append(train_store(args.train, args.out))
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    batches = [int(b) for b in args.batches.split(",")]
    rows = [bench_store(p, batches, args.loop_networks, args.stepped_networks, log) for p in stores]
    machine = machine_info()
    command = "python benchmarks/dynamics.py " + " ".join(sys.argv[1:])
    (args.out / "dynamics.json").write_text(json.dumps({"machine": machine, "command": command, "rows": rows},
                                                        indent=1))
    (args.out / "dynamics.md").write_text(markdown(rows, machine, command))
    print(markdown(rows, machine, command))


if __name__ == "__main__":
    main()
