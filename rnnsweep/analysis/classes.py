"""Analysis ``classes``: what each trained network learned, and by which mechanism (paper-spec
section 1, steps 1-5).

Every finished cell is classified from its accuracy and reliability curves (:mod:`.classify`) as
``no_learning``, ``unstable``, ``stopped`` or learned; learned networks are split into ``SP`` and
``LC`` by the mechanism index (:mod:`.mechanism`, in JAX, vmapped over the networks of one trial
length), or by construction for the toy models. The store gets ``analysis/classes`` with
``classes``, ``mechanism_index`` and ``output_rms`` per cell; the output folder gets the index
histograms, the loss curves by class and the dynamics of one network.

:func:`classify_sweep` and :func:`combine` are the same computation for Python users.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from .. import schema
from . import plots
from .base import Analysis, Context, Result, register
from .classify import (CLASS_GROUPS, CLASS_NAMES, LC, PENDING, SP, Classified, Thresholds, learning_classes,
                       split_mechanism)
from .conditions import condition_of
from .mechanism import MechanismConfig, mechanism_measures, probe_run
from .study import JOIN_AXIS, Source, Study, join_coords

REQUIRED_METRICS = ("accuracy", "reliability")


def index_variants(cfg: MechanismConfig) -> dict[str, MechanismConfig]:
    """The other indices a sensitivity check compares ``cfg`` with: the other method and, for the
    reference method, the other principal-direction sign."""
    if cfg.method == "robust":
        return {"reference index": dataclasses.replace(cfg, method="reference")}
    flipped = "max_loading" if cfg.sign == "flip_second" else "flip_second"
    return {"robust index": dataclasses.replace(cfg, method="robust"),
            "flipped sign": dataclasses.replace(cfg, sign=flipped)}


def classify_source(source: Source, thresholds: Thresholds = Thresholds(), mechanism: MechanismConfig = MechanismConfig(),
                    progress: bool = True, variants: dict[str, MechanismConfig] | None = None) -> Classified:
    """Classes, mechanism index and output RMS of every cell of one stored sweep, and (``variants``)
    the classes under other mechanism indices. Reads the curves one slice of the first grid axis at a
    time, so long studies fit in memory."""
    group = source.group()
    status = source.status
    epochs_run = source.read(schema.EPOCHS_RUN)
    classes = np.zeros(status.shape, np.int8)
    for i in tqdm(range(status.shape[0]), desc=f"classify {source.name}", disable=not progress, leave=False):
        acc = np.asarray(group[REQUIRED_METRICS[0]][i])
        rel = np.asarray(group[REQUIRED_METRICS[1]][i])
        _, classes[i] = learning_classes(acc, rel, epochs_run[i], status[i], thresholds)
    index = np.full(status.shape, np.nan)
    rms = np.full(status.shape, np.nan)
    if source.model.mechanism is not None:  # a toy model: its mechanism is known by construction
        known = {"SP": SP, "LC": LC}[source.model.mechanism]
        classes = np.where(classes == SP, known, classes).astype(np.int8)
        return Classified(source.name, source.dims, source.coords, status, classes, index, rms, [source.label])
    learned = [tuple(ix) for ix in np.argwhere(classes == SP)]
    configs = {"": mechanism, **(variants or {})}
    indices = {label: np.full(status.shape, np.nan) for label in configs}
    for timing, members in tqdm(source.by_timing(learned), desc="mechanism index", disable=not progress, leave=False):
        params = source.params(members)
        for label, cfg in configs.items():
            i, r = mechanism_measures(source.model, source.task, params, timing, cfg)
            for ix, a, b in zip(members, i, r):
                indices[label][ix] = a
                if label == "":
                    rms[ix] = b
    index = indices.pop("")
    return Classified(source.name, source.dims, source.coords, status, split_mechanism(classes, index, thresholds),
                      index, rms, [source.label],
                      {label: split_mechanism(classes, idx, thresholds) for label, idx in indices.items()})


def classify_sweep(path: str | Path, name: str | None = None, thresholds: Thresholds | None = None,
                   mechanism: MechanismConfig = MechanismConfig(), progress: bool = True) -> Classified:
    """:func:`classify_source` of the sweep ``name`` (or the only one) of the store at ``path``; with
    the classification rules of its condition (:mod:`.conditions`) unless ``thresholds`` are given."""
    source = Source.open(path, name)
    rules = thresholds or condition_of(source.model, source.task).rules
    return classify_source(source, rules, mechanism, progress)


def combine(parts: list[Classified], along: str = JOIN_AXIS) -> Classified:
    """Join sweeps with the same other axes along ``along`` (sorted descending, as the papers plot)."""
    if len(parts) == 1:
        return parts[0]
    coords, order = join_coords([(p.name, p.dims, p.coords) for p in parts], along)
    ax = parts[0].axis(along)
    cat = lambda field: np.take(np.concatenate([getattr(p, field) for p in parts], axis=ax), order, axis=ax)  # noqa: E731
    variants = {label: np.take(np.concatenate([p.variants[label] for p in parts], axis=ax), order, axis=ax)
                for label in parts[0].variants}
    return Classified("+".join(p.name for p in parts), parts[0].dims, coords, cat("status"), cat("classes"),
                      cat("mechanism_index"), cat("output_rms"), [s for p in parts for s in p.sources], variants)


@register
class Classes(Analysis):
    """Learning classes and the SP/LC mechanism of every network."""

    name: ClassVar[str] = "classes"
    description: ClassVar[str] = ("learned / no_learning / unstable / stopped per network; learned ones split into "
                                  "slow-point manifold (SP) and limit cycle (LC) by the mechanism index")

    thresholds: Thresholds | None = None  # None: the rules of the study's condition
    mechanism: MechanismConfig = MechanismConfig()
    sensitivity: bool = True  # also compute the other indices and count the networks that change class
    cell: dict[str, float] | None = None  # the network to draw (default: the first LC, else SP, else any)

    @classmethod
    def applies(cls, study: Study) -> str | None:
        missing = [m for m in REQUIRED_METRICS if m not in study.sources[0].metric_names]
        if missing:
            return f"the task {study.task.name!r} records no {' or '.join(missing)} curves"
        return None

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        rules = self.thresholds or study.condition.rules
        variants = index_variants(self.mechanism) if self.sensitivity else {}
        parts = [classify_source(s, rules, self.mechanism, ctx.progress, variants) for s in study.sources]
        for part in parts:
            ctx.log(f"rnnsweep: classified {part.sources[0]}: {part.counts()}")
        result = combine(parts)
        figures = plots.save(plots.index_histograms(result, rules.mechanism_index), ctx.out, "mechanism_index")
        figures += plots.save(plots.loss_curves(loss_by_class(study, parts), result.name), ctx.out, "loss_by_class")
        chosen = choose_cell(result, self.cell)
        if chosen is not None and study.model.mechanism is None:  # toy models have no rates to draw
            figures += plots.save(cell_figure(study, result, chosen), ctx.out, "cell_dynamics")
        counts = result.counts()
        report = ["## Classes", "", f"Condition: {study.condition.name} ({study.condition.description}).", "",
                  f"Grid coverage: {100 * result.coverage():.1f}% of {result.classes.size} cells finished.", "",
                  "| class | networks |", "|---|---|"]
        report += [f"| {k} | {v} |" for k, v in counts.items()]
        report += ["", "Rules: " + json.dumps(dataclasses.asdict(rules)),
                   "Mechanism index: " + json.dumps(dataclasses.asdict(self.mechanism)), ""]
        flips = class_changes(result)
        if flips:
            report += sensitivity_section(result, flips)
        cell_arrays = {"classes": result.classes, "mechanism_index": result.mechanism_index,
                       "output_rms": result.output_rms}
        cell_arrays.update({"classes_" + label.replace(" ", "_"): codes for label, codes in result.variants.items()})
        return Result(
            cell_arrays=cell_arrays,
            attrs={"class_names": list(CLASS_NAMES), "thresholds": dataclasses.asdict(rules),
                   "mechanism": dataclasses.asdict(self.mechanism)},
            summary={"coverage": result.coverage(), "class_counts": counts,
                     "thresholds": dataclasses.asdict(rules), "mechanism": dataclasses.asdict(self.mechanism),
                     "class_sensitivity": flips, "cell": chosen},
            report=report, figures=figures, value=result)


def class_changes(result: Classified) -> dict[str, dict[str, int]]:
    """Per index variant: the learned networks, and how many of them change class (SP -> LC, LC -> SP)."""
    learned = np.isin(result.classes, (SP, LC))
    out = {}
    for label, codes in result.variants.items():
        out[label] = {"learned": int(learned.sum()),
                      "SP_to_LC": int(np.sum((result.classes == SP) & (codes == LC))),
                      "LC_to_SP": int(np.sum((result.classes == LC) & (codes == SP))),
                      "SP": int(np.sum(codes == SP)), "LC": int(np.sum(codes == LC))}
    return out


def sensitivity_section(result: Classified, flips: dict[str, dict[str, int]]) -> list[str]:
    lines = ["### Sensitivity of the mechanism classes", "",
             f"Learned networks: {int(np.isin(result.classes, (SP, LC)).sum())}, of which SP "
             f"{int(np.sum(result.classes == SP))} and LC {int(np.sum(result.classes == LC))} with the chosen index. "
             "With another index:", "",
             "| index | SP | LC | SP -> LC | LC -> SP | changed |", "|---|---|---|---|---|---|"]
    for label, f in flips.items():
        changed = f["SP_to_LC"] + f["LC_to_SP"]
        share = f" ({100 * changed / f['learned']:.1f}%)" if f["learned"] else ""
        lines.append(f"| {label} | {f['SP']} | {f['LC']} | {f['SP_to_LC']} | {f['LC_to_SP']} | {changed}{share} |")
    return lines + [""]


def loss_by_class(study: Study, parts: list[Classified]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per-epoch mean, SEM and count of the loss of each class group, streamed from the stores."""
    n_ep = max(s.group()[schema.EPOCH].shape[0] for s in study.sources)
    acc = {k: [np.zeros(n_ep), np.zeros(n_ep), np.zeros(n_ep)] for k in CLASS_GROUPS}
    for source, part in zip(study.sources, parts):
        group = source.group()
        for i in range(part.classes.shape[0]):
            loss = np.asarray(group[schema.LOSS][i])
            cls = part.classes[i]
            for key, codes in CLASS_GROUPS.items():
                sel = loss[np.isin(cls, codes)]
                if sel.size == 0:
                    continue
                ok = np.isfinite(sel)
                finite = np.where(ok, sel, 0)
                s, s2, c = acc[key]
                e = sel.shape[-1]
                s[:e] += finite.sum(0)
                s2[:e] += (finite**2).sum(0)
                c[:e] += ok.sum(0)
    result = {}
    for key, (s, s2, c) in acc.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s / c
            var = np.maximum(s2 / c - mean**2, 0) * c / np.maximum(c - 1, 1)
            result[key] = (mean, np.sqrt(var / c), c)
    return result


def choose_cell(result: Classified, cell: dict[str, float] | None) -> dict[str, Any] | None:
    """The cell to draw: the one asked for, else the first LC, else the first SP, else any finished."""
    if cell:
        missing = set(result.dims) - set(cell)
        if missing:
            raise ValueError(f"--cell: give a value for every axis; missing {sorted(missing)}")
        ix = tuple(int(np.argmin(np.abs(result.coords[d] - cell[d]))) for d in result.dims)
    else:
        for codes in ((LC,), (SP,), tuple(c for c in range(len(CLASS_NAMES)) if c != PENDING)):
            hits = np.argwhere(np.isin(result.classes, codes))
            if len(hits):
                break
        else:
            return None
        ix = tuple(int(i) for i in hits[0])
    chosen: dict[str, Any] = {d: float(result.coords[d][i]) for d, i in zip(result.dims, ix)}
    chosen["class"] = CLASS_NAMES[int(result.classes[ix])]
    chosen["mechanism_index"] = float(result.mechanism_index[ix])
    chosen["index"] = list(ix)
    return chosen


def cell_figure(study: Study, result: Classified, chosen: dict[str, Any]):
    """Outputs of the task's conditions and the raster of one network during and after the trial."""
    source, ix = study.locate(tuple(chosen["index"]))
    params = {k: jnp.asarray(v[0]) for k, v in source.params([ix]).items()}
    timing = source.timing(ix)
    n = int(source.task.n_steps(timing))
    conditions = source.task.conditions()
    with jax.default_matmul_precision("highest"):
        rates, outputs = probe_run(source.model, source.task, params, timing, n, 3 * n, jax.random.PRNGKey(0),
                                   tuple(conditions.values()))
    label = ", ".join(f"{d}={chosen[d]:g}" for d in result.dims)
    return plots.cell_dynamics(np.asarray(outputs), np.asarray(rates), n, source.task.dt_ms, list(conditions),
                               f"{source.name}: {label} ({chosen['class']}, index {chosen['mechanism_index']:.2f})")
