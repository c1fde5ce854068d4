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
from typing import Any, ClassVar

import numpy as np

from . import plots
from .base import Analysis, Context, Result, register
from .classify import BOUNDARY_AXES, Classified, FAILED_CLASSES, SP, boundary_axis, fraction_table
from .conditions import Condition, FitConfig, condition_named, condition_of
from .fitting import StudyFits, bootstrap_beta, critical_delays, critical_lrs_no_memory, power_law, sp_boundaries
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
            tc = critical_delays(lrs, delays, failed, cfg.min_max_failed, cfg.p0)
            tsp = sp_boundaries(lrs, delays, sp, cfg.sp_rates)
            return failed, sp, tc, tsp

        failed, sp, tc, tsp = estimate()
        laws = {"learning_boundary": power_law(tc, lrs), "sp_boundary": power_law(tsp, lrs)}
        for name, pick in (("learning_boundary", 2), ("sp_boundary", 3)):
            if laws[name] is not None and cfg.n_boot:
                ci, _ = bootstrap_beta(lambda s, pick=pick: power_law(estimate(s)[pick], lrs), n_seeds, cfg.n_boot,
                                       cfg.boot_seed)
                laws[name].ci95, laws[name].n_boot = ci, cfg.n_boot
        return StudyFits("delay", lrs, delays, {"failed": failed, "sp": sp}, {"critical_delay": tc, "sp_boundary": tsp},
                         laws)
    if "response_ms" in result.dims:
        windows = result.coords["response_ms"]

        def estimate(seeds=None):
            failed = fraction_table(result, FAILED_CLASSES, "response_ms", seeds)
            return failed, critical_lrs_no_memory(lrs, windows, failed)

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

    fit: FitConfig | None = None  # None: the condition's
    n_boot: int | None = None  # overrides the fit's bootstrap resamples
    condition: str | None = None  # None: chosen from the study's model and task

    @classmethod
    def applies(cls, study: Study) -> str | None:
        if "lr" not in study.dims or not any(a in study.dims for a in BOUNDARY_AXES):
            return f"needs an lr axis and a {' or '.join(BOUNDARY_AXES)} axis (the study has {', '.join(study.dims)})"
        return None

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        classified: Classified = results["classes"].value
        cond = condition_named(self.condition) if self.condition else condition_of(study.model, study.task)
        fit = self.fit or cond.fit
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
        return Result(
            arrays=arrays, coords={"lr": fits.lrs, other: fits.other},
            attrs={"condition": cond.name, "fit_config": dataclasses.asdict(fit),
                   "laws": {k: (v.to_dict() if v else None) for k, v in fits.laws.items()}},
            summary={"condition": cond.name, "fit_config": dataclasses.asdict(fit), "fits": fits.to_dict(),
                     "paper": {f"{k}:{cond.name}": v for k, v in cond.reference.items()}},
            report=report_section(fits, cond) + [f"Note: {n}" for n in notes],
            figures=figures, value=fits)


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
