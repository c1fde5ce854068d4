"""Analysis ``confidence_rescue``: do networks stuck in a no-learning zone learn again once their output
confidence is lowered? (Ghost paper, paper-spec section 2; reference code fatihdinc/ghost-mechanism,
Figure8/code/B for rank-1 networks, Figure8/code/C for full rank.)

It applies to a sweep whose family lowers its confidence at an epoch (``confidence_epoch > 0``, a
setting or a grid axis: the leaky families' L1-normalised readout, ``lowrank_rnn``'s latent readout).
With ``E`` that epoch, ``w`` the option ``window`` and ``m`` the metric curve (``accuracy``):

* *stuck* at the switch: ``max m[E - w : E] <= threshold`` (the reference: accuracy <= 0.5 over the
  50 epochs before the switch);
* *learned before*: ``max m[0 : E] > threshold`` (the reference keeps only these, "learned, then got
  stuck"); both selections are reported;
* *recovered*: ``max m[E : end] > threshold``, and the final value ``m[end]`` (its mean over the
  stuck networks is reported too: a recovery that does not last shows there).

Per value of the lowered confidence (``lowered_confidence``, pooled over the seeds and, separately,
per learning rate when lr is a grid axis): the number of stuck networks, the fraction recovered with
its Wilson 95% interval, and the mean metric around the switch. A lowered confidence of 0 is the
plain readout (the reference's ``c = inf``), a value equal to ``confidence`` the unchanged control.
Figures: the fraction recovered against the lowered confidence, and the stuck networks' mean metric
around the switch, one line per value.
"""

from __future__ import annotations

from typing import Any, ClassVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .. import schema  # noqa: E402
from . import plots  # noqa: E402
from .base import Analysis, Context, Result, register  # noqa: E402
from .search_phase import wilson  # noqa: E402
from .study import Study, last_epoch_values  # noqa: E402

AXIS = "lowered_confidence"


def rescue_flags(curve: np.ndarray, switch: np.ndarray, epochs_run: np.ndarray, window: int,
                 threshold: float) -> dict[str, np.ndarray]:
    """Per cell (leading axes of ``curve``, epochs last): stuck, learned_before, recovered (bool) and
    the final value; cells whose run ended before the switch are neither stuck nor recovered.

    >>> curve = np.array([[0.9, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0, 0.0]])
    >>> flags = rescue_flags(curve, np.array([3, 3, 3]), np.array([5, 5, 5]), window=2, threshold=0.5)
    >>> flags["stuck"].tolist(), flags["learned_before"].tolist(), flags["recovered"].tolist()
    ([True, True, False], [True, False, True], [True, False, False])
    """
    n_epochs = curve.shape[-1]
    t = np.arange(n_epochs)
    switch = np.asarray(switch)[..., None]
    done = np.asarray(epochs_run)[..., None]
    with np.errstate(invalid="ignore"):
        masked = lambda keep: np.where(keep, np.nan_to_num(curve, nan=-np.inf), -np.inf).max(axis=-1)  # noqa: E731
        before = masked((t < switch) & (t < done))
        last_before = masked((t >= switch - window) & (t < switch) & (t < done))
        after = masked((t >= switch) & (t < done))
    reached = epochs_run > np.asarray(switch)[..., 0]
    final = last_epoch_values(curve, epochs_run)
    stuck = reached & (last_before <= threshold)
    return {"stuck": stuck, "learned_before": before > threshold, "recovered": stuck & (after > threshold),
            "final": np.where(reached, final, np.nan)}


def _label(c: float, initial: float) -> str:
    if c == 0:
        return "plain (c = inf)"
    return f"{c:g} (unchanged)" if c == initial else f"{c:g}"


@register
class ConfidenceRescue(Analysis):
    name: ClassVar[str] = "confidence_rescue"
    description: ClassVar[str] = ("networks stuck at the epoch their output confidence is lowered: the fraction that "
                                  "learns again, per lowered confidence (ghost paper)")

    metric: str = "accuracy"
    threshold: float = 0.5  # learned: the metric above this (the reference's accuracy 0.5)
    window: int = 50  # stuck: the metric at most the threshold over this many epochs before the switch

    @classmethod
    def applies(cls, study: Study) -> str | None:
        model = study.model
        if not hasattr(model, "confidence_epoch"):
            return f"family {model.family!r} has no output confidence"
        if "confidence_epoch" not in study.dims and not model.confidence_epoch > 0:
            return "the confidence is never lowered (model.confidence_epoch = 0)"
        return None

    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        if self.metric not in study.task.metric_names:
            raise ValueError(f"confidence_rescue.metric: {self.metric!r} is not a curve of task {study.task.name!r} "
                             f"(curves: {', '.join(study.task.metric_names)})")
        model = study.model
        curve = study.join([s.read(self.metric) for s in study.sources]).astype(float)
        epochs_run = study.join([s.read(schema.EPOCHS_RUN) for s in study.sources])
        finished = study.status == schema.Status.DONE
        dims = list(study.dims)
        switch = self._per_cell(study, "confidence_epoch", float(model.confidence_epoch))
        flags = rescue_flags(curve, switch.astype(int), epochs_run, self.window, self.threshold)
        for k in ("stuck", "learned_before", "recovered"):
            flags[k] = flags[k] & finished
        lowered = self._per_cell(study, AXIS, float(model.lowered_confidence))
        values = np.unique(lowered)
        rows, summary_rows = [], []
        lrs = study.coords["lr"] if "lr" in dims else [None]
        lr_cell = self._per_cell(study, "lr", np.nan) if "lr" in dims else None
        for lr in [None] + (list(lrs) if len(lrs) > 1 and lrs[0] is not None else []):
            for c in values:
                sel = (lowered == c) & finished if lr is None else (lowered == c) & finished & (lr_cell == lr)
                for selection, chosen in (("stuck", flags["stuck"]), ("learned, then stuck",
                                                                      flags["stuck"] & flags["learned_before"])):
                    n = int(np.sum(sel & chosen))
                    k = int(np.sum(sel & chosen & flags["recovered"]))
                    lo, hi = wilson(k, n)
                    final = flags["final"][sel & chosen]
                    row = {"lowered_confidence": float(c), "lr": None if lr is None else float(lr),
                           "selection": selection, "networks": int(np.sum(sel)), "stuck": n, "recovered": k,
                           "fraction": k / n if n else None, "ci95": [float(lo), float(hi)] if n else None,
                           "final_mean": float(np.nanmean(final)) if n else None}
                    summary_rows.append(row)
                    if lr is None or selection == "stuck":
                        rows.append(row)
        initial = float(model.confidence)
        report = ["## Confidence rescue", "",
                  f"{int(finished.sum())} finished networks; confidence lowered at epoch "
                  f"{', '.join(f'{int(e)}' for e in np.unique(switch))}; stuck = max {self.metric} <= {self.threshold:g} "
                  f"over the {self.window} epochs before; recovered = {self.metric} > {self.threshold:g} at some epoch after.",
                  "", f"| lowered confidence | lr | selection | networks | stuck | recovered | fraction (95% CI) | "
                      f"mean final {self.metric} of the stuck |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            frac = "-" if r["fraction"] is None else f"{r['fraction']:.2f} ({r['ci95'][0]:.2f}-{r['ci95'][1]:.2f})"
            lr = "all" if r["lr"] is None else f"{r['lr']:.3g}"
            final = "-" if r["final_mean"] is None else f"{r['final_mean']:.2f}"
            report.append(f"| {_label(r['lowered_confidence'], initial)} | {lr} | {r['selection']} | {r['networks']} | "
                          f"{r['stuck']} | {r['recovered']} | {frac} | {final} |")
        report.append("")
        figures = plots.save(self._fraction_figure(summary_rows, initial, study.name), ctx.out, "confidence_rescue")
        figures += plots.save(self._curves_figure(curve, flags["stuck"], lowered, values, switch, initial, study.name),
                              ctx.out, "confidence_rescue_curves")
        cell_arrays = {k: v.astype(np.int8) if v.dtype == bool else v for k, v in flags.items()}
        return Result(cell_arrays=cell_arrays, summary={"confidence_rescue": {
            "metric": self.metric, "threshold": self.threshold, "window": self.window, "rows": summary_rows}},
            report=report, figures=figures)

    @staticmethod
    def _per_cell(study: Study, axis: str, default: float) -> np.ndarray:
        if axis in study.dims:
            shape = [1] * len(study.dims)
            shape[study.axis(axis)] = -1
            return np.broadcast_to(np.asarray(study.coords[axis], float).reshape(shape), study.shape)
        return np.full(study.shape, default)

    def _fraction_figure(self, rows: list[dict[str, Any]], initial: float, name: str) -> plt.Figure:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for selection, marker in (("stuck", "o"), ("learned, then stuck", "s")):
            pts = [r for r in rows if r["lr"] is None and r["selection"] == selection and r["stuck"]]
            if not pts:
                continue
            x = np.arange(len(pts))
            y = np.array([r["fraction"] for r in pts])
            err = np.abs(np.array([r["ci95"] for r in pts]).T - y)
            ax.errorbar(x, y, yerr=err, marker=marker, capsize=3, label=f"{selection} (n = {sum(r['stuck'] for r in pts)})")
            ax.set_xticks(x, [_label(r["lowered_confidence"], initial) for r in pts], rotation=30, fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("lowered confidence c")
        ax.set_ylabel(f"fraction that learns again ({self.metric} > {self.threshold:g})")
        ax.set_title(f"{name}: confidence rescue", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    def _curves_figure(self, curve: np.ndarray, stuck: np.ndarray, lowered: np.ndarray, values: np.ndarray,
                       switch: np.ndarray, initial: float, name: str) -> plt.Figure:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        epochs = np.arange(curve.shape[-1])
        for c in values:
            sel = stuck & (lowered == c)
            if sel.any():
                ax.plot(epochs, np.nanmean(curve[sel], axis=0), lw=1.2, label=f"c -> {_label(c, initial)} (n = {int(sel.sum())})")
        for e in np.unique(switch):
            ax.axvline(e, color="k", ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"mean {self.metric} of the stuck networks")
        ax.set_title(f"{name}: around the switch", fontsize=10)
        if ax.lines:
            ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


__all__ = ["ConfidenceRescue", "rescue_flags"]
