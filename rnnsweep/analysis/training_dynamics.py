"""Mechanism switches during training, from training snapshots (``[run] snapshot_every``).

With snapshots, the ``dynamics`` analysis computes the mechanism index of every network at every
snapshot (:func:`.mechanism.mechanism_measures`, the same probe and rule as the ``classes``
analysis). These functions turn those per-snapshot values into events:

* a snapshot counts only once the network has *learned* there: its accuracy and reliability at the
  snapshot's epoch (the curves' entry at that epoch is measured with exactly the snapshot's
  parameters) reach the classification rules' ``learn`` threshold;
* the mechanism at a learned snapshot is SP if its index >= the rules' ``mechanism_index`` threshold,
  else LC; a *switch* is a change between consecutive learned snapshots, dated at the first snapshot
  with the new mechanism (so a switch is known to within one snapshot interval);
* the *loss jump* is the largest change of ``log10(loss)`` across a window of ``2 h`` epochs
  (``h = jump_half_window``) after the network first learned (the initial drop of learning itself
  is left out), in decades; a switch *coincides* with it when the jump's epoch lies within one
  snapshot interval of the switch's (between the last snapshot before the switch and the switch's
  snapshot, give or take ``h``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

NO_SWITCH = 0
SP_TO_LC = 1
LC_TO_SP = 2
DIRECTIONS = ("none", "SP->LC", "LC->SP")


@dataclasses.dataclass(frozen=True)
class SwitchConfig:
    learn: float = 0.8  # accuracy and reliability at a snapshot at least this: learned there
    mechanism_index: float = 0.5  # index below this: LC, else SP
    jump_half_window: int = 5  # epochs on each side of a loss jump's window

    @classmethod
    def from_rules(cls, rules) -> "SwitchConfig":
        """The learned and mechanism thresholds of classification rules (:class:`.classify.Thresholds`)."""
        return cls(learn=rules.learn, mechanism_index=rules.mechanism_index)


def learned_at(accuracy: np.ndarray, reliability: np.ndarray, snapshot_epochs: np.ndarray, epochs_run: int,
               learn: float) -> np.ndarray:
    """(S,) whether one network had learned at each snapshot epoch: its metrics at that epoch (at the
    last recorded epoch for a snapshot at the very end) reach ``learn``; False past ``epochs_run``."""
    at = np.minimum(snapshot_epochs, max(epochs_run - 1, 0))
    ok = snapshot_epochs <= epochs_run
    acc, rel = np.asarray(accuracy)[at], np.asarray(reliability)[at]
    return ok & (acc >= learn) & (rel >= learn)


def first_switch(index: np.ndarray, learned: np.ndarray, snapshot_epochs: np.ndarray,
                 threshold: float) -> tuple[int, int, int, int]:
    """``(epoch, direction, previous epoch, n_switches)`` of one network's first mechanism switch over
    its learned snapshots (epoch -1 and :data:`NO_SWITCH` when it never switched). A NaN index counts
    as SP, as in the classification."""
    picked = np.flatnonzero(learned)
    if len(picked) < 2:
        return -1, NO_SWITCH, -1, 0
    lc = np.asarray(index)[picked] < threshold  # NaN < t is False: SP
    changes = np.flatnonzero(lc[1:] != lc[:-1]) + 1
    if not len(changes):
        return -1, NO_SWITCH, -1, 0
    k = changes[0]
    direction = SP_TO_LC if lc[k] else LC_TO_SP
    return int(snapshot_epochs[picked[k]]), direction, int(snapshot_epochs[picked[k - 1]]), len(changes)


def loss_jump(loss: np.ndarray, after_epoch: int, half_window: int) -> tuple[int, float]:
    """``(epoch, decades)``: where ``|log10 loss[e + h] - log10 loss[e - h]|`` is largest, for
    ``e - h >= after_epoch`` (-1 and NaN when the curve is too short or not finite there)."""
    log = np.log10(np.asarray(loss, float))
    h = half_window
    centres = np.arange(max(after_epoch + h, h), len(log) - h)
    if not len(centres):
        return -1, float("nan")
    change = np.abs(log[centres + h] - log[centres - h])
    if not np.isfinite(change).any():
        return -1, float("nan")
    best = int(np.nanargmax(change))
    return int(centres[best]), float(change[best])


def first_learned_epoch(accuracy: np.ndarray, reliability: np.ndarray, learn: float) -> int:
    """The first epoch whose accuracy and reliability reach ``learn`` (-1: never)."""
    hits = np.flatnonzero((np.asarray(accuracy) >= learn) & (np.asarray(reliability) >= learn))
    return int(hits[0]) if len(hits) else -1


@dataclasses.dataclass
class SwitchEvents:
    """Per network (arrays over networks)."""

    switch_epoch: np.ndarray  # int: epoch of the first switch's snapshot, -1 if none
    direction: np.ndarray  # int8: DIRECTIONS code
    n_switches: np.ndarray  # int
    jump_epoch: np.ndarray  # int: epoch of the largest loss jump after learning, -1 if none
    jump_decades: np.ndarray  # float
    coincides: np.ndarray  # bool: the switch and the loss jump fall in the same snapshot interval


def switch_events(index: np.ndarray, accuracy: np.ndarray, reliability: np.ndarray, loss: np.ndarray,
                  epochs_run: np.ndarray, snapshot_epochs: np.ndarray, cfg: SwitchConfig = SwitchConfig()) -> SwitchEvents:
    """Events of ``n`` networks: ``index`` (n, S) per snapshot, curves (n, epochs), ``epochs_run`` (n,)."""
    n = len(index)
    out = SwitchEvents(np.full(n, -1), np.zeros(n, np.int8), np.zeros(n, int), np.full(n, -1), np.full(n, np.nan),
                       np.zeros(n, bool))
    h = cfg.jump_half_window
    for k in range(n):
        run = int(epochs_run[k])
        learned = learned_at(accuracy[k], reliability[k], snapshot_epochs, run, cfg.learn)
        epoch, direction, before, count = first_switch(index[k], learned, snapshot_epochs, cfg.mechanism_index)
        out.switch_epoch[k], out.direction[k], out.n_switches[k] = epoch, direction, count
        start = first_learned_epoch(accuracy[k][:run], reliability[k][:run], cfg.learn)
        if start >= 0:
            out.jump_epoch[k], out.jump_decades[k] = loss_jump(loss[k][:run], start, h)
        if epoch >= 0 and out.jump_epoch[k] >= 0:
            out.coincides[k] = before - h <= out.jump_epoch[k] <= epoch + h
    return out
