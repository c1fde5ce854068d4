"""Classification of trained networks from their learning curves (paper-spec section 1, steps 1-3),
as the reference's ``sort_data.py`` scripts compute it.

Works on numpy arrays with a leading cell axis (any shape before the epoch axis); NaN marks
epochs past a cell's end and is ignored.

0. The per-epoch accuracy and reliability are rounded to 4 decimals in float32 first, as the
   reference stored them (``metric_decimals``): an exact 0.8 is then stored as 0.800000012 and counts
   as above 0.8.
1. Stability: find the first epoch with ``acc > 0.8`` and ``rel > 0.8``. If there is none, the
   network is stable. Otherwise, counting that epoch and every later one,
   ``stable = (#acc < 0.6 + #rel < 0.6) / (#acc > 0.6 + #rel > 0.6) < 0.1``.
2. Learned: mean acc and mean rel over the last ``n - int(0.9 n)`` of the cell's ``n`` recorded
   epochs both ``> 0.8``, and stable.
3. Not learned: ``no_learning`` if stable, else ``unstable``. All count as failed.
4. Cells stopped by the engine: ``diverged`` ones are ``stopped``. Cells stopped by the loss limit
   (status ``failed``, the no-memory control's loss > 100) are ``stopped`` too, unless
   ``classify_loss_limited`` (the reference's no-memory rule): then they are classified like the
   others from their truncated curves.

The no-memory control of the reference has no stability rule (``stability = False``) and no
mechanism index; its preset in :mod:`.conditions` says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..schema import Status

CLASS_NAMES = ("pending", "no_learning", "unstable", "stopped", "SP", "LC")
PENDING, NO_LEARNING, UNSTABLE, STOPPED, SP, LC = range(6)
FAILED_CLASSES = (NO_LEARNING, UNSTABLE, STOPPED)
LEARNED_CLASSES = (SP, LC)
# The three groups the figures and fits talk about.
CLASS_GROUPS = {"SP": (SP,), "LC": (LC,), "failed": FAILED_CLASSES}
# The axes along which boundaries are fitted and fractions tabulated (against lr).
BOUNDARY_AXES = ("delay_ms", "response_ms")


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The classification rules, with the reference's defaults."""

    learn: float = 0.8  # acc and rel above this: learned (first-learned epoch, and the final mean)
    collapse: float = 0.6  # epochs below this count against stability
    instability_ratio: float = 0.1  # stable if bad / good < this
    final_fraction: float = 0.1  # the final window is the last n - int((1 - final_fraction) n) epochs
    mechanism_index: float = 0.5  # index < this: LC, else SP (a NaN index: SP, as in the reference)
    oscillation_rms: float = 0.1  # alternative criterion: output RMS above this -> LC
    metric_decimals: int | None = 4  # round acc/rel to this many decimals in float32 (None: as stored)
    stability: bool = True  # apply the stability rule (the no-memory control does not)
    classify_loss_limited: bool = False  # classify cells stopped by the loss limit from their curves


def rounded(curve: np.ndarray, th: Thresholds = Thresholds()) -> np.ndarray:
    """A metric curve as the reference compared it: float32, rounded to ``metric_decimals``, then float64."""
    curve = np.asarray(curve, np.float32)
    if th.metric_decimals is not None:
        curve = np.round(curve, th.metric_decimals)
    return curve.astype(np.float64)


def stability(acc: np.ndarray, rel: np.ndarray, th: Thresholds = Thresholds()) -> np.ndarray:
    """Boolean array (cells,) from curves (cells, epochs): the ratio counts the first learned epoch
    and every later one."""
    acc, rel = np.asarray(acc, float), np.asarray(rel, float)
    hit = (acc > th.learn) & (rel > th.learn)
    any_hit = hit.any(axis=-1)
    first = np.where(any_hit, hit.argmax(axis=-1), acc.shape[-1])
    counted = np.arange(acc.shape[-1]) >= first[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        bad = np.sum(counted & (acc < th.collapse), -1) + np.sum(counted & (rel < th.collapse), -1)
        good = np.sum(counted & (acc > th.collapse), -1) + np.sum(counted & (rel > th.collapse), -1)
        ratio = bad / good  # good >= 2 whenever there is a first learned epoch
    return ~any_hit | (ratio < th.instability_ratio)


def final_window_start(n: np.ndarray, th: Thresholds = Thresholds()) -> np.ndarray:
    """First epoch of the final window of a cell with ``n`` recorded epochs: ``int(0.9 n)``."""
    return (np.asarray(n) * (1 - th.final_fraction)).astype(int)


def final_means(acc: np.ndarray, rel: np.ndarray, epochs_run: np.ndarray, th: Thresholds = Thresholds()):
    """Mean acc and rel over the last ``n - int(0.9 n)`` of each cell's ``n`` recorded epochs."""
    acc, rel = np.asarray(acc, float), np.asarray(rel, float)
    n = np.asarray(epochs_run)
    e = np.arange(acc.shape[-1])
    window = (e >= final_window_start(n, th)[..., None]) & (e < n[..., None])
    count = np.maximum(window.sum(-1), 1)
    return np.where(window, acc, 0).sum(-1) / count, np.where(window, rel, 0).sum(-1) / count


def learning_classes(acc, rel, epochs_run, status, th: Thresholds = Thresholds()) -> tuple[np.ndarray, np.ndarray]:
    """``(learned, classes)``: learned (bool) and the class code (failed classes resolved; learned
    cells get ``SP`` here, to be split into SP/LC by the mechanism index)."""
    status = np.asarray(status)
    acc, rel = rounded(acc, th), rounded(rel, th)
    stable = stability(acc, rel, th) if th.stability else np.ones(status.shape, bool)
    mean_acc, mean_rel = final_means(acc, rel, epochs_run, th)
    classifiable = (Status.DONE, Status.FAILED) if th.classify_loss_limited else (Status.DONE,)
    learned = (mean_acc > th.learn) & (mean_rel > th.learn) & stable & np.isin(status, classifiable)
    classes = np.where(learned, SP, np.where(stable, NO_LEARNING, UNSTABLE))
    stopped = np.isin(status, (Status.DIVERGED,) + (() if th.classify_loss_limited else (Status.FAILED,)))
    classes = np.where(stopped, STOPPED, classes)
    classes = np.where(status == Status.PENDING, PENDING, classes)
    return learned, classes.astype(np.int8)


def split_mechanism(classes: np.ndarray, index: np.ndarray, th: Thresholds = Thresholds()) -> np.ndarray:
    """Learned cells with mechanism index < threshold become LC, the others SP."""
    learned = np.isin(classes, LEARNED_CLASSES)
    return np.where(learned, np.where(index < th.mechanism_index, LC, SP), classes).astype(np.int8)


@dataclasses.dataclass
class Classified:
    """Per-cell analysis results of one sweep (or several combined along ``lr``)."""

    name: str
    dims: list[str]
    coords: dict[str, np.ndarray]
    status: np.ndarray
    classes: np.ndarray  # int8 codes, see classify.CLASS_NAMES
    mechanism_index: np.ndarray  # NaN where not computed
    output_rms: np.ndarray
    sources: list[str] = dataclasses.field(default_factory=list)
    # class codes under other mechanism indices (label -> array like ``classes``), for sensitivity
    variants: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.classes.shape

    def axis(self, name: str) -> int:
        return self.dims.index(name)

    def coverage(self) -> float:
        """Fraction of the grid's cells that are finished (not pending)."""
        return float(np.mean(self.classes != PENDING))

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.classes == code)) for code, name in enumerate(CLASS_NAMES)}


# --- fractions over the grid -----------------------------------------------------------------------
def boundary_axis(result: Classified) -> str:
    """The axis along which boundaries are fitted: delay_ms, else response_ms."""
    for axis in BOUNDARY_AXES:
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
