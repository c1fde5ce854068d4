"""Critical delays, critical learning rates and their power laws (paper-spec section 1).

* :func:`critical_delay`: per learning rate, fit ``f(T) = 0`` for ``T < x0``,
  ``1 - exp(-k (T - x0))`` otherwise, to the failed fraction vs delay; ``x0`` is ``T_c(lr)``.
  Learning rates whose largest failed fraction is below ``min_max_failed`` (0.1; 0.2 for the post
  sweep) are skipped.
* :func:`power_law`: least squares ``log(lr) = B log(T_c) + log A``; ``beta = -B`` with its
  standard error, R^2 and p (scipy.stats.linregress).
* :func:`sp_boundary`: a logistic ``1 / (1 + exp(-k (T - x0)))`` fitted to the SP fraction vs delay
  per learning rate (the first ``n_rates`` rates, largest first), then the same power law.
* :func:`critical_lr_no_memory`: per response window, a logistic in ``log(lr)`` fitted to the
  failed fraction; the critical rate is ``exp(x0)``; then ``log(lr_c) = B log(T) + log A``.
* :func:`bootstrap_beta`: resample seeds with replacement (the same seeds across the grid, which
  is paired) and refit everything; the 2.5/97.5 percentiles give a 95% interval for beta.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable

import numpy as np
from scipy import optimize, stats


@dataclasses.dataclass
class PowerLaw:
    beta: float
    beta_se: float
    log_a: float
    r2: float
    p: float
    n_points: int
    x: np.ndarray  # T_c (or window length T) per point
    y: np.ndarray  # learning rate per point
    ci95: tuple[float, float] | None = None
    n_boot: int = 0

    def to_dict(self) -> dict:
        return {"beta": self.beta, "beta_se": self.beta_se, "log_A": self.log_a, "r2": self.r2, "p": self.p,
                "n_points": self.n_points, "ci95": list(self.ci95) if self.ci95 else None, "n_boot": self.n_boot,
                "x": [float(v) for v in self.x], "lr": [float(v) for v in self.y]}


def exp_saturation(t, x0, k):
    return np.where(t < x0, 0.0, 1.0 - np.exp(-k * (t - x0)))


def logistic(t, x0, k):
    return 1.0 / (1.0 + np.exp(-k * (t - x0)))


def _sse(fn: Callable, x: np.ndarray, y: np.ndarray, params) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        r = fn(x, *params) - y
    return float(np.sum(r * r)) if np.all(np.isfinite(r)) else np.inf


def _fit(fn: Callable, x: np.ndarray, y: np.ndarray, p0: tuple[float, float],
         k_signs: tuple[int, ...] = (1,)) -> tuple[float, float] | None:
    """Least-squares ``(x0, k)``. Starts from ``p0`` (the reference's guess) and from a grid of
    starting points spanning the data's range and scale, so the result does not hinge on the units
    of ``x``; the best start is refined with ``curve_fit``."""
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3:
        return None
    span = float(np.ptp(x)) or 1.0
    grid_x0, grid_k, sign = np.meshgrid(np.linspace(x.min() - 0.25 * span, x.max(), 41),
                                        np.geomspace(0.3, 300, 25) / span, np.array(k_signs), indexing="ij")
    x0s = np.r_[p0[0], grid_x0.ravel()][:, None]
    ks = np.r_[p0[1], (grid_k * sign).ravel()][:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        sse = np.sum((fn(x[None], x0s, ks) - y[None]) ** 2, axis=1)
    sse = np.where(np.isfinite(sse), sse, np.inf)
    best = (float(x0s[np.argmin(sse), 0]), float(ks[np.argmin(sse), 0]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = optimize.curve_fit(fn, x, y, p0=best, maxfev=2000)
        if _sse(fn, x, y, popt) <= _sse(fn, x, y, best) and np.all(np.isfinite(popt)):
            best = tuple(popt)
    except (RuntimeError, ValueError):
        pass
    return float(best[0]), float(best[1])


def critical_delay(delays: np.ndarray, failed: np.ndarray, min_max_failed: float = 0.1,
                   p0: tuple[float, float] = (0.1, 0.1)) -> float:
    """``T_c`` of one learning rate, NaN when skipped or when the fit fails."""
    if not np.nanmax(failed, initial=0) >= min_max_failed:
        return np.nan
    fit = _fit(exp_saturation, np.asarray(delays, float), np.asarray(failed, float), p0)
    return np.nan if fit is None else fit[0]


def logistic_midpoint(x: np.ndarray, y: np.ndarray, p0: tuple[float, float]) -> float:
    """``x0`` of a logistic fit, NaN if it fails or lands outside the sampled range."""
    fit = _fit(logistic, np.asarray(x, float), np.asarray(y, float), p0, k_signs=(1, -1))
    if fit is None or not (np.min(x) <= fit[0] <= np.max(x)):
        return np.nan
    return fit[0]


def power_law(x: np.ndarray, lr: np.ndarray) -> PowerLaw | None:
    """Fit ``log(lr) = B log(x) + log A`` over points with finite positive ``x``; ``beta = -B``."""
    x, lr = np.asarray(x, float), np.asarray(lr, float)
    ok = np.isfinite(x) & (x > 0) & np.isfinite(lr) & (lr > 0)
    if ok.sum() < 3 or np.ptp(np.log(x[ok])) == 0:  # too few points, or no spread to fit a slope to
        return None
    res = stats.linregress(np.log(x[ok]), np.log(lr[ok]))
    return PowerLaw(-float(res.slope), float(res.stderr), float(res.intercept), float(res.rvalue**2),
                    float(res.pvalue), int(ok.sum()), x[ok], lr[ok])


def critical_delays(lrs, delays, failed_fraction, min_max_failed=0.1, p0=(0.1, 0.1)) -> np.ndarray:
    """``T_c`` per learning rate from a failed-fraction table (lr, delay)."""
    return np.array([critical_delay(delays, row, min_max_failed, p0) for row in failed_fraction])


def sp_boundaries(lrs, delays, sp_fraction, n_rates: int | None = None) -> np.ndarray:
    """SP-boundary delay per learning rate (NaN beyond the first ``n_rates`` rates, largest first)."""
    order = np.argsort(-np.asarray(lrs))
    keep = set(order[:n_rates] if n_rates else order)
    mid = float(np.median(delays))
    return np.array([logistic_midpoint(delays, row, (mid, -0.05)) if i in keep else np.nan
                     for i, row in enumerate(sp_fraction)])


def critical_lrs_no_memory(lrs, windows, failed_fraction) -> np.ndarray:
    """Critical learning rate per window length from a failed-fraction table (lr, window)."""
    log_lr = np.log(np.asarray(lrs, float))
    out = []
    for j in range(len(windows)):
        x0 = logistic_midpoint(log_lr, failed_fraction[:, j], (float(np.median(log_lr)), 2.0))
        out.append(np.exp(x0) if np.isfinite(x0) else np.nan)
    return np.array(out)


def bootstrap_beta(estimate: Callable[[np.ndarray], PowerLaw | None], n_seeds: int, n_boot: int = 200,
                   seed: int = 0) -> tuple[tuple[float, float] | None, np.ndarray]:
    """95% percentile interval of beta over seed resamples. ``estimate(seed_indices)`` refits."""
    rng = np.random.default_rng(seed)
    betas = []
    for _ in range(n_boot):
        fit = estimate(rng.integers(0, n_seeds, n_seeds))
        if fit is not None and np.isfinite(fit.beta):
            betas.append(fit.beta)
    betas = np.array(betas)
    if len(betas) < max(10, n_boot // 4):
        return None, betas
    return (float(np.percentile(betas, 2.5)), float(np.percentile(betas, 97.5))), betas


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
