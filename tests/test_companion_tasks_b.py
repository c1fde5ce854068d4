"""The ghost and abrupt-learning papers' tasks (paper-spec sections 2 and 3): ``three_bit_flip_flop``,
``dmts`` and ``dcd_sign``, against hand-computed cases and explicit Python loops, and one tiny run of
``dmts`` through ``rnnsweep run``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import zarr

from rnnsweep import cli, schema, store
from rnnsweep.sweep import SweepError, parse_sweep
from rnnsweep.tasks import get_task
from rnnsweep.tasks.dcd_sign import DCDSign
from rnnsweep.tasks.dmts import DMTS
from rnnsweep.tasks.three_bit_flip_flop import ThreeBitFlipFlop, held_signs


_JITTED: dict = {}


def jitted(task):
    """(trials, loss, metrics) of ``task``, compiled once per task and shape (eager JAX compiles every
    operation on its own, which costs more than the arithmetic here)."""
    if task not in _JITTED:
        _JITTED[task] = (jax.jit(task.trials, static_argnums=(1,)), jax.jit(task.loss), jax.jit(task.metrics))
    return _JITTED[task]


def build(task, n_steps_max=None, key=0, **coords):
    """(trials, own length) of the cell at ``coords``, padded to ``n_steps_max``."""
    task.validate()
    timing = {**task.timing(coords), **task.cell_values(coords)}  # as the trainer passes them
    n = int(task.n_steps(timing))
    tr = jitted(task)[0](timing, n_steps_max or n, jax.random.PRNGKey(key))
    return tr, n


def loss_of(task, outputs, trials):
    return jitted(task)[1](jnp.asarray(outputs), trials)


def metrics_of(task, outputs, trials):
    return jitted(task)[2](jnp.asarray(outputs), trials)


def np_trials(tr):
    return {k: np.asarray(v) for k, v in tr._asdict().items() if v is not None}


def test_registered_with_their_names_and_sizes():
    sizes = {name: (get_task(name)().n_inputs, get_task(name)().n_outputs, get_task(name).metric_names)
             for name in ("three_bit_flip_flop", "dmts", "dcd_sign")}
    assert sizes == {"three_bit_flip_flop": (3, 3, ("accuracy", "mse")),
                     "dmts": (2, 1, ("accuracy", "reliability")),
                     "dcd_sign": (1, 1, ("accuracy", "reliability"))}
    assert get_task("three_bit_flip_flop") is ThreeBitFlipFlop and get_task("dmts") is DMTS
    assert get_task("dcd_sign") is DCDSign
    assert ThreeBitFlipFlop.axes == ("trial_ms",) and "delay_ms" in DMTS.axes and "delay_ms" in DCDSign.axes


# --- three_bit_flip_flop ----------------------------------------------------------------------------
def flip_flop_targets_by_loop(x):
    """target[t, b, k] = sign of the last pulse of channel k at a step s < t (0 before any)."""
    n_steps, n_trials, n_ch = x.shape
    y = np.zeros_like(x)
    for b in range(n_trials):
        for k in range(n_ch):
            held = 0.0
            for t in range(n_steps):
                y[t, b, k] = held
                if x[t, b, k] != 0:
                    held = x[t, b, k]
    return y


def test_held_signs_of_a_hand_written_pulse_train():
    x = np.zeros((10, 1, 3), np.float32)
    x[:, 0, 0] = [0, 1, 0, 1, -1, 0, 0, -1, 0, 1]
    x[:, 0, 1] = [-1, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # channel 1: one pulse at step 0, held to the end
    # channel 2: no pulse, target 0 throughout
    y = np.asarray(jax.jit(held_signs)(jnp.asarray(x)))
    np.testing.assert_array_equal(y[:, 0, 0], [0, 0, 1, 1, 1, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(y[:, 0, 1], [0] + [-1] * 9)
    np.testing.assert_array_equal(y[:, 0, 2], 0)


# dt 5 ms, 20 steps, 200 trials: every flip-flop test uses it, at n_steps_max 20 or 30 (two programs)
FF_TASK = ThreeBitFlipFlop(dt_ms=5.0, trial_ms=100.0, pulse_prob=0.2, n_trials=200)


def test_flip_flop_targets_hold_each_channels_last_pulse():
    task = FF_TASK
    tr, n = build(task)
    d = np_trials(tr)
    assert n == 20 and d["inputs"].shape == (20, 200, 3) and d["targets"].shape == (20, 200, 3)
    assert set(np.unique(d["inputs"])) == {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(d["targets"], flip_flop_targets_by_loop(d["inputs"]))
    # the case is not trivial: some target flips from +1 to -1 or back within a channel
    assert np.any(d["targets"][1:] * d["targets"][:-1] == -1)
    np.testing.assert_array_equal(d["loss_weights"], np.ones(20))
    np.testing.assert_array_equal(d["score_mask"], np.ones(20, bool))


@pytest.mark.parametrize("p", [None, 0.05])
def test_flip_flop_pulse_statistics(p):
    """The setting (0.2), and a cell's own value of the cell axis ``pulse_prob`` (0.05)."""
    tr, n = build(FF_TASK, n_steps_max=30, **({} if p is None else {"pulse_prob": p}))
    x = np.asarray(tr.inputs)[:n]  # 20 steps x 200 trials: 4,000 draws per channel
    p = p or 0.2
    for k in range(3):
        on = x[:, :, k] != 0
        sd = np.sqrt(p * (1 - p) / on.size)
        assert abs(on.mean() - p) < 5 * sd, (k, on.mean())
    plus = np.mean(x[x != 0] > 0)  # the sign is +1 or -1 with probability 1/2
    assert abs(plus - 0.5) < 5 * np.sqrt(0.25 / np.sum(x != 0)), plus
    # channels are independent: both pulsing at a step has probability p^2
    both = np.mean((x[:, :, 0] != 0) & (x[:, :, 1] != 0))
    assert abs(both - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / x[:, :, 0].size)


def test_flip_flop_trials_do_not_depend_on_padding():
    task = FF_TASK
    short, n = build(task, n_steps_max=20)
    long, _ = build(task, n_steps_max=30)
    s, l_ = np_trials(short), np_trials(long)
    assert n == 20
    for field in ("inputs", "targets", "loss_weights", "score_mask"):
        np.testing.assert_array_equal(l_[field][:20], s[field], err_msg=field)
    assert not l_["inputs"][20:].any() and not l_["targets"][20:].any()
    assert not l_["loss_weights"][20:].any() and not l_["score_mask"][20:].any()
    # loss and metrics ignore whatever the network outputs on padded steps
    out = np.random.default_rng(0).normal(size=(30, 200, 3)).astype(np.float32)
    junk = out.copy()
    junk[20:] = 7.0
    np.testing.assert_allclose(loss_of(task, junk, long), loss_of(task, out[:20], short), rtol=1e-6)
    for a, b in zip(metrics_of(task, junk, long), metrics_of(task, out[:20], short)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_flip_flop_trials_follow_the_key_only():
    task = FF_TASK
    a = np.asarray(build(task, key=1)[0].inputs)
    b = np.asarray(build(task, key=1)[0].inputs)
    c = np.asarray(build(task, key=2)[0].inputs)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a != c) > 0.1


def test_flip_flop_loss_and_metrics_by_hand():
    task = FF_TASK
    tr, n = build(task, n_steps_max=30)
    d = np_trials(tr)
    out = np.random.default_rng(1).normal(size=(30, 200, 3)).astype(np.float32)
    sq, hits, scored = 0.0, 0, 0
    for t in range(n):
        for b in range(200):
            for k in range(3):
                y = d["targets"][t, b, k]
                sq += (out[t, b, k] - y) ** 2
                if y != 0:  # after the channel's first pulse
                    scored += 1
                    hits += int(np.sign(out[t, b, k]) == y)
    assert 0 < scored < n * 200 * 3
    mse = sq / (n * 200 * 3)
    np.testing.assert_allclose(loss_of(task, out, tr), mse, rtol=1e-5)
    accuracy, mse_metric = metrics_of(task, out, tr)
    np.testing.assert_allclose(accuracy, hits / scored, rtol=1e-6)
    np.testing.assert_allclose(mse_metric, mse, rtol=1e-5)
    # a perfect network: loss 0, accuracy 1
    perfect = jnp.asarray(d["targets"])
    assert float(loss_of(task, perfect, tr)) == 0.0
    assert float(metrics_of(task, perfect, tr)[0]) == 1.0
    # no channel ever pulsed: nothing to score, accuracy NaN (documented); the mse is still defined
    silent = tr._replace(targets=jnp.zeros_like(tr.targets))
    accuracy, mse_metric = metrics_of(task, out, silent)
    assert np.isnan(accuracy)
    np.testing.assert_allclose(mse_metric, np.sum(out[:n] ** 2) / (n * 200 * 3), rtol=1e-5)


def test_flip_flop_settings_and_timing_errors_name_the_field():
    with pytest.raises(ValueError, match="task.pulse_prob"):
        ThreeBitFlipFlop(pulse_prob=0.0).validate()
    with pytest.raises(ValueError, match="task.pulse_prob"):
        ThreeBitFlipFlop(pulse_prob=1.5).validate()
    with pytest.raises(ValueError, match="task.n_trials"):
        ThreeBitFlipFlop(n_trials=0).validate()
    task = ThreeBitFlipFlop(dt_ms=5.0)
    with pytest.raises(ValueError, match="task.trial_ms: a trial must last at least 2 steps"):
        task.timing({"trial_ms": 5.0})
    with pytest.raises(ValueError, match="grid.trial_ms"):
        task.timing({"trial_ms": 5.0}, grid_axes=("trial_ms",))
    grid = FF_SWEEP.replace("GRID", "pulse_prob = [0.1, 1.5]")
    with pytest.raises(SweepError, match="grid.pulse_prob"):
        parse_sweep(grid)
    axes = parse_sweep(FF_SWEEP.replace("GRID", "pulse_prob = [0.1, 0.5]\ntrial_ms = [50.0, 100.0]")).axes
    np.testing.assert_allclose(axes["pulse_prob"], [0.1, 0.5])
    np.testing.assert_allclose(axes["trial_ms"], [50.0, 100.0])


FF_SWEEP = """
name = "ff"
[model]
family = "leaky_rnn"
n_neurons = 4
readout = "linear"
[task]
name = "three_bit_flip_flop"
n_trials = 4
[grid]
seed = 1
lr = [0.1]
GRID
"""


# --- dmts --------------------------------------------------------------------------------------------
# dt 5 ms: cue 2 steps, delay 3, test 2, response 4 -> 11 steps; response window [7, 11)
DMTS_TASK = DMTS(dt_ms=5.0, cue_ms=10.0, test_ms=10.0, response_ms=20.0, trials_per_condition=2)
A, B = [0.0, 1.0], [1.0, 0.0]


@pytest.mark.parametrize("cond, s1, s2, match", [("AA", A, A, 1.0), ("AB", A, B, 0.0),
                                                 ("BA", B, A, 0.0), ("BB", B, B, 1.0)])
def test_dmts_inputs_and_targets_of_each_condition(cond, s1, s2, match):
    tr, n = build(DMTS_TASK, n_steps_max=14, delay_ms=15.0)  # 3 padded steps
    d = np_trials(tr)
    assert n == 11 and d["inputs"].shape == (14, 8, 2) and d["targets"].shape == (14, 8, 1)
    first = DMTS_TASK.conditions()[cond]
    expected_in = [s1, s1, [0, 0], [0, 0], [0, 0], s2, s2] + [[0, 0]] * 7
    expected_target = [0] * 7 + [match] * 4 + [0] * 3
    for b in (first, first + 1):  # both trials of the condition
        np.testing.assert_array_equal(d["inputs"][:, b], expected_in)
        np.testing.assert_array_equal(d["targets"][:, b, 0], expected_target)


def test_dmts_conditions_weights_and_window():
    assert DMTS_TASK.conditions() == {"AA": 0, "AB": 2, "BA": 4, "BB": 6}
    assert DMTS_TASK.n_trials == 8
    tr, n = build(DMTS_TASK, n_steps_max=14, delay_ms=15.0)
    d = np_trials(tr)
    # emphasis: the last K = 4 steps weigh 1 - 4/11, the 7 before 4/11, padding 0
    np.testing.assert_allclose(d["loss_weights"], np.r_[np.full(7, 4 / 11), np.full(4, 7 / 11), np.zeros(3)],
                               rtol=1e-6)
    np.testing.assert_array_equal(np.flatnonzero(d["score_mask"]), [7, 8, 9, 10])
    assert not d["inputs"][11:].any() and not d["targets"][11:].any()
    uniform = DMTS(dt_ms=5.0, cue_ms=10.0, test_ms=10.0, response_ms=20.0, trials_per_condition=1,
                   loss_weighting="uniform")
    np.testing.assert_array_equal(np.asarray(build(uniform, n_steps_max=14, delay_ms=15.0)[0].loss_weights),
                                  np.r_[np.ones(11), np.zeros(3)])


def test_dmts_loss_and_scores_by_hand():
    tr, n = build(DMTS_TASK, n_steps_max=14, delay_ms=15.0)
    d = np_trials(tr)
    out = np.random.default_rng(2).uniform(-0.2, 1.2, size=(14, 8, 1)).astype(np.float32)
    w = d["loss_weights"]
    sq = sum(w[t] * (out[t, b, 0] - d["targets"][t, b, 0]) ** 2 for t in range(14) for b in range(8))
    np.testing.assert_allclose(loss_of(DMTS_TASK, out, tr), sq / (11 * 8), rtol=1e-5)
    hits, rel = 0, 0.0
    for t in range(7, 11):
        for b in range(8):
            y = 1.0 if b in (0, 1, 6, 7) else 0.0  # AA and BB match
            hits += int((out[t, b, 0] > 0.5) == (y > 0.5))
            rel += min(max(1 - abs(out[t, b, 0] - y), 0.0), 1.0)
    accuracy, reliability = metrics_of(DMTS_TASK, out, tr)
    np.testing.assert_allclose(accuracy, hits / 32, rtol=1e-6)
    np.testing.assert_allclose(reliability, rel / 32, rtol=1e-5)
    # an output that answers "match" everywhere is right on half the trials
    half = metrics_of(DMTS_TASK, jnp.full((14, 8, 1), 0.9), tr)
    np.testing.assert_allclose(half[0], 0.5)


def test_dmts_errors_name_the_field():
    with pytest.raises(ValueError, match="task.test_ms"):
        DMTS(test_ms=0.0).timing({})
    with pytest.raises(ValueError, match="grid.response_ms"):
        DMTS().timing({"response_ms": 0.0}, grid_axes=("response_ms",))
    with pytest.raises(ValueError, match="task.trials_per_condition"):
        DMTS(trials_per_condition=0).validate()
    with pytest.raises(ValueError, match="task.loss_weighting"):
        DMTS(loss_weighting="late").validate()


# --- dcd_sign ----------------------------------------------------------------------------------------
# dt 5 ms: cue 3 steps, delay 2, response 3 -> 8 steps; response window [5, 8)
SIGN_TASK = DCDSign(dt_ms=5.0, cue_ms=15.0, response_ms=15.0, trials_per_sign=2)


def test_dcd_sign_inputs_targets_and_weights():
    tr, n = build(SIGN_TASK, n_steps_max=10, delay_ms=10.0)
    d = np_trials(tr)
    assert n == 8 and d["inputs"].shape == (10, 4, 1)
    for b, s in enumerate([1, 1, -1, -1]):
        np.testing.assert_array_equal(d["inputs"][:, b, 0], [s, s, s, 0, 0, 0, 0, 0, 0, 0])
        np.testing.assert_array_equal(d["targets"][:, b, 0], [0, 0, 0, 0, 0, s, s, s, 0, 0])
    np.testing.assert_allclose(d["loss_weights"], np.r_[np.full(5, 3 / 8), np.full(3, 5 / 8), 0, 0], rtol=1e-6)
    np.testing.assert_array_equal(np.flatnonzero(d["score_mask"]), [5, 6, 7])
    assert SIGN_TASK.conditions() == {"+1": 0, "-1": 2}


def test_dcd_sign_loss_and_scores_by_hand():
    tr, n = build(SIGN_TASK, n_steps_max=10, delay_ms=10.0)
    d = np_trials(tr)
    out = np.random.default_rng(3).uniform(-2.5, 2.5, size=(10, 4, 1)).astype(np.float32)
    out[5, 0, 0] = 0.0  # an output of exactly 0 has no sign: wrong
    w = d["loss_weights"]
    sq = sum(w[t] * (out[t, b, 0] - d["targets"][t, b, 0]) ** 2 for t in range(10) for b in range(4))
    np.testing.assert_allclose(loss_of(SIGN_TASK, out, tr), sq / (8 * 4), rtol=1e-5)
    hits, rel = 0, 0.0
    for t in range(5, 8):
        for b, s in enumerate([1, 1, -1, -1]):
            o = float(out[t, b, 0])
            hits += int((o > 0 and s > 0) or (o < 0 and s < 0))
            rel += min(max(1 - abs(o - s) / 2, 0.0), 1.0)
    accuracy, reliability = metrics_of(SIGN_TASK, out, tr)
    np.testing.assert_allclose(accuracy, hits / 12, rtol=1e-6)
    np.testing.assert_allclose(reliability, rel / 12, rtol=1e-5)
    # the perfect answer, and its mirror image
    perfect = jnp.asarray(d["targets"])
    np.testing.assert_allclose(metrics_of(SIGN_TASK, perfect, tr), (1.0, 1.0))
    np.testing.assert_allclose(metrics_of(SIGN_TASK, -perfect, tr), (0.0, 0.0))


def test_dcd_sign_uniform_weights_and_errors():
    uniform = DCDSign(dt_ms=5.0, cue_ms=15.0, response_ms=15.0, trials_per_sign=1, loss_weighting="uniform")
    np.testing.assert_array_equal(np.asarray(build(uniform, n_steps_max=10, delay_ms=10.0)[0].loss_weights),
                                  np.r_[np.ones(8), 0, 0])
    with pytest.raises(ValueError, match="task.cue_ms"):
        DCDSign(cue_ms=0.0).timing({})
    with pytest.raises(ValueError, match="task.response_ms"):
        DCDSign(response_ms=0.0).timing({})
    with pytest.raises(ValueError, match="task.trials_per_sign"):
        DCDSign(trials_per_sign=-1).validate()


# --- dmts through rnnsweep run ---------------------------------------------------------------------
DMTS_SWEEP = """
name = "dmts_tiny"
root_seed = 0
[model]
family = "leaky_rnn"
n_neurons = 8
[task]
name = "dmts"
dt_ms = 5.0
cue_ms = 10.0
test_ms = 10.0
response_ms = 20.0
trials_per_condition = 2
[train]
epochs = "10"
chunk_epochs = 10
[grid]
seed = 1
lr = [0.1]
delay_ms = [0.0, 20.0]
[run]
block_size = 2
max_padding = 100.0
"""


@pytest.mark.slow  # 25 s: the CLI path of a task plug-in is covered by the evidence task's run (test_companion_tasks_a)
def test_dmts_runs_through_the_cli(tmp_path):
    sweep = tmp_path / "dmts.toml"
    sweep.write_text(DMTS_SWEEP)
    assert cli.main(["run", str(sweep), "--store", str(tmp_path / "s.zarr"), "--quiet"]) == 0
    group = zarr.open_group(str(tmp_path / "s.zarr" / "dmts_tiny"), mode="r")
    coords = store.coordinates(group)
    np.testing.assert_array_equal(coords["delay_ms"], [0.0, 20.0])
    assert np.all(np.asarray(group[schema.STATUS][...]) == schema.Status.DONE)
    assert group[schema.param_array("W_in")].shape[-2:] == (8, 2)
    assert group[schema.param_array("W_out")].shape[-2:] == (1, 8)
    loss = np.asarray(group[schema.LOSS][...])
    assert loss.shape[-1] == 10 and np.all(np.isfinite(loss))
    accuracy = np.asarray(group["accuracy"][...])
    reliability = np.asarray(group["reliability"][...])
    assert accuracy.shape == loss.shape and np.all((accuracy >= 0) & (accuracy <= 1))
    assert np.all((reliability >= 0) & (reliability <= 1))
    # the two delays are different trials (11 and 15 steps): different losses
    axis = list(coords).index("delay_ms")
    assert loss.shape[axis] == 2
    assert not np.allclose(np.take(loss, 0, axis=axis), np.take(loss, 1, axis=axis))
