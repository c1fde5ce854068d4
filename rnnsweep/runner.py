"""Run a sweep into a store: pick the pending units, pack them into blocks, train, write.

The data flow is one-directional: Sweep -> units -> blocks (rnnsweep.schedule) -> Executor
(rnnsweep.executor) -> store. The runner owns the host-side bookkeeping: which cells are pending,
the progress bar, the commit of each block, the run records.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np
from tqdm import tqdm

from . import integrity, limits, schedule, schema, store
from .executor import Executor
from .schedule import Block
from .schema import Status
from .sweep import Sweep, canonical_differences
from .train import Trainer


@dataclasses.dataclass
class RunReport:
    cells_trained: int
    network_epochs: int
    blocks: int
    compiles: int
    wall_time_s: float

    @property
    def network_epochs_per_s(self) -> float:
        return self.network_epochs / self.wall_time_s if self.wall_time_s > 0 else float("nan")


def run_sweep(
    sweep: Sweep,
    store_path: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    block_size: int | None = None,
    progress: bool = True,
    part: tuple[int, int] | None = None,
    allow_large: bool = False,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> RunReport:
    """Train every pending cell of ``sweep`` (or of part ``i`` of ``n``) into ``store_path``. See the
    README for the semantics of ``resume``, ``overwrite`` and parts."""
    t_start = time.perf_counter()
    started = store.now()
    if part is not None:
        i, n = part
        if not (n >= 1 and 0 <= i < n):
            raise store.StoreError(f"--part: need 0 <= i < n, got {i}/{n}")
        if overwrite:
            raise store.StoreError("--part cannot --overwrite: run 'rnnsweep init --overwrite' first")
        if not store.group_exists(store_path, sweep.name):
            raise store.StoreError(f"{store_path}: no store for sweep {sweep.name!r}; create it first with "
                                   f"'rnnsweep init {store_path} SWEEP' (parts never create the store)")
    resumed = part is not None or (store.group_exists(store_path, sweep.name) and resume and not overwrite)
    if resumed:
        limits.check_plan(sweep, allow_large=True)  # the store exists: only what must fit the device
        group = store.open_group(store_path, sweep.name, mode="r+")
        check_same_sweep(group, sweep)
        store.check_writable(store_path, sweep.name)
    else:
        group = create_store(store_path, sweep, overwrite=overwrite, allow_large=allow_large)
    with store.lease(store_path, sweep.name, part):  # one process per part (or per whole run) at a time
        return _train_pending(sweep, store_path, group, resumed, block_size, progress, part, log, t_start, started)


def _train_pending(sweep: Sweep, store_path, group, resumed: bool, block_size: int | None, progress: bool,
                   part: tuple[int, int] | None, log: Callable[[str], None], t_start: float, started: str) -> RunReport:
    candidates = schedule.partition(sweep, part[1])[part[0]] if part is not None else schedule.units(sweep)
    if resumed:  # damaged results (a lost or corrupted chunk) go back to pending and are retrained
        report = integrity.check_sweep(store_path, sweep.name, only=[u.index for u in candidates])
        if report.damages:
            log(report.describe())
            log(f"rnnsweep: {integrity.repair(report)} cells of the damaged units returned to pending; retraining them")

    status = store.read_status(group)
    pending = [u for u in candidates if np.any(status[u.index] == Status.PENDING)]
    size = schedule.block_size(sweep, block_size)
    blocks = schedule.blocks(sweep, size, pending)
    n_cells = sum(b.n_cells for b in blocks)
    total_work = sum(b.network_epochs for b in blocks)
    device = jax.devices()[0]
    where = f" (part {part[0]} of {part[1]})" if part else ""
    log(f"rnnsweep: sweep {sweep.name!r}{where}: {sweep.n_cells} cells, {n_cells} to train in {len(blocks)} blocks "
        f"(block size {size}) on {device.platform}:{device.device_kind} x{len(jax.devices())} -> {store_path}")
    if not blocks:
        log("rnnsweep: nothing to do, every cell is finished")
        return RunReport(0, 0, 0, 0, time.perf_counter() - t_start)

    executor = Executor(Trainer(sweep.model, sweep.task, sweep.train))
    largest = max(b.n_cells for b in blocks)
    bar = tqdm(total=total_work, unit="net-epoch", unit_scale=True, disable=not progress, dynamic_ncols=True,
               desc=sweep.name, file=sys.stderr)
    cells_done = 0
    try:
        for block in blocks:
            cells_done += _train_block(group, sweep, executor, block, largest, bar)
            bar.set_postfix_str(f"cells {cells_done}/{n_cells}")
    except KeyboardInterrupt:
        bar.close()
        log(f"rnnsweep: interrupted after {cells_done} cells; finished blocks are saved. "
            "Run the same command with --resume to finish.")
        _record(store_path, group, part, started, time.perf_counter() - t_start, cells_done, device)
        raise
    bar.close()
    wall = time.perf_counter() - t_start
    _record(store_path, group, part, started, wall, cells_done, device)
    report = RunReport(cells_done, total_work, len(blocks), executor.trace_count, wall)
    log(f"rnnsweep: trained {cells_done} cells ({total_work} network-epochs) in {wall:.1f} s = "
        f"{report.network_epochs_per_s:.1f} network-epochs/s; {report.compiles} compiled block programs")
    return report


def create_store(store_path: str | Path, sweep: Sweep, overwrite: bool = False, allow_large: bool = False):
    """Check the plan against the limits (:func:`limits.check_plan`), then create the store: nothing
    is created, and with ``overwrite`` nothing is removed, unless the whole sweep passes."""
    limits.check_plan(sweep, store_path, allow_large)
    return store.create(store_path, sweep, schedule.chunk_shape(sweep), overwrite=overwrite)


def check_same_sweep(group, sweep: Sweep) -> None:
    """Refuse to continue a store made by another sweep, naming what differs."""
    diff = canonical_differences(sweep, store.read_canonical(group))
    if diff:
        raise store.StoreError(f"cannot resume: the store was made by a different sweep (differs in: {', '.join(diff)}); "
                               "use --overwrite to replace it")
    chunks, wanted = tuple(group[schema.STATUS].chunks), schedule.chunk_shape(sweep)
    if chunks != wanted:  # units must stay whole chunks, or parts could share one
        seed = list(sweep.axes).index("seed")
        raise store.StoreError(f"run.seeds_per_chunk: the store's chunks hold {chunks[seed]} seeds and the sweep file "
                               f"asks for {wanted[seed]}; keep the value the store was made with")


def _record(store_path, group, part, started, wall, cells, device) -> None:
    """A whole run updates the group's attributes; a part writes its own record (parts run at the
    same time and must not race on the group's metadata)."""
    kind = f"{device.platform}:{device.device_kind} x{len(jax.devices())}"
    if part is None:
        store.record_run(store_path, group, started, wall, cells, kind)
    else:
        store.record_part_run(store_path, group, part, started, wall, cells, kind)


def _train_block(group, sweep: Sweep, executor: Executor, block: Block, largest: int, bar: tqdm) -> int:
    cells = block.cells
    n = len(cells)
    hypers = schedule.pad_hypers(schedule.cell_hypers(sweep, cells),
                                 schedule.padded_cells(n, largest, len(executor.devices)))
    budgets = np.array([c.n_epochs for c in cells])
    credited = np.zeros(n, dtype=np.int64)

    def on_chunk(epoch0: int, epoch1: int, status: np.ndarray) -> None:
        reached = np.minimum(budgets, epoch1)
        bar.update(int(np.sum(reached - credited)))
        credited[:] = reached

    states, curves = executor.train_block(hypers, block.n_steps_max, block.n_epochs_max, on_chunk)
    bar.update(int(np.sum(budgets - credited)))  # cells that stopped early
    params = {k: np.asarray(v)[:n] for k, v in states.params.items()}
    store.write_block(group, list(block.units), curves[:n], params, np.asarray(states.status)[:n],
                      np.asarray(states.epochs_run)[:n])
    return n
