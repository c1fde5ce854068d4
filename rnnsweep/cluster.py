"""Many processes, many nodes: a store created up front, parts of the grid trained independently.

``rnnsweep init STORE SWEEP`` creates every array (all cells pending). ``rnnsweep run SWEEP --store
STORE --part i/n`` (or with SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT set) trains part ``i``:
a fixed, cost-balanced set of whole units (store chunks), disjoint from every other part's, so
parts never write the same chunk. A part that dies is rerun alone with the same command; it
trains what it had not finished. ``rnnsweep submit`` launches the parts as a job array through
submitit: on Slurm when it is there, else with submitit's local executor (the same code path).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def run_part(sweep_path: str, store_path: str, part: int, n_parts: int, plugins: tuple[str, ...] = ()) -> dict[str, Any]:
    """Train one part (what each array task runs), after loading the same plug-ins as the submitting
    command. Returns the run report as a dict."""
    from . import compile_cache
    from .registry import load_plugins
    from .runner import run_sweep
    from .sweep import load_sweep

    compile_cache.enable()
    load_plugins(plugins)
    report = run_sweep(load_sweep(sweep_path), store_path, part=(part, n_parts), progress=False)
    return {"part": part, "parts": n_parts, "cells_trained": report.cells_trained, "wall_time_s": report.wall_time_s}


def _requeueable(submitit):
    """``run_part`` as a submitit ``Checkpointable``: when Slurm preempts a part or its time runs out,
    submitit requeues it with the same arguments, and the part continues from its store (finished
    blocks kept, the block in flight from its last checkpoint; the lock of its previous run, which
    carries the same SLURM_JOB_ID, is taken over)."""

    class RequeueablePart(submitit.helpers.Checkpointable):
        def __call__(self, *args):
            return run_part(*args)

    return RequeueablePart()


def submit(sweep_path: str | Path, store_path: str | Path, n_parts: int, folder: str | Path,
           cluster: str | None = None, wait: bool = False, slurm: dict[str, Any] | None = None,
           plugins: tuple[str, ...] = (), allow_large: bool = False) -> list[Any]:
    """Create the store if needed, then submit ``n_parts`` array tasks. ``cluster``: None picks
    Slurm when available, else runs locally; "local" forces submitit's local executor."""
    try:
        import submitit
    except ImportError:
        raise RuntimeError("rnnsweep submit needs submitit: pip install -e '.[cluster]'") from None
    from . import store
    from .runner import check_same_sweep, create_store
    from .sweep import load_sweep

    sweep = load_sweep(sweep_path)
    if not store.group_exists(store_path, sweep.name):
        create_store(store_path, sweep, allow_large=allow_large)
    else:
        check_same_sweep(store.open_group(store_path, sweep.name), sweep)
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {"timeout_min": 24 * 60, "name": f"rnnsweep-{sweep.name}"}
    if executor.cluster == "slurm":
        params["slurm_array_parallelism"] = n_parts
    params.update(slurm or {})
    executor.update_parameters(**params)
    sweep_path, store_path = str(Path(sweep_path).resolve()), str(Path(store_path).resolve())
    plugins = tuple(str(Path(p).resolve()) if Path(p).is_file() else p for p in plugins)
    jobs = executor.map_array(_requeueable(submitit), [sweep_path] * n_parts, [store_path] * n_parts,
                              list(range(n_parts)), [n_parts] * n_parts, [plugins] * n_parts)
    print(f"rnnsweep: submitted {n_parts} parts of {sweep.name!r} to {executor.cluster} "
          f"(jobs {', '.join(str(j.job_id) for j in jobs)}); logs in {folder}", file=sys.stderr)
    if wait:
        for job in jobs:
            job.result()
    return jobs


def parts_progress(store_path: str | Path, name: str) -> list[dict[str, Any]]:
    """Per part of the latest partitioning: cells done / total, from the status array."""
    import numpy as np

    from . import store
    from .schedule import partition
    from .schema import Attr, Status
    from .sweep import parse_sweep

    runs = store.part_runs(store_path, name)
    if not runs:
        return []
    n = runs[-1]["parts"]
    group = store.open_group(store_path, name)
    sweep = parse_sweep(group.attrs[Attr.SWEEP_TEXT])
    status = store.read_status(group)
    rows = []
    for i, units in enumerate(partition(sweep, n)):
        total = sum(len(u.cells) for u in units)
        done = sum(int(np.sum(status[u.index] != Status.PENDING)) for u in units)
        wall = sum(r["wall_time_s"] for r in runs if r["part"] == i and r["parts"] == n)
        rows.append({"part": i, "parts": n, "done": done, "cells": total, "wall_time_s": round(wall, 1)})
    return rows
