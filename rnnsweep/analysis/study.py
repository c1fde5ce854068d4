"""What the analyses read: a *study*, one stored sweep or several joined along ``lr``.

A :class:`Source` is one sweep's group in a store, opened through the store's read API, with its
model family and task rebuilt from the settings the store recorded (never by re-parsing the sweep
file, so the analysis needs no trainer code). A :class:`Study` joins sources that share every axis
but ``lr`` (the paper's narrow and broad no-post sweeps form one 30-rate axis), sorted by
decreasing ``lr`` when there are several; :meth:`Study.join` and :meth:`Study.split` move per-cell
arrays between the sources' grids and the study's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import integrity, settings, store
from ..schema import Attr
from ..models import AbstractModel, get_family
from ..tasks import AbstractTask, Timing, get_task
from .conditions import Condition, condition_named, condition_of

JOIN_AXIS = "lr"


@dataclasses.dataclass
class Source:
    """One stored sweep."""

    path: Path
    name: str
    model: AbstractModel
    task: AbstractTask
    dims: list[str]
    coords: dict[str, np.ndarray]
    status: np.ndarray
    metric_names: tuple[str, ...]
    steps: dict[str, np.ndarray]  # per-cell step counts of each task duration, {"delay": (*grid)}

    @classmethod
    def open(cls, path: str | Path, name: str | None = None) -> "Source":
        group = store.open_group(path, name)
        report = integrity.check_sweep(path, group.attrs[Attr.SWEEP_NAME])
        if report.damages:  # never analyse lost or corrupted results as if they were data
            raise store.StoreError(f"{report.describe(limit=5)}\nrepair it with 'rnnsweep check {path} --repair', then "
                                   "retrain the damaged cells with 'rnnsweep run SWEEP.toml --store ... --resume'")
        model_cfg, task_cfg = store.read_configs(group)
        model = _rebuild(get_family(model_cfg.pop("family")), model_cfg, "model")
        task = _rebuild(get_task(task_cfg.pop("name")), task_cfg, "task")
        coords = store.coordinates(group)
        dims = list(coords)
        steps = store.read_steps(group)
        shape = tuple(len(v) for v in coords.values())
        cell = lambda ix: task.timing({d: float(coords[d][i]) for d, i in zip(dims, ix)})  # noqa: E731
        if steps is None or set(steps) != set(cell((0,) * len(dims))):
            # a store of an older rnnsweep (no timing, or fewer derived quantities): recompute
            timings = [cell(ix) for ix in np.ndindex(shape)]
            steps = {k: np.array([t[k] for t in timings], np.int32).reshape(shape) for k in timings[0]}
        return cls(Path(path), group.attrs[Attr.SWEEP_NAME], model, task, dims, coords, store.read_status(group),
                   tuple(store.curve_names(group)[1:-1]), steps)

    @property
    def label(self) -> str:
        return f"{self.path}:{self.name}"

    def group(self, mode: str = "r"):
        return store.open_group(self.path, self.name, mode)

    def read(self, array: str, selection: Any = ...) -> np.ndarray:
        return store.read(self.group(), array, selection)

    def timing(self, index: tuple[int, ...]) -> Timing:
        """A cell's step counts (int32) and values of the task's cell axes (float), as the trainer
        gave them to the task."""
        values = self.task.cell_values({d: float(self.coords[d][i]) for d, i in zip(self.dims, index)})
        return {**{k: np.int32(v[index]) for k, v in self.steps.items()}, **values}

    def params(self, indices: Sequence[tuple[int, ...]]) -> dict[str, np.ndarray]:
        return store.read_params(self.group(), indices)

    def by_timing(self, cells: Sequence[tuple[int, ...]]) -> list[tuple[Timing, list[tuple[int, ...]]]]:
        """``cells`` grouped by their step counts, ``(timing, cells)`` in a fixed order: the networks of
        one group share a trial length, so a probe or finder program compiled once serves them all."""
        groups: dict[tuple, list] = {}
        for ix in cells:
            groups.setdefault(tuple(sorted(self.timing(ix).items())), []).append(tuple(ix))
        return [(dict(key), members) for key, members in sorted(groups.items())]


def _rebuild(cls, config: dict[str, Any], where: str):
    try:
        return settings.build(cls, settings.stored_settings(cls, config), f"stored {where}")
    except (TypeError, ValueError) as e:
        raise store.StoreError(f"the store's {where} settings do not fit this rnnsweep's {cls.__name__}: {e}") from None


@dataclasses.dataclass
class Study:
    """Sources joined along ``lr``; per-cell arrays of the study have ``dims`` and ``coords``."""

    sources: list[Source]
    dims: list[str]
    coords: dict[str, np.ndarray]
    order: np.ndarray | None  # permutation of the concatenated lr values (None: a single source)
    condition: Condition  # which of the paper's conditions: its classification rules and fits

    @classmethod
    def open(cls, stores: Sequence[str | Path], condition: str | None = None) -> "Study":
        """The sweeps of ``stores``; ``condition`` names one of :data:`.conditions.CONDITIONS` (default:
        the first that matches the model and task)."""
        sources = [Source.open(path, name) for path in stores for name in store.sweep_names(path)]
        if not sources:
            raise store.StoreError(f"no sweep found in {', '.join(map(str, stores))}")
        chosen = condition_named(condition) if condition else condition_of(sources[0].model, sources[0].task)
        if len(sources) == 1:
            return cls(sources, sources[0].dims, dict(sources[0].coords), None, chosen)
        coords, order = join_coords([(s.name, s.dims, s.coords) for s in sources])
        return cls(sources, sources[0].dims, coords, order, chosen)

    @property
    def name(self) -> str:
        return "+".join(s.name for s in self.sources)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.sources]

    @property
    def model(self) -> AbstractModel:
        return self.sources[0].model

    @property
    def task(self) -> AbstractTask:
        return self.sources[0].task

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.coords[d]) for d in self.dims)

    def axis(self, name: str) -> int:
        return self.dims.index(name)

    def join(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Per-source arrays (each over its grid, any trailing axes) -> one over the study's grid."""
        if self.order is None:
            return arrays[0]
        ax = self.axis(JOIN_AXIS)
        return np.take(np.concatenate(arrays, axis=ax), self.order, axis=ax)

    def split(self, array: np.ndarray) -> list[np.ndarray]:
        """The inverse of :meth:`join`."""
        if self.order is None:
            return [array]
        ax = self.axis(JOIN_AXIS)
        unsorted = np.take(array, np.argsort(self.order), axis=ax)
        bounds = np.cumsum([len(s.coords[JOIN_AXIS]) for s in self.sources])[:-1]
        return np.split(unsorted, bounds, axis=ax)

    @property
    def status(self) -> np.ndarray:
        return self.join([s.status for s in self.sources])

    def locate(self, index: tuple[int, ...]) -> tuple[Source, tuple[int, ...]]:
        """The source and its grid index of a cell of the study."""
        if self.order is None:
            return self.sources[0], tuple(index)
        ax = self.axis(JOIN_AXIS)
        k = int(self.order[index[ax]])
        for source in self.sources:
            n = len(source.coords[JOIN_AXIS])
            if k < n:
                return source, tuple(index[:ax]) + (k,) + tuple(index[ax + 1:])
            k -= n
        raise IndexError(index)


def last_epoch_values(curve: np.ndarray, epochs_run: np.ndarray) -> np.ndarray:
    """A curve's value (epochs last) at each cell's last recorded epoch, ``epochs_run - 1`` (epoch 0's
    entry where none ran: the curve is NaN there).

    >>> last_epoch_values(np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]]), np.array([2, 3])).tolist()
    [2.0, 6.0]
    """
    last = np.clip(np.asarray(epochs_run) - 1, 0, curve.shape[-1] - 1)
    return np.take_along_axis(curve, last[..., None], axis=-1)[..., 0]


def join_coords(parts: Sequence[tuple[str, list[str], dict[str, np.ndarray]]],
                along: str = JOIN_AXIS) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Check that named grids ``(name, dims, coords)`` differ only along ``along``; return the
    joined coordinates (``along`` sorted descending, as the papers plot) and the permutation of the
    concatenated values."""
    name, dims, coords = parts[0]
    for other, other_dims, other_coords in parts[1:]:
        if other_dims != dims:
            raise ValueError(f"cannot combine {other} with {name}: axes {other_dims} != {dims}")
        for d in dims:
            if d != along and not np.array_equal(other_coords[d], coords[d]):
                raise ValueError(f"cannot combine {other} with {name}: their {d} axes differ")
    if along not in dims:
        raise ValueError(f"cannot combine sweeps without an {along} axis")
    values = np.concatenate([c[along] for _, _, c in parts])
    if len(np.unique(values)) != len(values):
        raise ValueError(f"cannot combine: repeated {along} values")
    order = np.argsort(-values, kind="stable")
    return dict(coords, **{along: values[order]}), order
