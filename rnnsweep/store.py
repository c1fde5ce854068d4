"""The Zarr v3 results store. Nothing else in rnnsweep touches Zarr; the names come from
:mod:`rnnsweep.schema`, and this module imports nothing of the trainer, so a store stays readable
(and analysable) whatever happens to the training code.

Layout of one sweep's group (``<store>/<sweep name>``), readable by ``xarray.open_zarr``::

    <axis>            (axis,)                coordinates of each grid axis, in grid order
    epoch             (epoch,)               0 .. max epochs - 1
    loss, <metrics>, grad_norm (*grid, epoch) float, NaN past a cell's own end
    status            (*grid,) int8          0 pending, 1 done, 2 diverged, 3 failed
    epochs_run        (*grid,) int32         epochs with recorded metrics
    n_epochs          (*grid,) int32         the cell's epoch budget
    n_steps, steps_<k> (*grid,) int32        trial length and the cell's timing (steps of each task
                                             duration, and e.g. the scoring window's ends)
    param_<name>      (*grid, *param dims)   final parameters (W_rec: neuron x neuron_pre, ...)
    snapshot          (snapshot,) int32      with [run] snapshot_every = K: the epochs 0, K, 2K, ...
                                             up to the largest budget
    snapshot_<name>   (*grid, snapshot, *param dims)
                                             the parameters after that many epochs, NaN past a
                                             cell's epochs_run (one snapshot per chunk)
    _parts/           subgroup; part-<i>-of-<n>.json run records of `run --part` (one file per part),
                      and the lock file of each running part (or whole run)
    _checkpoints/     subgroup; <block id>.npz, the blocks in flight (rnnsweep.checkpoint)
    analysis/<name>/  one subgroup per analysis (`rnnsweep analyze`), each replaced only by itself

Chunks along the grid axes are one *unit* (all seeds, or ``run.seeds_per_chunk`` of them, of one
combination of the other coordinates), so the blocks that write them never share a chunk. A
block's curves and parameters are written first and its ``status`` last: ``status`` is the commit
marker, and zarr's local store writes each chunk atomically (temporary file, then rename), so an
interrupted write leaves the cells pending, never half-marked. Snapshots are written while the
block trains, before that commit: the rows of a cell still pending are rewritten when it is trained
again (from the start, or from a checkpoint: the same values), and the block's commit clears the rows
past each cell's ``epochs_run`` before ``status``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import socket
import subprocess
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from . import schema
from .schema import Attr

if TYPE_CHECKING:  # the runner hands these in; the store never imports the trainer
    from .schedule import Unit
    from .sweep import Sweep

EPOCH_CHUNK = 2048
V1_METRICS = ("accuracy", "reliability")


class StoreError(RuntimeError):
    """The store cannot be used as asked (exists, missing, or made by another sweep)."""


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def group_exists(path: str | Path, name: str) -> bool:
    return (Path(path) / name / "zarr.json").is_file()


# --- writing --------------------------------------------------------------------------------------
def create(path: str | Path, sweep: "Sweep", chunks: tuple[int, ...], overwrite: bool = False) -> zarr.Group:
    """Create the sweep's group with every array, all cells pending; ``chunks`` is the chunk shape
    along the grid axes (one unit). Refuses an existing group unless ``overwrite``.

    The group is built under a temporary (hidden) name and renamed into place only when it is
    complete, so a failure leaves nothing behind (a store that did not exist is not created); with
    ``overwrite`` the old group is removed only after the new one is complete."""
    path = Path(path)
    if group_exists(path, sweep.name) and not overwrite:
        raise StoreError(f"{path}: already holds sweep {sweep.name!r}; use --resume to finish it or --overwrite to "
                         "replace it")
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path}: exists and is not a folder")
    new_store = not path.exists()
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"{parent}: cannot create the store's folder ({e.strerror})") from None
    folder = parent if new_store else path
    if not os.access(folder, os.W_OK):
        raise StoreError(f"{folder}: not writable, so the store cannot be written")
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    # a new store is built whole beside its final place; a new group inside an existing store
    building = parent / f".{path.name}.creating-{tag}" if new_store else path / f".creating-{sweep.name}-{tag}"
    replaced = None
    try:
        if new_store:
            zarr.open_group(str(building), mode="w-", zarr_format=3)
            _fill(zarr.open_group(str(building / sweep.name), mode="w-", zarr_format=3), sweep, chunks)
            building.rename(path)
        else:
            _fill(zarr.open_group(str(building), mode="w-", zarr_format=3), sweep, chunks)
            target = path / sweep.name
            if target.exists():
                replaced = path / f".replaced-{sweep.name}-{tag}"
                target.rename(replaced)
            building.rename(target)
    except OSError as e:
        raise StoreError(f"{path}: cannot write the store ({e.strerror or e}: {e.filename or path})") from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
    consolidate(path)
    return zarr.open_group(str(path / sweep.name), mode="r+", zarr_format=3)


def _fill(group: zarr.Group, sweep: "Sweep", chunks: tuple[int, ...]) -> None:
    """Every array and attribute of a new sweep group."""
    import jax

    from . import __version__

    axes = list(sweep.axes)
    cells = sweep.cells()
    n_ep = max(c.n_epochs for c in cells)
    dtype = np.dtype(sweep.train.dtype)

    for name, values in sweep.axes.items():
        vals = values.astype(np.int64) if name == "seed" else values
        arr = _new_array(group, name, shape=vals.shape, dtype=vals.dtype, dimension_names=[name])
        arr[:] = vals
    arr = _new_array(group, schema.EPOCH, shape=(n_ep,), dtype=np.int32, dimension_names=[schema.EPOCH])
    arr[:] = np.arange(n_ep, dtype=np.int32)

    for curve in schema.curve_names(sweep.task.metric_names):
        _new_array(
            group, curve, shape=sweep.shape + (n_ep,), dtype=dtype, chunks=chunks + (min(n_ep, EPOCH_CHUNK),),
            fill_value=np.nan, dimension_names=axes + [schema.EPOCH],
        )
    status = _new_array(group, schema.STATUS, shape=sweep.shape, dtype=np.int8, chunks=chunks, fill_value=0,
                        dimension_names=axes)
    status.attrs["flag_values"] = list(schema.STATUS_NAMES)
    status.attrs["flag_meanings"] = " ".join(schema.STATUS_NAMES.values())
    _new_array(group, schema.EPOCHS_RUN, shape=sweep.shape, dtype=np.int32, chunks=chunks, fill_value=0,
               dimension_names=axes)
    per_cell = {schema.N_EPOCHS: [c.n_epochs for c in cells], schema.N_STEPS: [c.n_steps for c in cells]}
    for key in cells[0].timing:
        per_cell[schema.steps_array(key)] = [int(c.timing[key]) for c in cells]
    for name, values in per_cell.items():
        arr = _new_array(group, name, shape=sweep.shape, dtype=np.int32, dimension_names=axes)
        arr[...] = np.array(values, dtype=np.int32).reshape(sweep.shape)

    shapes, dims = sweep.model.param_shapes(), sweep.model.param_dims()
    for pname, shape in shapes.items():
        _new_array(
            group, schema.param_array(pname), shape=sweep.shape + shape, dtype=dtype, chunks=chunks + shape,
            fill_value=np.nan, dimension_names=axes + list(dims[pname]),
        )
    snapshots = sweep.snapshot_epochs(n_ep)
    if snapshots.size:  # one chunk per unit and snapshot: each row a block writes is whole chunks
        arr = _new_array(group, schema.SNAPSHOT, shape=snapshots.shape, dtype=np.int32,
                         dimension_names=[schema.SNAPSHOT])
        arr[:] = snapshots
        for pname, shape in shapes.items():
            _new_array(
                group, schema.snapshot_array(pname), shape=sweep.shape + snapshots.shape + shape, dtype=dtype,
                chunks=chunks + (1,) + shape, fill_value=np.nan,
                dimension_names=axes + [schema.SNAPSHOT] + list(dims[pname]),
            )

    # A subgroup whose folder holds one JSON run record per part (parts run at the same time and
    # must not race on shared metadata); being a zarr group, zarr lists it without complaint.
    group.create_group(schema.PARTS_GROUP)
    devices = jax.devices()
    canonical = sweep.canonical()
    group.attrs.update({
        Attr.SWEEP_NAME: sweep.name,
        Attr.DESCRIPTION: sweep.description,
        Attr.SWEEP_TEXT: sweep.text,
        Attr.SWEEP_CANONICAL: json.dumps(canonical, sort_keys=True),
        Attr.MODEL: canonical["model"],
        Attr.TASK: canonical["task"],
        Attr.METRICS: list(sweep.task.metric_names),
        Attr.SCHEMA_VERSION: schema.SCHEMA_VERSION,
        Attr.VERSION: __version__,
        Attr.GIT_COMMIT: git_commit(),
        Attr.JAX_VERSION: jax.__version__,
        Attr.PYTHON_VERSION: platform.python_version(),
        Attr.DEVICE: f"{devices[0].platform}: {devices[0].device_kind} x{len(devices)}",
        Attr.CREATED: now(),
        Attr.WALL_TIME: 0.0,
        Attr.RUNS: [],
    })


def _new_array(group: zarr.Group, name: str, **kwargs) -> zarr.Array:
    """Every array rnnsweep writes is zstd-compressed with zstd's content checksum, so a chunk damaged
    on disk fails to read instead of returning wrong numbers."""
    return group.create_array(name, compressors=(ZstdCodec(level=0, checksum=True),), **kwargs)


def consolidate(path: str | Path) -> None:
    """Refresh the consolidated metadata, so xarray opens the store with one read and no warning."""
    with warnings.catch_warnings():  # zarr notes that consolidation is not in the v3 spec (yet)
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(str(path), zarr_format=3)


def write_block(group: zarr.Group, units: Sequence["Unit"], curves: np.ndarray, params: dict[str, np.ndarray],
                status: np.ndarray, epochs_run: np.ndarray) -> None:
    """Write the results of a block's cells (in unit order); ``status`` last, as the commit marker.
    ``curves`` (cells, epochs, curves) has the columns of :func:`curve_names`. The snapshots past each
    cell's ``epochs_run`` are set to NaN (see :func:`write_snapshot`)."""
    names = curve_names(group)
    n_ep = curves.shape[1]
    pieces = _unit_rows(units)
    snapshots = snapshot_epochs(group)
    for sel, rows in pieces:
        for k, curve in enumerate(names):
            group[curve][sel + (slice(0, n_ep),)] = curves[rows, :, k]
        for pname, value in params.items():
            group[schema.param_array(pname)][sel] = value[rows]
        group[schema.EPOCHS_RUN][sel] = epochs_run[rows]
        if snapshots.size:
            _clear_snapshots_past(group, sel, list(params), snapshots, epochs_run[rows])
    for sel, rows in pieces:
        group[schema.STATUS][sel] = status[rows].astype(np.int8)


def write_snapshot(group: zarr.Group, units: Sequence["Unit"], epoch: int, params: dict[str, np.ndarray]) -> None:
    """Write the parameters of a block's cells (in unit order) after ``epoch`` epochs, a multiple of
    ``run.snapshot_every``, into their snapshot row, while the block trains. The cells stay pending
    until :func:`write_block` commits them, which clears the rows past each cell's ``epochs_run``
    (a cell that stopped keeps its last parameters, and a retrained cell may stop sooner than the
    rows an earlier attempt wrote)."""
    row = snapshot_epochs(group).tolist().index(epoch)
    for sel, rows in _unit_rows(units):
        for pname, value in params.items():
            group[schema.snapshot_array(pname)][sel + (row,)] = value[rows]


def _unit_rows(units: Sequence["Unit"]) -> list[tuple[tuple, slice]]:
    """``(store selection, rows of the block's cells)`` of each unit of a block, in unit order."""
    pieces, start = [], 0
    for unit in units:
        pieces.append((unit.index, slice(start, start + len(unit.cells))))
        start += len(unit.cells)
    return pieces


def _clear_snapshots_past(group: zarr.Group, sel: tuple, params: list[str], snapshots: np.ndarray,
                          epochs_run: np.ndarray) -> None:
    """Set a unit's snapshots past each cell's ``epochs_run`` to NaN, one row (chunk) at a time."""
    past = snapshots[None, :] > epochs_run[:, None]  # (cells, snapshots)
    rows = [int(row) for row in np.flatnonzero(past.any(axis=0))]
    for pname in params:
        array = group[schema.snapshot_array(pname)]
        for row in rows:
            values = np.asarray(array[sel + (row,)])
            values[past[:, row]] = np.nan
            array[sel + (row,)] = values


def record_run(path: str | Path, group: zarr.Group, started: str, wall_time_s: float, n_cells: int,
               device: str) -> None:
    runs = list(group.attrs.get(Attr.RUNS, []))
    runs.append({"started": started, "finished": now(), "wall_time_s": round(wall_time_s, 3),
                 "cells_trained": n_cells, "device": device})
    group.attrs.update({Attr.RUNS: runs, Attr.WALL_TIME: round(float(group.attrs[Attr.WALL_TIME]) + wall_time_s, 3)})
    consolidate(path)


def record_part_run(path: str | Path, group: zarr.Group, part: tuple[int, int], started: str, wall_time_s: float,
                    n_cells: int, device: str) -> None:
    """Append a part's run record to its own JSON file beside the arrays (atomic replace)."""
    i, n = part
    folder = side_folder(path, group.attrs[Attr.SWEEP_NAME], schema.PARTS_GROUP)
    file = folder / f"part-{i}-of-{n}.json"
    runs = json.loads(file.read_text()) if file.exists() else []
    runs.append({"part": i, "parts": n, "started": started, "finished": now(), "wall_time_s": round(wall_time_s, 3),
                 "cells_trained": n_cells, "device": device})
    write_json_atomically(file, runs)


def side_folder(path: str | Path, name: str, sub: str) -> Path:
    """A folder inside a sweep's group for files of rnnsweep's own (run records, locks, checkpoints),
    made a zarr group so that zarr and xarray list the sweep without a warning."""
    folder = Path(path) / name / sub
    if not (folder / "zarr.json").is_file():
        zarr.open_group(str(folder), mode="a", zarr_format=3)
    return folder


@contextlib.contextmanager
def lease(path: str | Path, name: str, part: tuple[int, int] | None = None):
    """Hold the right to train a sweep (or one part of it) while the block is open: a lock file with
    this process's host and pid in ``<sweep>/_parts/``, created exclusively. A second process asking
    for the same part, or a whole run while any part runs (and the reverse), is refused with the
    holder's host and pid. A lock left by a killed process on this host, or by an earlier run of the
    same Slurm job (a requeued job keeps its id), is taken over."""
    folder = side_folder(path, name, schema.PARTS_GROUP)
    mine = folder / (f"part-{part[0]}-of-{part[1]}.lock" if part else "run.lock")
    conflicting = [mine] + (sorted(folder.glob("part-*.lock")) if part is None else [folder / "run.lock"])
    for lock in conflicting:
        holder = _live_holder(lock)
        if holder:
            raise StoreError(f"{lock}: {holder} is already training {'this part' if lock == mine else 'this sweep'}; "
                             f"wait for it (or, if that process is gone, delete the file)")
        lock.unlink(missing_ok=True)  # stale: its process is gone
    record = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "job": _slurm_job(), "started": now()})
    try:
        fd = os.open(mine, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise StoreError(f"{mine}: another process took this part at the same moment") from None
    with os.fdopen(fd, "w") as f:
        f.write(record)
    try:
        yield
    finally:
        mine.unlink(missing_ok=True)


def _live_holder(lock: Path) -> str | None:
    """``"host H pid P"`` of the process holding ``lock``, or None when there is none (or it is dead)."""
    try:
        info = json.loads(lock.read_text())
        host, pid = info["host"], int(info["pid"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, OSError):
        return f"an unknown process (unreadable {lock.name})"
    if info.get("job") and info.get("job") == _slurm_job():
        return None  # this Slurm job's own earlier run (a requeue keeps the job id): it is gone
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return f"host {host} pid {pid}"


def _slurm_job() -> str | None:
    """The Slurm job (and array task) this process runs in, if any."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{job}_{task}" if job and task else job


@contextlib.contextmanager
def replacing(file: Path):
    """Yield a temporary path of a name no other process uses, beside ``file``; when the block ends
    without an error, rename it over ``file`` (atomic: readers see the old file or the new one, and a
    kill mid-write leaves the old one whole). The temporary file never outlives the block."""
    tmp = file.with_name(f".{file.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomically(file: Path, value: Any) -> None:
    """Write ``value`` as JSON through :func:`replacing`."""
    try:
        with replacing(file) as tmp:
            tmp.write_text(json.dumps(value, indent=1))
    except OSError as e:
        raise StoreError(f"{file}: cannot write ({e.strerror})") from None


def write_analysis(path: str | Path, sweep_name: str, analysis: str,
                   arrays: dict[str, tuple[np.ndarray, Sequence[str]]], attrs: dict[str, Any]) -> None:
    """Replace the subgroup ``analysis/<analysis>`` of a sweep with ``arrays`` (name -> (values,
    dimension names)) and ``attrs``; other analyses' subgroups are left alone."""
    group = open_group(path, sweep_name, mode="r+")
    parent = group[schema.ANALYSIS_GROUP] if schema.ANALYSIS_GROUP in group else group.create_group(schema.ANALYSIS_GROUP)
    if _is_v1_analysis(parent):  # rnnsweep 0.1.0 wrote its arrays straight into analysis/
        del group[schema.ANALYSIS_GROUP]
        parent = group.create_group(schema.ANALYSIS_GROUP)
    if analysis in parent:
        del parent[analysis]
    sub = parent.create_group(analysis)
    for name, (values, dims) in arrays.items():
        values = np.asarray(values)
        arr = _new_array(sub, name, shape=values.shape, dtype=values.dtype, dimension_names=list(dims))
        arr[...] = values
    sub.attrs.update({**attrs, Attr.CREATED: now()})
    consolidate(path)


def _is_v1_analysis(parent: zarr.Group) -> bool:
    return any(True for _ in parent.arrays())


# --- reading --------------------------------------------------------------------------------------
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
    try:
        group = zarr.open_group(str(path / name), mode=mode, zarr_format=3)
        group.attrs[Attr.SWEEP_NAME]
    except (ValueError, KeyError, TypeError) as e:  # a zarr.json that does not parse, or no sweep in it
        raise StoreError(f"{path / name / 'zarr.json'}: damaged metadata ({type(e).__name__}); the store must be made "
                         "again (--overwrite)") from None
    return group


def check_writable(path: str | Path, name: str) -> None:
    """Refuse, before any training, a sweep group whose folders cannot be written."""
    for folder in (Path(path) / name, Path(path) / name / schema.STATUS):
        if folder.exists() and not os.access(folder, os.W_OK):
            raise StoreError(f"{folder}: not writable, so no result could be saved")


def sweep_names(path: str | Path) -> list[str]:
    try:
        root = zarr.open_group(str(path), mode="r", zarr_format=3)
    except (ValueError, KeyError, TypeError) as e:
        raise StoreError(f"{Path(path) / 'zarr.json'}: damaged metadata ({type(e).__name__})") from None
    # hidden names are groups being created or replaced (sweep names never start with a dot)
    return sorted(name for name, g in root.groups() if not name.startswith(".") and Attr.SWEEP_NAME in g.attrs)


def read_canonical(group: zarr.Group) -> dict[str, Any]:
    """The canonical form of the sweep that made the store (what ``--resume`` compares); a store of
    rnnsweep 0.1.0 gets its task settings upgraded to today's tasks."""
    stored = json.loads(group.attrs[Attr.SWEEP_CANONICAL])
    if Attr.SCHEMA_VERSION not in group.attrs:
        stored["task"] = upgrade_v1_task(stored["task"])
    return stored


def read(group: zarr.Group, name: str, selection: Any = ...) -> np.ndarray:
    return np.asarray(group[name][selection])


def read_status(group: zarr.Group) -> np.ndarray:
    return read(group, schema.STATUS)


def dimension_names(group: zarr.Group, name: str = schema.STATUS) -> list[str]:
    """Dimension names of an array (default: the grid axes, from ``status``)."""
    return list(group[name].metadata.dimension_names)


def coordinates(group: zarr.Group) -> dict[str, np.ndarray]:
    """The grid axes and their values, in grid order."""
    return {d: read(group, d) for d in dimension_names(group)}


def curve_names(group: zarr.Group) -> tuple[str, ...]:
    return schema.curve_names(tuple(group.attrs.get(Attr.METRICS, V1_METRICS)))


def param_names(group: zarr.Group) -> list[str]:
    return sorted(n.removeprefix(schema.PARAM_PREFIX) for n, _ in group.arrays() if n.startswith(schema.PARAM_PREFIX))


def snapshot_epochs(group: zarr.Group) -> np.ndarray:
    """The epochs of the parameter snapshots (empty for a store without snapshots)."""
    return read(group, schema.SNAPSHOT) if schema.SNAPSHOT in group else np.zeros(0, np.int32)


def read_snapshots(group: zarr.Group, indices: Sequence[tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Parameter snapshots of the cells at ``indices``, stacked: ``{name: (len(indices), snapshots, ...)}``."""
    return _read_per_param(group, schema.snapshot_array, indices)


def read_params(group: zarr.Group, indices: Sequence[tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Final parameters of the cells at ``indices``, stacked: ``{name: (len(indices), ...)}``."""
    return _read_per_param(group, schema.param_array, indices)


def _read_per_param(group: zarr.Group, array_of, indices: Sequence[tuple[int, ...]]) -> dict[str, np.ndarray]:
    """``{name: the cells' values of array_of(name), stacked}`` for every parameter of the store."""
    return {name: np.stack([read(group, array_of(name), tuple(ix)) for ix in indices]) for name in param_names(group)}


def read_steps(group: zarr.Group) -> dict[str, np.ndarray] | None:
    """The per-cell timing integers ``{"delay": (*grid), ...}``, or None for a store of rnnsweep 0.1.0
    (the analysis then recomputes them from the task settings)."""
    names = [n for n, _ in group.arrays() if n.startswith(schema.STEPS_PREFIX)]
    if not names:
        return None
    return {n.removeprefix(schema.STEPS_PREFIX): read(group, n) for n in names}


def analysis_group(group: zarr.Group, analysis: str) -> zarr.Group | None:
    """The subgroup ``analysis/<analysis>`` of a sweep's group, or None where that analysis has not
    run (a store of rnnsweep 0.1.0 holds its analysis arrays straight in ``analysis/``: None too)."""
    if schema.ANALYSIS_GROUP not in group:
        return None
    parent = group[schema.ANALYSIS_GROUP]
    return None if _is_v1_analysis(parent) or analysis not in parent else parent[analysis]


def read_configs(group: zarr.Group) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model settings, task settings)`` as stored, with ``family`` and ``name`` keys. Stores of
    rnnsweep 0.1.0 kept them only inside the canonical sweep; their task settings are upgraded to
    today's tasks (see :func:`upgrade_v1_task`)."""
    attrs = group.attrs
    if Attr.MODEL in attrs and Attr.TASK in attrs:
        return dict(attrs[Attr.MODEL]), dict(attrs[Attr.TASK])
    canonical = json.loads(attrs[Attr.SWEEP_CANONICAL])
    return dict(canonical["model"]), upgrade_v1_task(dict(canonical["task"]))


def upgrade_v1_task(task: dict[str, Any]) -> dict[str, Any]:
    """rnnsweep 0.1.0 had one task class with every duration: drop the durations a task does not
    have (they had to be 0) and give delayed activation its trial count."""
    unused = {"no_memory": ("delay_ms", "post_ms"), "delayed_activation": ("cue_ms",)}.get(task.get("name"), ())
    for field in unused:
        if task.pop(field, 0) != 0:
            raise StoreError(f"store of rnnsweep 0.1.0: task {task['name']} with {field} != 0 cannot be read")
    if task.get("name") == "delayed_activation" and "trials_per_cue" in task:
        task["n_trials"] = 2 * task.pop("trials_per_cue")
    return task


def summary(group: zarr.Group) -> dict[str, Any]:
    """Grid, progress and provenance of a sweep's group (what ``rnnsweep info`` prints)."""
    status = read_status(group)
    counts = {name: int(np.sum(status == code)) for code, name in schema.STATUS_NAMES.items()}
    attrs = dict(group.attrs)
    snapshots = snapshot_epochs(group)
    return {
        "sweep": attrs.get(Attr.SWEEP_NAME),
        "description": attrs.get(Attr.DESCRIPTION, ""),
        "grid": {d: [float(x) for x in v] for d, v in coordinates(group).items()},
        "n_cells": int(status.size),
        "status": counts,
        "progress": 1.0 - counts[schema.STATUS_NAMES[schema.Status.PENDING]] / max(status.size, 1),
        "max_epochs": int(group[schema.EPOCH].shape[0]),
        "snapshots": {"every": int(snapshots[1]), "count": len(snapshots)} if snapshots.size else None,
        "provenance": {k: attrs.get(k) for k in Attr.PROVENANCE},
        "runs": attrs.get(Attr.RUNS, []),
    }


def part_runs(path: str | Path, name: str) -> list[dict[str, Any]]:
    folder = Path(path) / name / schema.PARTS_GROUP
    return [r for f in sorted(folder.glob("part-*.json")) for r in json.loads(f.read_text())] if folder.is_dir() else []
