"""The analysis follows the reference code (github fatihdinc/dynamical-phases-stm) rule by rule.

Each test is a small hand-computed case that fails if the rule is implemented the other way; the
rule's source in the reference is named in docs/reference-differences.md.
"""

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnsweep.analysis import FitConfig, Thresholds, fit_study
from rnnsweep.analysis.classify import (LC, NO_LEARNING, SP, STOPPED, UNSTABLE, Classified, final_window_start,
                                        learning_classes, rounded, stability)
from rnnsweep.analysis.conditions import condition_named
from rnnsweep.analysis.fitting import sp_boundary
from rnnsweep.analysis.mechanism import (MechanismConfig, mechanism_measures, probe_states, reference_index,
                                         row_correlation)
from rnnsweep.models.leaky_rnn import LeakyRNN
from rnnsweep.schema import Status
from rnnsweep.tasks.dcd import DCD
from rnnsweep.tasks.no_memory import NoMemory

DATA = Path(__file__).resolve().parent / "data"


def window(task, **coords):
    timing = task.timing(coords)
    return int(timing["score_start"]), int(timing["score_end"])


def curves(*segments):
    """Concatenate (length, acc, rel) segments into one cell's curves."""
    acc = np.concatenate([np.full(n, a) for n, a, _ in segments])
    rel = np.concatenate([np.full(n, r) for n, _, r in segments])
    return acc[None], rel[None]


# --- the mechanism index -----------------------------------------------------------------------
def test_time_by_time_matrix_is_plus_minus_one_from_the_uncentred_projection():
    # torch.corrcoef of a (T, 2) matrix with time points as variables: each entry correlates two
    # numbers, so the matrix is s s^T with s = sign(p1 - p2)
    p = np.array([[3.0, 1.0], [0.5, 2.0], [4.0, -1.0], [1.0, 1.5]])
    s = np.sign(p[:, 0] - p[:, 1])
    np.testing.assert_allclose(np.asarray(row_correlation(jnp.asarray(p))), np.outer(s, s), atol=1e-6)
    np.testing.assert_allclose(np.corrcoef(p), np.outer(s, s), atol=1e-12)  # what numpy/torch compute
    # The projection is of the *uncentred* states: a trajectory offset from the origin gives another
    # sign pattern than its centred version, and another index.
    t = np.arange(90)
    base = np.stack([np.cos(2 * np.pi * t / 30), 0.3 * np.sin(2 * np.pi * t / 30)], 1)
    states = np.concatenate([base, np.zeros((90, 2))], 1) @ np.random.default_rng(0).standard_normal((4, 6))
    offset = states + 5.0 * np.random.default_rng(1).standard_normal(6)
    a, b = float(reference_index(jnp.asarray(states))), float(reference_index(jnp.asarray(offset)))
    assert a != pytest.approx(b, abs=1e-3)  # the offset moves the index: the projection is uncentred


def test_reference_probe_uses_the_states_after_each_update_and_noise():
    net = LeakyRNN(n_neurons=5, dt_ms=5.0)
    task = DCD(cue_ms=10.0, response_ms=20.0, trials_per_cue=2)
    params = net.init(jax.random.PRNGKey(0))
    timing = task.timing({"delay_ms": 10.0})
    key = jax.random.PRNGKey(7)
    cfg = MechanismConfig()
    states, outputs, n = probe_states(net, task, params, timing, cfg, key)
    assert n == 2 + 2 + 4 and states.shape == (9 * n, 5) and outputs.shape == (9 * n, 2)
    # the first state is r_1: one update of r_0 with the first input and the first step's noise
    k_state, k_noise = jax.random.split(key)
    r0 = net.initial_state(k_state, 1)
    noise = net.sample_noise(k_noise, 9 * n + 1, 1)
    u0 = task.trials(timing, n, key).inputs[:1, :1]
    r1, out0 = net.step(params, r0, u0[0], noise[0])
    np.testing.assert_allclose(states[0], r1[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(outputs[0], out0[0], rtol=1e-5, atol=1e-7)  # outputs: read before the update
    # the robust probe: noise-free, the states *before* each update, from r_0
    robust, _, _ = probe_states(net, task, params, timing, MechanismConfig(method="robust"), key)
    np.testing.assert_allclose(robust[0], net.initial_state(key, 1)[0], rtol=1e-6)
    quiet = net.sample_noise(k_noise, 1, 1) * 0
    r1_quiet, _ = net.step(params, robust[:1], u0[0], quiet[0])
    np.testing.assert_allclose(robust[1], r1_quiet[0], rtol=1e-5, atol=1e-7)


def test_probe_length_leaves_out_the_post_period():
    net = LeakyRNN(n_neurons=4, dt_ms=5.0)
    task = DCD(cue_ms=10.0, response_ms=20.0, post_ms=30.0, trials_per_cue=1)
    params = net.init(jax.random.PRNGKey(0))
    timing = task.timing({"delay_ms": 20.0})
    assert int(task.n_steps(timing)) == 2 + 4 + 4 + 6
    without, _, n = probe_states(net, task, params, timing, MechanismConfig(), jax.random.PRNGKey(0))
    assert n == 10 and without.shape[0] == 90  # 9 x (the trial without its 6 post steps)
    with_post, _, n = probe_states(net, task, params, timing, MechanismConfig(probe_post=True), jax.random.PRNGKey(0))
    assert n == 16 and with_post.shape[0] == 144


def test_principal_direction_sign_convention_is_fixed_and_its_flip_is_measured():
    states = jnp.asarray(np.random.default_rng(3).standard_normal((60, 6)).cumsum(0))
    a = float(reference_index(states))
    assert a == float(reference_index(states * 1.0))  # deterministic
    assert a == float(reference_index(-states * -1.0))
    flipped = float(reference_index(states, sign="flip_second"))
    # flipping one direction turns sign(p1 - p2) into sign(p1 + p2): in general another value
    v = np.linalg.svd(np.asarray(states) - np.asarray(states).mean(0))[2][:2].T
    p = np.asarray(states) @ v
    assert not np.array_equal(np.sign(p[:, 0] - p[:, 1]), np.sign(p[:, 0] + p[:, 1]))
    assert flipped != pytest.approx(a, abs=1e-6)


def numpy_reference_index(states: np.ndarray) -> float:
    """An independent transcription of the reference's index (sort_data.py) with numpy: PCA of the
    centred states, the uncentred projection, np.corrcoef over time points, fft2/fftshift/|.|^2,
    the disc of distance <= 3 around (h//2, w//2). Signs: each direction's largest loading positive."""
    v = np.linalg.svd(states - states.mean(axis=0), full_matrices=False)[2][:2].T
    v = v * np.sign(v[np.argmax(np.abs(v), axis=0), [0, 1]])
    corr = np.clip(np.corrcoef(states @ v), -1, 1)
    psd = np.abs(np.fft.fftshift(np.fft.fft2(corr))) ** 2
    h, w = corr.shape
    x, y = np.ogrid[:h, :w]
    mask = np.sqrt((x - h // 2) ** 2 + (y - w // 2) ** 2) <= 3
    return float(psd[mask].sum() / psd.sum())


def trained_networks():
    """Five networks of the golden analysis sweep (12 neurons, DCD, delay 30 ms), SP and LC."""
    data = np.load(DATA / "reference_networks.npz")
    params = {k.removeprefix("param_"): data[k] for k in data if k.startswith("param_")}
    task = DCD(cue_ms=10.0, response_ms=20.0, trials_per_cue=6)
    return LeakyRNN(n_neurons=12, dt_ms=5.0), task, params, task.timing({"delay_ms": float(data["delay_ms"])}), data


def test_port_check_against_a_numpy_transcription_on_trained_networks():
    net, task, params, timing, _ = trained_networks()
    cfg = MechanismConfig()
    key = jax.random.PRNGKey(cfg.seed)
    with jax.default_matmul_precision("highest"):
        states = jax.jit(jax.vmap(lambda p: probe_states(net, task, p, timing, cfg, key)[0]))(params)
    ours, _ = mechanism_measures(net, task, params, timing, cfg)
    theirs = np.array([numpy_reference_index(np.asarray(s, np.float64)) for s in states])
    np.testing.assert_allclose(ours, theirs, atol=2e-4)
    assert np.array_equal(ours < 0.5, theirs < 0.5)
    assert 0 < np.sum(theirs < 0.5) < len(theirs)  # both mechanisms among the test networks


def test_robust_index_reproduces_rnnsweep_0_1():
    # the robust method is rnnsweep 0.1.0's index: the values 0.1.0 computed for the test networks
    # (in its golden analysis, before the reference index became the default) are stored with them
    net, task, params, timing, data = trained_networks()
    index, _ = mechanism_measures(net, task, params, timing, MechanismConfig(method="robust", probe_post=True))
    np.testing.assert_allclose(index, data["robust_index_v0_1"], atol=1e-5)  # to the rounding of another batch


# --- scoring windows ---------------------------------------------------------------------------
@pytest.mark.parametrize("response_ms,steps", [(20.0, [9]), (100.0, [25]), (400.0, [85])])
def test_no_memory_scores_the_last_step_only(response_ms, steps):
    # the reference's window formula with the response in the place of the delay lands at the end
    task = NoMemory()
    start, end = window(task, response_ms=response_ms)
    assert list(range(start, end)) == steps
    assert int(task.n_steps(task.timing({"response_ms": response_ms}))) == steps[-1] + 1
    # under the reference's float arithmetic, 300 ms scores its last two steps
    assert window(NoMemory(step_rounding="reference"), response_ms=300.0) == (64, 66)
    assert window(NoMemory(step_rounding="exact"), response_ms=300.0) == (65, 66)
    # rnnsweep 0.1's window stays available
    assert window(NoMemory(score_window="response"), response_ms=100.0) == (5, 25)


@pytest.mark.parametrize("delay_ms,exact,reference", [
    (0.0, (5, 15), (5, 15)), (300.0, (65, 75), (64, 74)), (320.0, (69, 79), (69, 78)), (440.0, (93, 103), (92, 103)),
    (400.0, (85, 95), (85, 95))])
def test_dcd_windows_under_exact_and_reference_rounding(delay_ms, exact, reference):
    # 300 ms: one step early (no-post grid); 320 ms: 9 steps; 440 ms (long-tau grid): 11 steps, two early
    assert window(DCD(), delay_ms=delay_ms) == exact
    assert window(DCD(step_rounding="reference"), delay_ms=delay_ms) == reference
    trials = DCD(step_rounding="reference", trials_per_cue=1).trials(
        DCD(step_rounding="reference").timing({"delay_ms": delay_ms}), 110, jax.random.PRNGKey(0))
    assert np.flatnonzero(np.asarray(trials.score_mask)).tolist() == list(range(*reference))


# --- classification ----------------------------------------------------------------------------
def test_stability_counts_from_the_first_learned_epoch_inclusive():
    # first learned epoch (good 2), 9 later good epochs (good 18), 2 dips with acc < 0.6 (bad 2, good 2):
    # inclusive 2 / 22 < 0.1 -> stable; counting only later epochs, 2 / 20 = 0.1 -> unstable
    acc, rel = curves((5, 0.3, 0.3), (1, 0.9, 0.9), (9, 0.9, 0.9), (2, 0.5, 0.9))
    assert stability(acc, rel)[0]
    acc, rel = curves((5, 0.3, 0.3), (1, 0.9, 0.9), (8, 0.9, 0.9), (2, 0.5, 0.9))  # 2 / 20: not < 0.1
    assert not stability(acc, rel)[0]


def test_final_window_is_n_minus_int_point_nine_n():
    # n = 1007: the last 1007 - int(906.3) = 101 epochs (rnnsweep 0.1 took int(100.7) = 100)
    assert final_window_start(np.array([1000, 1007, 1389])).tolist() == [900, 906, 1250]
    acc, rel = curves((906, 0.0, 0.0), (1, 1.0, 1.0), (100, 0.7999, 1.0))
    learned, cls = learning_classes(acc, rel, np.array([1007]), np.array([Status.DONE]))
    assert learned[0] and cls[0] == SP  # mean over 101 epochs: (1 + 100 x 0.7999) / 101 > 0.8
    acc, rel = curves((899, 0.0, 0.0), (1, 1.0, 1.0), (100, 0.7999, 1.0))
    learned, _ = learning_classes(acc, rel, np.array([1000]), np.array([Status.DONE]))
    assert not learned[0]  # n = 1000: the last 100 epochs only


def test_metrics_are_compared_as_the_reference_stored_them():
    # rounded to 4 decimals in float32: 0.79996 becomes 0.8, stored as 0.800000012 > 0.8
    acc, rel = curves((10, 0.9, 0.79996))
    assert rounded(rel)[0, 0] > 0.8
    learned, _ = learning_classes(acc, rel, np.array([10]), np.array([Status.DONE]))
    assert learned[0]
    learned, _ = learning_classes(acc, rel, np.array([10]), np.array([Status.DONE]), Thresholds(metric_decimals=None))
    assert not learned[0]


def test_no_memory_rules_have_no_stability_and_classify_loss_limited_runs():
    rules = condition_named("no_memory").rules
    # learned, collapsed, learned again: unstable under the stability rule, learned without it
    acc, rel = curves((10, 0.3, 0.3), (20, 0.95, 0.95), (30, 0.3, 0.3), (40, 0.95, 0.95))
    assert learning_classes(acc, rel, np.array([100]), np.array([Status.DONE]))[1][0] == UNSTABLE
    assert learning_classes(acc, rel, np.array([100]), np.array([Status.DONE]), rules)[1][0] == SP
    # a run stopped by the loss limit keeps its truncated curves and is classified from them
    acc, rel = curves((40, 0.95, 0.95), (60, np.nan, np.nan))
    status = np.array([Status.FAILED])
    assert learning_classes(acc, rel, np.array([40]), status)[1][0] == STOPPED
    assert learning_classes(acc, rel, np.array([40]), status, rules)[1][0] == SP
    acc, rel = curves((40, 0.3, 0.3), (60, np.nan, np.nan))
    assert learning_classes(acc, rel, np.array([40]), status, rules)[1][0] == NO_LEARNING
    assert learning_classes(acc, rel, np.array([40]), np.array([Status.DIVERGED]), rules)[1][0] == STOPPED


# --- fits --------------------------------------------------------------------------------------
def planted(lrs, n_seeds=40, seed=0, beta=2.7):
    rng = np.random.default_rng(seed)
    delays = np.arange(0, 401, 20.0)
    tc = (0.1 * 100**beta / lrs) ** (1 / beta)
    p_fail = np.where(delays < tc[:, None], 0, 1 - np.exp(-0.02 * (delays - tc[:, None])))
    learned = np.where(delays < tc[:, None] / 2, SP, LC)
    classes = np.where(rng.random((n_seeds,) + p_fail.shape) < p_fail, NO_LEARNING, learned).astype(np.int8)
    dims = ["seed", "lr", "delay_ms"]
    return Classified("planted", dims, {"seed": np.arange(n_seeds), "lr": lrs, "delay_ms": delays},
                      np.ones(classes.shape), classes, np.full(classes.shape, np.nan), np.full(classes.shape, np.nan))


def test_post_fits_leave_out_lr_0_0720():
    lrs = np.logspace(-1, -3, 15)
    assert lrs[1] == pytest.approx(0.0719686, rel=1e-6)
    study = planted(lrs)
    post = fit_study(study, dataclasses.replace(condition_named("post").fit, n_boot=0))
    plain = fit_study(study, FitConfig(n_boot=0))
    for key in ("learning_boundary", "sp_boundary"):
        assert not np.any(np.isclose(post.laws[key].y, lrs[1]))
        assert np.any(np.isclose(plain.laws[key].y, lrs[1]))
        assert post.laws[key].n_points == plain.laws[key].n_points - 1


def test_sp_fit_skips_rates_whose_sp_fraction_stays_low_and_accepts_any_positive_x0():
    delays = np.arange(0, 401, 20.0)
    sp = 0.15 / (1 + np.exp(0.05 * (delays - 100)))  # at most 0.15
    assert np.isfinite(sp_boundary(delays, sp, FitConfig()))  # no-post: skipped only below 0.1
    assert np.isnan(sp_boundary(delays, sp, condition_named("post").fit))  # post: skipped below 0.2
    assert np.isnan(sp_boundary(delays, 0.09 * np.ones_like(delays), FitConfig()))
    # whatever x0 curve_fit returns from (0.1, 0.1) is kept, even outside the sampled delays (here a
    # boundary near 380 ms ends at a negative x0, which the power law then leaves out); the robust
    # fit keeps only an x0 inside the delays
    late = 1 / (1 + np.exp(0.05 * (delays - 380)))
    assert sp_boundary(delays, late, FitConfig()) < 0
    assert 0 <= sp_boundary(delays, late, FitConfig(method="robust")) <= 400
