"""Run a sweep into a store: pick the pending units, pack them into blocks, train, write.

The data flow is one-directional: Sweep -> units -> blocks (rnnsweep.schedule) -> Executor
(rnnsweep.executor) -> store. The runner owns the host-side bookkeeping: which cells are pending,
the progress bar, the commit of each block, the run records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np
from tqdm import tqdm

from . import checkpoint, integrity, limits, schedule, schema, store
from .executor import Executor
from .schedule import Block
from .schema import Status
from .sweep import Sweep, sweep_differences
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
    stop_requested: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Train every pending cell of ``sweep`` (or of part ``i`` of ``n``) into ``store_path``. See the
    README for the semantics of ``resume``, ``overwrite`` and parts. ``stop_requested`` is asked at
    every chunk boundary: when it says yes, the block in flight is checkpointed and the run stops
    (``KeyboardInterrupt``)."""
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
        return _train_pending(sweep, store_path, group, resumed, block_size, progress, part, log, t_start, started,
                              stop_requested)


def _train_pending(sweep: Sweep, store_path, group, resumed: bool, block_size: int | None, progress: bool,
                   part: tuple[int, int] | None, log: Callable[[str], None], t_start: float, started: str,
                   stop_requested: Callable[[], bool]) -> RunReport:
    candidates = schedule.partition(sweep, part[1])[part[0]] if part is not None else schedule.units(sweep)
    if resumed:  # damaged results (a lost or corrupted chunk) go back to pending and are retrained
        report = integrity.check_sweep(store_path, sweep.name, only=[u.index for u in candidates])
        if report.damages:
            log(report.describe())
            log(f"rnnsweep: {integrity.repair(report)} cells of the damaged units returned to pending; retraining them")

    status = store.read_status(group)
    pending = [u for u in candidates if np.any(status[u.index] == Status.PENDING)]
    n_devices = len(jax.devices())
    folder = store.side_folder(store_path, sweep.name, checkpoint.FOLDER)
    resumed_blocks = _checkpointed_blocks(folder, pending, n_devices, log)
    taken = {_key(u.index) for plan in resumed_blocks for u in plan.block.units}
    # the blocks recorded by the run that started this store (or part): the same cells in the same
    # blocks with the same padding, whatever --block-size or machine resumes it
    plan_file = folder / (f"plan-part-{part[0]}-of-{part[1]}.json" if part else "plan-run.json")
    recorded = [p for p in _recorded_blocks(plan_file, pending, n_devices) if not taken & _keys(p)]
    taken |= {k for p in recorded for k in _keys(p)}
    size = schedule.block_size(sweep, block_size)
    fresh = schedule.blocks(sweep, size, [u for u in pending if _key(u.index) not in taken])
    largest = max((b.n_cells for b in fresh), default=1)
    plans = resumed_blocks + recorded + [BlockPlan(b, schedule.padded_cells(b.n_cells, largest, n_devices))
                                         for b in fresh]
    if recorded:
        log(f"rnnsweep: {len(recorded)} blocks as the run that started this store formed them ({plan_file.name})")
    if fresh or not plan_file.exists():
        store.write_json_atomically(plan_file, [_plan_record(p) for p in plans])
    n_cells = sum(p.block.n_cells for p in plans)
    total_work = sum(p.block.network_epochs for p in plans)
    device = jax.devices()[0]
    where = f" (part {part[0]} of {part[1]})" if part else ""
    continued = f", {len(resumed_blocks)} of them continued from checkpoints" if resumed_blocks else ""
    log(f"rnnsweep: sweep {sweep.name!r}{where}: {sweep.n_cells} cells, {n_cells} to train in {len(plans)} blocks "
        f"(block size {size}{continued}) on {device.platform}:{device.device_kind} x{n_devices} -> {store_path}")
    if not plans:
        log("rnnsweep: nothing to do, every cell is finished")
        return RunReport(0, 0, 0, 0, time.perf_counter() - t_start)

    executor = Executor(Trainer(sweep.model, sweep.task, sweep.train, sweep.regularizers))
    if sweep.run.snapshot_every:
        log(f"rnnsweep: parameter snapshots every {sweep.run.snapshot_every} epochs "
            f"(chunks of {executor.chunk_length(sweep.run.snapshot_every)} epochs)")
    saver = Checkpointer(folder, 60 * sweep.run.checkpoint_minutes, stop_requested)
    bar = tqdm(total=total_work, unit="net-epoch", unit_scale=True, disable=not progress, dynamic_ncols=True,
               desc=sweep.name, file=sys.stderr)
    cells_done = 0
    try:
        for plan in plans:
            if stop_requested():  # asked to stop between blocks: nothing in flight to save
                raise KeyboardInterrupt
            cells_done += _train_block(group, sweep, executor, plan, bar, saver, log)
            bar.set_postfix_str(f"cells {cells_done}/{n_cells}")
    except KeyboardInterrupt:
        bar.close()
        saved = " and the block in flight is checkpointed" if saver.stopped else ""
        log(f"rnnsweep: interrupted after {cells_done} cells; finished blocks are saved{saved}. "
            "Run the same command with --resume to finish.")
        _record(store_path, group, part, started, time.perf_counter() - t_start, cells_done, device)
        raise
    bar.close()
    wall = time.perf_counter() - t_start
    _record(store_path, group, part, started, wall, cells_done, device)
    report = RunReport(cells_done, total_work, len(plans), executor.trace_count, wall)
    log(f"rnnsweep: trained {cells_done} cells ({total_work} network-epochs) in {wall:.1f} s = "
        f"{report.network_epochs_per_s:.1f} network-epochs/s; {report.compiles} compiled block programs"
        + (f"; {saver.count} checkpoints" if saver.count else ""))
    return report


@dataclasses.dataclass
class BlockPlan:
    """A block as it will run: its units, its padded cell count, and the checkpoint it continues."""

    block: Block
    n_padded: int
    resume_from: Path | None = None

    def checkpoint_name(self) -> str:
        b = self.block
        return checkpoint.block_id([u.index for u in b.units], self.n_padded, b.n_steps_max, b.n_epochs_max) + ".npz"


class Checkpointer:
    """Saves a block in flight at chunk boundaries: every ``interval_s`` of wall time, and when a stop
    was requested (SIGTERM, Ctrl-C), after which it raises ``KeyboardInterrupt``."""

    def __init__(self, folder: Path, interval_s: float, stop_requested: Callable[[], bool]):
        self.folder, self.interval_s, self.stop_requested = folder, interval_s, stop_requested
        self.last = time.monotonic()
        self.count = 0
        self.stopped = False

    def boundary(self, plan: BlockPlan, states, pieces: list, next_epoch: int) -> None:
        stop = self.stop_requested()
        if stop or time.monotonic() - self.last >= self.interval_s:
            meta = {**_plan_record(plan), "next_epoch": next_epoch}
            checkpoint.save(self.folder / plan.checkpoint_name(), meta, states, np.concatenate(pieces, axis=1))
            self.last = time.monotonic()
            self.count += 1
        if stop:
            self.stopped = True
            raise KeyboardInterrupt


def _key(index) -> str:
    return json.dumps(checkpoint.unit_key(index))


def _keys(plan: BlockPlan) -> set[str]:
    return {_key(u.index) for u in plan.block.units}


def _plan_record(plan: BlockPlan) -> dict:
    b = plan.block
    return {"units": [checkpoint.unit_key(u.index) for u in b.units], "n_padded": plan.n_padded,
            "n_steps_max": b.n_steps_max, "n_epochs_max": b.n_epochs_max}


def _plan_from_record(record: dict, by_key: dict, n_devices: int) -> BlockPlan | None:
    """A recorded block (a plan record, or a checkpoint's) rebuilt from the pending units, or None when
    one of its units is not pending here (finished, or another part's), when the record does not
    parse, or when these devices cannot split its padded size."""
    try:
        units = [by_key.get(json.dumps(k)) for k in record["units"]]
        if None in units:
            return None
        block = Block(tuple(units), int(record["n_steps_max"]), int(record["n_epochs_max"]))
        n_padded = int(record["n_padded"])
    except (KeyError, TypeError, ValueError):
        return None
    return BlockPlan(block, n_padded) if n_padded % n_devices == 0 and n_padded >= block.n_cells else None


def _recorded_blocks(plan_file: Path, pending: list, n_devices: int) -> list[BlockPlan]:
    """The recorded blocks whose units are all still pending (and that these devices can split)."""
    try:
        records = json.loads(plan_file.read_text())
    except (OSError, ValueError):
        return []
    by_key = {_key(u.index): u for u in pending}
    plans = [_plan_from_record(r, by_key, n_devices) for r in (records if isinstance(records, list) else [])]
    return [p for p in plans if p is not None]


def _checkpointed_blocks(folder: Path, pending: list, n_devices: int, log: Callable[[str], None]) -> list[BlockPlan]:
    """The blocks saved in flight whose units are all still pending here, rebuilt as they were."""
    by_key = {_key(u.index): u for u in pending}
    plans = []
    for path in checkpoint.saved(folder):
        try:
            meta = checkpoint.read_meta(path)
        except Exception as e:  # noqa: BLE001 - an unreadable checkpoint is only a lost head start
            log(f"rnnsweep: ignoring the unreadable checkpoint {path} ({type(e).__name__})")
            continue
        plan = _plan_from_record(meta, by_key, n_devices)
        if plan is not None and plan.checkpoint_name() == path.name:
            plans.append(dataclasses.replace(plan, resume_from=path))
    return plans


def create_store(store_path: str | Path, sweep: Sweep, overwrite: bool = False, allow_large: bool = False):
    """Check the plan against the limits (:func:`limits.check_plan`), then create the store: nothing
    is created, and with ``overwrite`` nothing is removed, unless the whole sweep passes."""
    limits.check_plan(sweep, store_path, allow_large)
    return store.create(store_path, sweep, schedule.chunk_shape(sweep), overwrite=overwrite)


def check_same_sweep(group, sweep: Sweep) -> None:
    """Refuse to continue a store made by another sweep, naming what differs."""
    diff = sweep_differences(sweep, store.read_canonical(group))
    if diff:
        hint = ""
        if all(d.setting for d in diff):  # only settings differ: say how to resume with the store's values
            hint = (" or set " + ", ".join(f"{d.key} = {d.stored!r}" for d in diff) +
                    " in the sweep file to continue as the store was trained")
        raise store.StoreError(f"cannot resume: the store was made by a different sweep (differs in: "
                               f"{', '.join(map(str, diff))}); use --overwrite to replace it{hint}")
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


def _train_block(group, sweep: Sweep, executor: Executor, plan: BlockPlan, bar: tqdm, saver: Checkpointer,
                 log: Callable[[str], None]) -> int:
    block = plan.block
    cells = block.cells
    n = len(cells)
    hypers = schedule.pad_hypers(schedule.cell_hypers(sweep, cells), plan.n_padded)
    budgets = np.array([c.n_epochs for c in cells])
    credited = np.zeros(n, dtype=np.int64)
    start = None
    if plan.resume_from is not None:
        try:
            meta, states, curves = checkpoint.load(plan.resume_from, executor.init_block(hypers))
            start = (states, curves, int(meta["next_epoch"]))
            credited[:] = np.minimum(budgets, start[2])
            bar.update(int(credited.sum()))
        except (OSError, ValueError, KeyError) as e:
            log(f"rnnsweep: ignoring the checkpoint {plan.resume_from} ({e}); the block starts over")

    def on_chunk(epoch0: int, epoch1: int, status: np.ndarray) -> None:
        reached = np.minimum(budgets, epoch1)
        bar.update(int(np.sum(reached - credited)))
        credited[:] = reached

    def on_snapshot(states, epoch: int) -> None:  # the block's real cells, not its padding
        with _write_errors_reported(saver.folder.parent):
            store.write_snapshot(group, list(block.units), epoch,
                                 {k: np.asarray(v)[:n] for k, v in states.params.items()})

    states, curves = executor.train_block(hypers, block.n_steps_max, block.n_epochs_max, on_chunk, start,
                                          lambda *a: saver.boundary(plan, *a),
                                          snapshot_every=sweep.run.snapshot_every, on_snapshot=on_snapshot)
    bar.update(int(np.sum(budgets - credited)))  # cells that stopped early
    params = {k: np.asarray(v)[:n] for k, v in states.params.items()}
    with _write_errors_reported(saver.folder.parent):
        store.write_block(group, list(block.units), curves[:n], params, np.asarray(states.status)[:n],
                          np.asarray(states.epochs_run)[:n])
    (saver.folder / plan.checkpoint_name()).unlink(missing_ok=True)  # the block is in the store now
    return n


@contextlib.contextmanager
def _write_errors_reported(where: Path):
    """A full disk or a lost mount while writing a block's results or snapshots: say where (the block
    stays pending, or checkpointed)."""
    try:
        yield
    except OSError as e:
        raise store.StoreError(f"{e.filename or where}: cannot write the block's results "
                               f"({e.strerror or e}); free the space and run again with --resume") from None
