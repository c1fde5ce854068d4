"""The ceilings a sweep must stay under, all in one place (the README's "Limits" table lists them).

Two kinds:

* **Hard limits**, checked while the sweep file is parsed, keep parsing itself bounded: no sweep file
  can make rnnsweep hang, allocate without bound or overflow an integer type, whatever flag is given.
* **Size ceilings** (cells, network-epochs, store size) guard against a typo that turns a sweep into
  weeks of work or a full disk. They are checked by :func:`check_plan` before a store is created or
  touched, and ``--allow-large`` lifts them. The per-cell memory and the free disk space are checked
  there too; those no flag lifts.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .sweep import Sweep

# --- hard limits (parsing) ----------------------------------------------------------------------
MAX_TEXT_BYTES = 1 << 20  # a sweep file
MAX_NAME_CHARS = 100  # the sweep's name (a folder of the store)
MAX_STRING_CHARS = 1000  # any other string setting (a description, an epoch rule)
MAX_AXIS_VALUES = 100_000  # values of one grid axis (seeds included)
MAX_GRID_CELLS = 10_000_000  # cells of one grid, before --allow-large is even considered
MAX_SEED = 2**32 - 1  # grid seeds are folded into the root key as uint32
MAX_ROOT_SEED = 2**64 - 1  # the root key is the root seed's 64 bits (two uint32 words)
MAX_INT_SETTING = 2**31 - 1  # integer settings are int32 on the device
MAX_TRIAL_STEPS = 100_000  # steps of one trial (the sum of the task's durations over dt_ms)
MAX_EPOCHS = 10_000_000  # one cell's epoch budget
EPOCH_RULE_MAX_NODES = 200  # syntax-tree nodes of an epoch rule
EPOCH_RULE_MAX_DEPTH = 32  # nesting depth of an epoch rule
EPOCH_RULE_MAX_NUMBER = 1e15  # largest literal in an epoch rule

# --- size ceilings (lifted by --allow-large) ------------------------------------------------------
LARGE_CELLS = 200_000  # the paper's largest sweep file has 31,500
LARGE_NETWORK_EPOCHS = 2_000_000_000  # the paper's whole study is 4.6e8
LARGE_STORE_BYTES = 500 * 10**9  # the store's data before compression (see store_bytes; the paper's largest: 5 GB)


class LimitError(ValueError):
    """A sweep exceeds a ceiling; the message gives the numbers."""


def store_bytes(sweep: "Sweep", cells: list | None = None) -> int:
    """The data a finished store holds before compression: each cell's curves over its own epochs,
    its parameters, its per-cell integers and its parameter snapshots (:func:`snapshot_bytes`; the
    NaN padding past a cell's end compresses to almost nothing and is not counted)."""
    cells = cells or sweep.cells()
    itemsize = np.dtype(sweep.train.dtype).itemsize
    curves = len(sweep.task.metric_names) + 2
    fixed = itemsize * _param_count(sweep) + 4 * (4 + len(cells[0].timing)) + 1
    return sum(itemsize * curves * c.n_epochs + fixed for c in cells) + snapshot_bytes(sweep, cells)


def snapshot_bytes(sweep: "Sweep", cells: list | None = None) -> int:
    """The parameter snapshots' share of :func:`store_bytes`: every cell's parameters at each of its
    snapshot epochs up to its own budget (0 without ``run.snapshot_every``)."""
    if not sweep.run.snapshot_every:
        return 0
    cells = cells or sweep.cells()
    per_snapshot = np.dtype(sweep.train.dtype).itemsize * _param_count(sweep)
    return sum(per_snapshot * len(sweep.snapshot_epochs(c.n_epochs)) for c in cells)


def _param_count(sweep: "Sweep") -> int:
    return sum(math.prod(s) for s in sweep.model.param_shapes().values())


def plan_figures(sweep: "Sweep") -> dict[str, float]:
    """What :func:`check_plan` compares with the ceilings."""
    from . import schedule

    cells = sweep.cells()
    longest = max(c.n_steps for c in cells)
    return {
        "cells": sweep.n_cells,
        "network_epochs": sum(c.n_epochs for c in cells),
        "store_bytes": store_bytes(sweep, cells),
        "bytes_per_cell": schedule.bytes_per_cell(sweep, longest),
        "device_bytes": schedule.memory_fraction() * schedule.device_memory(),
        "longest_trial_steps": longest,
    }


def check_plan(sweep: "Sweep", store_path: str | Path | None = None, allow_large: bool = False) -> dict[str, float]:
    """Refuse a sweep above the size ceilings (unless ``allow_large``), a cell that cannot fit in the
    device's memory, or a store that cannot fit on its disk. Returns the figures it checked."""
    if not allow_large and sweep.n_cells > LARGE_CELLS:  # before enumerating a huge grid
        _refuse_large(sweep, sweep.n_cells, LARGE_CELLS, "cells")
    figures = plan_figures(sweep)
    if not allow_large:
        for key, ceiling, what in (("cells", LARGE_CELLS, "cells"),
                                   ("network_epochs", LARGE_NETWORK_EPOCHS, "network-epochs"),
                                   ("store_bytes", LARGE_STORE_BYTES, "bytes of store")):
            if figures[key] > ceiling:
                _refuse_large(sweep, figures[key], ceiling, what)
    if figures["bytes_per_cell"] > figures["device_bytes"]:
        raise LimitError(f"sweep {sweep.name!r}: one cell needs {figures['bytes_per_cell'] / 2**30:,.1f} GiB "
                         f"({sweep.task.n_trials:,} trials of {figures['longest_trial_steps']:,} steps, "
                         f"{sweep.model.state_size():,} state units), more than the "
                         f"{figures['device_bytes'] / 2**30:,.1f} GiB of device memory a block may use")
    if store_path is not None:
        free = free_bytes(Path(store_path))
        if free is not None and figures["store_bytes"] > free:
            snapshots = (f", snapshots every {sweep.run.snapshot_every} epochs included" if sweep.run.snapshot_every
                         else "")
            raise LimitError(f"{store_path}: the store will hold {figures['store_bytes'] / 1e9:,.1f} GB of results "
                             f"(before compression{snapshots}) and its disk has {free / 1e9:,.1f} GB free")
    return figures


def _refuse_large(sweep: "Sweep", value: float, ceiling: int, what: str) -> None:
    raise LimitError(f"sweep {sweep.name!r}: {value:,.0f} {what}, above the ceiling of {ceiling:,} (a typo?); "
                     "run 'rnnsweep plan' to see the cost, and pass --allow-large if it is meant")


def free_bytes(path: Path) -> int | None:
    """Free space on the disk that holds ``path`` (or its nearest existing parent)."""
    for candidate in (path, *path.resolve().parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None
