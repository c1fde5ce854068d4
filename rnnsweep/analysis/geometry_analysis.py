"""Analysis ``geometry``: the feature geometry of every network trained on serial recall, per grid
point over seeds, and where it changes with sparsity (temporal superposition, paper-spec section 4).

Per finished network (:mod:`.geometry`): the feature directions over the recall window (from the
weights for ``linear_rnn``, ``W^l W_in``; by regression of the states on the lagged inputs for any
other family, or for every family with ``directions = "regression"``), their norms and the readout's
gain on each target, the angles between them (histogram, mean ``|cos|``, orthogonal and obtuse
fractions), the dimensions per feature, the fraction of off-target projections the ReLU removes, the
recurrent matrix's eigenvalues and spectral radius, and each feature's recall error on a probe batch
(the task's own metric, on one fixed batch of sequences drawn from ``probe_seed``).

Over the grid: the mean and standard error over seeds at every other grid point; along ``sparsity``
(when it is a grid axis), for every line of the other axes, the change between the densest and the
sparsest input, its z-score against the seeds' spread, the sparsity where the statistic crosses
half-way (interpolated in ``log(1 - sparsity)``) and the sharpness: the largest change between two
neighbouring sparsities as a fraction of the whole (1: a step; ``1 / (n - 1)``: a straight line).

Figures: ``geometry_phase`` (heat maps over sparsity and each other varied axis of the orthogonal and
antipodal fractions, the spectral radius, the rectified and the represented fractions),
``angle_histograms`` (the angle distribution at each sparsity), ``spectral_radius`` (against
1 - sparsity, a panel per lag, a curve per width) and
``eigenvalue_spectra`` (the densest and the sparsest inputs' eigenvalues in the complex plane).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import warnings
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from ..schema import Status
from . import plots
from .base import Analysis, Context, Result, register
from .geometry import GeometryConfig, Recall, active_units, linear_directions, network_geometry, regression_directions
from .study import Source, Study

LINEAR_FAMILIES = ("linear_rnn",)  # families whose feature directions are W^l W_in exactly
DIRECTION_METHODS = ("auto", "weights", "regression")
SCALARS = ("mean_abs_cos", "orthogonal_fraction", "obtuse_fraction", "antipodal_fraction", "dims_per_feature",
           "represented_fraction", "rectified_fraction", "spectral_radius", "recall_error")
# the statistics whose change along sparsity the report tests, with their reading
TRANSITION_STATS = {"represented_fraction": "represented features", "mean_abs_cos": "mean abs cos (interference)",
                    "orthogonal_fraction": "orthogonal pairs",
                    "antipodal_fraction": "antipodal pairs", "spectral_radius": "spectral radius",
                    "rectified_fraction": "rectified projections"}
PHASE_STATS = ("orthogonal_fraction", "antipodal_fraction", "spectral_radius", "rectified_fraction",
               "represented_fraction")
SHAPE_AXES = ("lag", "n_neurons", "n_features")  # the axes a phase diagram is drawn against sparsity


def recurrent_matrix(model: Any, params: dict[str, np.ndarray]) -> np.ndarray | None:
    """The recurrent matrix whose spectrum is reported: ``W`` (linear_rnn) or ``W_rec`` (the leaky
    families, through their ``recurrent_weight``)."""
    if hasattr(model, "recurrent_weight"):
        return np.asarray(model.recurrent_weight({k: jnp.asarray(v) for k, v in params.items()}))
    return np.asarray(params["W"]) if "W" in params else None


@functools.lru_cache(maxsize=16)
def _probe_program(model: Any, task: Any, n_steps: int):
    """One compiled program per (model, task, trial length): networks and their cell values batched."""

    def one(params, timing, key):
        k_trials, k_state = jax.random.split(key)
        trials = task.trials(timing, n_steps, k_trials)
        rates, outputs = model.run(params, trials.inputs, None, model.initial_state(k_state, task.n_trials))
        return rates, trials.inputs, task.feature_errors(outputs, trials)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


def probe_batch(model: Any, task: Any, params: dict[str, np.ndarray], timings: list[dict], n_steps: int,
                key: jax.Array, pad_to: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States (nets, T, B, N), inputs (nets, T, B, F) and each feature's recall error (nets, F) of
    networks of one trial length on their own probe batch (noise-free; trials and initial state from
    ``key``, the same for every network of the same cell values). The batch is padded to ``pad_to``
    networks (copies of the first) so that every batch shares one compiled program."""
    n = len(timings)
    extra = max(pad_to - n, 0)
    pad = lambda a: np.concatenate([a, np.repeat(a[:1], extra, axis=0)]) if extra else a  # noqa: E731
    stacked = {k: jnp.asarray(pad(np.array([t[k] for t in timings], np.float32 if isinstance(timings[0][k], float)
                                           else np.int32))) for k in timings[0]}
    states, inputs, errors = _probe_program(model, task, n_steps)({k: jnp.asarray(pad(v)) for k, v in params.items()},
                                                                 stacked, key)
    return np.asarray(states[:n]), np.asarray(inputs[:n]), np.asarray(errors[:n])


@dataclasses.dataclass
class Geometry:
    """Per cell of one grid: NaN (or -1 counts) where not analysed."""

    scalars: dict[str, np.ndarray]  # name -> (*grid,)
    angle_hist: np.ndarray  # (*grid, bins) int32
    norms: np.ndarray  # (*grid, lag, feature)
    gains: np.ndarray  # (*grid, item, feature)
    feature_error: np.ndarray  # (*grid, feature)
    eig: np.ndarray  # (*grid, unit) complex


def empty_geometry(shape: tuple[int, ...], n_lags: int, n_items: int, n_features: int, n_units: int,
                   n_bins: int) -> Geometry:
    return Geometry({k: np.full(shape, np.nan) for k in SCALARS}, np.full(shape + (n_bins,), -1, np.int32),
                    np.full(shape + (n_lags, n_features), np.nan), np.full(shape + (n_items, n_features), np.nan),
                    np.full(shape + (n_features,), np.nan), np.full(shape + (n_units,), np.nan, complex))


def source_geometry(source: Source, cfg: GeometryConfig, method: str, probe_seed: int, batch_size: int,
                    progress: bool = False) -> Geometry:
    """The geometry of every finished network of one stored sweep."""
    model, task = source.model, source.task
    shape = source.status.shape
    cells = [tuple(ix) for ix in np.argwhere(source.status == Status.DONE)]
    windows = [int(source.timing(ix)["lag"]) + task.n_recalled for ix in cells] or [task.n_recalled]
    out = empty_geometry(shape, max(windows), task.n_recalled, task.n_features, model.state_size(), cfg.n_angle_bins)
    use_weights = method == "weights" or (method == "auto" and model.family in LINEAR_FAMILIES)
    if method == "weights" and model.family not in LINEAR_FAMILIES:
        raise ValueError(f"geometry.directions: 'weights' needs a linear recurrence ({', '.join(LINEAR_FAMILIES)}); "
                         f"family {model.family!r} needs 'regression' (or 'auto')")
    key = jax.random.PRNGKey(probe_seed)
    by_length: dict[int, list] = {}
    for ix in cells:
        by_length.setdefault(int(source.task.n_steps(source.timing(ix))), []).append(ix)
    pad_to = min(batch_size, max((len(m) for m in by_length.values()), default=1))
    groups = [(n, members[i:i + batch_size]) for n, members in sorted(by_length.items())
              for i in range(0, len(members), batch_size)]
    for n_steps, members in tqdm(groups, desc=f"geometry {source.name}", disable=not progress, leave=False):
        params = source.params(members)
        timings = [source.timing(ix) for ix in members]
        states, inputs, errors = probe_batch(model, task, params, timings, n_steps, key, pad_to)
        for k, ix in enumerate(members):
            recall = Recall(int(timings[k]["lag"]), task.n_recalled, int(timings[k]["n_features"]))
            p = {name: np.asarray(v[k]) for name, v in params.items()}
            rec = recurrent_matrix(model, p)
            units = active_units(p, rec if rec is not None else np.zeros((model.state_size(),) * 2))
            if use_weights:
                dirs = linear_directions(p["W"], p["W_in"], recall.window)
            else:
                dirs = regression_directions(states[k], inputs[k], n_steps - 1, cfg.ridge)[: recall.window]
            g = network_geometry(dirs, p["W_out"], p["b_out"], rec, units, recall, cfg)
            for name in SCALARS:
                out.scalars[name][ix] = g.get(name, np.nan)
            out.scalars["recall_error"][ix] = np.nanmean(errors[k][: recall.n_features])
            out.angle_hist[ix] = g["angle_hist"]
            out.norms[ix][: recall.window, : recall.n_features] = g["norms"]
            out.gains[ix][:, : recall.n_features] = g["gains"]
            out.feature_error[ix] = errors[k]
            if "eigenvalues" in g:
                out.eig[ix][: len(g["eigenvalues"])] = g["eigenvalues"]
    return out


def join_geometry(study: Study, parts: list[Geometry]) -> Geometry:
    pad = max(p.norms.shape[-2] for p in parts)  # sources may have different windows

    def padded(a):
        extra = pad - a.shape[-2]
        return a if extra == 0 else np.concatenate([a, np.full(a.shape[:-2] + (extra, a.shape[-1]), np.nan)], -2)

    return Geometry({k: study.join([p.scalars[k] for p in parts]) for k in SCALARS},
                    study.join([p.angle_hist for p in parts]), study.join([padded(p.norms) for p in parts]),
                    study.join([p.gains for p in parts]), study.join([p.feature_error for p in parts]),
                    study.join([p.eig for p in parts]))


# --- over the grid --------------------------------------------------------------------------------
def seed_stats(values: np.ndarray, dims: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and count over the seed axis (NaN cells left out; s.e. NaN below 2)."""
    ax = dims.index("seed")
    n = np.sum(np.isfinite(values), axis=ax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # grid points with fewer than 2 finished seeds
        mean = np.nanmean(values, axis=ax)
        sd = np.nanstd(values, axis=ax, ddof=1)
    se = np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, se, n


def transition(x: np.ndarray, mean: np.ndarray, se: np.ndarray) -> dict[str, float]:
    """Along sparsity ``x`` (ascending): the change from the densest to the sparsest input, its
    z-score, the half-way sparsity (interpolated in log(1 - sparsity)) and the sharpness."""
    ok = np.isfinite(mean)
    if ok.sum() < 2:
        return {"dense": np.nan, "sparse": np.nan, "change": np.nan, "z": np.nan, "midpoint": np.nan, "sharpness": np.nan}
    x, m, s = x[ok], mean[ok], se[ok]
    change = m[-1] - m[0]
    spread = np.sqrt(s[0] ** 2 + s[-1] ** 2)  # NaN with a single seed: no z-score
    z = change / spread if spread > 0 else (np.inf * np.sign(change) if change else (0.0 if spread == 0 else np.nan))
    steps = np.abs(np.diff(m))
    sharp = float(steps.max() / np.sum(steps)) if np.sum(steps) > 0 else np.nan
    if change == 0:
        return {"dense": float(m[0]), "sparse": float(m[-1]), "change": 0.0, "z": float(z), "midpoint": np.nan,
                "sharpness": sharp}
    half = m[0] + change / 2
    u = np.log(np.maximum(1 - x, 1e-12))  # log p, decreasing along the axis
    mid = np.nan
    for i in range(len(m) - 1):
        a, b = m[i] - half, m[i + 1] - half
        if a == 0:
            mid = x[i]
            break
        if a * b < 0:
            ui = u[i] + (u[i + 1] - u[i]) * a / (a - b)
            mid = float(1 - np.exp(ui))
            break
    return {"dense": float(m[0]), "sparse": float(m[-1]), "change": float(change), "z": float(z),
            "midpoint": float(mid), "sharpness": sharp}


def line_transitions(study: Study, means: dict[str, np.ndarray], ses: dict[str, np.ndarray], counts: np.ndarray,
                     z_min: float) -> list[dict[str, Any]]:
    """One entry per line of the grid (every combination of the axes but seed and sparsity)."""
    dims = [d for d in study.dims if d != "seed"]
    others = [d for d in dims if d != "sparsity"]
    x = study.coords["sparsity"]
    order = np.argsort(x)
    lines = []
    for combo in itertools.product(*(range(len(study.coords[d])) for d in others)):
        where = dict(zip(others, combo))
        sel = tuple(where[d] if d in where else order for d in dims)
        entry: dict[str, Any] = {d: float(study.coords[d][i]) for d, i in where.items()}
        entry["n_seeds"] = int(np.min(counts[sel])) if counts[sel].size else 0
        for stat in TRANSITION_STATS:
            t = transition(x[order], means[stat][sel], ses[stat][sel])
            t["appears"] = bool(abs(t["z"]) >= z_min)  # NaN (one seed) never counts
            entry[stat] = t
        lines.append(entry)
    return lines


# --- figures ---------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    return f"{v:g}"


def reduce_to(table: np.ndarray, dims: list[str], keep: tuple[str, ...]) -> np.ndarray:
    """``table`` over ``dims`` -> over ``keep`` (in that order), the mean over the other axes."""
    moved = np.moveaxis(table, [dims.index(d) for d in keep], list(range(len(keep))))
    rest = tuple(range(len(keep), moved.ndim))
    if not rest:
        return moved
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice (nothing finished) stays NaN
        return np.nanmean(moved, axis=rest)


def phase_figure(study: Study, means: dict[str, np.ndarray], name: str) -> plt.Figure:
    """Heat maps of the phase statistics over (sparsity, axis) for each other varied axis, averaged
    over seeds and the remaining axes."""
    dims = [d for d in study.dims if d != "seed"]
    against = [d for d in SHAPE_AXES if d in dims and len(study.coords[d]) > 1] or [None]
    x = study.coords["sparsity"]
    order = np.argsort(x)
    fig, axes = plt.subplots(len(PHASE_STATS), len(against), figsize=(4.2 * len(against), 2.9 * len(PHASE_STATS)),
                             squeeze=False)
    for col, other in enumerate(against):
        for row, stat in enumerate(PHASE_STATS):
            ax = axes[row, col]
            if other:
                table = reduce_to(means[stat], dims, (other, "sparsity"))
            else:
                table = reduce_to(means[stat], dims, ("sparsity",))[None, :]
            im = ax.imshow(table[:, order], origin="lower", aspect="auto", cmap="viridis", interpolation="nearest")
            ax.set_xticks(range(len(x)), [_fmt(v) for v in x[order]], rotation=45, fontsize=7)
            ys = study.coords[other] if other else [0]
            ax.set_yticks(range(len(ys)), [_fmt(v) for v in ys] if other else [""])
            ax.set_xlabel("sparsity")
            if other:
                ax.set_ylabel(other)
            ax.set_title(stat.replace("_", " "), fontsize=9)
            fig.colorbar(im, ax=ax)
    fig.suptitle(f"{name}: feature geometry over sparsity (mean over seeds and the other axes)", fontsize=10)
    fig.tight_layout()
    return fig


def angle_figure(study: Study, hist: np.ndarray, name: str, cfg: GeometryConfig) -> plt.Figure:
    """The distribution of pairwise angles at each sparsity, pooled over every network there."""
    dims = study.dims
    x = study.coords["sparsity"]
    order = np.argsort(x)
    shown = order if len(order) <= 8 else order[np.linspace(0, len(order) - 1, 8).round().astype(int)]
    edges = np.linspace(0, 180, cfg.n_angle_bins + 1)
    fig, axes = plt.subplots(1, len(shown), figsize=(2.3 * len(shown), 2.8), sharey=True, squeeze=False)
    ax_s = dims.index("sparsity")
    for ax, i in zip(axes[0], shown):
        h = np.take(hist, i, axis=ax_s).reshape(-1, hist.shape[-1])
        h = h[h[:, 0] >= 0]
        total = h.sum(0).astype(float)
        ax.bar(edges[:-1], total / max(total.sum(), 1), width=np.diff(edges), align="edge", color="tab:blue")
        ax.axvline(90, color="k", lw=0.8, ls=":")
        ax.set_title(f"sparsity {_fmt(x[i])}\n{len(h)} networks", fontsize=8)
        ax.set_xlabel("angle (deg)")
        ax.set_xticks([0, 90, 180])
    axes[0, 0].set_ylabel("fraction of pairs")
    fig.suptitle(f"{name}: angles between feature directions", fontsize=10)
    fig.tight_layout()
    return fig


def radius_figure(study: Study, means: dict[str, np.ndarray], ses: dict[str, np.ndarray], name: str) -> plt.Figure:
    """Spectral radius against 1 - sparsity: one panel per lag, one curve per width (the other axes
    averaged)."""
    dims = [d for d in study.dims if d != "seed"]
    x = study.coords["sparsity"]
    order = np.argsort(x)
    panel = "lag" if "lag" in dims else None
    curve = "n_neurons" if "n_neurons" in dims else None
    keep = tuple(d for d in (panel, curve) if d) + ("sparsity",)
    m = reduce_to(means["spectral_radius"], dims, keep)
    s = np.sqrt(reduce_to(ses["spectral_radius"] ** 2, dims, keep))
    if not panel:
        m, s = m[None], s[None]
    if not curve:
        m, s = m[:, None], s[:, None]
    panels = study.coords[panel] if panel else [None]
    curves = study.coords[curve] if curve else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.6), sharey=True, squeeze=False)
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(curves)))
    for i, (ax, p) in enumerate(zip(axes[0], panels)):
        for j, c in enumerate(curves):
            ax.errorbar(1 - x[order], m[i, j][order], yerr=s[i, j][order], marker="o", ms=3, capsize=2,
                        color=colours[j], label=f"{curve} {_fmt(c)}" if curve else None)
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("1 - sparsity (sparser to the right)")
        if panel:
            ax.set_title(f"lag {_fmt(p)}", fontsize=9)
        if curve and i == 0:
            ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("spectral radius of W")
    fig.suptitle(f"{name}: spectral radius vs sparsity (mean +- s.e. over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def eigen_figure(study: Study, eig: np.ndarray, name: str) -> plt.Figure:
    """Eigenvalues of every network at the densest and at the sparsest input."""
    x = study.coords["sparsity"]
    ax_s = study.dims.index("sparsity")
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    for ax, i, label in zip(axes, (int(np.argmin(x)), int(np.argmax(x))), ("densest", "sparsest")):
        e = np.take(eig, i, axis=ax_s).ravel()
        e = e[np.isfinite(e)]
        ax.plot(circle.real, circle.imag, color="0.6", lw=0.8)
        ax.scatter(e.real, e.imag, s=5, alpha=0.5)
        ax.set_title(f"{label}: sparsity {_fmt(x[i])}", fontsize=9)
        ax.set_xlabel("Re")
        ax.set_aspect("equal")
    axes[0].set_ylabel("Im")
    fig.suptitle(f"{name}: eigenvalues of W", fontsize=10)
    fig.tight_layout()
    return fig


# --- the plug-in -------------------------------------------------------------------------------------
@register
class GeometryAnalysis(Analysis):
    name: ClassVar[str] = "geometry"
    description: ClassVar[str] = ("feature directions, their angles and norms, the recurrent spectrum of serial-recall "
                                  "networks; transitions along sparsity")

    directions: str = "auto"  # "weights" (W^l W_in, linear_rnn only), "regression", or "auto"
    probe_seed: int = 0
    batch_size: int = 256  # networks per probe program
    z_min: float = 3.0  # a change along sparsity counts as a transition when |z| is at least this
    config: GeometryConfig = GeometryConfig()

    @classmethod
    def applies(cls, study: Study) -> str | None:
        task, model = study.task, study.model
        if not all(hasattr(task, a) for a in ("lag", "n_recalled", "n_features", "feature_errors")):
            return f"task {task.name!r} is not a serial-recall task (lag, n_recalled, n_features, feature_errors)"
        if model.has_own_loss:
            return f"family {model.family!r} is not trained on the task"
        params = model.param_shapes()
        if "W_out" not in params or "b_out" not in params or not (hasattr(model, "recurrent_weight") or "W" in params):
            return f"family {model.family!r} has no W_out/b_out readout or recurrent matrix"
        return None

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        if self.directions not in DIRECTION_METHODS:
            raise ValueError(f"geometry.directions: must be one of {DIRECTION_METHODS}, got {self.directions!r}")
        self.config.validate()
        parts = [source_geometry(s, self.config, self.directions, self.probe_seed, self.batch_size, ctx.progress)
                 for s in study.sources]
        geo = join_geometry(study, parts)
        cfg = self.config
        centres = (np.arange(cfg.n_angle_bins) + 0.5) * 180.0 / cfg.n_angle_bins
        cell_arrays = {**geo.scalars, "angle_hist": geo.angle_hist, "feature_norms": geo.norms,
                       "readout_gain": geo.gains, "feature_recall_error": geo.feature_error,
                       "eigenvalues_re": geo.eig.real, "eigenvalues_im": geo.eig.imag}
        cell_dims = {"angle_hist": ("angle_bin",), "feature_norms": ("lag_back", "feature"),
                     "readout_gain": ("item", "feature"), "feature_recall_error": ("feature",),
                     "eigenvalues_re": ("eigenvalue",), "eigenvalues_im": ("eigenvalue",)}
        coords = {"angle_bin": centres}
        dims = list(study.dims)
        analysed = int(np.sum(geo.angle_hist[..., 0] >= 0))
        method = "W^l W_in" if self.directions == "weights" or (
            self.directions == "auto" and study.model.family in LINEAR_FAMILIES) else "regression on lagged inputs"
        report = ["## Feature geometry", "",
                  f"{analysed} finished networks; directions from {method}; angles between directions of the recall "
                  f"window longer than {cfg.norm_floor:g} x the longest of their lag; a (feature, item) is represented when its "
                  f"readout gain is >= {cfg.gain_threshold:g}; probe batch from seed {self.probe_seed}.", ""]
        summary: dict[str, Any] = {"geometry": {"networks": analysed, "directions": method}}
        arrays: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
        figures: list[str] = []
        if "seed" in dims:
            stats = {k: seed_stats(v, dims) for k, v in geo.scalars.items()}
            means = {k: v[0] for k, v in stats.items()}
            ses = {k: v[1] for k, v in stats.items()}
            counts = stats["mean_abs_cos"][2]
            grid_dims = tuple(d for d in dims if d != "seed")
            for k in SCALARS:
                arrays[f"mean_{k}"] = (means[k], grid_dims)
                arrays[f"se_{k}"] = (ses[k], grid_dims)
            arrays["n_networks"] = (counts.astype(np.int32), grid_dims)
            report += grid_table(study, means, ses, counts)
            if "sparsity" in dims and len(study.coords["sparsity"]) > 1:
                lines = line_transitions(study, means, ses, counts, self.z_min)
                summary["geometry"]["transitions"] = lines
                report += transition_lines(lines, self.z_min)
                figures += plots.save(phase_figure(study, means, study.name), ctx.out, "geometry_phase")
                figures += plots.save(radius_figure(study, means, ses, study.name), ctx.out, "spectral_radius")
                figures += plots.save(eigen_figure(study, geo.eig, study.name), ctx.out, "eigenvalue_spectra")
            else:
                report += ["Sparsity is not a grid axis with several values: no transition to look for.", ""]
        if "sparsity" in dims:
            pooled = pooled_by_sparsity(study, geo.angle_hist, geo.scalars)
            summary["geometry"]["by_sparsity"] = pooled
            report += pooled_lines(pooled)
            figures += plots.save(angle_figure(study, geo.angle_hist, study.name, cfg), ctx.out, "angle_histograms")
        return Result(cell_arrays=cell_arrays, cell_dims=cell_dims, arrays=arrays, coords=coords,
                      attrs={"config": dataclasses.asdict(cfg), "directions": method}, summary=summary,
                      report=report, figures=figures)


def grid_table(study: Study, means: dict, ses: dict, counts: np.ndarray) -> list[str]:
    """Markdown table: one row per grid point (seeds pooled), the main statistics as mean +- s.e."""
    dims = [d for d in study.dims if d != "seed"]
    cols = ("mean_abs_cos", "orthogonal_fraction", "antipodal_fraction", "spectral_radius", "represented_fraction",
            "rectified_fraction", "recall_error")
    lines = ["| " + " | ".join(dims) + " | seeds | " + " | ".join(c.replace("_", " ") for c in cols) + " |",
             "|" + "---|" * (len(dims) + 1 + len(cols))]
    for ix in np.ndindex(*(len(study.coords[d]) for d in dims)):
        vals = [f"{means[c][ix]:.3f} +- {ses[c][ix]:.3f}" if np.isfinite(ses[c][ix]) else f"{means[c][ix]:.3f}"
                for c in cols]
        lines.append("| " + " | ".join(_fmt(study.coords[d][i]) for d, i in zip(dims, ix)) +
                     f" | {int(counts[ix])} | " + " | ".join(vals) + " |")
    return lines + [""]


def pooled_by_sparsity(study: Study, hist: np.ndarray, scalars: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per sparsity, every analysed network pooled (all other axes and seeds): the angle
    distribution's shares near 90 degrees (within 10), near 0 or 180 (within 20) and in between
    (oblique), and the mean spectral radius, represented fraction and recall error."""
    ax = study.dims.index("sparsity")
    n_bins = hist.shape[-1]
    centres = (np.arange(n_bins) + 0.5) * 180.0 / n_bins
    near90 = np.abs(centres - 90) < 10
    aligned = (centres < 20) | (centres > 160)
    out = []
    for i, value in enumerate(study.coords["sparsity"]):
        h = np.take(hist, i, axis=ax).reshape(-1, n_bins)
        h = h[h[:, 0] >= 0]
        total = max(int(h.sum()), 1)
        counts = h.sum(0)
        row = {"sparsity": float(value), "networks": int(len(h)), "pairs": int(h.sum()),
               "orthogonal": float(counts[near90].sum() / total), "aligned": float(counts[aligned].sum() / total),
               "oblique": float(counts[~near90 & ~aligned].sum() / total)}
        for k in ("spectral_radius", "represented_fraction", "recall_error"):
            v = np.take(scalars[k], i, axis=ax)
            row[k] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        out.append(row)
    return out


def pooled_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = ["### Angle distribution by sparsity (every network pooled)", "",
           "Shares of all pairs of feature directions: near 90 degrees (within 10), aligned (within 20 of 0 or "
           "180: parallel or antipodal) and oblique (the rest); means over the networks.", "",
           "| sparsity | networks | pairs | orthogonal | aligned | oblique | spectral radius | represented | "
           "recall error |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["sparsity"]):
        out.append(f"| {_fmt(r['sparsity'])} | {r['networks']} | {r['pairs']} | {r['orthogonal']:.3f} | "
                   f"{r['aligned']:.3f} | {r['oblique']:.3f} | {r['spectral_radius']:.3f} | "
                   f"{r['represented_fraction']:.3f} | {r['recall_error']:.3f} |")
    return out + [""]


def transition_lines(lines: list[dict[str, Any]], z_min: float) -> list[str]:
    """The report's verdict per statistic, then a table per line."""
    out = ["### Transitions along sparsity", "",
           f"A change from the densest to the sparsest input counts when |z| >= {z_min:g} (z: the change over the "
           "seeds' standard errors); midpoint: the sparsity where the statistic crosses half-way; sharpness: the "
           "largest step between neighbouring sparsities as a fraction of the whole path.", ""]
    for stat, label in TRANSITION_STATS.items():
        found = [ln for ln in lines if ln[stat]["appears"]]
        if not found:
            out.append(f"- **{label}**: no significant change along sparsity in any of {len(lines)} lines.")
            continue
        rising = sum(ln[stat]["change"] > 0 for ln in found)
        mids = np.array([ln[stat]["midpoint"] for ln in found])
        sharp = np.array([ln[stat]["sharpness"] for ln in found])
        out.append(f"- **{label}**: changes in {len(found)} of {len(lines)} lines ({rising} rising, "
                   f"{len(found) - rising} falling with sparsity); midpoint sparsity median {np.nanmedian(mids):.3g} "
                   f"(range {np.nanmin(mids):.3g}-{np.nanmax(mids):.3g}); sharpness median {np.nanmedian(sharp):.2f}.")
    out.append("")
    keys = [k for k in lines[0] if k not in TRANSITION_STATS and k != "n_seeds"] if lines else []
    out.append("| " + " | ".join(keys) + " | seeds | " +
               " | ".join(f"{TRANSITION_STATS[s]}: dense -> sparse (z), midpoint" for s in TRANSITION_STATS) + " |")
    out.append("|" + "---|" * (len(keys) + 1 + len(TRANSITION_STATS)))
    for ln in lines:
        cells = []
        for s in TRANSITION_STATS:
            t = ln[s]
            mark = " *" if t["appears"] else ""
            cells.append(f"{t['dense']:.3f} -> {t['sparse']:.3f} ({t['z']:.1f}){mark}, {t['midpoint']:.3g}")
        out.append("| " + " | ".join(_fmt(ln[k]) for k in keys) + f" | {ln['n_seeds']} | " + " | ".join(cells) + " |")
    return out + [""]
