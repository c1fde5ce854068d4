"""Analysis ``dynamics`` (opt-in: ``rnnsweep analyze --dynamics``): the slow, fixed and ghost points of
every finished network, by class, and, when the store has training snapshots, the mechanism of every
network at every snapshot and the epochs at which networks switched between SP and LC.

* Final networks: :func:`.dynamics.network_points` on the stored final parameters at zero input
  (the delay period's dynamics), vmapped over the networks of one trial length. Per cell: the
  number of points of each label, the slowest point's speed ``q`` and the slow-manifold dimension
  there; for rank-1 networks also the latent flow's flatness (:mod:`.latent_flow`).
* Snapshots (``[run] snapshot_every``): the mechanism index (the ``classes`` analysis's index) and
  the point counts at every snapshot, then the switch epochs and the loss jumps of
  :mod:`.training_dynamics`.

The report tabulates the points by class (e.g. SP networks: a slow manifold, LC networks: an unstable
point inside the cycle), lists the networks that switched mechanism and whether each switch
coincided with a jump in the loss; the figures show the mean point counts per class, the switch
epochs against the loss-jump epochs, and (rank 1) the flatness by class.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from .. import schema, store
from ..tasks import Timing
from ..schema import Status
from . import plots
from .base import Analysis, Context, Result, register
from .classify import CLASS_NAMES, LC, SP, Classified
from .dynamics import LABELS, SADDLE, STABLE, UNSTABLE, FinderConfig, memory_coverage, network_points, point_outputs
from .latent_flow import FlatnessConfig, is_low_rank, network_flows
from .mechanism import MechanismConfig, mechanism_measures
from .study import Source, Study, last_epoch_values
from .training_dynamics import DIRECTIONS, NO_SWITCH, SwitchConfig, SwitchEvents, switch_events


# store names of the SwitchEvents fields
EVENT_ARRAYS = {"switch_epoch": "switch_epoch", "direction": "switch_direction", "n_switches": "n_switches",
                "jump_epoch": "loss_jump_epoch", "jump_decades": "loss_jump_decades", "coincides": "switch_at_loss_jump"}


@dataclasses.dataclass
class FinalPoints:
    """Per cell of one source's grid (-1 / NaN where not analysed)."""

    counts: np.ndarray  # (*grid, labels) int16
    slowest_q: np.ndarray  # (*grid,)
    manifold_dim: np.ndarray  # (*grid,) int16
    flatness: np.ndarray  # (*grid,) rank-1 networks only
    slowest_point: np.ndarray  # (*grid, state) the slowest point's state
    # tasks that declare memory outputs (AbstractTask.memory_outputs), -1 / NaN elsewhere:
    memory_covered: np.ndarray  # (*grid,) int16 memory outputs some stable point reads within tol
    stable_on_target: np.ndarray  # (*grid,) int16 stable points that read a memory output within tol
    memory_error: np.ndarray  # (*grid,) the largest deviation of an on-target stable point's output from its target


def final_points(source: Source, cfg: FinderConfig, flat_cfg: FlatnessConfig, progress: bool,
                 memory_tol: float = 0.5) -> FinalPoints:
    shape = source.status.shape
    n_state = source.model.state_size()  # floats of state per trial: the finder's flat state vectors
    out = FinalPoints(np.full(shape + (len(LABELS),), -1, np.int16), np.full(shape, np.nan),
                      np.full(shape, -1, np.int16), np.full(shape, np.nan), np.full(shape + (n_state,), np.nan),
                      np.full(shape, -1, np.int16), np.full(shape, -1, np.int16), np.full(shape, np.nan))
    targets = source.task.memory_outputs()
    cells = [tuple(ix) for ix in np.argwhere(source.status == Status.DONE)]
    rank1 = is_low_rank(source.model) and getattr(source.model, "rank", None) == 1
    for timing, members in tqdm(source.by_timing(cells), desc=f"fixed points {source.name}",
                             disable=not progress, leave=False):
        params = source.params(members)
        pts = network_points(source.model, source.task, params, timing, cfg)
        sel = tuple(np.array(members).T)
        out.counts[sel] = pts.counts()
        out.slowest_q[sel] = pts.slowest_q()
        out.manifold_dim[sel] = pts.manifold_dim()
        out.slowest_point[sel] = pts.slowest_x()
        if rank1:
            out.flatness[sel] = network_flows(source.model, params, flat_cfg)[2]
        if targets is not None:
            cover = memory_coverage(point_outputs(source.model, params, pts.x), pts.labels, targets, memory_tol)
            out.memory_covered[sel], out.stable_on_target[sel] = cover.n_covered, cover.on_target
            out.memory_error[sel] = cover.worst_error
    return out


@dataclasses.dataclass
class History:
    """Per cell of one source's grid and snapshot."""

    epochs: np.ndarray  # (S,) snapshot epochs
    index: np.ndarray  # (*grid, S) mechanism index, NaN where not analysed
    counts: np.ndarray  # (*grid, S, labels) int16, -1 where not analysed
    events: dict[str, np.ndarray]  # SwitchEvents fields over the grid


def snapshot_measures(source: Source, members: list[tuple[int, ...]], timing: Timing, mechanism: MechanismConfig,
                      finder: FinderConfig) -> tuple[np.ndarray, np.ndarray]:
    """Mechanism index (cells, S) and point counts (cells, S, labels) of the snapshots of cells of one
    trial length (NaN and -1 for the snapshots past a cell's end)."""
    snaps = store.read_snapshots(source.group(), members)  # {name: (cells, S, ...)}
    n_cells, n_snap = next(iter(snaps.values())).shape[:2]
    index = np.full((n_cells, n_snap), np.nan)
    counts = np.full((n_cells, n_snap, len(LABELS)), -1, np.int16)
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in snaps.items()}
    present = np.stack([np.isfinite(v.reshape(len(v), -1)).all(1) for v in flat.values()]).all(0)
    rows = np.flatnonzero(present)  # a snapshot past a cell's own end is NaN
    if len(rows):
        taken = {k: v[rows] for k, v in flat.items()}
        idx, _ = mechanism_measures(source.model, source.task, taken, timing, mechanism)
        pts = network_points(source.model, source.task, taken, timing, finder)
        index.reshape(-1)[rows] = idx
        counts.reshape(-1, len(LABELS))[rows] = pts.counts()
    return index, counts


def cell_history(source: Source, ix: tuple[int, ...], mechanism: MechanismConfig = MechanismConfig(),
                 finder: FinderConfig = FinderConfig()) -> dict[str, np.ndarray] | None:
    """One network over training: ``{"epoch", "mechanism_index", "counts"}`` per snapshot (None when the
    store has no snapshots); what ``rnnsweep inspect`` draws."""
    epochs = store.snapshot_epochs(source.group())
    if not epochs.size:
        return None
    index, counts = snapshot_measures(source, [ix], source.timing(ix), mechanism, finder)
    return {"epoch": epochs, "mechanism_index": index[0], "counts": counts[0]}


def snapshot_history(source: Source, mechanism: MechanismConfig, finder: FinderConfig, switches: SwitchConfig,
                     progress: bool) -> History | None:
    """The mechanism and the points of every finished network at every snapshot (None: no snapshots)."""
    epochs = store.snapshot_epochs(source.group())
    if not epochs.size:
        return None
    shape, n_snap = source.status.shape, len(epochs)
    index = np.full(shape + (n_snap,), np.nan)
    counts = np.full(shape + (n_snap, len(LABELS)), -1, np.int16)
    cells = [tuple(ix) for ix in np.argwhere(source.status == Status.DONE)]
    for timing, members in tqdm(source.by_timing(cells), desc=f"snapshots {source.name}",
                             disable=not progress, leave=False):
        sel = tuple(np.array(members).T)
        index[sel], counts[sel] = snapshot_measures(source, members, timing, mechanism, finder)
    return History(epochs, index, counts, cell_events(source, index, epochs, switches))


def cell_events(source: Source, index: np.ndarray, epochs: np.ndarray, cfg: SwitchConfig) -> dict[str, np.ndarray]:
    """:class:`SwitchEvents` of every finished cell of one source, as arrays over its grid."""
    shape = source.status.shape
    fields = [f.name for f in dataclasses.fields(SwitchEvents)]
    out = {"switch_epoch": np.full(shape, -1), "direction": np.zeros(shape, np.int8), "n_switches": np.zeros(shape, int),
           "jump_epoch": np.full(shape, -1), "jump_decades": np.full(shape, np.nan), "coincides": np.zeros(shape, bool)}
    cells = [tuple(ix) for ix in np.argwhere(source.status == Status.DONE)]
    if not cells:
        return out
    ev = events_of(source, cells, np.stack([index[ix] for ix in cells]), epochs, cfg)
    sel = tuple(np.array(cells).T)
    for name in fields:
        out[name][sel] = getattr(ev, name)
    return out


def events_of(source: Source, cells: list[tuple[int, ...]], index: np.ndarray, epochs: np.ndarray,
              cfg: SwitchConfig) -> SwitchEvents:
    """:class:`SwitchEvents` of ``cells`` with mechanism indices ``index`` (cells, S) at the snapshot
    ``epochs``, from their stored curves."""
    group = source.group()
    run = source.read(schema.EPOCHS_RUN)
    curves = {name: np.stack([np.asarray(group[name][ix]) for ix in cells]) for name in ("accuracy", "reliability",
                                                                                          schema.LOSS)}
    return switch_events(index, curves["accuracy"], curves["reliability"], curves[schema.LOSS],
                         np.array([run[ix] for ix in cells]), epochs, cfg)


@register
class Dynamics(Analysis):
    """Slow/fixed/ghost points by class; mechanism switches over training (with snapshots)."""

    name: ClassVar[str] = "dynamics"
    description: ClassVar[str] = ("slow, fixed and ghost points of every finished network, counted by class; with "
                                  "training snapshots, the mechanism at every snapshot and the SP<->LC switch epochs "
                                  "against the loss jumps (opt-in: analyze --dynamics)")
    uses: ClassVar[tuple[str, ...]] = ("classes",)  # counts by class; one group where the task has no classes
    default: ClassVar[bool] = False

    finder: FinderConfig = FinderConfig()
    flatness: FlatnessConfig = FlatnessConfig()
    switches: SwitchConfig | None = None  # None: the learn and index thresholds of the study's rules
    snapshots: bool = True  # analyse the training snapshots when the store has them
    memory_tol: float = 0.5  # a stable point reads a task's memory output if within this on every output

    @classmethod
    def applies(cls, study: Study) -> str | None:
        if study.model.has_own_loss:
            return "the toy models' dynamics are known in closed form (rnnsweep theory)"
        return None

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        classified: Classified | None = results["classes"].value if "classes" in results else None
        # without the classes (a task with no reliability curve, e.g. the flip-flop): every network in one group
        classes, names = ((classified.classes, CLASS_NAMES) if classified is not None
                          else (np.zeros(study.status.shape, np.int8), ("all",)))
        rules = study.condition.rules
        switches = self.switches or SwitchConfig.from_rules(rules)
        finals = [final_points(s, self.finder, self.flatness, ctx.progress, self.memory_tol) for s in study.sources]
        final = FinalPoints(*(study.join([getattr(f, field.name) for f in finals])
                              for field in dataclasses.fields(FinalPoints)))
        cell_arrays: dict[str, np.ndarray] = {"point_counts": final.counts, "slowest_q": final.slowest_q,
                                              "manifold_dim": final.manifold_dim, "slowest_point": final.slowest_point}
        rank1 = bool(np.isfinite(final.flatness).any())
        if rank1:
            cell_arrays["flatness"] = final.flatness
        targets = study.task.memory_outputs()
        if targets is not None:
            cell_arrays.update({"memory_covered": final.memory_covered, "stable_on_target": final.stable_on_target,
                                "memory_error": final.memory_error})
        by_class = class_table(classes, final, names)
        report = ["## Dynamics", "", "Slow, fixed and ghost points of every finished network at zero input "
                  f"(finder: {self.finder.n_initial} starts per network, fixed if q < {self.finder.fixed_q:g}, slow "
                  f"if q < {self.finder.slow_q:g}, eigenvalues |lambda| < {self.finder.zero_eig:g} count as zero; "
                  "units of the time constant).", ""]
        report += class_table_lines(by_class)
        figures = plots.save(points_figure(by_class, study.name), ctx.out, "dynamics_points")
        if rank1:
            figures += plots.save(flatness_figure(classes, final.flatness, study.name, names), ctx.out,
                                  "latent_flatness")
            report += flatness_lines(classes, final.flatness, names)
        summary: dict[str, Any] = {"dynamics": {"by_class": by_class, "finder": dataclasses.asdict(self.finder)}}
        if targets is not None:
            networks, lines = memory_report(study, final, len(targets), self.memory_tol)
            report += lines
            summary["dynamics"]["memory"] = networks
        # the label axis as codes (zarr v3 has no stable string type); the names are the attribute "labels"
        coords = {"label": np.arange(len(LABELS), dtype=np.int8)}
        if classified is None:
            histories = []
            report += ["The mechanism over training is not followed: it needs the classes analysis, which did not "
                       "run.", ""] if self.snapshots and any(store.snapshot_epochs(s.group()).size
                                                            for s in study.sources) else []
        else:
            mechanism = MechanismConfig(**results["classes"].attrs["mechanism"])  # the index the classes used
            histories = [snapshot_history(s, mechanism, self.finder, switches, ctx.progress) if self.snapshots
                         else None for s in study.sources]
        if all(h is not None for h in histories) and histories:
            epochs = histories[0].epochs
            if any(not np.array_equal(h.epochs, epochs) for h in histories):
                raise ValueError("the sweeps of this study took snapshots at different epochs; analyse them apart")
            index = study.join([h.index for h in histories])
            counts = study.join([h.counts for h in histories])
            events = {k: study.join([h.events[k] for h in histories]) for k in histories[0].events}
            cell_arrays.update({"snapshot_mechanism_index": index, "snapshot_point_counts": counts,
                                **{EVENT_ARRAYS[k]: v for k, v in events.items()}})
            coords["snapshot"] = epochs
            figures += plots.save(switch_figure(events, index, classified, epochs, switches, study.name), ctx.out,
                                  "mechanism_switches")
            switch_summary, lines = switch_report(events, classified, study, epochs)
            report += lines
            summary["dynamics"]["switches"] = switch_summary
        elif classified is not None:
            report += ["No training snapshots in the store: set `[run] snapshot_every` to follow the mechanism "
                       "through training.", ""]
        dims = {"point_counts": ("label",), "slowest_point": ("state",), "snapshot_mechanism_index": ("snapshot",),
                "snapshot_point_counts": ("snapshot", "label")}
        return Result(cell_arrays=cell_arrays, cell_dims={k: v for k, v in dims.items() if k in cell_arrays},
                      coords=coords,
                      attrs={"labels": list(LABELS), "finder": dataclasses.asdict(self.finder),
                             "directions": list(DIRECTIONS)},
                      summary=summary, report=report, figures=figures)


def class_table(classes: np.ndarray, final: FinalPoints,
                names: tuple[str, ...] = CLASS_NAMES) -> dict[str, dict[str, Any]]:
    """Per class (``names`` of the codes in ``classes``) with analysed networks: how many, the mean count
    of each label, the share with at least one point of each label, the median slowest q and
    slow-manifold dimension."""
    table = {}
    analysed = final.counts[..., 0] >= 0
    for code, name in enumerate(names):
        sel = analysed & (classes == code)
        if not sel.any():
            continue
        counts = final.counts[sel]
        table[name] = {"networks": int(sel.sum()),
                       "mean_count": {lab: float(counts[:, k].mean()) for k, lab in enumerate(LABELS)},
                       "share_with": {lab: float((counts[:, k] > 0).mean()) for k, lab in enumerate(LABELS)},
                       "median_slowest_q": float(np.nanmedian(final.slowest_q[sel])) if np.isfinite(
                           final.slowest_q[sel]).any() else None,
                       "median_manifold_dim": float(np.median(final.manifold_dim[sel]))}
    return table


def class_table_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    head = " | ".join(LABELS)
    lines = ["Per class: the mean number of points of each label per network (and the share of networks with at "
             "least one).", "",
             f"| class | networks | {head} | median slowest q | median slow-manifold dim |",
             "|---|---|" + "---|" * len(LABELS) + "---|---|"]
    for name, row in table.items():
        cells = " | ".join(f"{row['mean_count'][lab]:.2f} ({100 * row['share_with'][lab]:.0f}%)" for lab in LABELS)
        q = row["median_slowest_q"]
        lines.append(f"| {name} | {row['networks']} | {cells} | {q:.2g} | {row['median_manifold_dim']:.0f} |"
                     if q is not None else f"| {name} | {row['networks']} | {cells} | - | - |")
    return lines + [""]


def flatness_lines(classes: np.ndarray, flatness: np.ndarray, names: tuple[str, ...] = CLASS_NAMES) -> list[str]:
    lines = ["Rank-1 latent flow flatness (length of kappa in [-3, 3] with |kappa'| < 0.2 and |dkappa'/dkappa| < 0.2):",
             ""]
    for code, name in enumerate(names):
        sel = (classes == code) & np.isfinite(flatness)
        if sel.any():
            lines.append(f"* {name}: median {np.median(flatness[sel]):.2f} over {int(sel.sum())} networks")
    return lines + [""]


def memory_report(study: Study, final: FinalPoints, n_targets: int, tol: float) -> tuple[list[dict[str, Any]], list[str]]:
    """Per analysed network: its final accuracy (if the task records one), its stable points, saddles
    and unstable points, and how many of the task's memory outputs its stable points read."""
    accuracy = (study.join([last_epoch_values(np.asarray(s.read("accuracy"), float), s.read(schema.EPOCHS_RUN))
                            for s in study.sources])
                if all("accuracy" in s.metric_names for s in study.sources) else None)
    cells = np.argwhere(final.counts[..., 0] >= 0)
    networks = []
    for ix in map(tuple, cells):
        row = {**{d: float(study.coords[d][i]) for d, i in zip(study.dims, ix)},
               "accuracy": None if accuracy is None else float(accuracy[ix]),
               "stable": int(final.counts[ix][STABLE]), "saddle": int(final.counts[ix][SADDLE]),
               "unstable": int(final.counts[ix][UNSTABLE]), "memory_covered": int(final.memory_covered[ix]),
               "stable_on_target": int(final.stable_on_target[ix]),
               "memory_error": None if np.isnan(final.memory_error[ix]) else float(final.memory_error[ix])}
        networks.append(row)
    full = sum(r["memory_covered"] == n_targets for r in networks)
    lines = ["### Memory states", "",
             f"The task declares {n_targets} memory outputs (the flip-flop's sign patterns); a stable fixed point "
             f"reads one if its outputs lie within {tol:g} of it on every output. {full} of {len(networks)} "
             f"networks have stable points on all {n_targets}. Other stable points read none (the flip-flop's: "
             "0 on a channel, the state before its first pulse); the largest error is that of the stable points "
             "on target.", "",
             "| network | accuracy | stable | saddle | unstable | memory outputs covered | stable on target | "
             "other stable | largest error |", "|---|---|---|---|---|---|---|---|---|"]
    for ix, row in zip(map(tuple, cells[:40]), networks):
        label = ", ".join(f"{d}={study.coords[d][i]:g}" for d, i in zip(study.dims, ix))
        acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        err = "-" if row["memory_error"] is None else f"{row['memory_error']:.2f}"
        lines.append(f"| {label} | {acc} | {row['stable']} | {row['saddle']} | {row['unstable']} | "
                     f"{row['memory_covered']} of {n_targets} | {row['stable_on_target']} | "
                     f"{row['stable'] - row['stable_on_target']} | {err} |")
    if len(networks) > 40:
        lines.append(f"| ... {len(networks) - 40} more (analysis/dynamics in the store) | | | | | | | | |")
    return networks, lines + [""]


def switch_report(events: dict[str, np.ndarray], classified: Classified, study: Study,
                  epochs: np.ndarray) -> tuple[dict[str, Any], list[str]]:
    switched = events["direction"] != NO_SWITCH
    learned = np.isin(classified.classes, (SP, LC))
    summary = {"snapshot_epochs": [int(e) for e in epochs], "learned": int(learned.sum()),
               "switched": int(switched.sum()),
               "SP_to_LC": int(np.sum(events["direction"] == 1)), "LC_to_SP": int(np.sum(events["direction"] == 2)),
               "coinciding_with_loss_jump": int(np.sum(switched & events["coincides"]))}
    lines = ["### Mechanism over training", "",
             f"Snapshots every {int(epochs[1] - epochs[0]) if len(epochs) > 1 else 0} epochs ({len(epochs)} per "
             f"network). Of {summary['learned']} learned networks, {summary['switched']} switched mechanism after "
             f"learning (SP -> LC: {summary['SP_to_LC']}, LC -> SP: {summary['LC_to_SP']}); "
             f"{summary['coinciding_with_loss_jump']} of the switches fall in the snapshot interval of the largest "
             "loss jump after learning.", ""]
    cells = np.argwhere(switched)
    if len(cells):
        lines += ["| network | final class | switch | at epoch | loss jump at epoch | jump (decades) | coincide |",
                  "|---|---|---|---|---|---|---|"]
        for ix in cells[:20]:
            ix = tuple(ix)
            label = ", ".join(f"{d}={study.coords[d][i]:g}" for d, i in zip(study.dims, ix))
            lines.append(f"| {label} | {CLASS_NAMES[classified.classes[ix]]} | {DIRECTIONS[events['direction'][ix]]} | "
                         f"{events['switch_epoch'][ix]} | {events['jump_epoch'][ix]} | "
                         f"{events['jump_decades'][ix]:.2f} | {'yes' if events['coincides'][ix] else 'no'} |")
        if len(cells) > 20:
            lines.append(f"| ... {len(cells) - 20} more (analysis/dynamics in the store) | | | | | | |")
    summary["cells"] = [{**{d: float(study.coords[d][i]) for d, i in zip(study.dims, ix)},
                         "direction": DIRECTIONS[events["direction"][tuple(ix)]],
                         "switch_epoch": int(events["switch_epoch"][tuple(ix)]),
                         "jump_epoch": int(events["jump_epoch"][tuple(ix)]),
                         "coincides": bool(events["coincides"][tuple(ix)])} for ix in cells]
    return summary, lines + [""]


# --- figures ----------------------------------------------------------------------------------------
def points_figure(table: dict[str, dict[str, Any]], name: str) -> plt.Figure:
    """Mean number of points of each label per network, one group of bars per class."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(len(table), 1)
    x = np.arange(len(LABELS))
    for k, (cls, row) in enumerate(table.items()):
        ax.bar(x + (k - (len(table) - 1) / 2) * width, [row["mean_count"][lab] for lab in LABELS], width,
               label=f"{cls} (n={row['networks']})")
    ax.set_xticks(x, LABELS)
    ax.set_ylabel("points per network (mean)")
    ax.set_title(f"{name}: slow and fixed points by class")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def flatness_figure(classes: np.ndarray, flatness: np.ndarray, name: str,
                    names: tuple[str, ...] = CLASS_NAMES) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(0, 6, 25)
    for code, cls in enumerate(names):
        sel = (classes == code) & np.isfinite(flatness)
        if sel.any():
            ax.hist(flatness[sel], bins=bins, alpha=0.6, label=f"{cls} (n={int(sel.sum())})")
    ax.set_xlabel("flatness of the latent flow (length of kappa)")
    ax.set_ylabel("networks")
    ax.set_title(f"{name}: rank-1 flatness by class")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def switch_figure(events: dict[str, np.ndarray], index: np.ndarray, classified: Classified, epochs: np.ndarray,
                  cfg: SwitchConfig, name: str) -> plt.Figure:
    """Left: each switching network's switch epoch against its loss-jump epoch (the band: one snapshot
    interval). Right: the share of LC among the networks whose index is known, per snapshot, for the
    final SP and LC classes."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    switched = events["direction"] != NO_SWITCH
    step = float(epochs[1] - epochs[0]) if len(epochs) > 1 else 1.0
    top = float(epochs[-1]) if len(epochs) else 1.0
    ax0.fill_between([0, top], [-step, top - step], [step, top + step], color="0.9", label="within one snapshot")
    ax0.plot([0, top], [0, top], color="0.5", lw=1)
    for code, marker in ((1, "o"), (2, "s")):
        sel = switched & (events["direction"] == code)
        ax0.scatter(events["switch_epoch"][sel], events["jump_epoch"][sel], marker=marker,
                    label=f"{DIRECTIONS[code]} ({int(sel.sum())})")
    ax0.set_xlabel("switch epoch (first snapshot with the new mechanism)")
    ax0.set_ylabel("epoch of the largest loss jump after learning")
    ax0.set_title(f"{name}: mechanism switches vs loss jumps")
    ax0.legend(fontsize=8)
    for code in (SP, LC):
        sel = classified.classes == code
        if not sel.any():
            continue
        idx = index[sel]  # (networks, S)
        known = np.isfinite(idx)
        share = np.where(known.sum(0) > 0, np.sum((idx < cfg.mechanism_index) & known, 0) / np.maximum(known.sum(0), 1),
                         np.nan)
        ax1.plot(epochs, share, marker=".", label=f"final {CLASS_NAMES[code]} (n={int(sel.sum())})")
    ax1.set_ylim(-0.05, 1.05)
    ax1.set_xlabel("epoch (snapshot)")
    ax1.set_ylabel("share with an LC-like index")
    ax1.set_title("mechanism index over training")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig
