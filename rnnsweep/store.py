"""The Zarr v3 results store. Nothing else in rnnsweep touches Zarr.

Layout of one sweep's group (``<store>/<sweep name>``), readable by ``xarray.open_zarr``::

    <axis>            (axis,)                coordinates of each grid axis, in grid order
    epoch             (epoch,)               0 .. max epochs - 1
    loss, accuracy, reliability, grad_norm   (*grid, epoch) float, NaN past a cell's own end
    status            (*grid,) int8          0 pending, 1 done, 2 diverged, 3 failed
    epochs_run        (*grid,) int32         epochs with recorded metrics
    n_epochs          (*grid,) int32         the cell's epoch budget
    param_<name>      (*grid, *param dims)   final parameters (W_rec: neuron x neuron_pre, ...)
    _parts/           subgroup; part-<i>-of-<n>.json run records of `run --part` (one file per part)
    analysis/         subgroup written by `rnnsweep analyze` (classes, mechanism_index, output_rms)

Chunks along the grid axes are one *unit* (all seeds, or ``run.seeds_per_chunk`` of them, of one
combination of the other coordinates), so the blocks that write them never share a chunk. A
block's curves and parameters are written first and its ``status`` last: ``status`` is the commit
marker, and zarr's local store writes each chunk atomically (temporary file, then rename), so an
interrupted write leaves the cells pending, never half-marked.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from .sweep import Sweep, Unit
from .train import CURVES, STATUS_NAMES

EPOCH_CHUNK = 2048
PARTS_DIR = "_parts"


class StoreError(RuntimeError):
    """The store cannot be used as asked (exists, missing, or made by another sweep)."""


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def group_exists(path: str | Path, name: str) -> bool:
    return (Path(path) / name / "zarr.json").is_file()


def create(path: str | Path, sweep: Sweep, overwrite: bool = False) -> zarr.Group:
    """Create the sweep's group with every array, all cells pending. Refuses an existing group
    unless ``overwrite`` (then the old group is removed first)."""
    path = Path(path)
    if group_exists(path, sweep.name):
        if not overwrite:
            raise StoreError(
                f"{path}: already holds sweep {sweep.name!r}; use --resume to finish it or --overwrite to replace it"
            )
        shutil.rmtree(path / sweep.name)
    import jax

    from . import __version__

    root = zarr.open_group(str(path), mode="a", zarr_format=3)
    group = root.create_group(sweep.name)
    axes = list(sweep.axes)
    chunks = sweep.chunk_shape()
    n_ep = sweep.max_epochs
    dtype = np.dtype(sweep.train.dtype)

    for name, values in sweep.axes.items():
        vals = values.astype(np.int64) if name == "seed" else values
        arr = group.create_array(name, shape=vals.shape, dtype=vals.dtype, dimension_names=[name])
        arr[:] = vals
    arr = group.create_array("epoch", shape=(n_ep,), dtype=np.int32, dimension_names=["epoch"])
    arr[:] = np.arange(n_ep, dtype=np.int32)

    for curve in CURVES:
        group.create_array(
            curve, shape=sweep.shape + (n_ep,), dtype=dtype, chunks=chunks + (min(n_ep, EPOCH_CHUNK),),
            fill_value=np.nan, dimension_names=axes + ["epoch"],
        )
    status = group.create_array("status", shape=sweep.shape, dtype=np.int8, chunks=chunks, fill_value=0,
                                dimension_names=axes)
    status.attrs["flag_values"] = list(STATUS_NAMES)
    status.attrs["flag_meanings"] = " ".join(STATUS_NAMES.values())
    group.create_array("epochs_run", shape=sweep.shape, dtype=np.int32, chunks=chunks, fill_value=0,
                       dimension_names=axes)
    budget = group.create_array("n_epochs", shape=sweep.shape, dtype=np.int32, chunks=chunks, fill_value=0,
                                dimension_names=axes)
    budget[...] = np.array([c.n_epochs for c in sweep.cells()], dtype=np.int32).reshape(sweep.shape)

    shapes, dims = sweep.model.param_shapes(), sweep.model.param_dims()
    for pname, shape in shapes.items():
        group.create_array(
            f"param_{pname}", shape=sweep.shape + shape, dtype=dtype, chunks=chunks + shape,
            fill_value=np.nan, dimension_names=axes + list(dims[pname]),
        )

    # A subgroup whose folder holds one JSON run record per part (parts run at the same time and
    # must not race on shared metadata); being a zarr group, zarr lists it without complaint.
    group.create_group(PARTS_DIR)
    devices = jax.devices()
    group.attrs.update({
        "sweep_name": sweep.name,
        "description": sweep.description,
        "sweep_text": sweep.text,
        "sweep_canonical": json.dumps(sweep.canonical(), sort_keys=True),
        "rnnsweep_version": __version__,
        "git_commit": git_commit(),
        "jax_version": jax.__version__,
        "python_version": platform.python_version(),
        "device": f"{devices[0].platform}: {devices[0].device_kind} x{len(devices)}",
        "created": _now(),
        "wall_time_s": 0.0,
        "runs": [],
    })
    consolidate(path)
    return group


def consolidate(path: str | Path) -> None:
    """Refresh the consolidated metadata, so xarray opens the store with one read and no warning."""
    with warnings.catch_warnings():  # zarr notes that consolidation is not in the v3 spec (yet)
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(str(path), zarr_format=3)


def open_group(path: str | Path, name: str | None = None, mode: str = "r") -> zarr.Group:
    """Open a sweep's group. ``name`` may be omitted when the store holds exactly one sweep."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        raise StoreError(f"{path}: not an rnnsweep store (no zarr.json)")
    if name is None:
        names = sweep_names(path)
        if len(names) != 1:
            raise StoreError(f"{path}: holds sweeps {names}; name one")
        name = names[0]
    if not group_exists(path, name):
        raise StoreError(f"{path}: has no sweep {name!r} (it has: {sweep_names(path)})")
    return zarr.open_group(str(path / name), mode=mode, zarr_format=3)


def sweep_names(path: str | Path) -> list[str]:
    root = zarr.open_group(str(path), mode="r", zarr_format=3)
    return sorted(name for name, g in root.groups() if "sweep_name" in g.attrs)


def check_same_sweep(group: zarr.Group, sweep: Sweep) -> None:
    stored = json.loads(group.attrs["sweep_canonical"])
    current = json.loads(json.dumps(sweep.canonical(), sort_keys=True))
    if stored != current:
        diff = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        raise StoreError(
            f"cannot resume: the store was made by a different sweep (differs in: {', '.join(diff)}); "
            "use --overwrite to replace it"
        )


def read_status(group: zarr.Group) -> np.ndarray:
    return np.asarray(group["status"][...])


def write_block(group: zarr.Group, units: list[Unit], curves: np.ndarray, params: dict[str, np.ndarray],
                status: np.ndarray, epochs_run: np.ndarray) -> None:
    """Write the results of a block's cells (in unit order); ``status`` last, as the commit marker."""
    n_ep = curves.shape[1]
    pieces = []
    start = 0
    for unit in units:
        stop = start + len(unit.cells)
        pieces.append((unit.index, slice(start, stop)))
        start = stop
    for sel, rows in pieces:
        for k, curve in enumerate(CURVES):
            group[curve][sel + (slice(0, n_ep),)] = curves[rows, :, k]
        for pname, value in params.items():
            group[f"param_{pname}"][sel] = value[rows]
        group["epochs_run"][sel] = epochs_run[rows]
    for sel, rows in pieces:
        group["status"][sel] = status[rows].astype(np.int8)


def record_run(path: str | Path, group: zarr.Group, started: str, wall_time_s: float, n_cells: int,
               device: str) -> None:
    runs = list(group.attrs.get("runs", []))
    runs.append({"started": started, "finished": _now(), "wall_time_s": round(wall_time_s, 3),
                 "cells_trained": n_cells, "device": device})
    group.attrs.update({"runs": runs, "wall_time_s": round(float(group.attrs["wall_time_s"]) + wall_time_s, 3)})
    consolidate(path)


def record_part_run(path: str | Path, group: zarr.Group, part: tuple[int, int], started: str, wall_time_s: float,
                    n_cells: int, device: str) -> None:
    """Append a part's run record to its own JSON file beside the arrays (atomic replace)."""
    i, n = part
    folder = Path(path) / group.attrs["sweep_name"] / PARTS_DIR
    folder.mkdir(exist_ok=True)  # created with the store; kept for stores made before it was
    file = folder / f"part-{i}-of-{n}.json"
    runs = json.loads(file.read_text()) if file.exists() else []
    runs.append({"part": i, "parts": n, "started": started, "finished": _now(), "wall_time_s": round(wall_time_s, 3),
                 "cells_trained": n_cells, "device": device})
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(runs, indent=1))
    tmp.replace(file)


def part_runs(path: str | Path, name: str) -> list[dict[str, Any]]:
    folder = Path(path) / name / PARTS_DIR
    return [r for f in sorted(folder.glob("part-*.json")) for r in json.loads(f.read_text())] if folder.is_dir() else []


def summary(group: zarr.Group) -> dict[str, Any]:
    """Grid, progress and provenance of a sweep's group (what ``rnnsweep info`` prints)."""
    status = read_status(group)
    dims = list(group["status"].metadata.dimension_names)
    counts = {name: int(np.sum(status == code)) for code, name in STATUS_NAMES.items()}
    attrs = dict(group.attrs)
    return {
        "sweep": attrs.get("sweep_name"),
        "description": attrs.get("description", ""),
        "grid": {d: [float(x) for x in np.asarray(group[d][...])] for d in dims},
        "n_cells": int(status.size),
        "status": counts,
        "progress": 1.0 - counts["pending"] / max(status.size, 1),
        "max_epochs": int(group["epoch"].shape[0]),
        "provenance": {k: attrs.get(k) for k in (
            "rnnsweep_version", "git_commit", "jax_version", "python_version", "device", "created", "wall_time_s")},
        "runs": attrs.get("runs", []),
    }


# --- analysis results ------------------------------------------------------------------------
ANALYSIS_GROUP = "analysis"


def read(group: zarr.Group, name: str, selection: Any = ...) -> np.ndarray:
    return np.asarray(group[name][selection])


def dimension_names(group: zarr.Group, name: str) -> list[str]:
    return list(group[name].metadata.dimension_names)


def write_analysis(path: str | Path, sweep_name: str, arrays: dict[str, tuple[np.ndarray, list[str]]],
                   attrs: dict[str, Any]) -> None:
    """Replace the sweep's ``analysis`` subgroup with ``arrays`` (name -> (values, dimension names))."""
    group = open_group(path, sweep_name, mode="r+")
    if ANALYSIS_GROUP in group:
        del group[ANALYSIS_GROUP]
    sub = group.create_group(ANALYSIS_GROUP)
    for name, (values, dims) in arrays.items():
        arr = sub.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=dims)
        arr[...] = values
    sub.attrs.update({**attrs, "created": _now()})
    consolidate(path)

