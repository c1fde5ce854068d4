"""Profile one chunk of a training block: where its time goes, kernel by kernel.

    python benchmarks/profile_block.py OUT [--cells 1024] [--steps 46]

For the default settings and those of before 2026-11-27 (autodiff gradient, threefry noise), writes
OUT/<name>.hlo.txt (the optimised HLO of the compiled chunk program: its fusions and loops) and
OUT/<name>.trace.json.gz (a jax.profiler trace of one chunk, Perfetto/Chrome JSON; open it in
ui.perfetto.dev, or summarise it with ``python benchmarks/profile_block.py --summarise FILE``).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = {"before": {"model.recurrent_grad": "autodiff", "model.noise_rng": "threefry"}, "defaults": {}}


def profile(out: Path, cells: int, steps: int) -> None:
    import jax
    import jax.numpy as jnp

    from rnnsweep import bench

    out.mkdir(parents=True, exist_ok=True)
    for name, variant in VARIANTS.items():
        sweep, ex, hypers = bench.bench_block(cells, steps, variant=variant)
        states = ex.init_block(hypers)
        program, memory = ex.compile_chunk(states, hypers, steps)
        (out / f"{name}.hlo.txt").write_text(program.as_text())
        with ex.numerics():
            states, _ = program(states, hypers, jnp.int32(0))
            jax.block_until_ready(states)
            folder = out / f"_trace_{name}"
            t0 = time.perf_counter()
            with jax.profiler.trace(str(folder), create_perfetto_trace=True):
                states, _ = program(states, hypers, jnp.int32(10))
                jax.block_until_ready(states)
            print(f"{name}: one chunk of {sweep.train.chunk_epochs} epochs in {time.perf_counter() - t0:.3f} s "
                  f"(traced); program {memory / 1e9 if memory else float('nan'):.2f} GB", flush=True)
        found = sorted(folder.rglob("perfetto_trace.json.gz"))
        if found:
            shutil.copy(found[-1], out / f"{name}.trace.json.gz")
            summarise(out / f"{name}.trace.json.gz")
        shutil.rmtree(folder, ignore_errors=True)


def summarise(path: Path, top: int = 25) -> None:
    """Total time per event name (device kernels and host ops) in a Perfetto/Chrome JSON trace."""
    with gzip.open(path, "rt") as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    names = {}
    for e in events:  # process names, to tell device streams from host threads
        if e.get("ph") == "M" and e.get("name") == "process_name":
            names[e.get("pid")] = e.get("args", {}).get("name", "")
    total = collections.Counter()
    count = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            where = names.get(e.get("pid"), "?")
            key = (where[:40], e.get("name", "?")[:90])
            total[key] += e["dur"]
            count[key] += 1
    print(f"{path.name}: top {top} event names by total duration (us)")
    for (where, name), dur in total.most_common(top):
        print(f"{dur:12.0f} us {count[(where, name)]:7d}x  [{where}] {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cells", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=46)
    parser.add_argument("--summarise", action="store_true", help="OUT is a trace file: print its summary")
    args = parser.parse_args()
    if args.summarise:
        summarise(args.out)
    else:
        profile(args.out, args.cells, args.steps)


if __name__ == "__main__":
    main()
