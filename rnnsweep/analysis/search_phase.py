"""Analysis ``search_phase``: how long each network searches before it learns, and whether its updates
point at where it ends up (the abrupt-learning paper, paper-spec section 3).

Per finished network (status ``done``):

* the *search-phase length*: the first epoch ``e`` (0-based: the curve's entry ``e`` is measured after
  ``e`` updates) at which the metric curve ``metric`` (default ``accuracy``) reaches ``threshold``
  (``>=``; ``<=`` with ``direction = "below"``, for an error such as ``mse``). A network that never
  reaches it within its own ``epochs_run`` is *censored*: ``search_length`` NaN, ``left_search``
  False, censored at its last recorded epoch. The default criterion is the task's own
  ``search_criterion`` ``(metric, direction, threshold)`` where it declares one (``delayed_addition``:
  the MSE below 0.04, see its module), else ``accuracy >= 0.8``, the ``classes`` analysis's "learned"
  level (well above the 0.5 chance level of the two-choice tasks); the options ``metric``,
  ``direction`` and ``threshold`` override it part by part (``rnnsweep analyze --set
  search_phase.threshold=0.5``).
* Diverged and failed networks (``status``) are left out and counted; pending cells too.
* With training snapshots (``[run] snapshot_every > 0``): the gradient alignment at every snapshot
  ``k``, ``cos(W(k+1) - W(k), W_final - W(k))`` over the family's recurrent parameters
  (``model.recurrent_params``, flattened and concatenated), as the abrupt-learning paper defines it
  (NaN at the last snapshot, past a cell's end, and where ``W(k) = W_final``); and each network's mean
  alignment over the snapshots before (``epoch < search_length``) and after the end of its search.

Per grid point over the axes but ``seed``: the networks analysed and left out, the fraction that left
the search phase with its Wilson 95% interval, the median search-phase length and its quartiles among
those that left, and the Kaplan-Meier median over all of them (the censored ones counted as still
searching at their last epoch; NaN when fewer than half are known to have left).

Figures: ``search_phase`` (median length with quartile bars, and the fraction that left with its
interval, against the non-seed axis with most values, one line per combination of the other axes)
and, with snapshots, ``gradient_alignment`` (the mean alignment against the snapshot epoch, one line
per value of that axis).
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import numpy as np

from .. import schema, store
from ..schema import Status
from . import plots
from .base import Analysis, Context, Result, register
from .study import Source, Study

DIRECTIONS = ("above", "below")
Z95 = 1.959963984540054  # the normal 97.5% quantile
DEFAULT_CRITERION = ("accuracy", "above", 0.8)  # where the task declares none: the classes analysis's "learned" level


# --- per network --------------------------------------------------------------------------------------
def search_length(curve: np.ndarray, threshold: float, direction: str = "above") -> int:
    """The first epoch at which ``curve`` reaches ``threshold`` (``>=``, or ``<=`` when ``direction`` is
    ``"below"``); -1 when it never does (NaN entries never count)."""
    c = np.asarray(curve, float)
    with np.errstate(invalid="ignore"):
        hit = c >= threshold if direction == "above" else c <= threshold
    found = np.flatnonzero(hit)
    return int(found[0]) if len(found) else -1


def alignment(snapshots: np.ndarray, final: np.ndarray) -> np.ndarray:
    """``cos(W(k+1) - W(k), W_final - W(k))`` for each snapshot ``k`` of one network: ``snapshots`` (S, P)
    flattened recurrent parameters, ``final`` (P,). NaN at the last snapshot, where a snapshot is
    missing (NaN: past the cell's end) and where either vector is zero."""
    snaps = np.asarray(snapshots, float)
    out = np.full(len(snaps), np.nan)
    if len(snaps) < 2:
        return out
    step = snaps[1:] - snaps[:-1]
    to_end = np.asarray(final, float)[None, :] - snaps[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(step * to_end, axis=1) / (np.linalg.norm(step, axis=1) * np.linalg.norm(to_end, axis=1))
    out[:-1] = np.where(np.isfinite(cos), cos, np.nan)
    return out


# --- per grid point -----------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (NaN, NaN for ``n = 0``)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exactly 0 and 1 at the ends (rounding left 1e-17 and 1 - 1e-16, negative error bars)
    return (0.0 if k == 0 else float(max(centre - half, 0.0))), (1.0 if k == n else float(min(centre + half, 1.0)))


def kaplan_meier_median(times: np.ndarray, observed: np.ndarray) -> float:
    """The Kaplan-Meier median of event ``times`` where ``observed`` (else the time a network was last
    seen still searching, censored there): the first event time at which the estimated fraction still
    searching falls to 1/2 or below; NaN when it never does."""
    times, observed = np.asarray(times, float), np.asarray(observed, bool)
    surviving = 1.0
    for t in np.unique(times[observed]):
        at_risk = np.sum(times >= t)  # a network censored at t was still searching at t
        events = np.sum(observed & (times == t))
        surviving *= 1.0 - events / at_risk
        if surviving <= 0.5:
            return float(t)
    return float("nan")


GROUP_STATS = ("n_networks", "n_excluded", "n_left", "fraction_left", "wilson_lo", "wilson_hi", "median_length",
               "q25_length", "q75_length", "km_median_length")


def group_stats(length: np.ndarray, left: np.ndarray, analysed: np.ndarray, excluded: np.ndarray,
                censored_at: np.ndarray) -> dict[str, float]:
    """The statistics of one grid point's networks (1-D arrays over its seeds)."""
    n = int(analysed.sum())
    k = int((left & analysed).sum())
    lo, hi = wilson(k, n)
    lengths = length[left & analysed]
    q = np.percentile(lengths, [25, 50, 75]) if len(lengths) else np.full(3, np.nan)
    times = np.where(left, length, censored_at)[analysed]
    return {"n_networks": n, "n_excluded": int(excluded.sum()), "n_left": k,
            "fraction_left": k / n if n else float("nan"), "wilson_lo": lo, "wilson_hi": hi,
            "median_length": float(q[1]), "q25_length": float(q[0]), "q75_length": float(q[2]),
            "km_median_length": kaplan_meier_median(times, left[analysed]) if n else float("nan")}


def grid_stats(dims: list[str], per_cell: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:func:`group_stats` at every point of the grid over the axes but ``seed`` (over ``dims`` with
    the seed axis dropped; each cell its own point when there is no seed axis)."""
    moved = {k: (np.moveaxis(v, dims.index("seed"), -1) if "seed" in dims else v[..., None])
             for k, v in per_cell.items()}
    shape = next(iter(moved.values())).shape[:-1]
    out = {k: np.full(shape, np.nan) for k in GROUP_STATS}
    for ix in np.ndindex(*shape):
        for k, v in group_stats(*(moved[name][ix] for name in ("length", "left", "analysed", "excluded",
                                                                "censored_at"))).items():
            out[k][ix] = v
    return out


# --- reading the store ----------------------------------------------------------------------------------
def source_lengths(source: Source, metric: str, threshold: float, direction: str) -> dict[str, np.ndarray]:
    """Per cell of one source: ``length`` (NaN unless it left), ``left``, ``analysed`` (finished, not
    diverged or failed), ``excluded`` (diverged or failed) and ``censored_at`` (its last epoch).
    Reads the curve one slice of the first grid axis at a time."""
    group = source.group()
    status = source.status
    epochs_run = source.read(schema.EPOCHS_RUN)
    length = np.full(status.shape, np.nan)
    for i in range(status.shape[0]):
        curves = np.asarray(group[metric][i])
        for rest in np.ndindex(*status.shape[1:]):
            ix = (i,) + rest
            if status[ix] != Status.DONE:
                continue
            e = search_length(curves[rest][: epochs_run[ix]], threshold, direction)
            if e >= 0:
                length[ix] = e
    analysed = status == Status.DONE
    return {"length": length, "left": analysed & np.isfinite(length), "analysed": analysed,
            "excluded": np.isin(status, (Status.DIVERGED, Status.FAILED)),
            "censored_at": np.maximum(epochs_run - 1, 0).astype(float)}


def source_alignment(source: Source, analysed: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(snapshot epochs, alignment (*grid, S))`` of the analysed cells of one source (None: the store
    has no snapshots). Reads one unit (every seed of one grid point) at a time, as the store chunks it."""
    group = source.group()
    epochs = store.snapshot_epochs(group)
    if not epochs.size:
        return None
    names = list(source.model.recurrent_params)
    shape = analysed.shape
    out = np.full(shape + (len(epochs),), np.nan)
    seed_ax = source.dims.index("seed") if "seed" in source.dims else None
    lines = [d for j, d in enumerate(shape) if j != seed_ax]
    for rest in np.ndindex(*lines):
        sel = list(rest)
        if seed_ax is not None:
            sel.insert(seed_ax, slice(None))
        sel = tuple(sel)
        if not analysed[sel].any():
            continue
        snaps = [np.asarray(group[schema.snapshot_array(n)][sel]) for n in names]
        finals = [np.asarray(group[schema.param_array(n)][sel]) for n in names]
        n_cells = int(np.prod(analysed[sel].shape))
        s = np.concatenate([a.reshape(n_cells, len(epochs), -1) for a in snaps], axis=-1)
        f = np.concatenate([a.reshape(n_cells, -1) for a in finals], axis=-1)
        cos = np.stack([alignment(s[c], f[c]) for c in range(n_cells)])
        cos[~analysed[sel].reshape(-1)] = np.nan
        out[sel] = cos.reshape(analysed[sel].shape + (len(epochs),))
    return epochs, out


def before_after(align: np.ndarray, epochs: np.ndarray, length: np.ndarray, left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each network's mean alignment over its snapshots before the end of its search (``epoch <
    search_length``; every snapshot of a network that never left) and after it."""
    ends = np.where(left, length, np.inf)[..., None]
    before = epochs < ends
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # networks with no snapshot on one side
        b = np.nanmean(np.where(before, align, np.nan), axis=-1)
        a = np.nanmean(np.where(~before, align, np.nan), axis=-1)
    return b, a


# --- figures --------------------------------------------------------------------------------------------
def main_axis(dims: list[str], coords: dict[str, np.ndarray], chosen: str | None = None) -> str | None:
    """The axis figures are drawn against: ``chosen``, else the non-seed axis with most values (the first
    in grid order on a tie); None when there is none."""
    others = [d for d in dims if d != "seed"]
    if chosen is not None:
        if chosen not in others:
            raise ValueError(f"search_phase.axis: {chosen!r} is not a non-seed grid axis (axes: {', '.join(others)})")
        return chosen
    return max(others, key=lambda d: len(coords[d])) if others else None


def _x(axis: str | None, coords: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(coords[axis], float) if axis else np.zeros(1)


def _log_x(values: np.ndarray, axis: str | None) -> bool:
    v = np.asarray(values, float)
    return bool(axis and np.all(v > 0) and (axis == "lr" or v.max() / v.min() >= 20))


def _symlog_x(values: np.ndarray, axis: str | None) -> float | None:
    """The linear threshold of a symlog axis for values that include 0 and span decades above it (a
    regulariser's strengths 0, 0.1, 1, 10), else None."""
    v = np.asarray(values, float)
    positive = v[v > 0]
    if axis and np.all(v >= 0) and np.any(v == 0) and positive.size >= 2 and positive.max() / positive.min() >= 20:
        return float(positive.min())
    return None


def _lines(grid_dims: list[str], coords: dict[str, np.ndarray], axis: str | None):
    """``(label, selection)`` of each line over ``axis``: the selection indexes a per-grid-point array to
    give the line's values in ascending order of ``axis`` (one line per combination of the other axes)."""
    if axis is None:
        yield None, ()
        return
    others = [d for d in grid_dims if d != axis]
    order = np.argsort(coords[axis])
    for combo in itertools.product(*(range(len(coords[d])) for d in others)):
        where = dict(zip(others, combo))
        sel = tuple(where[d] if d in where else order for d in grid_dims)
        yield ", ".join(f"{d} {coords[d][i]:g}" for d, i in where.items()) or None, sel


def length_figure(stats: dict[str, np.ndarray], grid_dims: list[str], coords: dict[str, np.ndarray],
                  axis: str | None, title: str) -> plt.Figure:
    """Left: median search-phase length (bars: quartiles) of the networks that left; right: the fraction
    that left (bars: Wilson 95%), against ``axis``, one line per combination of the other axes."""
    x = np.sort(_x(axis, coords))
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    labelled = False
    for k, (label, sel) in enumerate(_lines(grid_dims, coords, axis)):
        get = lambda s: np.atleast_1d(stats[s][sel]).astype(float)  # noqa: E731
        med, q25, q75 = get("median_length"), get("q25_length"), get("q75_length")
        ax0.errorbar(x, med, yerr=np.clip(np.nan_to_num([med - q25, q75 - med]), 0, None), marker="o", ms=4, capsize=3,
                     color=f"C{k}", label=label)
        frac, lo, hi = get("fraction_left"), get("wilson_lo"), get("wilson_hi")
        ax1.errorbar(x, frac, yerr=np.clip(np.nan_to_num([frac - lo, hi - frac]), 0, None), marker="o", ms=4, capsize=3,
                     color=f"C{k}", label=label)
        labelled = labelled or bool(label)
    for ax in (ax0, ax1):
        if axis:
            ax.set_xlabel(axis.replace("_ms", " (ms)"))
            if _log_x(x, axis):
                ax.set_xscale("log")
            elif _symlog_x(x, axis) is not None:
                ax.set_xscale("symlog", linthresh=_symlog_x(x, axis))
        else:
            ax.set_xticks([0], ["all networks"])
    ax0.set_ylabel("search-phase length (epochs; median, quartiles)")
    ax1.set_ylabel("fraction that left the search phase")
    ax1.set_ylim(-0.03, 1.03)
    if labelled:
        ax1.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def alignment_figure(align: np.ndarray, epochs: np.ndarray, length: np.ndarray, dims: list[str],
                     coords: dict[str, np.ndarray], axis: str | None, name: str) -> plt.Figure:
    """Mean gradient alignment over the networks against the snapshot epoch, one line per value of
    ``axis`` (the other axes and seeds pooled); a dotted line at each value's median search length."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    values = coords[axis] if axis else [None]
    order = np.argsort(values) if axis else [0]
    for k, i in enumerate(order):
        a = np.take(align, i, axis=dims.index(axis)) if axis else align
        n_len = np.take(length, i, axis=dims.index(axis)) if axis else length
        flat = a.reshape(-1, len(epochs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(flat, axis=0)
        label = f"{axis} {values[i]:g}" if axis else "all networks"
        ax.plot(epochs[:-1], mean[:-1], "o-", ms=3, color=f"C{k}", label=label)
        finite = n_len[np.isfinite(n_len)]
        if finite.size:
            ax.axvline(float(np.median(finite)), color=f"C{k}", ls=":", lw=1)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("epoch (snapshot k)")
    ax.set_ylabel("cos(W(k+1) - W(k), W_final - W(k))")
    ax.set_ylim(-1.05, 1.05)
    ax.legend(fontsize=7)
    ax.set_title(f"{name}: gradient alignment (mean over networks; dotted: median search length)", fontsize=9)
    fig.tight_layout()
    return fig


# --- the plug-in ----------------------------------------------------------------------------------------
@register
class SearchPhase(Analysis):
    """Search-phase length, the fraction that left it, and the gradient alignment over snapshots."""

    name: ClassVar[str] = "search_phase"
    description: ClassVar[str] = ("search-phase length (first epoch a metric reaches a threshold), the fraction that "
                                  "left it (Wilson 95%), Kaplan-Meier median; gradient alignment from snapshots")

    # The criterion that ends the search; "" or 0: the task's search_criterion, else accuracy >= 0.8.
    metric: str = ""  # the curve
    threshold: float = 0.0
    direction: str = ""  # "above": metric >= threshold ends it; "below": metric <= threshold (an error)
    axis: str = ""  # the axis the figures are drawn against ("": the non-seed axis with most values)
    alignment: bool = True  # compute the gradient alignment when the store has snapshots

    @classmethod
    def applies(cls, study: Study) -> str | None:
        metric = getattr(study.task, "search_criterion", DEFAULT_CRITERION)[0]  # a configured one: checked in run()
        if metric not in (schema.LOSS, *study.sources[0].metric_names):
            return (f"the task {study.task.name!r} records no {metric!r} curve (its curves: "
                    f"{', '.join(study.sources[0].metric_names)})")
        return None

    def criterion(self, task: Any) -> tuple[str, str, float]:
        """``(metric, direction, threshold)``: the options where given, else the task's own."""
        metric, direction, threshold = getattr(task, "search_criterion", DEFAULT_CRITERION)
        return self.metric or metric, self.direction or direction, self.threshold or threshold

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        metric, direction, threshold = self.criterion(study.task)
        curves = (schema.LOSS, *study.sources[0].metric_names)
        if metric not in curves:
            raise ValueError(f"search_phase.metric: the study has no {metric!r} curve (curves: {', '.join(curves)})")
        if direction not in DIRECTIONS:
            raise ValueError(f"search_phase.direction: must be one of {DIRECTIONS}, got {direction!r}")
        rel = ">=" if direction == "above" else "<="
        dims = list(study.dims)
        axis = main_axis(dims, study.coords, self.axis or None)
        parts = [source_lengths(s, metric, threshold, direction) for s in study.sources]
        cells = {k: study.join([p[k] for p in parts]) for k in parts[0]}
        stats = grid_stats(dims, cells)
        grid_dims = [d for d in dims if d != "seed"]
        status = study.status
        n_total = int(status.size)
        n_done, n_left = int(cells["analysed"].sum()), int(cells["left"].sum())
        counts = {"analysed": n_done, "left": n_left, "censored": n_done - n_left,
                  "diverged": int(np.sum(status == Status.DIVERGED)), "failed": int(np.sum(status == Status.FAILED)),
                  "pending": int(np.sum(status == Status.PENDING))}
        cell_arrays: dict[str, np.ndarray] = {"search_length": cells["length"], "left_search": cells["left"],
                                              "analysed": cells["analysed"]}
        cell_dims: dict[str, tuple[str, ...]] = {}
        coords: dict[str, np.ndarray] = {}
        arrays = {k: (v if k not in ("n_networks", "n_excluded", "n_left") else v.astype(np.int32), tuple(grid_dims))
                  for k, v in stats.items()}
        figures = plots.save(length_figure(stats, grid_dims, study.coords, axis,
                                           f"{study.name}: search phase ({metric} {rel} {threshold:g})"),
                             ctx.out, "search_phase")
        summary: dict[str, Any] = {"metric": metric, "threshold": threshold, "direction": direction,
                                   "counts": counts, "axis": axis,
                                   "grid": grid_summary(stats, grid_dims, study.coords)}
        report = ["## Search phase", "",
                  f"Search-phase length: the first epoch at which `{metric}` {rel} {threshold:g} (epoch e: "
                  f"after e updates). Of {n_total} cells: {n_done} finished networks analysed, {n_left} left the search "
                  f"phase and {n_done - n_left} did not within their epoch budget (censored); left out: "
                  f"{counts['diverged']} diverged, {counts['failed']} failed, {counts['pending']} pending.", "",
                  "Per grid point (seeds pooled): fraction that left with its Wilson 95% interval; median and "
                  "quartiles of the length among those that left; Kaplan-Meier median over all (censored networks "
                  "counted as still searching at their last epoch; '-' when fewer than half are known to have left).",
                  ""]
        report += grid_table(stats, grid_dims, study.coords)
        snapshots = None
        if self.alignment:
            got = [source_alignment(s, p["analysed"]) for s, p in zip(study.sources, parts)]
            if all(g is not None for g in got):
                epochs = got[0][0]
                if any(not np.array_equal(g[0], epochs) for g in got):
                    raise ValueError("search_phase: the sweeps of this study took snapshots at different epochs; "
                                     "analyse them apart (or with alignment = false)")
                snapshots = (epochs, study.join([g[1] for g in got]))
            elif any(g is not None for g in got):
                report += ["Only some sweeps of this study have snapshots: no gradient alignment.", ""]
        if snapshots is not None:
            epochs, align = snapshots
            before, after = before_after(align, epochs, cells["length"], cells["left"])
            cell_arrays.update({"alignment": align, "alignment_before": before, "alignment_after": after})
            cell_dims["alignment"] = ("snapshot",)
            coords["snapshot"] = epochs
            summary["alignment"] = alignment_summary(before, after, cells["left"], cells["analysed"])
            report += alignment_lines(summary["alignment"], epochs)
            figures += plots.save(alignment_figure(align, epochs, cells["length"], dims, study.coords,
                                                   axis, study.name), ctx.out, "gradient_alignment")
        elif self.alignment:
            report += ["No training snapshots in the store (`[run] snapshot_every`): no gradient alignment.", ""]
        return Result(cell_arrays=cell_arrays, cell_dims=cell_dims, arrays=arrays, coords=coords,
                      attrs={"metric": metric, "threshold": threshold, "direction": direction},
                      summary={"search_phase": summary}, report=report, figures=figures)


def _num(v: float, fmt: str = ".3g") -> str:
    return "-" if not np.isfinite(v) else format(v, fmt)


def grid_summary(stats: dict[str, np.ndarray], grid_dims: list[str], coords: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    for ix in np.ndindex(*(len(coords[d]) for d in grid_dims)):
        row: dict[str, Any] = {d: float(coords[d][i]) for d, i in zip(grid_dims, ix)}
        for k in GROUP_STATS:
            v = float(stats[k][ix])
            row[k] = int(v) if k in ("n_networks", "n_excluded", "n_left") else (v if np.isfinite(v) else None)
        rows.append(row)
    return rows


def grid_table(stats: dict[str, np.ndarray], grid_dims: list[str], coords: dict[str, np.ndarray]) -> list[str]:
    lines = ["| " + " | ".join(grid_dims + ["networks", "left out", "left", "fraction left [95%]",
                                           "median length [q25, q75]", "KM median"]) + " |",
             "|" + "---|" * (len(grid_dims) + 6)]
    for ix in np.ndindex(*(len(coords[d]) for d in grid_dims)):
        s = {k: stats[k][ix] for k in GROUP_STATS}
        lines.append("| " + " | ".join(f"{coords[d][i]:g}" for d, i in zip(grid_dims, ix)) +
                     f" | {int(s['n_networks'])} | {int(s['n_excluded'])} | {int(s['n_left'])} | "
                     f"{_num(s['fraction_left'], '.2f')} [{_num(s['wilson_lo'], '.2f')}, {_num(s['wilson_hi'], '.2f')}] | "
                     f"{_num(s['median_length'], '.1f')} [{_num(s['q25_length'], '.1f')}, {_num(s['q75_length'], '.1f')}] | "
                     f"{_num(s['km_median_length'], '.1f')} |")
    return lines + [""]


def alignment_summary(before: np.ndarray, after: np.ndarray, left: np.ndarray, analysed: np.ndarray) -> dict[str, Any]:
    def mean(v, sel):
        x = v[sel & np.isfinite(v)]
        return (float(np.mean(x)) if x.size else None), int(x.size)

    b_left, n_b = mean(before, left)
    a_left, n_a = mean(after, left)
    b_cens, n_c = mean(before, analysed & ~left)
    return {"before_end_left": b_left, "after_end_left": a_left, "n_before": n_b, "n_after": n_a,
            "censored": b_cens, "n_censored": n_c}


def alignment_lines(s: dict[str, Any], epochs: np.ndarray) -> list[str]:
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    return ["### Gradient alignment", "",
            f"cos(W(k+1) - W(k), W_final - W(k)) over the recurrent parameters at {len(epochs)} snapshots (every "
            f"{int(epochs[1] - epochs[0]) if len(epochs) > 1 else 0} epochs); each network's mean over its snapshots "
            "before and after the end of its search phase, then the mean over networks:", "",
            "| networks | before the end | after the end |", "|---|---|---|",
            f"| left the search phase | {f(s['before_end_left'])} (n={s['n_before']}) | "
            f"{f(s['after_end_left'])} (n={s['n_after']}) |",
            f"| never left (censored) | {f(s['censored'])} (n={s['n_censored']}) | - |", ""]
