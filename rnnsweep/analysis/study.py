"""The fits of a whole study, chosen by its axes: learning boundary and SP boundary over
(lr, delay_ms); the no-memory critical learning rate over (lr, response_ms)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .classify import FAILED_CLASSES, PENDING, SP
from .results import Classified
from .scaling import (PowerLaw, bootstrap_beta, critical_delays, critical_lrs_no_memory, power_law,
                      sp_boundaries)


@dataclasses.dataclass(frozen=True)
class FitConfig:
    min_max_failed: float = 0.1  # skip an lr whose largest failed fraction is below (post sweep: 0.2)
    p0: tuple[float, float] = (0.1, 0.1)  # initial (x0, k) of the exp-saturation fit
    sp_rates: int | None = None  # SP boundary over the first N rates, largest first (paper: 25 of 30)
    n_boot: int = 200
    boot_seed: int = 0


def boundary_axis(result: Classified) -> str:
    """The axis along which boundaries are fitted: delay_ms, else response_ms."""
    for axis in ("delay_ms", "response_ms"):
        if axis in result.dims:
            return axis
    raise ValueError(f"no boundary axis (delay_ms or response_ms) among {result.dims}")


def fraction_table(result: Classified, codes, other: str, seeds: np.ndarray | None = None) -> np.ndarray:
    """(lr, other) table of the fraction of finished cells whose class is in ``codes``. Every other
    axis (seed, and replicate axes such as a toy model's initial ratio) is pooled; ``seeds``
    resamples the seed axis."""
    if "lr" not in result.dims:
        raise ValueError(f"scaling needs an lr axis; this study has {result.dims}")
    classes = result.classes
    if seeds is not None:
        classes = np.take(classes, seeds, axis=result.axis("seed"))
    moved = np.moveaxis(classes, [result.axis("lr"), result.axis(other)], [0, 1])
    moved = moved.reshape(moved.shape[0], moved.shape[1], -1)
    finished = np.sum(moved != PENDING, axis=-1)
    hits = np.sum(np.isin(moved, codes), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finished > 0, hits / np.maximum(finished, 1), np.nan)





@dataclasses.dataclass
class StudyFits:
    kind: str  # "delay" or "no_memory"
    lrs: np.ndarray
    other: np.ndarray  # delays or window lengths (ms)
    tables: dict[str, np.ndarray]  # fraction tables (lr, other)
    points: dict[str, np.ndarray]  # T_c per lr, SP boundary per lr, or critical lr per window
    laws: dict[str, PowerLaw | None]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lr": self.lrs.tolist(), "other": self.other.tolist(),
                "points": {k: [None if not np.isfinite(v) else float(v) for v in p] for k, p in self.points.items()},
                "laws": {k: (v.to_dict() if v else None) for k, v in self.laws.items()}}


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
