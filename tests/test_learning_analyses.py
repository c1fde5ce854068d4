"""The ``search_phase`` and ``learnability`` analyses: their rules on hand-made numbers with known answers,
the same rules read from a real store (made by rnnsweep's own store code, its curves, parameters and
snapshots written by hand), and ``rnnsweep analyze`` end to end on a tiny trained sweep."""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import zarr

from rnnsweep import cli, schema, store
from rnnsweep.analysis import analyze
from rnnsweep.analysis.learnability import (ABOVE, BELOW, CROSSED, axis_figure, axis_fit, critical_lr, fraction_table,
                                            ghost_critical_lr, learned_cells)
from rnnsweep.analysis.search_phase import (DEFAULT_CRITERION, SearchPhase, alignment, alignment_figure, grid_stats, kaplan_meier_median, length_figure, search_length,
                                            wilson)
from rnnsweep.schedule import chunk_shape
from rnnsweep.schema import Status
from rnnsweep.sweep import parse_sweep
from rnnsweep.tasks.delayed_addition import DelayedAddition

Z = 1.959963984540054


# --- search phase: the rules ------------------------------------------------------------------------------
def test_search_length_is_the_first_epoch_reaching_the_threshold_inclusive():
    curve = np.array([0.0, 0.2, 0.5, 0.9, 0.1])
    assert search_length(curve, 0.5) == 2  # reaching it counts (>=), and the first time counts
    assert search_length(curve, 0.6) == 3
    assert search_length(np.array([0.3, 0.79, 0.8]), DEFAULT_CRITERION[2]) == 2  # the default where the task has none: 0.8
    # options left empty take the task's criterion (delayed addition: the MSE below 0.04), given ones win
    assert SearchPhase().criterion(DelayedAddition()) == ("mse", "below", 0.04)
    assert SearchPhase(threshold=0.02).criterion(DelayedAddition()) == ("mse", "below", 0.02)
    assert SearchPhase().criterion(object()) == ("accuracy", "above", 0.8)
    assert search_length(curve, 0.95) == -1  # never: censored
    assert search_length(np.array([np.nan, 0.7]), 0.5) == 1  # NaN never counts
    assert search_length(np.array([1.0, 0.5, 0.2, 0.1]), 0.2, "below") == 2  # an error curve


def test_wilson_interval_known_values():
    lo, hi = wilson(3, 10)
    assert lo == pytest.approx(0.1077913, abs=1e-6) and hi == pytest.approx(0.6032219, abs=1e-6)
    lo, hi = wilson(0, 5)  # not the Wald interval (which collapses to [0, 0])
    assert lo == 0.0 and hi == pytest.approx(Z**2 / (5 + Z**2))
    lo, hi = wilson(5, 5)
    assert hi == 1.0 and lo == pytest.approx(5 / (5 + Z**2))
    assert all(math.isnan(v) for v in wilson(0, 0))
    # exactly 0 and 1 at the ends for every n (rounding gave 1e-17 and 1 - 1e-16: negative error bars)
    assert all(wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0 for n in range(1, 60))


def test_kaplan_meier_median_counts_censored_networks_as_at_risk():
    # two censored early, events at 4 and 6, one censored at 7: S(4) = 2/3, S(6) = 1/3
    times, observed = np.array([1, 1, 4, 6, 7]), np.array([0, 0, 1, 1, 0], bool)
    assert kaplan_meier_median(times, observed) == 6.0  # the median of the observed lengths would be 5
    # censored networks at the end: S(2) = 3/4, S(3) = 1/2
    assert kaplan_meier_median(np.array([2, 3, 11, 11]), np.array([1, 1, 0, 0], bool)) == 3.0
    # fewer than half known to have left: no median
    assert math.isnan(kaplan_meier_median(np.array([2, 11, 11, 11]), np.array([1, 0, 0, 0], bool)))


def test_grid_stats_pool_seeds_and_leave_out_excluded_networks():
    length = np.array([[2.0, 4.0], [3.0, 6.0], [5.0, np.nan], [np.nan, np.nan]])  # (seed, delay)
    left = np.isfinite(length)
    analysed = np.ones((4, 2), bool)
    analysed[3, 0] = False  # a diverged network
    excluded = ~analysed
    stats = grid_stats(["seed", "delay_ms"], {"length": length, "left": left, "analysed": analysed,
                                              "excluded": excluded, "censored_at": np.full((4, 2), 11.0)})
    assert stats["n_networks"].tolist() == [3, 4] and stats["n_excluded"].tolist() == [1, 0]
    assert stats["fraction_left"].tolist() == [1.0, 0.5]
    assert stats["median_length"].tolist() == [3.0, 5.0]
    assert stats["q25_length"].tolist() == [2.5, 4.5] and stats["q75_length"].tolist() == [4.0, 5.5]
    assert stats["km_median_length"].tolist() == [3.0, 6.0]
    assert stats["wilson_lo"][1] == pytest.approx(wilson(2, 4)[0])


def test_alignment_of_hand_made_trajectories():
    d = np.array([1.0, -2.0, 0.5])
    straight = np.array([g * d for g in (0.0, 0.1, 0.5, 0.9)]) + 3.0  # towards the end along one line
    np.testing.assert_allclose(alignment(straight, 3.0 + d)[:-1], 1.0)
    assert np.isnan(alignment(straight, 3.0 + d)[-1])  # no step after the last snapshot
    back = straight[::-1]  # moving away from where it ends
    np.testing.assert_allclose(alignment(back, 3.0 + d)[:-1], -1.0)
    # a first step at right angles to the way to the end, then straight there
    turn = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    got = alignment(turn, np.array([0.0, 1.0]))
    assert got[0] == pytest.approx(0.0) and got[1] == pytest.approx(1.0)
    assert np.isnan(got[2]) and np.isnan(got[3])  # no step / already at the end: undefined
    assert np.isnan(alignment(np.array([[0.0, 0.0], [np.nan, np.nan]]), np.ones(2))[0])  # past the cell's end


# --- learnability: the rules --------------------------------------------------------------------------------
def test_learned_is_the_final_loss_over_the_first_epochs_below_the_ratio():
    first = np.array([100.0, 1.0, 1.0, 1.0, 1.0])
    final = np.array([0.5, 0.01, 0.005, 1e-6, 1e-6])
    status = np.array([Status.DONE, Status.DONE, Status.DONE, Status.DIVERGED, Status.PENDING])
    learned, ratio = learned_cells(first, final, status, 1e-2)
    # 0.5 / 100 learned although 0.5 > 1e-2; exactly 1e-2 not (strict); diverged: not learned; pending: unknown
    assert learned.tolist() == [1, 0, 1, 0, -1]
    assert ratio[0] == pytest.approx(0.005) and np.isnan(ratio[3])


def test_critical_lr_interpolates_in_log_lr_where_the_fraction_falls_through_one_half():
    lrs = np.array([0.3, 0.1, 0.03, 0.01])  # grid order need not be sorted
    eta, where = critical_lr(lrs, np.array([0.25, 0.75, 1.0, 1.0]))
    assert where == CROSSED and eta == pytest.approx(math.sqrt(0.1 * 0.3))  # half-way in log10(lr)
    eta, _ = critical_lr(lrs, np.array([0.0, 1.0, 1.0, 1.0]))
    assert eta == pytest.approx(math.sqrt(0.03))
    eta, _ = critical_lr(lrs, np.array([0.0, 0.9, 1.0, 1.0]))  # t = 0.4 / 0.9 of the way in log lr
    assert eta == pytest.approx(10 ** (math.log10(0.1) + 0.4 / 0.9 * (math.log10(0.3) - math.log10(0.1))))
    # small rates too slow to learn, then learned, then stuck: the fall counts, not the rise
    eta, _ = critical_lr(lrs, np.array([0.0, 1.0, 1.0, 0.2]))
    assert eta == pytest.approx(math.sqrt(0.1 * 0.3))
    assert critical_lr(lrs, np.array([0.6, 0.8, 1.0, 1.0]))[1] == ABOVE
    assert critical_lr(lrs, np.array([0.0, 0.1, 0.4, 0.2]))[1] == BELOW
    assert np.isnan(critical_lr(lrs, np.array([0.0, 0.1, 0.4, 0.2]))[0])
    eta, _ = critical_lr(lrs, np.array([0.25, np.nan, 1.0, 1.0]))  # a rate with nothing finished is skipped
    assert eta == pytest.approx(0.03 * 10 ** (2 / 3))  # from 1 at 0.03 to 0.25 at 0.3: 2/3 of a decade


def ghost_grid(xs: np.ndarray, eta: np.ndarray, n_seeds: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Learning rates 10^(-k/2) and every seed learned exactly below ``eta`` of its column."""
    lrs = 10.0 ** (-np.arange(11) / 2)
    learned = (lrs[None, :, None] < eta[None, None, :]).astype(np.int8)
    return lrs, np.repeat(learned, n_seeds, axis=0)


def test_power_law_recovers_the_ghost_exponent_from_synthetic_critical_rates():
    T = 10.0 * 10 ** (np.arange(4) / 5)  # each T^5 ten times the last
    eta = 10 ** -1.25 * (T / T[0]) ** -5.0  # half-way in log between grid rates: interpolation is exact
    lrs, learned = ghost_grid(T, eta)
    fit = axis_fit(learned, ["seed", "lr", "delay_ms"], lrs, "delay_ms", T, 0.5, 50, 0, duration=True, size=False)
    np.testing.assert_allclose(fit["eta"], eta, rtol=1e-12)
    assert fit["law"].beta == pytest.approx(5.0, abs=1e-9) and fit["law"].n_points == 4
    assert fit["law"].ci95 == pytest.approx((5.0, 5.0))  # identical seeds: every resample the same
    np.testing.assert_allclose(fit["eta_lo"], eta)
    np.testing.assert_allclose(fit["eta_hi"], eta)
    # the canonical law has the same exponent
    assert math.log(ghost_critical_lr(T[0]) / ghost_critical_lr(T[-1])) / math.log(T[-1] / T[0]) == pytest.approx(5.0)


def test_rank_ratio_and_bootstrap_over_seeds():
    ranks = np.array([1.0, 2.0, 8.0])
    eta = np.array([10 ** -2.25, 10 ** -1.75, 10 ** -0.25])
    lrs, learned = ghost_grid(ranks, eta, n_seeds=6)
    learned[0, 5, 0] = 0  # at rank 1, one seed of 6 fails at lr 10^-2.5 (the last rate below eta)
    fit = axis_fit(learned, ["seed", "lr", "rank"], lrs, "rank", ranks, 0.5, 100, 3, duration=False, size=True)
    # rank 1: from 5/6 at 10^-2.5 to 0 at 10^-2, 0.4 of the way: eta 10^-2.3
    assert fit["eta"][0] == pytest.approx(10 ** -2.3)
    assert fit["ratio"] == pytest.approx(10 ** 2.05)
    assert fit["law"] is None
    lo, hi = fit["ratio_ci"]
    assert lo < hi and lo <= 10 ** 2.05 <= hi  # resamples with more or fewer copies of that seed move eta
    again = axis_fit(learned, ["seed", "lr", "rank"], lrs, "rank", ranks, 0.5, 100, 3, duration=False, size=True)
    np.testing.assert_array_equal(fit["eta_lo"], again["eta_lo"])  # a fixed RNG seed: deterministic
    assert fit["ratio_ci"] == again["ratio_ci"]
    table = fraction_table(learned, ["seed", "lr", "rank"], ("lr", "rank"))
    assert table.shape == (11, 3) and table[5, 0] == pytest.approx(5 / 6) and table[6, 0] == 1.0


# --- a real store with hand-made curves, parameters and snapshots -----------------------------------------
HAND = """
name = "hand"
[model]
family = "leaky_rnn"
n_neurons = 4
[task]
name = "delayed_activation"
n_trials = 4
[train]
epochs = "12"
[grid]
seed = 4
lr = [0.3, 0.1, 0.03, 0.01]
delay_ms = [10.0, 20.0, 40.0]
[run]
snapshot_every = 4
"""
N_EP = 12
# search-phase length per (seed, delay) (-1: never); the same at every lr
LENGTHS = {0: [2, 3, 5, -1], 1: [4, 6, -1, -1], 2: [-1, -1, -1, -1]}
# networks that learn per (lr index, delay index), seeds 0.. first (lr in grid order 0.3, 0.1, 0.03, 0.01)
LEARNED = {0: [1, 0, 0], 1: [3, 1, 0], 2: [4, 3, 0], 3: [4, 4, 1]}
DIVERGED = (3, 0, 0)  # seed 3, lr 0.3, delay 10: counted as not learned, left out of the search phase
PENDING = (0, 3, 1)  # seed 0, lr 0.01, delay 20: left out of both
TURNING = (0, 1, 0)  # seed 0, lr 0.1, delay 10: its first step at right angles to the way to the end


@pytest.fixture(scope="module")
def hand_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("hand") / "hand.zarr"
    sweep = parse_sweep(HAND)
    group = store.create(path, sweep, chunk_shape(sweep))
    shape = sweep.shape
    rng = np.random.default_rng(0)
    status = np.full(shape, Status.DONE, np.int8)
    status[DIVERGED], status[PENDING] = Status.DIVERGED, Status.PENDING
    epochs_run = np.full(shape, N_EP, np.int32)
    epochs_run[DIVERGED], epochs_run[PENDING] = 5, 0
    e = np.arange(N_EP)
    loss, acc = np.full(shape + (N_EP,), np.nan), np.full(shape + (N_EP,), np.nan)
    for ix in np.ndindex(shape):
        s, i, j = ix
        if ix == PENDING:
            continue
        L = LENGTHS[j][s]
        acc[ix] = np.where(e < L, 0.0, np.where(e == L, 0.8, 0.9)) if L >= 0 else np.full(N_EP, 0.3)
        final = 0.2 if s < LEARNED[i][j] else 5.0  # over a first loss of 50: 0.004 learned, 0.1 not
        loss[ix] = 50.0 * (final / 50.0) ** (e / (N_EP - 1))
    loss[DIVERGED][5:], acc[DIVERGED][5:] = np.nan, np.nan
    for name, values in (("loss", loss), ("accuracy", acc), ("reliability", acc), ("grad_norm", np.ones_like(loss))):
        group[name][...] = np.where(np.isnan(loss), np.nan, values)
    snap_epochs = store.snapshot_epochs(group)
    assert snap_epochs.tolist() == [0, 4, 8, 12]
    finished = status != Status.PENDING
    for pname in store.param_names(group):
        final = group[schema.param_array(pname)]
        snaps = group[schema.snapshot_array(pname)]
        p_shape = final.shape[len(shape):]
        if pname == "W_rec":  # a straight line from W0 to the end: alignment 1
            w0 = rng.normal(size=shape + p_shape)
            d = rng.normal(size=shape + p_shape)
            traj = np.stack([w0 + (k / N_EP) * d for k in snap_epochs], axis=len(shape))
            e1, e2 = np.zeros(p_shape), np.zeros(p_shape)
            e1[0, 0], e2[1, 2] = 1.0, 1.0
            traj[TURNING] = np.stack([w0[TURNING], w0[TURNING] + e1, w0[TURNING] + e2, w0[TURNING] + e2])
            end = traj[..., -1, :, :].copy()
        else:  # the other parameters wander at random: they must not enter the alignment
            traj = rng.normal(size=shape + (len(snap_epochs),) + p_shape)
            end = rng.normal(size=shape + p_shape)
        traj[~finished], end[~finished] = np.nan, np.nan
        traj[DIVERGED][2:] = np.nan  # past its epochs_run
        end[DIVERGED] = traj[DIVERGED][1]
        final[...], snaps[...] = end, traj
    group[schema.EPOCHS_RUN][...] = epochs_run
    group[schema.STATUS][...] = status
    return path


@pytest.fixture(scope="module")
def hand_analysis(hand_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("hand_out")
    summary = analyze([hand_store], out, only=["search_phase", "learnability"], progress=False, log=lambda s: None)
    return out, summary


def test_search_phase_on_a_store(hand_store, hand_analysis):
    out, summary = hand_analysis
    sp = summary["search_phase"]
    # left: 3 seeds at delay 10 and 2 at delay 20 at each of 4 rates, but the pending one
    assert sp["counts"] == {"analysed": 46, "left": 19, "censored": 27, "diverged": 1, "failed": 0, "pending": 1}
    assert sp["axis"] == "lr"  # the non-seed axis with most values
    group = zarr.open_group(str(hand_store / "hand" / "analysis" / "search_phase"), mode="r")
    length = np.asarray(group["search_length"][...])
    assert length[1, 2, 0] == 3.0 and np.isnan(length[3, 2, 0]) and np.isnan(length[DIVERGED])
    assert not np.asarray(group["left_search"][...])[DIVERGED] and not np.asarray(group["analysed"][...])[PENDING]
    frac = np.asarray(group["fraction_left"][...])  # (lr, delay)
    assert frac[0, 0] == 1.0 and frac[1, 0] == 0.75 and frac[3, 1] == pytest.approx(1 / 3) and frac[0, 2] == 0.0
    assert np.asarray(group["n_excluded"][...])[0, 0] == 1 and np.asarray(group["n_networks"][...])[3, 1] == 3
    np.testing.assert_array_equal(np.asarray(group["km_median_length"][...])[:, 1][:3], [6.0, 6.0, 6.0])
    np.testing.assert_array_equal(np.asarray(group["median_length"][...])[:3, 1], [5.0, 5.0, 5.0])
    # the alignment: the recurrent weights only (the others wander at random)
    align = np.asarray(group["alignment"][...])
    assert align.shape == (4, 4, 3, 4) and list(np.asarray(group["snapshot"][...])) == [0, 4, 8, 12]
    straight = [ix for ix in np.ndindex(4, 4, 3) if ix not in (DIVERGED, PENDING, TURNING)]
    np.testing.assert_allclose(np.array([align[ix][:3] for ix in straight]), 1.0, rtol=1e-5)
    assert np.all(np.isnan(align[..., 3])) and np.all(np.isnan(align[PENDING])) and np.all(np.isnan(align[DIVERGED]))
    assert align[TURNING][0] == pytest.approx(0.0, abs=1e-6) and align[TURNING][1] == pytest.approx(1.0)
    # TURNING leaves its search at epoch 2: before = snapshot 0 (cos 0), after = snapshot 4 (cos 1)
    assert np.asarray(group["alignment_before"][...])[TURNING] == pytest.approx(0.0, abs=1e-6)
    assert np.asarray(group["alignment_after"][...])[TURNING] == pytest.approx(1.0)
    fig = alignment_figure(align, np.array([0, 4, 8, 12]), length, ["seed", "lr", "delay_ms"],
                           {"lr": np.array([0.3, 0.1, 0.03, 0.01]), "delay_ms": np.array([10.0, 20.0, 40.0])},
                           "delay_ms", "t")
    ax = fig.axes[0]
    curves = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert [ln.get_label() for ln in curves] == ["delay_ms 10", "delay_ms 20", "delay_ms 40"]
    np.testing.assert_array_equal(curves[0].get_xdata(), [0, 4, 8])  # no step after the last snapshot
    assert ax.get_xlabel() == "epoch (snapshot k)" and ax.get_ylabel().startswith("cos(")
    plt.close(fig)
    report = (out / "report.md").read_text()
    assert "## Search phase" in report and "### Gradient alignment" in report
    assert "1 diverged, 0 failed, 1 pending" in report


def test_search_phase_figures_show_one_line_per_other_value(hand_store, hand_analysis):
    out, summary = hand_analysis
    assert (out / "search_phase.png").stat().st_size > 0 and (out / "gradient_alignment.png").stat().st_size > 0
    rows = summary["search_phase"]["grid"]
    dims = ["lr", "delay_ms"]
    stats = {k: np.array([r[k] if r[k] is not None else np.nan for r in rows], float).reshape(4, 3)
             for k in rows[0] if k not in dims}
    coords = {"lr": np.array([0.3, 0.1, 0.03, 0.01]), "delay_ms": np.array([10.0, 20.0, 40.0])}
    fig = length_figure(stats, dims, coords, "delay_ms", "t")
    ax0, ax1 = fig.axes
    assert ax0.get_xlabel() == "delay (ms)" and "search-phase length" in ax0.get_ylabel()
    assert ax1.get_ylabel() == "fraction that left the search phase"
    assert len(ax0.containers) == 4 and len(ax1.containers) == 4  # one line per learning rate
    assert [t.get_text() for t in ax1.get_legend().get_texts()] == ["lr 0.3", "lr 0.1", "lr 0.03", "lr 0.01"]
    x, y = ax1.containers[1].lines[0].get_data()  # lr 0.1: 3/4, 2/4, 0 against delays 10, 20, 40
    np.testing.assert_array_equal(x, [10, 20, 40])
    np.testing.assert_array_equal(y, [0.75, 0.5, 0.0])
    plt.close(fig)


def test_learnability_on_a_store(hand_store, hand_analysis):
    out, summary = hand_analysis
    ln = summary["learnability"]
    assert ln["counts"] == {"cells": 48, "learned": 20, "not_learned": 27, "diverged": 1, "failed": 0, "pending": 1}
    delay = ln["axes"]["delay_ms"]
    assert delay["kind"] == "duration" and delay["where"] == [CROSSED, CROSSED, BELOW]
    # delay 10: 1/4 learned at lr 0.3 (the diverged network counts as not learned), 3/4 at 0.1
    assert delay["critical_lr"][0] == pytest.approx(math.sqrt(0.1 * 0.3))
    assert delay["critical_lr"][1] == pytest.approx(math.sqrt(0.03 * 0.1)) and delay["critical_lr"][2] is None
    assert delay["power_law"] is None  # two finite points: no fit
    lo, hi = delay["ci95"][0]
    assert lo <= delay["critical_lr"][0] <= hi
    # every other axis pooled: 8/11, 7/12, 4/12, 1/12 going down the lr grid from 0.01
    pooled = ln["pooled"]
    assert pooled["fraction_learned"] == pytest.approx([1 / 12, 4 / 12, 7 / 12, 8 / 11])
    t = (7 / 12 - 0.5) / (7 / 12 - 4 / 12)
    assert pooled["critical_lr"] == pytest.approx(10 ** (math.log10(0.03) + t * (math.log10(0.1) - math.log10(0.03))))
    group = zarr.open_group(str(hand_store / "hand" / "analysis" / "learnability"), mode="r")
    learned = np.asarray(group["learned"][...])
    assert learned[DIVERGED] == 0 and learned[PENDING] == -1 and learned[0, 0, 0] == 1
    table = np.asarray(group["fraction_learned_delay_ms"][...])
    assert table[:, 0].tolist() == [0.25, 0.75, 1.0, 1.0] and table[3, 1] == 1.0  # 3 of 3 (one pending)
    report = (out / "report.md").read_text()
    assert "## Learnability and the critical learning rate" in report and "### Critical learning rate against delay_ms" in report
    assert "below the grid" in report and "Diverged and failed networks count as not learned" in report
    assert (out / "learnability_delay_ms.png").stat().st_size > 0 and (out / "learnability.png").stat().st_size > 0


def test_learnability_heat_map_marks_the_critical_rate():
    lrs = np.array([0.3, 0.1, 0.03, 0.01])
    learned = np.zeros((4, 4, 3), np.int8)
    for (i, j), n in {(i, j): LEARNED[i][j] for i in range(4) for j in range(3)}.items():
        learned[:n, i, j] = 1
    xs = np.array([10.0, 20.0, 40.0])
    fit = axis_fit(learned, ["seed", "lr", "delay_ms"], lrs, "delay_ms", xs, 0.5, 0, 0, duration=True, size=False)
    fig = axis_figure(fit, lrs, "delay_ms", xs, True, 0.5, "t")
    heat, curve = fig.axes[0], fig.axes[1]
    image = heat.get_images()[0].get_array()
    assert image.shape == (4, 3) and image[0, 0] == 1.0 and image[3, 0] == 0.25  # small rates at the bottom
    x, y = heat.get_lines()[0].get_data()
    np.testing.assert_allclose(x, [0, 1])
    np.testing.assert_allclose(y, [2.5, 1.5])  # half-way in log lr between the rows around each crossing
    assert heat.get_ylabel() == "learning rate" and curve.get_ylabel() == "critical learning rate"
    assert curve.get_xscale() == "log" and curve.get_yscale() == "log"
    plt.close(fig)


def test_set_option_reaches_the_analysis(hand_store, tmp_path):
    out = tmp_path / "o"
    args = ["analyze", str(hand_store), "--out", str(out), "--only", "search_phase", "--quiet",
            "--set", "search_phase.threshold=0.85", "--set", "search_phase.alignment=false"]
    assert cli.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["search_phase"]["threshold"] == 0.85 and "alignment" not in summary["search_phase"]
    assert summary["search_phase"]["counts"]["left"] == 19
    group = zarr.open_group(str(hand_store / "hand" / "analysis" / "search_phase"), mode="r")
    assert np.asarray(group["search_length"][...])[1, 2, 0] == 4.0  # 0.85 first reached after the 0.8 step
    configured = cli._set_options({}, ["learnability.n_boot=0", "search_phase.metric=mse", "search_phase.axis=seed"])
    assert configured["learnability"].n_boot == 0 and configured["search_phase"].metric == "mse"
    for bad in ("search_phase.nope=1", "search_phase.threshold=high", "nothing.threshold=1", "threshold=1"):
        assert cli.main(["analyze", str(hand_store), "--out", str(out), "--set", bad]) == 2, bad


# --- end to end on a tiny trained sweep ----------------------------------------------------------------------
TRAINED = """
name = "toy"
[model]
family = "toy_sp"
loss = "analytic"
response_equals_delay = true
init_r_ratio = 3.0
[task]
name = "delayed_activation"
dt_ms = 1.0
response_ms = 1.0
n_trials = 1
[train]
optimizer = "sgd"
momentum = 0.0
weight_decay = 0.0
epochs = "400"
chunk_epochs = 400
dtype = "float64"
[grid]
seed = 2
lr = [1e-6, 1e-7, 1e-8]
delay_ms = [25, 50, 100]
[run]
snapshot_every = 100
max_padding = 100.0
"""


def test_analyze_a_trained_sweep_end_to_end(tmp_path):
    """The ghost paper's canonical model (cheap to train: one parameter), trained and analysed by the CLI."""
    (tmp_path / "s.toml").write_text(TRAINED)
    st, out = tmp_path / "s.zarr", tmp_path / "out"
    assert cli.main(["run", str(tmp_path / "s.toml"), "--store", str(st), "--quiet"]) == 0
    assert cli.main(["analyze", str(st), "--out", str(out), "--only", "search_phase,learnability", "--quiet",
                     "--n-boot", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["analyses"] == ["search_phase", "learnability"] and summary["learnability"]["n_boot"] == 0
    for stem in ("search_phase", "gradient_alignment", "learnability", "learnability_delay_ms"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").is_file()
    report = (out / "report.md").read_text()
    for section in ("## Search phase", "### Gradient alignment", "## Learnability and the critical learning rate",
                    "### Critical learning rate against delay_ms"):
        assert section in report
    group = zarr.open_group(str(st / "toy" / "analysis" / "search_phase"), mode="r")
    align = np.asarray(group["alignment"][...])  # snapshots 0, 100, ..., 400 of one parameter r
    assert align.shape == (2, 3, 3, 5) and np.all(np.isnan(align[..., -1]))
    finite = align[np.isfinite(align)]
    assert finite.size and np.allclose(np.abs(finite), 1.0)  # a scalar moves towards its end or away from it
    learned = zarr.open_group(str(st / "toy" / "analysis" / "learnability"), mode="r")
    assert np.asarray(learned["learned"][...]).shape == (2, 3, 3)
