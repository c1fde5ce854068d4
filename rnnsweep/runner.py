"""Run a sweep into a store: pick the pending units, pack them into blocks, train, write.

The data flow is one-directional: Sweep -> units -> blocks -> Trainer -> store.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np
from tqdm import tqdm

from . import store
from .sweep import Block, Sweep, Unit
from .train import STATUS_PENDING, CellHyper, Trainer

CPU_MAX_BLOCK = 512


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


def bytes_per_cell(sweep: Sweep, n_steps: int) -> int:
    """Rough device memory of one cell in a block: the activations kept for the backward pass
    (about 6 arrays of T x trials x neurons), the noise, and parameters with optimiser state."""
    itemsize = np.dtype(sweep.train.dtype).itemsize
    act = 8 * n_steps * sweep.task.n_trials * sweep.model.n_neurons
    params = 3 * sum(int(np.prod(s)) for s in sweep.model.param_shapes().values())
    return itemsize * (act + params)


def auto_block_size(sweep: Sweep) -> int:
    """Cells per block from the memory of the first device (half of it), capped on CPU."""
    device = jax.devices()[0]
    n_steps = max(int(u.n_steps) for u in sweep.units())
    per_cell = bytes_per_cell(sweep, n_steps)
    limit = None
    try:
        limit = (device.memory_stats() or {}).get("bytes_limit")
    except Exception:  # CPU devices may not report memory
        limit = None
    if limit is None:
        try:
            limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
        except (ValueError, OSError, AttributeError):
            limit = 4 << 30
    size = max(1, int(limit // 2 // per_cell))
    if device.platform == "cpu":
        size = min(size, CPU_MAX_BLOCK)
    return size


def padded_cells(n_cells: int, largest: int, n_devices: int = 1) -> int:
    """Cell count a block is padded to, so blocks share compiled programs: rounded up to a quarter
    octave (multiples of 2^(k-2) between 2^k and 2^(k+1): at most 25% extra cells and four sizes per
    doubling), never past the largest block; then up to a multiple of the device count."""
    if n_cells <= 4:
        n = n_cells
    else:
        step = 1 << (n_cells.bit_length() - 3)
        n = min(max(largest, n_cells), -(-n_cells // step) * step)
    return -(-n // n_devices) * n_devices


def partition(sweep: Sweep, n_parts: int) -> list[list[Unit]]:
    """Split the grid's units (= store chunks) into ``n_parts`` disjoint parts of similar cost
    (longest-processing-time first, deterministic). Asserts that no two parts share a chunk."""
    units = sorted(sweep.units(), key=lambda u: (-len(u.cells) * u.n_epochs * u.n_steps, str(u.index)))
    parts: list[list[Unit]] = [[] for _ in range(n_parts)]
    load = [0] * n_parts
    for u in units:
        k = min(range(n_parts), key=lambda i: (load[i], i))
        parts[k].append(u)
        load[k] += len(u.cells) * u.n_epochs * u.n_steps
    seen: set[str] = set()
    for part in parts:
        for u in part:
            key = str(u.index)
            assert key not in seen, f"chunk {key} assigned to two parts"
            seen.add(key)
    assert len(seen) == len(units)
    return parts


def part_from_env() -> tuple[int, int] | None:
    """(i, n) from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, when set."""
    task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    return int(task), int(count)


def pad_hypers(hypers: CellHyper, n: int) -> CellHyper:
    """Pad the cell axis to ``n`` with copies of cell 0 (their results are discarded)."""
    def pad(x):
        x = np.asarray(x)
        extra = n - x.shape[0]
        return x if extra == 0 else np.concatenate([x, np.repeat(x[:1], extra, axis=0)])
    return jax.tree_util.tree_map(pad, hypers)


def run_sweep(
    sweep: Sweep,
    store_path: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    block_size: int | None = None,
    progress: bool = True,
    part: tuple[int, int] | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> RunReport:
    """Train every pending cell of ``sweep`` (or of part ``i`` of ``n``) into ``store_path``. See the
    README for the semantics of ``resume``, ``overwrite`` and parts."""
    t_start = time.perf_counter()
    started = store._now()
    if part is not None:
        i, n = part
        if not (n >= 1 and 0 <= i < n):
            raise store.StoreError(f"--part: need 0 <= i < n, got {i}/{n}")
        if overwrite:
            raise store.StoreError("--part cannot --overwrite: run 'rnnsweep init --overwrite' first")
        if not store.group_exists(store_path, sweep.name):
            raise store.StoreError(f"{store_path}: no store for sweep {sweep.name!r}; create it first with "
                                   f"'rnnsweep init {store_path} SWEEP' (parts never create the store)")
    if part is not None or (store.group_exists(store_path, sweep.name) and resume and not overwrite):
        group = store.open_group(store_path, sweep.name, mode="r+")
        store.check_same_sweep(group, sweep)
    else:
        group = store.create(store_path, sweep, overwrite=overwrite)
    candidates = partition(sweep, part[1])[part[0]] if part is not None else sweep.units()

    status = store.read_status(group)
    pending = [u for u in candidates if np.any(status[u.index] == STATUS_PENDING)]
    size = block_size or (sweep.run.block_size if sweep.run.block_size != "auto" else auto_block_size(sweep))
    blocks = sweep.blocks(size, pending)
    n_cells = sum(b.n_cells for b in blocks)
    total_work = sum(b.network_epochs for b in blocks)
    device = jax.devices()[0]
    where = f" (part {part[0]} of {part[1]})" if part else ""
    log(f"rnnsweep: sweep {sweep.name!r}{where}: {sweep.n_cells} cells, {n_cells} to train in {len(blocks)} blocks "
        f"(block size {size}) on {device.platform}:{device.device_kind} x{len(jax.devices())} -> {store_path}")
    if not blocks:
        log("rnnsweep: nothing to do, every cell is finished")
        return RunReport(0, 0, 0, 0, time.perf_counter() - t_start)

    trainer = Trainer(sweep.model, sweep.task, sweep.train)
    largest = max(b.n_cells for b in blocks)
    bar = tqdm(total=total_work, unit="net-epoch", unit_scale=True, disable=not progress, dynamic_ncols=True,
               desc=sweep.name, file=sys.stderr)
    cells_done = 0
    try:
        for block in blocks:
            cells_done += _train_block(group, sweep, trainer, block, largest, bar)
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
    report = RunReport(cells_done, total_work, len(blocks), trainer.trace_count, wall)
    log(f"rnnsweep: trained {cells_done} cells ({total_work} network-epochs) in {wall:.1f} s = "
        f"{report.network_epochs_per_s:.1f} network-epochs/s; {report.compiles} compiled block programs")
    return report


def _record(store_path, group, part, started, wall, cells, device) -> None:
    """A whole run updates the group's attributes; a part writes its own record (parts run at the
    same time and must not race on the group's metadata)."""
    kind = f"{device.platform}:{device.device_kind} x{len(jax.devices())}"
    if part is None:
        store.record_run(store_path, group, started, wall, cells, kind)
    else:
        store.record_part_run(store_path, group, part, started, wall, cells, kind)


def _train_block(group, sweep: Sweep, trainer: Trainer, block: Block, largest: int, bar: tqdm) -> int:
    cells = block.cells
    n = len(cells)
    hypers = pad_hypers(sweep.hypers(cells), padded_cells(n, largest, len(trainer.devices)))
    budgets = np.array([c.n_epochs for c in cells])
    credited = np.zeros(n, dtype=np.int64)

    def on_chunk(epoch0: int, epoch1: int, status: np.ndarray) -> None:
        reached = np.minimum(budgets, epoch1)
        bar.update(int(np.sum(reached - credited)))
        credited[:] = reached

    states, curves = trainer.train_block(hypers, block.n_steps_max, block.n_epochs_max, on_chunk)
    bar.update(int(np.sum(budgets - credited)))  # cells that stopped early
    params = {k: np.asarray(v)[:n] for k, v in states.params.items()}
    store.write_block(group, list(block.units), curves[:n], params, np.asarray(states.status)[:n],
                      np.asarray(states.epochs_run)[:n])
    return n
