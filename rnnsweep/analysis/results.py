"""Classify every cell of a stored sweep: learning class, mechanism index, output oscillation.

:func:`classify_sweep` reads the store one slice of its first grid axis at a time (so studies of
tens of thousands of networks with long curves fit in memory), computes the classes, runs the
mechanism index in JAX on the learned networks (grouped by trial length, vmapped), and returns a
:class:`Classified` with numpy arrays over the grid. :func:`save` writes it into the store's
``<sweep>/analysis`` group, replacing any earlier analysis.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import store
from ..sweep import Sweep, parse_sweep
from ..tasks import Timing
from .classify import CLASS_NAMES, LC, PENDING, SP, Thresholds, learning_classes, split_mechanism
from .mechanism import MechanismConfig, mechanism_measures


@dataclasses.dataclass
class Classified:
    """Per-cell analysis results of one sweep (or several combined along ``lr``)."""

    name: str
    dims: list[str]
    coords: dict[str, np.ndarray]
    status: np.ndarray
    classes: np.ndarray  # int8 codes, see classify.CLASS_NAMES
    mechanism_index: np.ndarray  # NaN where not computed
    output_rms: np.ndarray
    sources: list[str] = dataclasses.field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.classes.shape

    def axis(self, name: str) -> int:
        return self.dims.index(name)

    def coverage(self) -> float:
        """Fraction of the grid's cells that are finished (not pending)."""
        return float(np.mean(self.classes != PENDING))

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.classes == code)) for code, name in enumerate(CLASS_NAMES)}


def classify_sweep(path: str | Path, name: str | None = None, thresholds: Thresholds = Thresholds(),
                   mechanism: MechanismConfig = MechanismConfig(), progress: bool = True) -> Classified:
    group = store.open_group(path, name)
    sweep = parse_sweep(group.attrs["sweep_text"])
    dims = store.dimension_names(group, "status")
    coords = {d: store.read(group, d) for d in dims}
    status = store.read(group, "status")
    epochs_run = store.read(group, "epochs_run")
    classes = np.zeros(status.shape, np.int8)
    lead = status.shape[0]
    for i in tqdm(range(lead), desc=f"classify {sweep.name}", disable=not progress, leave=False):
        acc = store.read(group, "accuracy", i)
        rel = store.read(group, "reliability", i)
        _, classes[i] = learning_classes(acc, rel, epochs_run[i], status[i], thresholds)
    index = np.full(status.shape, np.nan)
    rms = np.full(status.shape, np.nan)
    if sweep.model.mechanism is not None:  # a toy model: its mechanism is known by construction
        known = {"SP": SP, "LC": LC}[sweep.model.mechanism]
        classes = np.where(classes == SP, known, classes).astype(np.int8)
        return Classified(sweep.name, dims, coords, status, classes, index, rms, [f"{path}:{sweep.name}"])
    learned = np.argwhere(classes == SP)
    if len(learned):
        _measure(group, sweep, dims, learned, index, rms, mechanism, progress)
    classes = split_mechanism(classes, index, thresholds)
    return Classified(sweep.name, dims, coords, status, classes, index, rms, [f"{path}:{sweep.name}"])


def _measure(group, sweep: Sweep, dims, cells: np.ndarray, index, rms, cfg: MechanismConfig, progress) -> None:
    """Mechanism measures of the given cells, grouped by trial length."""
    by_length: dict[tuple, list] = {}
    for ix in map(tuple, cells):
        timing = sweep.timing_at({d: float(group[d][ix[k]]) for k, d in enumerate(dims)})
        by_length.setdefault(tuple(int(x) for x in timing), []).append(ix)
    names = [n for n, _ in group.arrays() if n.startswith("param_")]
    for steps, members in tqdm(sorted(by_length.items()), desc="mechanism index", disable=not progress, leave=False):
        params = {n[len("param_"):]: np.stack([np.asarray(group[n][ix]) for ix in members]) for n in names}
        i, r = mechanism_measures(sweep.model, sweep.task, params, Timing(*steps), cfg)
        for ix, a, b in zip(members, i, r):
            index[ix], rms[ix] = a, b


def combine(parts: list[Classified], along: str = "lr") -> Classified:
    """Join sweeps with the same other axes along ``along`` (sorted descending, as the papers plot)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    for p in parts[1:]:
        if p.dims != first.dims:
            raise ValueError(f"cannot combine {p.name} with {first.name}: axes {p.dims} != {first.dims}")
        for d in first.dims:
            if d != along and not np.array_equal(p.coords[d], first.coords[d]):
                raise ValueError(f"cannot combine {p.name} with {first.name}: their {d} axes differ")
    ax = first.axis(along)
    values = np.concatenate([p.coords[along] for p in parts])
    order = np.argsort(-values, kind="stable")
    if len(np.unique(values)) != len(values):
        raise ValueError(f"cannot combine: repeated {along} values")
    cat = lambda field: np.take(np.concatenate([getattr(p, field) for p in parts], axis=ax), order, axis=ax)
    coords = dict(first.coords, **{along: values[order]})
    return Classified("+".join(p.name for p in parts), first.dims, coords, cat("status"), cat("classes"),
                      cat("mechanism_index"), cat("output_rms"), [s for p in parts for s in p.sources])


def save(path: str | Path, result: Classified, thresholds: Thresholds, mechanism: MechanismConfig,
         extra_attrs: dict[str, Any] | None = None) -> None:
    store.write_analysis(path, result.name, {
        "classes": (result.classes, result.dims),
        "mechanism_index": (result.mechanism_index, result.dims),
        "output_rms": (result.output_rms, result.dims),
    }, {"class_names": list(CLASS_NAMES), "thresholds": dataclasses.asdict(thresholds),
        "mechanism": dataclasses.asdict(mechanism), **(extra_attrs or {})})


__all__ = ["Classified", "classify_sweep", "combine", "save", "LC", "SP"]
