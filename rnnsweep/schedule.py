"""Scheduling: how a sweep's cells become store chunks, compiled blocks and parts.

* A *unit* is the set of cells that share every coordinate but the seed (cut into
  ``run.seeds_per_chunk`` pieces): one chunk of every store array along the grid axes, so blocks,
  made of whole units, never share a chunk.
* A *block* is one compiled program: units of equal (or, within ``run.max_padding``, similar) trial
  length and epoch budget, at most ``block_size`` cells, padded to a quarter-octave cell count so
  blocks of similar size share a program.
* A *part* is a fixed, cost-balanced set of units for one of several processes (``--part i/n``).
* The memory rule (:func:`bytes_per_cell`) is the one estimate of a cell's device memory that the
  runner, the planner and the benchmarks use.
"""

from __future__ import annotations

import dataclasses
import itertools
import os

import jax
import numpy as np

from .sweep import Cell, Sweep
from .train import CellHyper

CPU_MAX_BLOCK = 512
# Of the device's memory that a block may use: on a GPU the rule below is fitted to XLA's own account
# of the compiled programs (which matched the allocator's peak to 0.1%), so blocks may fill most of
# JAX's memory pool; on a CPU "device memory" is the machine's RAM, shared with everything else.
MEMORY_FRACTIONS = {"cpu": 0.5}
MEMORY_FRACTION_ACCELERATOR = 0.8


def memory_fraction(device=None) -> float:
    """The share of :func:`device_memory` that one block may use on ``device``."""
    device = device or jax.devices()[0]
    return MEMORY_FRACTIONS.get(device.platform, MEMORY_FRACTION_ACCELERATOR)


@dataclasses.dataclass(frozen=True)
class Unit:
    """Cells sharing every coordinate but the seed: one chunk along the grid axes."""

    index: tuple[int | slice, ...]  # store selection (a slice on the seed axis)
    cells: tuple[Cell, ...]
    n_steps: int
    n_epochs: int


@dataclasses.dataclass(frozen=True)
class Block:
    units: tuple[Unit, ...]
    n_steps_max: int
    n_epochs_max: int

    @property
    def cells(self) -> list[Cell]:
        return [c for u in self.units for c in u.cells]

    @property
    def n_cells(self) -> int:
        return sum(len(u.cells) for u in self.units)

    @property
    def network_epochs(self) -> int:
        return sum(c.n_epochs for c in self.cells)


# --- chunks and units -----------------------------------------------------------------------------
def seeds_per_chunk(sweep: Sweep) -> int:
    n_seeds = len(sweep.axes["seed"])
    return n_seeds if sweep.run.seeds_per_chunk in (0, None) else min(sweep.run.seeds_per_chunk, n_seeds)


def chunk_shape(sweep: Sweep) -> tuple[int, ...]:
    """The store's chunk along the grid axes: one unit."""
    per = seeds_per_chunk(sweep)
    return tuple(per if name == "seed" else 1 for name in sweep.axes)


def units(sweep: Sweep) -> list[Unit]:
    s_ax, n_seeds, per = sweep.seed_axis, len(sweep.axes["seed"]), seeds_per_chunk(sweep)
    other = [range(n) if i != s_ax else [None] for i, n in enumerate(sweep.shape)]
    out = []
    for ix in itertools.product(*other):
        for s0 in range(0, n_seeds, per):
            seeds = range(s0, min(s0 + per, n_seeds))
            cells = tuple(sweep.cell(ix[:s_ax] + (s,) + ix[s_ax + 1:]) for s in seeds)
            sel = ix[:s_ax] + (slice(seeds.start, seeds.stop),) + ix[s_ax + 1:]
            out.append(Unit(sel, cells, cells[0].n_steps, cells[0].n_epochs))
    return out


def blocks(sweep: Sweep, block_size: int, pending: list[Unit] | None = None) -> list[Block]:
    """Pack units into blocks of at most ``block_size`` cells (at least one unit each).

    Units are sorted by (trial length, epoch budget); a unit joins the current block while the
    block's padded work (cells x max steps x max epochs) stays within ``1 + max_padding`` times
    its real work."""
    ordered = sorted(units(sweep) if pending is None else pending, key=lambda u: (u.n_steps, u.n_epochs))
    groups: list[list[Unit]] = []
    for unit in ordered:
        if groups:
            cand = groups[-1] + [unit]
            n_cells = sum(len(u.cells) for u in cand)
            padded = n_cells * max(u.n_steps for u in cand) * max(u.n_epochs for u in cand)
            real = sum(len(u.cells) * u.n_steps * u.n_epochs for u in cand)
            if n_cells <= block_size and padded <= (1 + sweep.run.max_padding) * real:
                groups[-1] = cand
                continue
        groups.append([unit])
    return [Block(tuple(g), max(u.n_steps for u in g), max(u.n_epochs for u in g)) for g in groups]


# --- one block's arrays ---------------------------------------------------------------------------
def cell_hypers(sweep: Sweep, cells: list[Cell]) -> CellHyper:
    """Stacked per-cell hyperparameters for the trainer."""
    init, data = sweep.keys(cells)
    dtype = np.dtype(sweep.train.dtype)
    lr = np.array([sweep.cell_settings(c.coords)["lr"] for c in cells], dtype=dtype)
    names = cells[0].timing.keys() if cells else ()
    timing = {k: np.array([c.timing[k] for c in cells], dtype=np.int32) for k in names}
    n_epochs = np.array([c.n_epochs for c in cells], dtype=np.int32)
    args = [sweep.model.cell_args(c.coords, c.timing) for c in cells]
    model_args = {name: np.array([a[name] for a in args], dtype=dtype) for name in (args[0] if args else {})}
    task_args = {name: np.array([sweep.task.cell_values(c.coords)[name] for c in cells], dtype=dtype)
                 for name in sweep.task.cell_axes}
    strengths = {r.name: np.array([sweep.strengths_at(c.coords)[r.name] for c in cells], dtype=dtype)
                 for r in sweep.regularizers}
    return CellHyper(lr, timing, n_epochs, init, data, model_args, task_args, strengths)


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


def pad_hypers(hypers: CellHyper, n: int) -> CellHyper:
    """Pad the cell axis to ``n`` with copies of cell 0 (their results are discarded)."""
    def pad(x):
        x = np.asarray(x)
        extra = n - x.shape[0]
        return x if extra == 0 else np.concatenate([x, np.repeat(x[:1], extra, axis=0)])
    return jax.tree_util.tree_map(pad, hypers)


# --- memory ---------------------------------------------------------------------------------------
def bytes_per_cell(sweep: Sweep, n_steps: int, platform: str | None = None) -> int:
    """Device memory of one cell in a block on ``platform`` (default: this process's first device):
    the arrays of T x trials x state size kept for the backward pass (how many: the model family's
    :meth:`~rnnsweep.models.AbstractModel.saved_arrays`, fitted to XLA's memory analysis of the
    compiled block programs) and the parameters with their gradients and optimiser state (3 copies)."""
    platform = platform or jax.devices()[0].platform
    itemsize = np.dtype(sweep.train.dtype).itemsize
    act = sweep.model.saved_arrays(platform) * n_steps * sweep.task.n_trials * sweep.model.state_size()
    return int(itemsize * (act + 3 * sweep.model.n_params()))


def memory_stats(device=None) -> dict:
    """The device allocator's statistics (``bytes_limit``, ``peak_bytes_in_use``, ...); empty where
    the device does not report them (CPUs)."""
    device = device or jax.devices()[0]
    try:
        return device.memory_stats() or {}
    except Exception:  # CPU devices may not report memory
        return {}


def device_memory(device=None) -> int:
    """Bytes the device offers: its allocator's limit, or for CPUs the machine's physical memory."""
    limit = memory_stats(device).get("bytes_limit")
    if limit:
        return int(limit)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def max_cells(sweep: Sweep, n_steps: int, device=None) -> int:
    """Cells of ``n_steps`` steps that fit in :func:`memory_fraction` of the device (at least 1)."""
    device = device or jax.devices()[0]
    return max(1, int(memory_fraction(device) * device_memory(device) // bytes_per_cell(sweep, n_steps, device.platform)))


def auto_block_size(sweep: Sweep) -> int:
    """Cells per block from the memory rule at the sweep's longest trial, capped on CPU."""
    device = jax.devices()[0]
    size = max_cells(sweep, max(u.n_steps for u in units(sweep)), device)
    return min(size, CPU_MAX_BLOCK) if device.platform == "cpu" else size


def block_size(sweep: Sweep, override: int | None = None) -> int:
    """The block size a run uses: the override, the sweep's ``run.block_size``, or the memory rule."""
    if override:
        return override
    return sweep.run.block_size if sweep.run.block_size != "auto" else auto_block_size(sweep)


# --- parts ----------------------------------------------------------------------------------------
def partition(sweep: Sweep, n_parts: int) -> list[list[Unit]]:
    """Split the grid's units (= store chunks) into ``n_parts`` disjoint parts of similar cost
    (longest-processing-time first, deterministic). Asserts that no two parts share a chunk."""
    ordered = sorted(units(sweep), key=lambda u: (-len(u.cells) * u.n_epochs * u.n_steps, str(u.index)))
    parts: list[list[Unit]] = [[] for _ in range(n_parts)]
    load = [0] * n_parts
    for u in ordered:
        k = min(range(n_parts), key=lambda i: (load[i], i))
        parts[k].append(u)
        load[k] += len(u.cells) * u.n_epochs * u.n_steps
    seen: set[str] = set()
    for part in parts:
        for u in part:
            key = str(u.index)
            assert key not in seen, f"chunk {key} assigned to two parts"
            seen.add(key)
    assert len(seen) == len(ordered)
    return parts


def part_from_env() -> tuple[int, int] | None:
    """(i, n) from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, when set."""
    task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    return int(task), int(count)
