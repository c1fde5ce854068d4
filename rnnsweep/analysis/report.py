"""``rnnsweep analyze``: run the registered analyses that apply to a study, write their arrays into
the stores, and summary.json and report.md into the output folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .. import store
from .base import Analysis, Context, Result, analyses, run_order
from .study import Study


def analyze(stores: Sequence[str | Path], out: str | Path, *, only: Sequence[str] | None = None,
            skip: Sequence[str] = (), also: Sequence[str] = (), configured: Mapping[str, Analysis] | None = None,
            condition: str | None = None, progress: bool = True,
            log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict[str, Any]:
    """Analyse one study (one store, or several sweeps joined along ``lr``). ``only`` and ``skip``
    select analyses by name (the ones a selected analysis requires always run; without ``only``, every
    analysis but the opt-in ones, such as ``dynamics``); ``also`` adds analyses to either selection; ``configured``
    gives instances with non-default options; ``condition`` names the paper's condition to follow
    (default: from the stored model and task). Returns the summary (also written to summary.json)."""
    out = Path(out)
    known = analyses()
    configured = dict(configured or {})
    for name in list(only or []) + list(skip) + list(also) + list(configured):
        if name not in known:
            raise ValueError(f"unknown analysis {name!r} (known: {', '.join(known)})")
    study = Study.open(stores, condition)
    chosen = list(only or [n for n, cls in known.items() if cls.default]) + [n for n in also if n not in (only or ())]
    selected = [n for n in chosen if n not in skip]
    order = run_order(selected)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out, progress, log)
    results: dict[str, Result] = {}
    skipped: dict[str, str] = {}
    for name in order:
        reason = known[name].applies(study)
        missing = [dep for dep in known[name].requires if dep not in results]
        if reason is None and missing:
            reason = f"it needs {', '.join(missing)}, which did not run"
        if reason is not None:
            skipped[name] = reason
            log(f"rnnsweep: analysis {name!r} skipped: {reason}")
            continue
        analysis = configured.get(name) or known[name]()
        results[name] = analysis.run(study, results, ctx)
        save(study, name, results[name])

    summary: dict[str, Any] = {
        "study": study.name,
        "sources": study.labels,
        "axes": {d: [float(v) for v in study.coords[d]] for d in study.dims},
        "n_cells": int(study.status.size),
        "condition": study.condition.name,
        "analyses": list(results),
        "skipped": skipped,
    }
    for name, result in results.items():
        clash = set(result.summary) & set(summary)
        if clash:
            raise ValueError(f"analysis {name!r} reports summary keys another part already wrote: {sorted(clash)}")
        summary.update(result.summary)
    summary["figures"] = [Path(f).name for r in results.values() for f in r.figures]
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(render_report(study, results, skipped, summary["figures"]))
    log(f"rnnsweep: wrote {out / 'report.md'}, {out / 'summary.json'} and {len(summary['figures'])} figure files")
    return summary


def save(study: Study, name: str, result: Result) -> None:
    """Write an analysis's arrays into ``analysis/<name>`` of every source store (its own part of
    the per-cell arrays; the study-level arrays whole, with their coordinates)."""
    pieces = {k: study.split(v) for k, v in result.cell_arrays.items()}
    # a study joined from several sweeps has longer axes than each sweep: its own names then
    rename = (lambda d: f"study_{d}" if d in study.dims else d) if len(study.sources) > 1 else (lambda d: d)
    for i, source in enumerate(study.sources):
        arrays = {k: (v[i], source.dims + list(result.cell_dims.get(k) or
                                                [f"{k}_dim{j}" for j in range(v[i].ndim - len(source.dims))]))
                  for k, v in pieces.items()}
        if pieces:
            arrays.update({d: (source.coords[d], (d,)) for d in source.dims})
        arrays.update({k: (v, tuple(rename(d) for d in dims)) for k, (v, dims) in result.arrays.items()})
        used = {d for _, dims in result.arrays.values() for d in dims} | {d for dims in result.cell_dims.values()
                                                                           for d in dims}
        arrays.update({rename(d): (c, (rename(d),)) for d, c in result.coords.items() if d in used})
        attrs = dict(result.attrs, sources=study.labels)
        store.write_analysis(source.path, source.name, name, arrays, attrs)


def render_report(study: Study, results: dict[str, Result], skipped: dict[str, str], figures: list[str]) -> str:
    lines = [f"# rnnsweep analysis: {study.name}", "", f"Sources: {', '.join(study.labels)}", ""]
    for result in results.values():
        lines += result.report + [""]
    for name, reason in skipped.items():
        lines += [f"Analysis {name} did not run: {reason}.", ""]
    lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures if f.endswith(".png")] + [""]
    return "\n".join(lines)
