"""Analysis ``scaling``: critical delays and learning rates, their power laws with bootstrap
intervals, and the phase diagram (paper-spec section 1, "Critical delay and scaling exponent").

The fits are chosen by the study's axes: learning boundary and SP boundary over (lr, delay_ms);
the no-memory critical learning rate over (lr, response_ms). How each condition is fitted and what
the paper reports for it is declared once in :mod:`.conditions`. The store gets
``analysis/scaling`` with the fraction tables and the fitted boundary per learning rate; the output
folder gets the phase diagram, the class fractions and the scaling plot.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from . import plots
from .base import Analysis, Context, Result, register
from .classify import BOUNDARY_AXES, Classified, FAILED_CLASSES, SP, boundary_axis, fraction_table
from .conditions import Condition
from .fitting import (FitConfig, StudyFits, bootstrap_beta, critical_delays, critical_lrs_no_memory, excluded,
                      power_law, sp_boundaries)
from .study import Study

LAW_TITLES = {"learning_boundary": "learning boundary (critical delay)", "sp_boundary": "SP boundary",
              "no_memory": "no-memory critical learning rate"}

def fit_study(result: Classified, cfg: FitConfig = FitConfig()) -> StudyFits:
    """The study's power laws. The bootstrap over seeds needs at least two seeds (with one, every
    resample is the same and no interval is reported)."""
    lrs = result.coords["lr"]
    n_seeds = len(result.coords["seed"])
    if n_seeds < 2:
        cfg = dataclasses.replace(cfg, n_boot=0)
    if "delay_ms" in result.dims:
        delays = result.coords["delay_ms"]

        def estimate(seeds=None):
            failed = fraction_table(result, FAILED_CLASSES, "delay_ms", seeds)
            sp = fraction_table(result, (SP,), "delay_ms", seeds)
            tc = critical_delays(lrs, delays, failed, cfg)
            tsp = sp_boundaries(lrs, delays, sp, cfg)
            return failed, sp, tc, tsp

        dropped = excluded(lrs, cfg.exclude_lrs)
        law = lambda x: power_law(np.where(dropped, np.nan, x), lrs)  # noqa: E731
        failed, sp, tc, tsp = estimate()
        laws = {"learning_boundary": law(tc), "sp_boundary": law(tsp)}
        for name, pick in (("learning_boundary", 2), ("sp_boundary", 3)):
            if laws[name] is not None and cfg.n_boot:
                ci, _ = bootstrap_beta(lambda s, pick=pick: law(estimate(s)[pick]), n_seeds, cfg.n_boot, cfg.boot_seed)
                laws[name].ci95, laws[name].n_boot = ci, cfg.n_boot
        return StudyFits("delay", lrs, delays, {"failed": failed, "sp": sp}, {"critical_delay": tc, "sp_boundary": tsp},
                         laws)
    if "response_ms" in result.dims:
        windows = result.coords["response_ms"]

        def estimate(seeds=None):
            failed = fraction_table(result, FAILED_CLASSES, "response_ms", seeds)
            return failed, critical_lrs_no_memory(lrs, windows, failed, cfg)

        failed, lr_c = estimate()
        law = power_law(windows, lr_c)
        if law is not None and cfg.n_boot:
            law.ci95, _ = bootstrap_beta(lambda s: power_law(windows, estimate(s)[1]), n_seeds, cfg.n_boot, cfg.boot_seed)
            law.n_boot = cfg.n_boot
        return StudyFits("no_memory", lrs, windows, {"failed": failed}, {"critical_lr": lr_c}, {"no_memory": law})
    raise ValueError(f"no scaling analysis for axes {result.dims}: need lr with delay_ms or response_ms")


@register
class Scaling(Analysis):
    """Power laws of the learning and SP boundaries (or the no-memory critical rate) against lr."""

    name: ClassVar[str] = "scaling"
    description: ClassVar[str] = ("critical delay per learning rate, power law lr ~ T^-beta with bootstrap "
                                  "interval, SP boundary, phase diagram; compared with the paper")
    requires: ClassVar[tuple[str, ...]] = ("classes",)

    fit: FitConfig | None = None  # None: the study's condition's
    method: str | None = None  # overrides the fit's method ("reference" or "robust")
    n_boot: int | None = None  # overrides the fit's bootstrap resamples
    sensitivity: bool = True  # refit with the classes of the other indices and with the robust fits

    @classmethod
    def applies(cls, study: Study) -> str | None:
        if "lr" not in study.dims or not any(a in study.dims for a in BOUNDARY_AXES):
            return f"needs an lr axis and a {' or '.join(BOUNDARY_AXES)} axis (the study has {', '.join(study.dims)})"
        return None

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        classified: Classified = results["classes"].value
        cond = study.condition
        fit = self.fit or cond.fit
        if self.method is not None:
            fit = dataclasses.replace(fit, method=self.method)
        if self.n_boot is not None:
            fit = dataclasses.replace(fit, n_boot=self.n_boot)
        fits = fit_study(classified, fit)
        notes = []
        figures = plots.save(plots.phase_diagram(classified), ctx.out, "phase_diagram")
        figures += plots.save(plots.class_fractions(classified), ctx.out, "class_fractions")
        if any(fits.laws.values()):
            figures += plots.save(plots.scaling_plot(fits, classified.name), ctx.out, "scaling")
        else:
            notes.append("too few learning rates with a boundary inside the grid for a power-law fit")
        other = boundary_axis(classified)
        arrays = {f"{k}_fraction": (v, ("lr", other)) for k, v in fits.tables.items()}
        arrays.update({k: (np.asarray(v, float), ("lr",) if fits.kind == "delay" else (other,))
                       for k, v in fits.points.items()})
        report = report_section(fits, cond)
        summary = {"fit_config": dataclasses.asdict(fit), "fits": fits.to_dict(),
                   "paper": {f"{k}:{cond.name}": v for k, v in cond.reference.items()}}
        if self.sensitivity:
            variants = {"default": fits}
            quick = dataclasses.replace(fit, n_boot=0)
            for label, codes in classified.variants.items():
                variants[label] = fit_study(dataclasses.replace(classified, classes=codes), quick)
            other = "robust" if fit.method == "reference" else "reference"
            variants[f"{other} fits"] = fit_study(classified, dataclasses.replace(quick, method=other))
            table = {label: {k: (v.beta if v else None) for k, v in f.laws.items()} for label, f in variants.items()}
            summary["beta_sensitivity"] = table
            report += sensitivity_section(table)
        return Result(
            arrays=arrays, coords={"lr": fits.lrs, other: fits.other},
            attrs={"condition": cond.name, "fit_config": dataclasses.asdict(fit),
                   "laws": {k: (v.to_dict() if v else None) for k, v in fits.laws.items()}},
            summary=summary, report=report + [f"Note: {n}" for n in notes], figures=figures, value=fits)


def sensitivity_section(table: dict[str, dict[str, float | None]]) -> list[str]:
    """How much each exponent moves with the mechanism index's method and sign, and with the fits."""
    laws = list(next(iter(table.values())))
    base = table["default"]
    lines = ["### Sensitivity of the exponents", "",
             "beta refitted with the classes of the other mechanism indices (only the SP boundary can move: the "
             "failed fraction does not depend on the index) and with the other fit method (no bootstrap):", "",
             "| variant | " + " | ".join(LAW_TITLES[k] for k in laws) + " |", "|---|" + "---|" * len(laws)]
    for label, betas in table.items():
        cells = []
        for k in laws:
            b, b0 = betas[k], base[k]
            if b is None:
                cells.append("no fit")
            elif label == "default" or b0 is None:
                cells.append(f"{b:.2f}")
            else:
                cells.append(f"{b:.2f} ({b - b0:+.2f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def report_section(fits: StudyFits, cond: Condition) -> list[str]:
    lines = ["## Scaling laws", "", f"Condition: {cond.name} ({cond.description}).", "",
             "| boundary | beta | std. error | 95% bootstrap interval | R^2 | p | points | paper (or theory) beta | paper R^2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, law in fits.laws.items():
        paper = cond.reference.get(key)
        ref = (f"{paper[0]:.2f} +- {paper[1]:.2f}", f"{paper[2]:.2f}") if paper else ("-", "-")
        if law is None:
            lines.append(f"| {LAW_TITLES[key]} | no fit | | | | | | {ref[0]} | {ref[1]} |")
            continue
        ci = f"[{law.ci95[0]:.2f}, {law.ci95[1]:.2f}] ({law.n_boot} resamples)" if law.ci95 else "-"
        lines.append(f"| {LAW_TITLES[key]} | {law.beta:.2f} | {law.beta_se:.2f} | {ci} | {law.r2:.3f} | "
                     f"{law.p:.2g} | {law.n_points} | {ref[0]} | {ref[1]} |")
    lines += [""]
    if fits.kind == "delay":
        lines += ["Per learning rate:", "", "| lr | " + " | ".join(fits.points) + " |",
                  "|---|" + "---|" * len(fits.points)]
        for i, lr in enumerate(fits.lrs):
            vals = [fits.points[k][i] for k in fits.points]
            lines.append(f"| {lr:.4g} | " + " | ".join("-" if not np.isfinite(v) else f"{v:.1f} ms" for v in vals) + " |")
    else:
        lines += ["| response window (ms) | critical lr |", "|---|---|"]
        for t, v in zip(fits.other, fits.points["critical_lr"]):
            lines.append(f"| {t:g} | {'-' if not np.isfinite(v) else f'{v:.4g}'} |")
    return lines + [""]
