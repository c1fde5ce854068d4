"""Analysis ``learnability``: which learning rates learn at all, and the critical learning rate against
another axis (the ghost-mechanism paper, paper-spec section 2: ``eta_c`` against the delay, or the
trainable rank).

* Per cell, *learned*: the final loss (at the cell's last recorded epoch) over the first epoch's loss is
  below ``loss_ratio`` (default 1e-2: the ghost paper's plot_results.py normalises each loss curve by
  its epoch-1 value and counts final < 1e-2 as learned). Diverged and failed networks count as not
  learned; pending cells are left out.
* Per ``(lr, X)`` for every other non-seed axis ``X`` (and per ``lr`` alone): the fraction learned,
  pooled over seeds (and over any further axes).
* The critical learning rate at each ``X``: going up in ``lr``, the first point where the fraction
  learned falls from ``>= level`` (1/2) to below it, interpolated linearly in ``log10(lr)`` between the
  two grid points around it. NaN where it never falls through: *above the grid* when the largest
  rate at or above ``level`` is the grid's largest, *below the grid* when no rate reaches ``level``.
  Its 95% interval: a bootstrap over seeds (the same resampled seeds across the grid, ``n_boot``
  resamples from ``boot_seed``: deterministic), the 2.5/97.5 percentiles of the finite resamples
  (none when fewer than a quarter are finite).
* ``X`` a duration (a name ending in ``_ms``) with >= 3 positive values of finite ``eta_c``: the power law
  ``log eta_c = a - beta log T`` (least squares, :func:`.fitting.power_law`) with the bootstrap interval
  of beta (:func:`.fitting.bootstrap_beta`), next to the canonical ghost model's law
  ``eta_c = 3 pi^4 / (32 T^5)`` (beta 5; 4 when the loss is divided by T).
* ``X`` a size (``rank``, ``n_neurons``, or a family's or task's ``size_axes``): the ratio
  ``eta_c(largest X) / eta_c(smallest X)`` with its bootstrap interval (the ghost paper: full rank about
  100x rank 1).

Figures: ``learnability_<X>`` per axis ``X`` (a heat map of the fraction learned over ``(lr, X)`` with
the critical rate marked, and ``eta_c`` against ``X``, log-log for durations, with the fitted law), and
``learnability`` (the fraction learned against ``lr``, every other axis pooled).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import numpy as np

from .. import schema
from ..schema import Status
from . import plots
from .base import Analysis, Context, Result, register
from .fitting import PowerLaw, bootstrap_beta, power_law
from .study import Source, Study, last_epoch_values

SIZE_AXES = ("rank", "n_neurons")  # size-like axes besides the families' and tasks' size_axes
GHOST_BETA = 5.0  # eta_c = 3 pi^4 / (32 T^5) of the canonical ghost model (4 when the loss is divided by T)
ABOVE, BELOW, CROSSED, UNKNOWN = "above the grid", "below the grid", "crossed", "no data"


def ghost_critical_lr(T: float | np.ndarray) -> float | np.ndarray:
    """The canonical ghost model's critical learning rate for plain gradient descent, ``3 pi^4/(32 T^5)``."""
    return 3 * math.pi ** 4 / (32 * np.asarray(T, float) ** 5)


# --- per cell -------------------------------------------------------------------------------------------
def learned_cells(first: np.ndarray, final: np.ndarray, status: np.ndarray, loss_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """``(learned, ratio)`` per cell: learned 1 when finished with ``final / first < loss_ratio``, 0 when
    not (diverged and failed networks included), -1 for pending cells; the ratio (NaN where unknown)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.asarray(final, float) / np.asarray(first, float)
    done = status == Status.DONE
    ratio = np.where(done, ratio, np.nan)
    learned = np.where(done & (ratio < loss_ratio), 1, 0).astype(np.int8)  # NaN < r is False: not learned
    learned[status == Status.PENDING] = -1
    return learned, ratio


def source_losses(source: Source) -> tuple[np.ndarray, np.ndarray]:
    """The first epoch's and the last recorded epoch's loss of every cell of one source, read one slice of
    the first grid axis at a time."""
    group = source.group()
    epochs_run = source.read(schema.EPOCHS_RUN)
    shape = source.status.shape
    first, final = np.full(shape, np.nan), np.full(shape, np.nan)
    for i in range(shape[0]):
        loss = np.asarray(group[schema.LOSS][i])  # (*rest, epoch)
        first[i] = loss[..., 0]
        final[i] = last_epoch_values(loss, epochs_run[i])
    return first, final


# --- fractions and the critical rate ----------------------------------------------------------------------
def fraction_table(learned: np.ndarray, dims: list[str], keep: tuple[str, ...],
                   seeds: np.ndarray | None = None) -> np.ndarray:
    """The fraction learned over ``keep`` (in that order), pooled over every other axis; ``seeds``
    resamples the seed axis (indices, with repetition). NaN where no cell is finished."""
    values = learned
    if seeds is not None and "seed" in dims:
        values = np.take(values, seeds, axis=dims.index("seed"))
    moved = np.moveaxis(values, [dims.index(d) for d in keep], list(range(len(keep))))
    flat = moved.reshape(moved.shape[:len(keep)] + (-1,))
    known = flat >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(flat == 1, axis=-1) / np.sum(known, axis=-1)


def critical_lr(lrs: np.ndarray, fraction: np.ndarray, level: float = 0.5) -> tuple[float, str]:
    """``(eta_c, where)``: going up in learning rate, where the fraction learned first falls from
    ``>= level`` to below it, linear in ``log10(lr)`` between the two rates around the fall
    (``where`` = "crossed"); NaN with "above the grid" or "below the grid" when it never falls through
    (rates with no finished cell are skipped)."""
    lrs, fraction = np.asarray(lrs, float), np.asarray(fraction, float)
    ok = np.isfinite(fraction)
    order = np.argsort(lrs[ok])
    x, f = np.log10(lrs[ok][order]), fraction[ok][order]
    if not len(f):
        return float("nan"), UNKNOWN
    for i in range(len(f) - 1):
        if f[i] >= level > f[i + 1]:
            t = (f[i] - level) / (f[i] - f[i + 1])
            return float(10 ** (x[i] + t * (x[i + 1] - x[i]))), CROSSED
    return float("nan"), (ABOVE if np.any(f >= level) else BELOW)


def critical_lrs(lrs: np.ndarray, table: np.ndarray, level: float = 0.5) -> tuple[np.ndarray, list[str]]:
    """:func:`critical_lr` of each column of a fraction table ``(lr, X)``."""
    found = [critical_lr(lrs, table[:, j], level) for j in range(table.shape[1])]
    return np.array([v for v, _ in found]), [w for _, w in found]


def percentile_interval(draws: np.ndarray, n_boot: int) -> tuple[np.ndarray, np.ndarray]:
    """2.5/97.5 percentiles over the first axis of the finite draws; NaN where fewer than
    ``max(10, n_boot // 4)`` are finite (as :func:`.fitting.bootstrap_beta`)."""
    draws = np.asarray(draws, float).reshape(len(draws), -1)
    lo, hi = np.full(draws.shape[1], np.nan), np.full(draws.shape[1], np.nan)
    for j in range(draws.shape[1]):
        v = draws[:, j][np.isfinite(draws[:, j])]
        if len(v) >= max(10, n_boot // 4):
            lo[j], hi[j] = np.percentile(v, [2.5, 97.5])
    return lo, hi


def is_duration(axis: str) -> bool:
    return axis.endswith("_ms")


def is_size(axis: str, study: Study) -> bool:
    return axis in SIZE_AXES or axis in study.model.size_axes or axis in study.task.size_axes


def axis_fit(learned: np.ndarray, dims: list[str], lrs: np.ndarray, axis: str, xs: np.ndarray, level: float,
             n_boot: int, boot_seed: int, duration: bool, size: bool) -> dict[str, Any]:
    """The fraction table over ``(lr, axis)``, ``eta_c`` per value of ``axis`` with its interval, and the
    power law (a duration) or the largest-to-smallest ratio (a size), with bootstrap intervals."""
    table = fraction_table(learned, dims, ("lr", axis))
    eta, where = critical_lrs(lrs, table, level)
    law = power_law(xs, eta) if duration else None
    n_seeds = learned.shape[dims.index("seed")] if "seed" in dims else 1
    order = np.argsort(xs)
    ratio = float(eta[order[-1]] / eta[order[0]]) if size and len(xs) > 1 else None
    out: dict[str, Any] = {"table": table, "eta": eta, "where": where, "law": law, "ratio": ratio,
                           "eta_lo": np.full(len(xs), np.nan), "eta_hi": np.full(len(xs), np.nan),
                           "ratio_ci": None, "n_boot": 0}
    if n_boot <= 0 or n_seeds < 2:
        return out
    draws: list[np.ndarray] = []

    def estimate(seeds: np.ndarray) -> PowerLaw | None:
        e, _ = critical_lrs(lrs, fraction_table(learned, dims, ("lr", axis), seeds), level)
        draws.append(e)
        return power_law(xs, e) if duration else None

    beta_ci, _ = bootstrap_beta(estimate, n_seeds, n_boot, boot_seed)
    draws_a = np.array(draws)
    out["eta_lo"], out["eta_hi"] = percentile_interval(draws_a, n_boot)
    out["n_boot"] = n_boot
    if law is not None:
        law.ci95, law.n_boot = beta_ci, n_boot
    if ratio is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            lo, hi = percentile_interval(draws_a[:, order[-1]] / draws_a[:, order[0]], n_boot)
        out["ratio_ci"] = None if not np.isfinite(lo[0]) else (float(lo[0]), float(hi[0]))
    return out


def pooled_fit(learned: np.ndarray, dims: list[str], lrs: np.ndarray, level: float, n_boot: int,
               boot_seed: int) -> dict[str, Any]:
    """The fraction learned per ``lr`` (everything else pooled) and its critical rate with its interval."""
    fraction = fraction_table(learned, dims, ("lr",))
    eta, where = critical_lr(lrs, fraction, level)
    n_seeds = learned.shape[dims.index("seed")] if "seed" in dims else 1
    out = {"fraction": fraction, "eta": eta, "where": where, "ci": None}
    if n_boot > 0 and n_seeds >= 2:
        rng = np.random.default_rng(boot_seed)
        draws = np.array([critical_lr(lrs, fraction_table(learned, dims, ("lr",), rng.integers(0, n_seeds, n_seeds)),
                                      level)[0] for _ in range(n_boot)])
        lo, hi = percentile_interval(draws[:, None], n_boot)
        out["ci"] = None if not np.isfinite(lo[0]) else (float(lo[0]), float(hi[0]))
    return out


# --- figures ----------------------------------------------------------------------------------------------
def _lr_index(lrs_sorted: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Positions of ``eta`` on a heat map whose rows are ``lrs_sorted`` (linear in log lr between rows)."""
    return np.interp(np.log10(eta), np.log10(lrs_sorted), np.arange(len(lrs_sorted)))


def axis_figure(fit: dict[str, Any], lrs: np.ndarray, axis: str, xs: np.ndarray, duration: bool, level: float,
                name: str) -> plt.Figure:
    """Left: the fraction learned over (lr, axis), small rates at the bottom, the critical rate marked;
    right: eta_c against the axis (95% bootstrap bars; log-log for a duration, with the fitted law)."""
    lo_first = np.argsort(lrs)
    x_order = np.argsort(xs)
    table = fit["table"][lo_first][:, x_order]
    eta, lo, hi = fit["eta"][x_order], fit["eta_lo"][x_order], fit["eta_hi"][x_order]
    xv = xs[x_order]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.4))
    im = ax0.imshow(table, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax0.set_xticks(range(len(xv)), [f"{v:g}" for v in xv])
    yt = np.linspace(0, len(lrs) - 1, min(len(lrs), 8)).round().astype(int)
    ax0.set_yticks(yt, [f"{lrs[lo_first][i]:.2g}" for i in yt])
    ax0.set_xlabel(axis.replace("_ms", " (ms)"))
    ax0.set_ylabel("learning rate")
    finite = np.isfinite(eta)
    ax0.plot(np.flatnonzero(finite), _lr_index(lrs[lo_first], eta[finite]), "w*-", ms=9,
             label=f"critical lr (fraction {level:g})")
    ax0.legend(fontsize=7, loc="upper right")
    fig.colorbar(im, ax=ax0, label="fraction learned")
    ax0.set_title("fraction learned", fontsize=9)
    ok = finite & (xv > 0) if duration else finite
    if ok.any():
        err = np.nan_to_num([eta[ok] - lo[ok], hi[ok] - eta[ok]])
        ax1.errorbar(xv[ok], eta[ok], yerr=np.maximum(err, 0), fmt="o", capsize=3, color="tab:blue",
                     label="critical lr (95% bootstrap)")
    law = fit["law"]
    if law is not None:
        xx = np.geomspace(law.x.min(), law.x.max(), 50)
        ax1.plot(xx, np.exp(law.log_a) * xx ** (-law.beta), "-", color="tab:blue",
                 label=f"fit: beta = {law.beta:.2f} +- {law.beta_se:.2f}")
        mx, my = np.exp(np.mean(np.log(law.x))), np.exp(np.mean(np.log(law.y)))
        ax1.plot(xx, my * (xx / mx) ** (-GHOST_BETA), ls="--", color="grey", lw=1, label="ghost model T^-5")
    if duration or np.all(xv > 0):
        ax1.set_yscale("log")
    if duration and np.any(xv > 0):
        ax1.set_xscale("log")
    ax1.set_xlabel(axis.replace("_ms", " (ms)"))
    ax1.set_ylabel("critical learning rate")
    ax1.set_title("critical learning rate", fontsize=9)
    if ok.any() or law is not None:
        ax1.legend(fontsize=7)
    fig.suptitle(f"{name}: learnability against {axis}", fontsize=10)
    fig.tight_layout()
    return fig


def pooled_figure(pooled: dict[str, Any], lrs: np.ndarray, level: float, name: str) -> plt.Figure:
    order = np.argsort(lrs)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(lrs[order], pooled["fraction"][order], "o-", color="tab:blue", label="fraction learned")
    ax.axhline(level, color="0.6", lw=0.8, ls=":")
    if np.isfinite(pooled["eta"]):
        ax.axvline(pooled["eta"], color="tab:red", ls="--", label=f"critical lr {pooled['eta']:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("fraction learned")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7)
    ax.set_title(f"{name}: fraction learned (every other axis pooled)", fontsize=9)
    fig.tight_layout()
    return fig


# --- the plug-in ------------------------------------------------------------------------------------------
@register
class Learnability(Analysis):
    """Fraction learned over (lr, X) and the critical learning rate against X."""

    name: ClassVar[str] = "learnability"
    description: ClassVar[str] = ("learned = final/first loss < loss_ratio; fraction learned over (lr, X); critical lr "
                                  "per X with seed bootstrap; power law against a duration, ratio across a size")

    loss_ratio: float = 1e-2  # learned: final loss / first epoch's loss below this (the ghost paper's criterion)
    level: float = 0.5  # the fraction learned the critical learning rate falls through
    n_boot: int = 200  # bootstrap resamples over seeds (0: no intervals)
    boot_seed: int = 0

    @classmethod
    def applies(cls, study: Study) -> str | None:
        if "lr" not in study.dims or len(study.coords["lr"]) < 2:
            return "needs an lr grid axis with at least 2 values"
        return None

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        if not 0 < self.level < 1:
            raise ValueError(f"learnability.level: must lie in (0, 1), got {self.level!r}")
        if not self.loss_ratio > 0:
            raise ValueError(f"learnability.loss_ratio: must be positive, got {self.loss_ratio!r}")
        if self.n_boot < 0:
            raise ValueError(f"learnability.n_boot: must be >= 0, got {self.n_boot!r}")
        dims = list(study.dims)
        parts = [source_losses(s) for s in study.sources]
        first = study.join([p[0] for p in parts])
        final = study.join([p[1] for p in parts])
        status = study.status
        learned, ratio = learned_cells(first, final, status, self.loss_ratio)
        lrs = np.asarray(study.coords["lr"], float)
        pooled = pooled_fit(learned, dims, lrs, self.level, self.n_boot, self.boot_seed)
        arrays: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {"fraction_learned": (pooled["fraction"], ("lr",))}
        coords = {"lr": lrs}
        figures = plots.save(pooled_figure(pooled, lrs, self.level, study.name), ctx.out, "learnability")
        counts = {"cells": int(status.size), "learned": int(np.sum(learned == 1)), "not_learned": int(np.sum(learned == 0)),
                  "diverged": int(np.sum(status == Status.DIVERGED)), "failed": int(np.sum(status == Status.FAILED)),
                  "pending": int(np.sum(learned == -1))}
        summary: dict[str, Any] = {"loss_ratio": self.loss_ratio, "level": self.level, "n_boot": self.n_boot,
                                   "counts": counts, "lr": lrs.tolist(),
                                   "pooled": {"fraction_learned": _list(pooled["fraction"]), "critical_lr": _f(pooled["eta"]),
                                              "where": pooled["where"], "ci95": pooled["ci"]},
                                   "axes": {}}
        report = ["## Learnability and the critical learning rate", "",
                  f"A network has learned when its final loss over its first epoch's loss is below {self.loss_ratio:g} "
                  + ("(the ghost paper's criterion). " if self.loss_ratio == 1e-2 else "(the ghost paper's criterion is 0.01). ")
                  + "Diverged and failed networks count as not learned; pending cells are "
                  f"left out. {counts['learned']} of {counts['learned'] + counts['not_learned']} finished networks "
                  f"learned ({counts['diverged']} diverged, {counts['failed']} failed, {counts['pending']} pending).", "",
                  f"Critical learning rate: going up in lr, where the fraction learned first falls through {self.level:g}, "
                  "linear in log10(lr) between the two rates around the fall; 95% interval: bootstrap over seeds "
                  f"({self.n_boot} resamples, seed {self.boot_seed}).", "",
                  f"Every other axis pooled: critical lr {_eta_text(pooled['eta'], pooled['where'], pooled['ci'])}.", ""]
        for axis in [d for d in dims if d not in ("seed", "lr")]:
            xs = np.asarray(study.coords[axis], float)
            duration, size = is_duration(axis), is_size(axis, study)
            fit = axis_fit(learned, dims, lrs, axis, xs, self.level, self.n_boot, self.boot_seed, duration, size)
            arrays[f"fraction_learned_{axis}"] = (fit["table"], ("lr", axis))
            arrays[f"critical_lr_{axis}"] = (fit["eta"], (axis,))
            arrays[f"critical_lr_lo_{axis}"] = (fit["eta_lo"], (axis,))
            arrays[f"critical_lr_hi_{axis}"] = (fit["eta_hi"], (axis,))
            coords[axis] = xs
            summary["axes"][axis] = axis_summary(fit, xs, duration, size)
            report += axis_lines(fit, axis, xs, duration, size)
            figures += plots.save(axis_figure(fit, lrs, axis, xs, duration, self.level, study.name), ctx.out,
                                  f"learnability_{axis}")
        return Result(cell_arrays={"learned": learned, "loss_ratio": ratio}, arrays=arrays, coords=coords,
                      attrs={"loss_ratio": self.loss_ratio, "level": self.level, "n_boot": self.n_boot,
                             "boot_seed": self.boot_seed},
                      summary={"learnability": summary}, report=report, figures=figures)


def _f(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _list(values: np.ndarray) -> list[float | None]:
    return [_f(v) for v in np.asarray(values, float)]


def _eta_text(eta: float, where: str, ci: tuple[float, float] | None) -> str:
    if not np.isfinite(eta):
        return where
    return f"{eta:.4g}" + (f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "")


def axis_summary(fit: dict[str, Any], xs: np.ndarray, duration: bool, size: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"values": xs.tolist(), "critical_lr": _list(fit["eta"]), "where": fit["where"],
                           "ci95": [[_f(a), _f(b)] for a, b in zip(fit["eta_lo"], fit["eta_hi"])],
                           "n_boot": fit["n_boot"], "kind": "duration" if duration else ("size" if size else "other")}
    if duration:
        law = fit["law"]
        out["power_law"] = law.to_dict() if law else None
        out["ghost_model_beta"] = {"plain_loss": GHOST_BETA, "loss_divided_by_T": GHOST_BETA - 1}
    if size:
        out["ratio_largest_to_smallest"] = _f(fit["ratio"]) if fit["ratio"] is not None else None
        out["ratio_ci95"] = list(fit["ratio_ci"]) if fit["ratio_ci"] else None
    return out


def axis_lines(fit: dict[str, Any], axis: str, xs: np.ndarray, duration: bool, size: bool) -> list[str]:
    lines = [f"### Critical learning rate against {axis}", "",
             f"| {axis} | " + " | ".join(f"{v:g}" for v in xs) + " |", "|---|" + "---|" * len(xs),
             "| critical lr [95%] | " + " | ".join(
                 _eta_text(e, w, (lo, hi) if np.isfinite(lo) else None)
                 for e, w, lo, hi in zip(fit["eta"], fit["where"], fit["eta_lo"], fit["eta_hi"])) + " |", ""]
    if duration:
        law = fit["law"]
        if law is None:
            lines += [f"No power law: fewer than 3 positive {axis} values have a critical learning rate inside the grid.", ""]
        else:
            ci = f" (95% bootstrap [{law.ci95[0]:.2f}, {law.ci95[1]:.2f}])" if law.ci95 else ""
            lines += [f"Power law eta_c ~ T^-beta over {law.n_points} points: beta = {law.beta:.2f} +- {law.beta_se:.2f}"
                      f"{ci}, R^2 = {law.r2:.3f}. The canonical ghost model: eta_c = 3 pi^4 / (32 T^5), beta = 5 "
                      "(4 when the loss is divided by T).", ""]
    if size:
        r = fit["ratio"]
        if r is None or not np.isfinite(r):
            lines += [f"No ratio eta_c({axis} {xs.max():g}) / eta_c({axis} {xs.min():g}): a critical rate lies outside "
                      "the grid.", ""]
        else:
            ci = f" [{fit['ratio_ci'][0]:.3g}, {fit['ratio_ci'][1]:.3g}]" if fit["ratio_ci"] else ""
            lines += [f"eta_c({axis} {xs.max():g}) / eta_c({axis} {xs.min():g}) = {r:.3g}{ci} (the ghost paper: full rank "
                      "about 100x rank 1).", ""]
    return lines
