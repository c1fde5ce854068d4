"""``rnnsweep analyze``: classify stored sweeps, fit the scaling laws, draw the figures, write
summary.json and report.md (the fitted exponents next to the paper's)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import store
from ..sweep import parse_sweep
from . import plots
from .classify import CLASS_GROUPS, CLASS_NAMES, LC, PENDING, SP, Thresholds
from .mechanism import MechanismConfig, probe_run
from .results import Classified, classify_sweep, combine, save
from .study import FitConfig, StudyFits, fit_study

# paper-spec section 1, "Reported results to reproduce": (beta, error, R^2)
PAPER = {
    ("learning_boundary", "nopost"): (2.72, 0.07, 0.98),
    ("learning_boundary", "post"): (2.65, 0.23, 0.93),
    ("sp_boundary", "nopost"): (4.05, 0.10, 0.99),
    ("no_memory", "no_memory"): (0.38, 0.02, 0.97),
    # the toy models: the theory's exponents (docs/theory.md), shown in the same column
    ("learning_boundary", "toy_sp_raw"): (5.0, 0.0, 1.0),
    ("learning_boundary", "toy_sp_normalized"): (4.0, 0.0, 1.0),
    ("learning_boundary", "toy_lc_short_response"): (3.0, 0.0, 1.0),
    ("learning_boundary", "toy_lc_response_equals_delay"): (2.0, 0.0, 1.0),
}
LAW_TITLES = {"learning_boundary": "learning boundary (critical delay)", "sp_boundary": "SP boundary",
              "no_memory": "no-memory critical learning rate"}


def condition(sweeps) -> str:
    """Which of the paper's conditions a study compares with."""
    s = sweeps[0]
    if s.model.family == "toy_sp":
        return "toy_sp_normalized" if s.model.normalize else "toy_sp_raw"
    if s.model.family == "toy_lc":
        return "toy_lc_response_equals_delay" if s.model.response_equals_delay else "toy_lc_short_response"
    if s.task.name == "no_memory":
        return "no_memory"
    return "post" if s.task.post_ms > 0 else "nopost"


def analyze(stores: list[str | Path], out: str | Path, *, thresholds: Thresholds = Thresholds(),
            mechanism: MechanismConfig = MechanismConfig(), fit: FitConfig | None = None, n_boot: int | None = None,
            cell: dict[str, float] | None = None, progress: bool = True,
            log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict[str, Any]:
    """Analyse one study (one store, or several sweeps to join along ``lr``). Returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts, sweeps, groups = [], [], []
    for path in stores:
        for name in store.sweep_names(path):
            group = store.open_group(path, name)
            sweeps.append(parse_sweep(group.attrs["sweep_text"]))
            groups.append((path, name))
            part = classify_sweep(path, name, thresholds, mechanism, progress)
            save(path, part, thresholds, mechanism)
            log(f"rnnsweep: classified {path}:{name}: {part.counts()}")
            parts.append(part)
    if not parts:
        raise store.StoreError(f"no sweep found in {', '.join(map(str, stores))}")
    result = combine(parts)
    cond = condition(sweeps)
    if fit is None:
        n_lr = len(result.coords.get("lr", []))
        fit = FitConfig(min_max_failed=0.2 if cond == "post" else 0.1, p0=(0.5, 0.1) if cond == "post" else (0.1, 0.1),
                        sp_rates=25 if n_lr == 30 else None)
    if n_boot is not None:
        fit = dataclasses.replace(fit, n_boot=n_boot)

    figures: list[str] = []
    fits: StudyFits | None = None
    notes: list[str] = []
    try:
        fits = fit_study(result, fit)
    except ValueError as e:
        notes.append(f"no scaling fit: {e}")
    has_grid = "lr" in result.dims and ("delay_ms" in result.dims or "response_ms" in result.dims)
    if has_grid:
        figures += plots.save(plots.phase_diagram(result), out, "phase_diagram")
        figures += plots.save(plots.class_fractions(result), out, "class_fractions")
    if fits is not None and any(fits.laws.values()):
        figures += plots.save(plots.scaling_plot(fits, result.name), out, "scaling")
    elif fits is not None:
        notes.append("too few learning rates with a boundary inside the grid for a power-law fit")
    figures += plots.save(plots.index_histograms(result), out, "mechanism_index")
    figures += plots.save(plots.loss_curves(loss_by_class(groups, parts), result.name), out, "loss_by_class")
    chosen = choose_cell(result, cell)
    if chosen is not None and sweeps[0].model.mechanism is None:  # toy models have no rates to draw
        figures += plots.save(cell_figure(groups, parts, sweeps, chosen), out, "cell_dynamics")

    summary = {
        "study": result.name,
        "sources": result.sources,
        "condition": cond,
        "axes": {d: [float(v) for v in result.coords[d]] for d in result.dims},
        "coverage": result.coverage(),
        "n_cells": int(result.classes.size),
        "class_counts": result.counts(),
        "thresholds": dataclasses.asdict(thresholds),
        "mechanism": dataclasses.asdict(mechanism),
        "fit_config": dataclasses.asdict(fit),
        "fits": fits.to_dict() if fits else None,
        "paper": {f"{k[0]}:{k[1]}": v for k, v in PAPER.items() if k[1] == cond},
        "cell": chosen,
        "figures": [Path(f).name for f in figures],
        "notes": notes,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(render_report(summary, fits, cond))
    log(f"rnnsweep: wrote {out / 'report.md'}, {out / 'summary.json'} and {len(figures)} figure files")
    return summary


def loss_by_class(groups, parts: list[Classified]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per-epoch mean, SEM and count of the loss of each class group, streamed from the stores."""
    n_ep = max(store.open_group(p, n)["epoch"].shape[0] for p, n in groups)
    acc = {k: [np.zeros(n_ep), np.zeros(n_ep), np.zeros(n_ep)] for k in CLASS_GROUPS}
    for (path, name), part in zip(groups, parts):
        group = store.open_group(path, name)
        for i in range(part.classes.shape[0]):
            loss = store.read(group, "loss", i)
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


def choose_cell(result: Classified, cell: dict[str, float] | None) -> dict[str, float] | None:
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
        ix = tuple(hits[0])
    chosen = {d: float(result.coords[d][i]) for d, i in zip(result.dims, ix)}
    chosen["class"] = CLASS_NAMES[int(result.classes[ix])]
    chosen["mechanism_index"] = float(result.mechanism_index[ix])
    return chosen


def cell_figure(groups, parts, sweeps, chosen: dict[str, float]):
    for (path, name), part, sweep in zip(groups, parts, sweeps):
        if all(chosen[d] in part.coords[d] for d in part.dims):
            break
    group = store.open_group(path, name)
    ix = tuple(int(np.flatnonzero(part.coords[d] == chosen[d])[0]) for d in part.dims)
    params = {n[len("param_"):]: jnp.asarray(group[n][ix]) for n, _ in group.arrays() if n.startswith("param_")}
    timing = sweep.timing_at({d: chosen[d] for d in part.dims})
    n = int(timing.n_steps)
    trials = (0, sweep.task.trials_per_cue) if sweep.task.n_outputs > 1 else (0,)
    with jax.default_matmul_precision("highest"):
        rates, outputs = probe_run(sweep.model, sweep.task, params, timing, n, 3, jax.random.PRNGKey(0), trials)
    label = ", ".join(f"{d}={chosen[d]:g}" for d in part.dims)
    return plots.cell_dynamics(np.asarray(outputs), np.asarray(rates), n, sweep.task.dt_ms,
                               f"{name}: {label} ({chosen['class']}, index {chosen['mechanism_index']:.2f})")


def render_report(summary: dict[str, Any], fits: StudyFits | None, cond: str) -> str:
    lines = [f"# rnnsweep analysis: {summary['study']}", "",
             f"Sources: {', '.join(summary['sources'])}", "",
             f"Grid coverage: {100 * summary['coverage']:.1f}% of {summary['n_cells']} cells finished.", "",
             "| class | networks |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary["class_counts"].items()]
    lines += ["", "## Scaling laws", "",
              "| boundary | beta | std. error | 95% bootstrap interval | R^2 | p | points | paper (or theory) beta | paper R^2 |",
              "|---|---|---|---|---|---|---|---|---|"]
    if fits is not None:
        for key, law in fits.laws.items():
            paper = PAPER.get((key, cond))
            ref = (f"{paper[0]:.2f} +- {paper[1]:.2f}", f"{paper[2]:.2f}") if paper else ("-", "-")
            if law is None:
                lines.append(f"| {LAW_TITLES[key]} | no fit | | | | | | {ref[0]} | {ref[1]} |")
                continue
            ci = f"[{law.ci95[0]:.2f}, {law.ci95[1]:.2f}] ({law.n_boot} resamples)" if law.ci95 else "-"
            lines.append(f"| {LAW_TITLES[key]} | {law.beta:.2f} | {law.beta_se:.2f} | {ci} | {law.r2:.3f} | "
                         f"{law.p:.2g} | {law.n_points} | {ref[0]} | {ref[1]} |")
        lines += ["", "Per learning rate:", "", "| lr | " + " | ".join(fits.points) + " |",
                  "|---|" + "---|" * len(fits.points)]
        if fits.kind == "delay":
            for i, lr in enumerate(fits.lrs):
                vals = [fits.points[k][i] for k in fits.points]
                lines.append(f"| {lr:.4g} | " + " | ".join("-" if not np.isfinite(v) else f"{v:.1f} ms" for v in vals) + " |")
        else:
            lines[-2] = "| response window (ms) | critical lr |"
            lines[-1] = "|---|---|"
            for t, v in zip(fits.other, fits.points["critical_lr"]):
                lines.append(f"| {t:g} | {'-' if not np.isfinite(v) else f'{v:.4g}'} |")
    for note in summary["notes"]:
        lines += ["", f"Note: {note}"]
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in summary["figures"] if f.endswith(".png")]
    lines += ["", "Thresholds: " + json.dumps(summary["thresholds"]), ""]
    return "\n".join(lines)
