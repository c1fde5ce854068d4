"""``rnnsweep inspect``: one figure sheet of one trained network of a store.

The network is named by its grid coordinates (every axis, exact grid values). The sheet shows:

* ``curves``: the loss (log scale) and the recurrent gradient norm over the cell's epochs;
* ``metrics``: the task's metric curves (``accuracy`` and ``reliability`` for the paper's tasks);
* ``outputs``: the outputs of every task condition (:meth:`~rnnsweep.tasks.AbstractTask.conditions`)
  for :data:`PROBE_TRIALS` trial lengths: the trial, then zero input (noise-free, from one fixed
  initial state, :func:`.mechanism.probe_trajectory`), the trial's end marked;
* ``raster``: the firing rates of the first condition over the same probe, neurons sorted by the
  time of their peak;
* ``pca``: the probe trajectories of every condition on the top-2 principal directions of the states
  they visit, with the network's slow, fixed and ghost points (:func:`.dynamics.network_points`, at
  zero input: the delay's dynamics) on the same plane, one marker per label;
* ``spectra``: the eigenvalues of the Jacobian at each of those points, coloured by label;
* when the store has training snapshots (``[run] snapshot_every``), a row of the mechanism index and
  the point counts at every snapshot (:func:`history_axes`, from
  :func:`.dynamics_analysis.cell_history`), with the epoch at which the network switched mechanism
  after learning (:mod:`.training_dynamics`) marked.

Each panel's axes carry their name as ``gid``. :func:`inspect_cell` writes the sheet (PNG and PDF)
and a JSON summary of the network (coordinates, status, stored class, mechanism index, point counts
by label, slowest speed, slow-manifold dimension) beside it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from .. import schema, store
from . import dynamics, plots
from .classify import CLASS_NAMES, PENDING, Thresholds
from .conditions import condition_of
from .dynamics import LABELS, FinderConfig, Points
from .dynamics_analysis import cell_history, events_of
from .mechanism import MechanismConfig, mechanism_measures, probe_trajectory
from .study import Source
from .training_dynamics import DIRECTIONS, SwitchConfig

PROBE_TRIALS = 5  # the probe's length in trial lengths: the trial, then zero input
RELATIVE_TOLERANCE = 1e-9  # a cell's given value matches a grid value this close (relative)
LABEL_STYLES = {"stable": ("tab:green", "o"), "saddle": ("tab:orange", "X"), "unstable": ("tab:red", "^"),
                "ghost": ("tab:purple", "D"), "slow": ("tab:grey", "s")}


class CellError(ValueError):
    """A cell that names no trained network of the store."""


def format_value(value: float) -> str:
    """A coordinate as the sheet's names and messages show it (12 significant digits)."""
    return f"{value:.12g}"


def cell_label(cell: dict[str, float], sep: str = ",") -> str:
    return sep.join(f"{d}={format_value(v)}" for d, v in cell.items())


def find_cell(source: Source, cell: dict[str, float]) -> tuple[int, ...]:
    """The grid index of the cell at the values ``cell`` gives for every axis of ``source``. A value
    must equal a grid value to :data:`RELATIVE_TOLERANCE`; it is never moved to the nearest one."""
    unknown = sorted(set(cell) - set(source.dims))
    missing = [d for d in source.dims if d not in cell]
    axes = ", ".join(source.dims)
    if unknown:
        raise CellError(f"--cell: the grid has no axis {', '.join(unknown)} (its axes: {axes})")
    if missing:
        raise CellError(f"--cell: give a value for every grid axis; missing {', '.join(missing)} (the axes: {axes})")
    index = []
    for d in source.dims:
        values, value = source.coords[d].astype(float), float(cell[d])
        hits = np.flatnonzero(np.abs(values - value) <= RELATIVE_TOLERANCE * np.maximum(np.abs(values), abs(value)))
        if not len(hits):
            nearest = values[np.argsort(np.abs(values - value), kind="stable")[:3]]
            raise CellError(f"--cell: {d}={format_value(value)} is not on the grid; the nearest {d} values are "
                            + ", ".join(format_value(v) for v in nearest))
        index.append(int(hits[0]))
    return tuple(index)


@dataclasses.dataclass
class CellSheet:
    """What the sheet draws of one network."""

    title: str
    epochs: np.ndarray  # (E,) the cell's recorded epochs
    curves: dict[str, np.ndarray]  # loss, the task's metrics, grad_norm: (E,) each
    metric_names: tuple[str, ...]
    conditions: list[str]  # the task's conditions, in the order of the probe's trial axis
    dt_ms: float
    trial_steps: int  # the probe's trial; the rest of it is zero input
    outputs: np.ndarray  # (time, conditions, outputs)
    rates: np.ndarray  # (time, conditions, neurons)
    states: np.ndarray  # (time, conditions, D) flat states, the space of the points
    points: Points  # of this one network
    time_unit_ms: float  # the eigenvalues' time unit


def probe_cell(source: Source, ix: tuple[int, ...], finder: FinderConfig = FinderConfig(), title: str = "") -> CellSheet:
    """Read one finished network's curves, run its probe of every task condition and find its slow,
    fixed and ghost points."""
    epochs_run = int(source.read(schema.EPOCHS_RUN, ix))
    names = schema.curve_names(source.metric_names)
    curves = {name: source.read(name, ix)[:epochs_run] for name in names}
    params = source.params([ix])
    timing = source.timing(ix)
    task, model = source.task, source.model
    n = int(task.n_steps(timing))
    conditions = task.conditions()
    one = {k: jnp.asarray(v[0]) for k, v in params.items()}
    with jax.default_matmul_precision("highest"):
        states = probe_trajectory(model, task, one, timing, n, PROBE_TRIALS * n, jax.random.PRNGKey(0),
                                  tuple(conditions.values()))
        rates, outputs = model.rates(states), model.read(one, states)
    points = dynamics.network_points(model, task, params, timing, finder)
    return CellSheet(title, source.read(schema.EPOCH)[:epochs_run], curves, source.metric_names, list(conditions),
                     task.dt_ms, n, np.asarray(outputs), np.asarray(rates), np.asarray(dynamics.flat_states(states)),
                     points, dynamics.time_unit_ms(model))


# --- the sheet ----------------------------------------------------------------------------------------
def curves_axes(ax, sheet: CellSheet) -> None:
    ax.set_gid("curves")
    ax.plot(sheet.epochs, sheet.curves[schema.LOSS], color="k", label="loss")
    ax.plot(sheet.epochs, sheet.curves[schema.GRAD_NORM], color="tab:blue", alpha=0.7, label="gradient norm")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss, gradient norm")
    ax.set_title("training: loss and recurrent gradient norm")
    ax.legend(fontsize=8)


def metrics_axes(ax, sheet: CellSheet) -> None:
    ax.set_gid("metrics")
    for k, name in enumerate(sheet.metric_names):
        ax.plot(sheet.epochs, sheet.curves[name], color=f"C{k}", label=name)
    if sheet.metric_names:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "the task records no metrics", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("epoch")
    ax.set_ylabel("metric")
    ax.set_title("training: the task's metrics")


def outputs_axes(ax, sheet: CellSheet) -> None:
    ax.set_gid("outputs")
    t = np.arange(sheet.outputs.shape[0]) * sheet.dt_ms
    styles = ("-", "--", ":", "-.")
    for k, label in enumerate(sheet.conditions):
        for ch in range(sheet.outputs.shape[-1]):
            ax.plot(t, sheet.outputs[:, k, ch], ls=styles[k % len(styles)], color=f"C{ch}", label=f"{label}, output {ch}")
    ax.axvline(sheet.trial_steps * sheet.dt_ms, color="k", lw=1, ls=":")
    ax.set_ylabel("output")
    ax.set_title("outputs: the trial, then zero input (dotted line: the trial's end)")
    ax.legend(fontsize=7, ncol=2)


def raster_axes(ax, sheet: CellSheet) -> None:
    """The first condition's rates (neurons sorted by peak time) over the probe; the colour bar sits
    just outside the axes, so that they keep the width of the outputs' axes above."""
    ax.set_gid("raster")
    r = sheet.rates[:, 0]
    t_end = r.shape[0] * sheet.dt_ms
    order = np.argsort(np.argmax(r, axis=0))
    im = ax.imshow(r[:, order].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
                   extent=(0, t_end, r.shape[1], 0))
    ax.axvline(sheet.trial_steps * sheet.dt_ms, color="k", lw=1, ls=":")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron (sorted by peak time)")
    ax.set_title(f"firing rates, {sheet.conditions[0]}")
    plt.colorbar(im, cax=ax.inset_axes((1.01, 0, 0.015, 1)), label="firing rate")


def pca_axes(ax, sheet: CellSheet) -> None:
    """Trajectories and points on the top-2 principal directions of the visited states."""
    ax.set_gid("pca")
    visited = sheet.states.reshape(-1, sheet.states.shape[-1])
    mean = visited.mean(axis=0)
    _, s, vt = np.linalg.svd(visited - mean, full_matrices=False)
    share = s**2 / max(np.sum(s**2), np.finfo(float).tiny)
    project = lambda x: (np.asarray(x) - mean) @ vt[:2].T  # noqa: E731
    end = sheet.trial_steps
    for k, label in enumerate(sheet.conditions):
        p = project(sheet.states[:, k])
        ax.plot(p[:, 0], p[:, 1], color=f"C{k}", lw=1, label=label)
        ax.plot(p[end, 0], p[end, 1], "o", color=f"C{k}", ms=4)
    ax.plot([], [], "o", color="grey", ms=4, label="trial's end")
    for label, found in points_by_label(sheet.points).items():
        colour, marker = LABEL_STYLES[label]
        p = project([f["x"] for f in found])
        ax.scatter(p[:, 0], p[:, 1], color=colour, marker=marker, s=60, edgecolors="k", zorder=3, label=label)
    ax.set_xlabel(f"PC 1 ({100 * share[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * share[1]:.0f}% of variance)")
    ax.set_title("state space: probe trajectories and points")
    ax.legend(fontsize=7)


def spectra_axes(ax, sheet: CellSheet) -> None:
    """Jacobian eigenvalues of every point, one scatter per label, and the ``Re = 0`` line."""
    ax.set_gid("spectra")
    found = points_by_label(sheet.points)
    for label, pts in found.items():
        colour, marker = LABEL_STYLES[label]
        ev = np.concatenate([p["eigenvalues"] for p in pts])
        ax.scatter(ev.real, ev.imag, color=colour, marker=marker, s=25, alpha=0.8, label=f"{label} ({len(pts)})")
    ax.axvline(0, color="k", lw=1, ls="--")
    if found:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no slow or fixed point found", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"Re eigenvalue (1 / {sheet.time_unit_ms:g} ms)")
    ax.set_ylabel("Im eigenvalue")
    ax.set_title("Jacobian spectra of the points (zero input)")


def points_by_label(points: Points) -> dict[str, list[dict[str, Any]]]:
    """The one network's kept points (slowest first) grouped by label, in :data:`LABELS` order."""
    found = points.network(0)
    return {label: [p for p in found if p["label"] == label] for label in LABELS
            if any(p["label"] == label for p in found)}


def check_history(history: dict[str, np.ndarray]) -> None:
    """Refuse a ``history`` that is not ``{"epoch": (S,), "mechanism_index": (S,), "counts": (S, len(LABELS))}``."""
    missing = {"epoch", "mechanism_index", "counts"} - set(history)
    if missing:
        raise ValueError(f"history: missing {sorted(missing)}")
    n = len(history["epoch"])
    if np.shape(history["mechanism_index"]) != (n,) or np.shape(history["counts"]) != (n, len(LABELS)):
        raise ValueError(f"history: expected mechanism_index ({n},) and counts ({n}, {len(LABELS)}) for {n} epochs, "
                         f"got {np.shape(history['mechanism_index'])} and {np.shape(history['counts'])}")


def history_axes(ax_index, ax_counts, history: dict[str, np.ndarray],
                 threshold: float = Thresholds().mechanism_index) -> None:
    """The over-training row: the mechanism index (``threshold``: LC below, SP above) and the point
    counts by label at each training snapshot. ``history`` is ``{"epoch": (S,), "mechanism_index":
    (S,), "counts": (S, len(LABELS))}`` (``counts`` as :meth:`.dynamics.Points.counts` gives them)."""
    epoch = np.asarray(history["epoch"])
    ax_index.set_gid("history_index")
    ax_index.plot(epoch, history["mechanism_index"], "o-", color="k", ms=4)
    ax_index.axhline(threshold, color="grey", lw=1, ls="--", label=f"LC below {threshold:g}, SP above")
    if history.get("switch_epoch", -1) >= 0:
        ax_index.axvline(history["switch_epoch"], color="tab:red", lw=1, ls=":",
                         label=f"switch {history.get('switch', '')} at {history['switch_epoch']}")
    ax_index.set_ylim(-0.03, 1.03)
    ax_index.set_xlabel("epoch")
    ax_index.set_ylabel("mechanism index")
    ax_index.set_title("over training: mechanism index")
    ax_index.legend(fontsize=7)
    ax_counts.set_gid("history_counts")
    counts = np.asarray(history["counts"])
    for k, label in enumerate(LABELS):
        colour, marker = LABEL_STYLES[label]
        ax_counts.plot(epoch, counts[:, k], marker=marker, color=colour, ms=4, label=label)
    ax_counts.set_xlabel("epoch")
    ax_counts.set_ylabel("points")
    ax_counts.set_title("over training: points by label")
    ax_counts.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))


def sheet_figure(sheet: CellSheet, history: dict[str, np.ndarray] | None = None) -> plt.Figure:
    """The whole sheet: training curves and metrics; outputs over the raster (one shared time axis)
    beside the state space and the spectra; and, with ``history``, the over-training row
    (:func:`history_axes`)."""
    if history is not None:
        check_history(history)
    rows = 4 if history is not None else 3
    fig = plt.figure(figsize=(14, 3.6 * rows + 0.6))
    grid = fig.add_gridspec(rows, 2, width_ratios=[1.3, 1], height_ratios=[0.8, 1, 1] + [0.8] * (rows - 3))
    curves_axes(fig.add_subplot(grid[0, 0]), sheet)
    metrics_axes(fig.add_subplot(grid[0, 1]), sheet)
    outputs, raster = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[2, 0])
    raster.sharex(outputs)
    outputs.tick_params(labelbottom=False)
    outputs_axes(outputs, sheet)
    raster_axes(raster, sheet)
    pca_axes(fig.add_subplot(grid[1, 1]), sheet)
    spectra_axes(fig.add_subplot(grid[2, 1]), sheet)
    if history is not None:
        history_axes(fig.add_subplot(grid[3, 0]), fig.add_subplot(grid[3, 1]), history)
    fig.suptitle(sheet.title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # the top 0.3 inch holds the title
    return fig


# --- the command ------------------------------------------------------------------------------------------
def stored_class(source: Source, ix: tuple[int, ...]) -> tuple[str | None, MechanismConfig | None]:
    """The cell's class from the store's ``analysis/classes`` (None where the analysis has not run, or
    ran before the cell was trained) and the mechanism index settings it used."""
    classes = store.analysis_group(source.group(), "classes")
    if classes is None or "classes" not in classes:
        return None, None
    code = int(np.asarray(classes["classes"][ix]))
    known = {f.name for f in dataclasses.fields(MechanismConfig)}
    used = {k: v for k, v in classes.attrs.get("mechanism", {}).items() if k in known}
    return (None if code == PENDING else CLASS_NAMES[code]), MechanismConfig(**used)


def default_out(store_path: str | Path) -> Path:
    """``<store>_inspect`` beside the store."""
    path = Path(store_path)
    return path.with_suffix("").with_name(path.with_suffix("").name + "_inspect")


def finite_or_none(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def snapshot_history_of(source: Source, ix: tuple[int, ...], mechanism: MechanismConfig,
                        finder: FinderConfig) -> dict[str, Any] | None:
    """The over-training row's data of one network from the store's snapshots (None without
    snapshots), with its first mechanism switch after learning."""
    history = cell_history(source, ix, mechanism, finder)
    if history is None or not {"accuracy", "reliability"} <= set(source.metric_names):
        return history
    rules = condition_of(source.model, source.task).rules
    events = events_of(source, [ix], history["mechanism_index"][None], history["epoch"], SwitchConfig.from_rules(rules))
    return {**history, "switch_epoch": int(events.switch_epoch[0]), "switch": DIRECTIONS[int(events.direction[0])]}


def inspect_cell(store_path: str | Path, cell: dict[str, float], out: str | Path | None = None,
                 sweep: str | None = None, finder: FinderConfig = FinderConfig(),
                 mechanism: MechanismConfig | None = None, history: dict[str, np.ndarray] | None = None,
                 progress: bool = True, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Draw the sheet of the network at ``cell`` (a value for every grid axis) of the sweep ``sweep``
    (or the only one) of the store, into ``out`` (default ``<store>_inspect/``) as
    ``cell_<axis>=<value>_....png`` and ``.pdf``, and write the summary it returns as ``.json``
    beside them. ``mechanism``: the index's settings (default: those the store's ``classes``
    analysis used, else :class:`.mechanism.MechanismConfig`'s); ``history``: the over-training row's
    data (:func:`history_axes`; default: from the store's snapshots, if it has any). Raises
    :class:`CellError` for a cell off the grid or not trained."""
    source = Source.open(store_path, sweep)
    ix = find_cell(source, cell)
    coords = {d: source.coords[d][i].item() for d, i in zip(source.dims, ix)}
    status = schema.STATUS_NAMES[int(source.status[ix])]
    if source.status[ix] == schema.Status.PENDING:
        raise CellError(f"cell {cell_label(coords)} is pending: it has not been trained yet (train it with "
                        f"'rnnsweep run SWEEP.toml --store {store_path} --resume')")
    if source.model.mechanism is not None:
        raise CellError(f"the store's model family {source.model.family!r} is a toy model of the theory; it has no "
                        "recurrent network to inspect")
    klass, used = stored_class(source, ix)
    mechanism = mechanism or used or MechanismConfig()
    if progress:
        log(f"rnnsweep: inspect {source.name} {cell_label(coords)}: probing, mechanism index, slow and fixed "
            f"points from {finder.n_initial} starts")
    index, rms = mechanism_measures(source.model, source.task, source.params([ix]), source.timing(ix), mechanism)
    epochs_run = int(source.read(schema.EPOCHS_RUN, ix))
    title = (f"{source.name}: {cell_label(coords, ', ')} ({status} after {epochs_run} epochs"
             + (f", class {klass}" if klass else "") + f", mechanism index {index[0]:.2f})")
    sheet = probe_cell(source, ix, finder, title)
    if history is None:
        history = snapshot_history_of(source, ix, mechanism, finder)
    out = Path(out) if out is not None else default_out(store_path)
    out.mkdir(parents=True, exist_ok=True)
    stem = "cell_" + cell_label(coords, "_")
    figures = plots.save(sheet_figure(sheet, history), out, stem)
    points = sheet.points
    summary = {
        "store": str(store_path), "sweep": source.name, "cell": coords, "index": list(ix), "status": status,
        "epochs_run": epochs_run, "class": klass, "mechanism_index": finite_or_none(index[0]),
        "output_rms": finite_or_none(rms[0]), "mechanism": dataclasses.asdict(mechanism),
        "point_counts": {label: int(n) for label, n in zip(LABELS, points.counts()[0])},
        "slowest_q": finite_or_none(points.slowest_q()[0]),
        "manifold_dim": int(points.manifold_dim()[0]) if points.kept.any() else None,
        "finder": dataclasses.asdict(finder), "figures": figures,
    }
    if history is not None:
        summary["history"] = {"epoch": [int(e) for e in history["epoch"]],
                              "mechanism_index": [finite_or_none(v) for v in history["mechanism_index"]],
                              "counts": np.asarray(history["counts"]).tolist(),
                              "switch": history.get("switch", "none"), "switch_epoch": history.get("switch_epoch", -1)}
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=2))
    return summary


__all__ = ["CellError", "CellSheet", "find_cell", "history_axes", "inspect_cell", "probe_cell", "sheet_figure"]
