"""Critical delays, critical learning rates and their power laws (paper-spec section 1), fitted as
the reference's Figure scripts fit them (``method = "reference"``, the default) or with rnnsweep's
earlier, more forgiving fits (``"robust"``).

* :func:`critical_delay`: per learning rate, ``f(T) = 0`` for ``T < x0``, ``1 - exp(-k (T - x0))``
  otherwise, fitted to the failed fraction vs delay (ms); ``x0`` is ``T_c(lr)``. Rates whose largest
  failed fraction is below ``min_max_failed`` (0.1; post 0.2) are skipped. Reference: ``curve_fit``
  from ``p0`` (0.1, 0.1; post 0.5, 0.1), no bounds; robust: the best of ``p0`` and a grid of starts.
* :func:`sp_boundary`: a logistic ``1 / (1 + exp(-k (T - x0)))`` fitted to the SP fraction vs delay.
  Reference: rates whose largest SP fraction is below ``sp_min_max`` (0.1; post 0.2) are skipped,
  ``curve_fit`` from (0.1, 0.1), any ``x0`` accepted (the power law keeps ``x0 > 0``); robust: grid
  starts and ``x0`` within the sampled delays. Only the first ``sp_rates`` rates (largest first)
  enter (25 of the 30 no-post rates).
* :func:`critical_lr_no_memory`: per response window, the logistic ``1 / (1 + exp(k (x - x0)))`` in
  ``x = ln(lr)`` fitted to the failed fraction; ``lr_c = exp(x0)``. Reference: windows whose largest
  failed fraction is below 0.1 are skipped, ``curve_fit`` from (-5, -10); robust: grid starts, ``x0``
  within the sampled rates.
* :func:`power_law`: least squares ``log(lr) = B log(x) + log A`` over points with finite ``x > 0``
  (and not in ``exclude_lrs``: the reference's post figures drop lr 0.0720); ``beta = -B`` with its
  standard error, R^2 and p (scipy.stats.linregress: the same slope and error as the reference's
  ``curve_fit`` of a line).
* :func:`bootstrap_beta`: resample seeds with replacement (the same seeds across the grid, which
  is paired) and refit everything; the 2.5/97.5 percentiles give a 95% interval for beta.

Points of a partly finished grid (NaN fractions) are left out of every fit.
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


FIT_METHODS = ("reference", "robust")


@dataclasses.dataclass(frozen=True)
class FitConfig:
    method: str = "reference"  # or "robust"
    min_max_failed: float = 0.1  # skip an lr whose largest failed fraction is below (post sweep: 0.2)
    p0: tuple[float, float] = (0.1, 0.1)  # initial (x0, k) of the exp-saturation fit (post: 0.5, 0.1)
    sp_min_max: float = 0.1  # skip an lr whose largest SP fraction is below (post sweep: 0.2)
    sp_p0: tuple[float, float] = (0.1, 0.1)  # initial (x0, k) of the SP-boundary logistic
    sp_rates: int | None = None  # SP boundary over the first N rates, largest first (no-post: 25 of 30)
    exclude_lrs: tuple[float, ...] = ()  # learning rates left out of the power laws (post: 0.0720)
    no_memory_min_max: float = 0.1  # skip a window whose largest failed fraction is below
    no_memory_p0: tuple[float, float] = (-5.0, -10.0)  # initial (x0, k) of the no-memory logistic
    n_boot: int = 200
    boot_seed: int = 0

    def __post_init__(self):
        if self.method not in FIT_METHODS:
            raise ValueError(f"fit.method: must be one of {FIT_METHODS}, got {self.method!r}")


def logistic_decreasing(x, x0, k):
    """The reference's no-memory logistic ``1 / (1 + exp(k (x - x0)))``."""
    return 1.0 / (1.0 + np.exp(k * (x - x0)))


def reference_fit(fn: Callable, x: np.ndarray, y: np.ndarray, p0: tuple[float, float],
                  maxfev: int = 0) -> tuple[float, float] | None:
    """``curve_fit`` from ``p0`` with no bounds and scipy's default (or the given) evaluation limit, as
    the reference calls it; ``None`` where it fails (the reference would have stopped there)."""
    ok = np.isfinite(y)
    x, y = np.asarray(x, float)[ok], np.asarray(y, float)[ok]
    if len(x) < 2:
        return None
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")
            popt, _ = optimize.curve_fit(fn, x, y, p0=p0, maxfev=maxfev)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return None
    return (float(popt[0]), float(popt[1])) if np.all(np.isfinite(popt)) else None


def _skip(values: np.ndarray, minimum: float) -> bool:
    return not np.nanmax(values, initial=0) >= minimum


def critical_delay(delays: np.ndarray, failed: np.ndarray, cfg: FitConfig = FitConfig()) -> float:
    """``T_c`` of one learning rate, NaN when skipped or when the fit fails."""
    if _skip(failed, cfg.min_max_failed):
        return np.nan
    x, y = np.asarray(delays, float), np.asarray(failed, float)
    fit = reference_fit(exp_saturation, x, y, cfg.p0) if cfg.method == "reference" else _fit(exp_saturation, x, y, cfg.p0)
    return np.nan if fit is None else fit[0]


def logistic_midpoint(x: np.ndarray, y: np.ndarray, p0: tuple[float, float], fn: Callable = logistic) -> float:
    """``x0`` of a logistic fit from a grid of starts, NaN if it fails or lands outside the sampled range."""
    fit = _fit(fn, np.asarray(x, float), np.asarray(y, float), p0, k_signs=(1, -1))
    if fit is None or not (np.min(x) <= fit[0] <= np.max(x)):
        return np.nan
    return fit[0]


def sp_boundary(delays: np.ndarray, sp: np.ndarray, cfg: FitConfig = FitConfig()) -> float:
    """The delay at which the SP fraction crosses 1/2 (the logistic's ``x0``) for one learning rate."""
    if cfg.method == "robust":
        return logistic_midpoint(delays, sp, (float(np.median(delays)), -0.05))
    if _skip(sp, cfg.sp_min_max):
        return np.nan
    fit = reference_fit(logistic, np.asarray(delays, float), np.asarray(sp, float), cfg.sp_p0)
    return np.nan if fit is None else fit[0]


def critical_lr_no_memory(lrs: np.ndarray, failed: np.ndarray, cfg: FitConfig = FitConfig()) -> float:
    """The critical learning rate of one response window from its failed fraction over ``lrs``."""
    log_lr = np.log(np.asarray(lrs, float))
    if cfg.method == "robust":
        x0 = logistic_midpoint(log_lr, failed, (float(np.median(log_lr)), 2.0))
    elif _skip(failed, cfg.no_memory_min_max):
        return np.nan
    else:
        fit = reference_fit(logistic_decreasing, log_lr, np.asarray(failed, float), cfg.no_memory_p0, maxfev=1_000_000)
        x0 = np.nan if fit is None else fit[0]
    return float(np.exp(x0)) if np.isfinite(x0) else np.nan


def power_law(x: np.ndarray, lr: np.ndarray) -> PowerLaw | None:
    """Fit ``log(lr) = B log(x) + log A`` over points with finite positive ``x``; ``beta = -B``."""
    x, lr = np.asarray(x, float), np.asarray(lr, float)
    ok = np.isfinite(x) & (x > 0) & np.isfinite(lr) & (lr > 0)
    if ok.sum() < 3 or np.ptp(np.log(x[ok])) == 0:  # too few points, or no spread to fit a slope to
        return None
    res = stats.linregress(np.log(x[ok]), np.log(lr[ok]))
    return PowerLaw(-float(res.slope), float(res.stderr), float(res.intercept), float(res.rvalue**2),
                    float(res.pvalue), int(ok.sum()), x[ok], lr[ok])


def critical_delays(lrs, delays, failed_fraction, cfg: FitConfig = FitConfig()) -> np.ndarray:
    """``T_c`` per learning rate from a failed-fraction table (lr, delay)."""
    return np.array([critical_delay(delays, row, cfg) for row in failed_fraction])


def sp_boundaries(lrs, delays, sp_fraction, cfg: FitConfig = FitConfig()) -> np.ndarray:
    """SP-boundary delay per learning rate (NaN beyond the first ``sp_rates`` rates, largest first)."""
    order = np.argsort(-np.asarray(lrs))
    keep = set(order[:cfg.sp_rates] if cfg.sp_rates else order)
    return np.array([sp_boundary(delays, row, cfg) if i in keep else np.nan for i, row in enumerate(sp_fraction)])


def critical_lrs_no_memory(lrs, windows, failed_fraction, cfg: FitConfig = FitConfig()) -> np.ndarray:
    """Critical learning rate per window length from a failed-fraction table (lr, window)."""
    return np.array([critical_lr_no_memory(lrs, failed_fraction[:, j], cfg) for j in range(len(windows))])


def excluded(lrs: np.ndarray, exclude: tuple[float, ...]) -> np.ndarray:
    """Which of ``lrs`` are in ``exclude`` (to 1e-4 relative)."""
    lrs = np.asarray(lrs, float)
    return np.array([any(abs(lr - e) <= 1e-4 * abs(e) for e in exclude) for lr in lrs], bool)


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
