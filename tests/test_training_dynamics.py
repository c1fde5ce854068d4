"""Mechanism switches and loss jumps over training (rnnsweep.analysis.training_dynamics), on made-up curves."""

from __future__ import annotations

import numpy as np

from rnnsweep.analysis import training_dynamics as td

EPOCHS = np.arange(0, 501, 50)  # snapshots every 50 epochs, 0 .. 500


def curves(learn_epoch=100, jump_epoch=320, n_epochs=500):
    """Accuracy/reliability that reach 1 at ``learn_epoch``; a loss that drops 2 decades at learning and
    1 more decade at ``jump_epoch``."""
    e = np.arange(n_epochs)
    acc = np.where(e >= learn_epoch, 1.0, 0.5)
    loss = np.where(e >= learn_epoch, 1e-2, 1.0) * np.where(e >= jump_epoch, 0.1, 1.0)
    return acc, acc.copy(), loss


def test_a_switch_is_dated_at_the_first_learned_snapshot_with_the_new_mechanism():
    acc, rel, _ = curves()
    learned = td.learned_at(acc, rel, EPOCHS, 500, 0.8)
    assert list(learned) == [False, False] + [True] * 9  # from epoch 100 on; the last one reads epoch 499
    index = np.array([0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2])  # SP from 100, LC from 350
    assert td.first_switch(index, learned, EPOCHS, 0.5) == (350, td.SP_TO_LC, 300, 1)
    # the LC-looking index before learning does not count
    assert td.first_switch(np.full(11, 0.9), learned, EPOCHS, 0.5) == (-1, td.NO_SWITCH, -1, 0)
    back_and_forth = np.array([0.9] * 4 + [0.1] * 3 + [0.9] * 4)
    assert td.first_switch(back_and_forth, learned, EPOCHS, 0.5) == (200, td.SP_TO_LC, 150, 2)
    assert td.first_switch(np.array([0.9] * 3 + [np.nan] * 8), learned, EPOCHS, 0.5)[1] == td.NO_SWITCH  # NaN: SP


def test_the_loss_jump_leaves_out_the_drop_of_learning_itself():
    acc, rel, loss = curves(learn_epoch=100, jump_epoch=320)
    assert td.first_learned_epoch(acc, rel, 0.8) == 100
    epoch, decades = td.loss_jump(loss, 100, 5)
    assert 315 <= epoch <= 324 and decades == 1.0
    assert td.loss_jump(loss, 0, 5)[1] == 2.0  # from the start, the learning drop is the largest
    assert td.loss_jump(loss[:8], 0, 5)[0] == -1  # too short


def test_switch_events_say_whether_the_switch_coincides_with_the_loss_jump():
    acc, rel, loss = curves(learn_epoch=100, jump_epoch=320)
    switching = np.array([0.9] * 7 + [0.1] * 4)  # switches at the snapshot of 350 (after 300): the jump at 320
    late = np.array([0.9] * 10 + [0.1])  # switches at 500: long after the jump
    steady = np.full(11, 0.9)
    ev = td.switch_events(np.stack([switching, late, steady]), np.stack([acc] * 3), np.stack([rel] * 3),
                          np.stack([loss] * 3), np.array([500] * 3), EPOCHS)
    assert list(ev.switch_epoch) == [350, 500, -1]
    assert list(ev.direction) == [td.SP_TO_LC, td.SP_TO_LC, td.NO_SWITCH]
    assert list(ev.coincides) == [True, False, False]
    assert np.all((315 <= ev.jump_epoch) & (ev.jump_epoch <= 324))
