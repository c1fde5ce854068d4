"""Integrity of a stored sweep: find finished cells whose results are damaged, and return them to
pending so that ``--resume`` retrains them (``rnnsweep check STORE [--repair]``).

A finished cell (status done, diverged or failed) is damaged when any chunk that holds its results
cannot be read (a corrupted chunk fails zstd's checksum), when its parameters are not finite (a
deleted chunk reads as the NaN fill value), when a done cell's curves are not finite over its
recorded epochs, when a parameter snapshot at or before its ``epochs_run`` is not finite (past it,
NaN is what the store holds), or when its ``epochs_run`` lies outside ``1 .. n_epochs``. An
unreadable ``status`` chunk makes its whole unit damaged. The check reads the store one chunk of the
grid (one unit) at a time, snapshots one snapshot at a time, so it needs little memory; it reads
every array once.

A repair rewrites ``status`` only: the damaged cells' units become pending, so the next ``--resume``
retrains those units whole and rewrites every chunk they own. Damaged *metadata* (a ``zarr.json``
that does not parse) cannot be repaired in place: the store has to be made again (``--overwrite``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import schema, store
from .schema import Status


@dataclasses.dataclass
class Damage:
    """Cells of one unit whose results are damaged, and why."""

    region: tuple[slice, ...]  # the unit (one chunk along the grid axes)
    cells: list[tuple[int, ...]]  # grid indices of the damaged cells
    reasons: list[str]
    status_unreadable: bool = False


@dataclasses.dataclass
class Report:
    store: Path
    sweep: str
    n_cells: int
    n_finished: int
    damages: list[Damage]
    coords: dict[str, np.ndarray]

    @property
    def n_damaged(self) -> int:
        return sum(len(d.cells) for d in self.damages)

    def cell_label(self, index: tuple[int, ...]) -> str:
        return ",".join(f"{d}={v[i]:g}" for (d, v), i in zip(self.coords.items(), index))

    def describe(self, limit: int = 20) -> str:
        if not self.damages:
            return (f"{self.store}:{self.sweep}: {self.n_cells} cells, {self.n_finished} finished, "
                    "no damage found")
        lines = [f"{self.store}:{self.sweep}: {self.n_damaged} of {self.n_finished} finished cells are damaged:"]
        shown = 0
        for damage in self.damages:
            for index in damage.cells:
                if shown < limit:
                    lines.append(f"  {self.cell_label(index)}: {'; '.join(damage.reasons)}")
                shown += 1
        if shown > limit:
            lines.append(f"  ... and {shown - limit} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"store": str(self.store), "sweep": self.sweep, "cells": self.n_cells, "finished": self.n_finished,
                "damaged": [{"cell": self.cell_label(i), "reasons": d.reasons} for d in self.damages for i in d.cells]}


def regions(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """The chunks of a grid, as selections."""
    ranges = [range(0, n, c) for n, c in zip(shape, chunks)]
    return [tuple(slice(s, min(s + c, n)) for s, c, n in zip(starts, chunks, shape))
            for starts in itertools.product(*ranges)]


def check_sweep(path: str | Path, name: str | None = None,
                only: Sequence[tuple[slice, ...]] | None = None) -> Report:
    """Check every finished cell of a stored sweep (or of the units ``only``)."""
    group = store.open_group(path, name)
    status_array = group[schema.STATUS]
    shape = tuple(status_array.shape)
    grid_chunks = tuple(status_array.chunks)
    snapshots = store.snapshot_epochs(group)
    snapshot_names = [schema.snapshot_array(p) for p in store.param_names(group)] if snapshots.size else []
    names = [schema.EPOCHS_RUN, schema.N_EPOCHS, *store.curve_names(group),
             *(schema.param_array(p) for p in store.param_names(group))]
    arrays = {}
    for array in names + snapshot_names:
        try:
            arrays[array] = group[array]
        except Exception as e:  # noqa: BLE001 - any failure to open is damage
            raise store.StoreError(f"{path}: the metadata of array {array!r} cannot be read ({type(e).__name__}); "
                                   "the store must be made again (--overwrite)") from None
    damages, n_finished = [], 0
    for region in (only if only is not None else regions(shape, grid_chunks)):
        region = tuple(_as_slice(s) for s in region)
        sub_shape = tuple(s.stop - s.start for s in region)
        try:
            status = np.asarray(status_array[region])
        except Exception as e:  # noqa: BLE001
            cells = [tuple(s.start + i for s, i in zip(region, ix)) for ix in np.ndindex(sub_shape)]
            damages.append(Damage(region, cells, [f"status unreadable ({_why(e)})"], status_unreadable=True))
            n_finished += len(cells)
            continue
        finished = status != Status.PENDING
        n_finished += int(finished.sum())
        if not finished.any():
            continue
        bad = np.zeros(sub_shape, bool)
        reasons: set[str] = set()
        values = {}
        for array in (schema.EPOCHS_RUN, schema.N_EPOCHS):
            try:
                values[array] = np.asarray(arrays[array][region])
            except Exception as e:  # noqa: BLE001
                bad |= finished
                reasons.add(f"{array} unreadable ({_why(e)})")
        if len(values) == 2:
            wrong = finished & ((values[schema.EPOCHS_RUN] < 1) | (values[schema.EPOCHS_RUN] > values[schema.N_EPOCHS]))
            if wrong.any():
                bad |= wrong
                reasons.add("epochs_run outside 1..n_epochs")
        recorded = values.get(schema.EPOCHS_RUN)
        for array in names[2:]:
            try:
                data = np.asarray(arrays[array][region])
            except Exception as e:  # noqa: BLE001
                bad |= finished
                reasons.add(f"{array} unreadable ({_why(e)})")
                continue
            if array.startswith(schema.PARAM_PREFIX):
                flat = data.reshape(sub_shape + (-1,))
                broken = finished & ~np.all(np.isfinite(flat), axis=-1)
                what = f"{array} not finite"
            elif recorded is not None:
                epochs = np.arange(data.shape[-1])
                within = epochs < recorded[..., None]
                broken = (status == Status.DONE) & np.any(within & ~np.isfinite(data), axis=-1)
                what = f"{array} missing or not finite over the recorded epochs"
            else:
                continue
            if broken.any():
                bad |= broken
                reasons.add(what)
        for array in snapshot_names:
            try:
                broken = finished & _snapshots_missing(arrays[array], region, snapshots, recorded)
            except Exception as e:  # noqa: BLE001
                bad |= finished
                reasons.add(f"{array} unreadable ({_why(e)})")
                continue
            if broken.any():
                bad |= broken
                reasons.add(f"{array} missing or not finite up to epochs_run")
        if bad.any():
            cells = [tuple(s.start + i for s, i in zip(region, ix)) for ix in np.argwhere(bad)]
            damages.append(Damage(region, cells, sorted(reasons)))
    return Report(Path(path), group.attrs[schema.Attr.SWEEP_NAME], math.prod(shape), n_finished, damages,
                  store.coordinates(group))


def _snapshots_missing(array, region: tuple[slice, ...], snapshots: np.ndarray,
                       recorded: np.ndarray | None) -> np.ndarray:
    """Cells of ``region`` with a snapshot at or before their ``epochs_run`` that is not finite (a
    deleted chunk reads as NaN), read one snapshot (one chunk per unit) at a time; with ``epochs_run``
    unreadable (``recorded`` None), only whether every chunk reads. A damaged chunk raises."""
    shape = tuple(s.stop - s.start for s in region)
    missing = np.zeros(shape, bool)
    for row, epoch in enumerate(snapshots):
        data = np.asarray(array[region + (row,)]).reshape(shape + (-1,))
        if recorded is not None:
            missing |= (epoch <= recorded) & ~np.all(np.isfinite(data), axis=-1)
    return missing


def repair(report: Report) -> int:
    """Return every unit with damage to pending (the whole unit: ``--resume`` retrains units whole).
    Returns the number of cells set pending."""
    group = store.open_group(report.store, report.sweep, mode="r+")
    status_array = group[schema.STATUS]
    n = 0
    for damage in report.damages:
        sub_shape = tuple(s.stop - s.start for s in damage.region)
        status_array[damage.region] = np.full(sub_shape, Status.PENDING, np.int8)  # whole chunk: no read needed
        n += math.prod(sub_shape)
    return n


def _as_slice(selection: Any) -> slice:
    return selection if isinstance(selection, slice) else slice(int(selection), int(selection) + 1)


def _why(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:120]
