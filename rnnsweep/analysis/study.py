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


def fraction(classes: np.ndarray, codes, seed_axis: int, seeds: np.ndarray | None = None) -> np.ndarray:
    """Fraction of finished cells in ``codes`` over the (optionally resampled) seed axis."""
    if seeds is not None:
        classes = np.take(classes, seeds, axis=seed_axis)
    finished = np.sum(classes != PENDING, axis=seed_axis)
    hits = np.sum(np.isin(classes, codes), axis=seed_axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finished > 0, hits / np.maximum(finished, 1), np.nan)


def _table(result: Classified, codes, other: str, seeds=None) -> np.ndarray:
    """(lr, other) table of a class fraction, whatever the axis order."""
    frac = fraction(result.classes, codes, result.axis("seed"), seeds)
    dims = result.other_dims()
    if sorted(dims) != sorted(["lr", other]):
        raise ValueError(f"scaling needs exactly the axes seed, lr and {other}; this study has {result.dims}")
    return frac if dims == ["lr", other] else frac.T


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
    lrs = result.coords["lr"]
    n_seeds = len(result.coords["seed"])
    if "delay_ms" in result.dims:
        delays = result.coords["delay_ms"]

        def estimate(seeds=None):
            failed = _table(result, FAILED_CLASSES, "delay_ms", seeds)
            sp = _table(result, (SP,), "delay_ms", seeds)
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
            failed = _table(result, FAILED_CLASSES, "response_ms", seeds)
            return failed, critical_lrs_no_memory(lrs, windows, failed)

        failed, lr_c = estimate()
        law = power_law(windows, lr_c)
        if law is not None and cfg.n_boot:
            law.ci95, _ = bootstrap_beta(lambda s: power_law(windows, estimate(s)[1]), n_seeds, cfg.n_boot, cfg.boot_seed)
            law.n_boot = cfg.n_boot
        return StudyFits("no_memory", lrs, windows, {"failed": failed}, {"critical_lr": lr_c}, {"no_memory": law})
    raise ValueError(f"no scaling analysis for axes {result.dims}: need lr with delay_ms or response_ms")
