"""The abrupt-learning tasks (paper-spec section 3): ``delayed_addition`` and ``evidence_accumulation``.

Hand-computed cases with fixed keys (pulses, pulse times, counts and targets read back from the
generated inputs by explicit loops), statistics over many trials, padding and key dependence, the
loss and the metrics of constructed outputs, settings errors that name the field, and one tiny run
through ``rnnsweep run`` (evidence accumulation over a coherence x delay grid) whose stored first
epoch is recomputed by hand, cell by cell, from the stored initial network and the cell's own trials.

Compiling is most of this file's time, so every test draws its trials from one of four compiled
programs (a task instance is a static argument; durations and coherence travel in ``timing`` as
traced values, as in the trainer): ``DA`` at 41 and 60 steps, ``EA`` at 32 and 60 steps.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import zarr

from rnnsweep import cli, schema, store
from rnnsweep.metrics import two_choice_scores
from rnnsweep.sweep import SweepError, parse_sweep
from rnnsweep.tasks import get_task
from rnnsweep.tasks.delayed_addition import DelayedAddition
from rnnsweep.tasks.evidence_accumulation import EvidenceAccumulation
from rnnsweep.train import TRIALS_STREAM

KEY = jax.random.PRNGKey(11)
OTHER_KEY = jax.random.PRNGKey(12)

_trials = jax.jit(lambda task, timing, n, key: task.trials(timing, n, key), static_argnums=(0, 2))
_scores = jax.jit(lambda task, outputs, tr: (task.loss(outputs, tr), *task.metrics(outputs, tr)), static_argnums=0)
_two_choice = jax.jit(two_choice_scores)


def make_trials(task, n_steps_max, key=KEY, **coords):
    """The trials the trainer builds for the cell at ``coords`` (``{**timing, **cell_values}``)."""
    task.validate()
    timing = {**task.timing(coords), **task.cell_values(coords)}
    return _trials(task, timing, n_steps_max, key), timing


def arrays(tr):
    out = {k: np.asarray(v) for k, v in tr._asdict().items() if k != "extra"}
    out.update({k: np.asarray(v) for k, v in tr.extra.items()})
    return out


def scores(task, outputs, tr) -> tuple[float, ...]:
    """(loss, *metrics) of the outputs."""
    return tuple(float(v) for v in _scores(task, jnp.asarray(outputs, jnp.float32), tr))


def within_binomial(observed, p, n, sigmas=5.0) -> bool:
    return abs(observed - p) <= sigmas * np.sqrt(max(p * (1 - p), 1e-12) / n)


# --- delayed addition ------------------------------------------------------------------------------
DA = DelayedAddition(n_trials=2000)  # T = 40 steps by default (dt 1 ms): t1 in [0, 10), t2 in [10, 20)
N_DA = 41  # the padded length of most tests (one padded step at T = 40)


def test_addition_registered_with_its_defaults():
    assert get_task("delayed_addition") is DelayedAddition
    task = DelayedAddition()
    assert (task.dt_ms, task.trial_ms, task.first_window, task.tolerance, task.n_trials) == (1.0, 40.0, 10, 0.04, 256)
    assert (task.n_inputs, task.n_outputs, task.axes, task.metric_names) == (2, 1, ("trial_ms",), ("accuracy", "mse"))
    assert task.conditions() == {"trial 0": 0, "trial 1": 1}
    assert DelayedAddition(n_trials=1).conditions() == {"trial 0": 0}


def test_addition_pulses_and_target_by_hand():
    tr, timing = make_trials(DA, N_DA)
    assert int(timing["trial"]) == 40
    a = arrays(tr)
    x, y = a["inputs"], a["targets"]
    assert x.shape == (N_DA, 2000, 2) and y.shape == (N_DA, 2000, 1)
    for b in range(50):
        pulses = [t for t in range(N_DA) if x[t, b, 1] != 0]
        assert len(pulses) == 2, (b, pulses)
        t1, t2 = pulses
        assert x[t1, b, 1] == 1 and x[t2, b, 1] == 1
        assert 0 <= t1 < 10 <= t2 < 20
        assert (a["t1"][b], a["t2"][b]) == (t1, t2)
        for t in range(40):
            assert 0 <= x[t, b, 0] < 1
            expected = x[t1, b, 0] + x[t2, b, 0] if t == 39 else np.float32(0)
            assert y[t, b, 0] == expected, (b, t)
        assert x[40, b, 0] == 0 and y[40, b, 0] == 0  # the padded step
    assert len({tuple(x[:40, b, 0]) for b in range(50)}) == 50  # every trial its own values
    np.testing.assert_array_equal(a["loss_weights"], [1.0 if t == 39 else 0.0 for t in range(N_DA)])
    np.testing.assert_array_equal(a["score_mask"], [t == 39 for t in range(N_DA)])
    assert int(a["n_steps"]) == 40


@pytest.mark.parametrize("n_steps, t2_values", [(41, range(10, 21)), (40, range(10, 20)), (21, range(10, 11))])
def test_addition_pulse_times_cover_exactly_their_ranges(n_steps, t2_values):
    """t1 uniform on [0, 10), t2 uniform on [10, ceil(T/2)): T = 41 allows t2 = 20 (< 20.5), T = 40
    does not, T = 21 leaves t2 = 10 only; u1 ~ U[0, 1) on the trial's steps, 0 on padded ones."""
    a = arrays(make_trials(DA, N_DA, trial_ms=float(n_steps))[0])
    for name, values in (("t1", range(0, 10)), ("t2", t2_values)):
        drawn = a[name]
        assert set(drawn.tolist()) == set(values), name
        counts = np.array([np.sum(drawn == v) for v in values])
        assert all(within_binomial(c / 2000, 1 / len(values), 2000) for c in counts), (name, counts)
    assert np.all(a["t1"] < a["t2"]) and np.all(2 * a["t2"] < n_steps)
    assert np.all(np.sum(a["inputs"][..., 1], axis=0) == 2)
    u1 = a["inputs"][:n_steps, :, 0]
    assert np.all((u1 >= 0) & (u1 < 1))
    assert abs(u1.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u1.size)
    assert abs(u1.var() - 1 / 12) < 0.005
    assert np.all(a["inputs"][n_steps:] == 0) and np.all(a["targets"][n_steps:] == 0)
    assert np.all(a["targets"][: n_steps - 1] == 0)
    b = np.arange(2000)
    np.testing.assert_array_equal(a["targets"][n_steps - 1, :, 0], u1[a["t1"], b] + u1[a["t2"], b])
    np.testing.assert_array_equal(np.flatnonzero(a["loss_weights"]), [n_steps - 1])
    np.testing.assert_array_equal(np.flatnonzero(a["score_mask"]), [n_steps - 1])


def test_addition_does_not_depend_on_padding():
    short, _ = make_trials(DA, N_DA)
    long, _ = make_trials(DA, 60)
    s, l = arrays(short), arrays(long)
    for name in ("inputs", "targets", "loss_weights", "score_mask"):  # time-major: the first 41 steps
        np.testing.assert_array_equal(l[name][:N_DA], s[name])
    for name in ("t1", "t2"):
        np.testing.assert_array_equal(l[name], s[name])
    assert np.all(l["inputs"][N_DA:] == 0) and np.all(l["targets"][N_DA:] == 0)
    assert np.all(l["loss_weights"][N_DA:] == 0) and not np.any(l["score_mask"][N_DA:])
    out = np.random.default_rng(0).normal(size=(N_DA, 2000, 1)).astype(np.float32)
    padded = np.concatenate([out, np.full((60 - N_DA, 2000, 1), 1e3, np.float32)])  # padded steps: far off
    np.testing.assert_allclose(scores(DA, padded, long), scores(DA, out, short), rtol=1e-6)
    out[40] = 1e3  # the padded step of the short batch, too
    np.testing.assert_allclose(scores(DA, out, short), scores(DA, padded, long), rtol=1e-6)


def test_addition_same_key_same_trials_other_key_other_trials():
    a = arrays(make_trials(DA, N_DA)[0])
    again = arrays(make_trials(DA, N_DA)[0])
    other = arrays(make_trials(DA, N_DA, key=OTHER_KEY)[0])
    for name in ("inputs", "targets", "t1", "t2"):
        np.testing.assert_array_equal(a[name], again[name])
    assert not np.array_equal(a["inputs"][..., 0], other["inputs"][..., 0])
    assert not np.array_equal(a["t1"], other["t1"]) and not np.array_equal(a["t2"], other["t2"])


def test_addition_scoring_by_hand():
    """Errors at the last step set the score: |err| < 0.04 counts; the other steps count nothing."""
    tr, _ = make_trials(DA, N_DA, trial_ms=30.0)  # the cell's last step is 29 of 41
    y = np.asarray(tr.targets)[29, :, 0]
    err = np.full(2000, 0.5, np.float32)
    err[:9] = [0.0, 0.03, -0.03, 0.039, -0.039, 0.041, -0.041, 0.1, -1.0]
    out = np.random.default_rng(1).normal(size=(N_DA, 2000, 1)).astype(np.float32) * 10  # elsewhere: anything
    out[29, :, 0] = y + err
    loss, accuracy, mse = scores(DA, out, tr)
    assert accuracy == pytest.approx(5 / 2000)  # 0, +-0.03, +-0.039
    real_err = out[29, :, 0].astype(np.float64) - y
    assert mse == pytest.approx(np.mean(real_err ** 2), rel=1e-5) and loss == mse
    assert mse == pytest.approx(np.mean(err.astype(np.float64) ** 2), rel=1e-4)
    out[29, :, 0] = y  # perfect at the last step: loss 0, every trial correct, whatever else happens
    assert scores(DA, out, tr) == (0.0, 1.0, 0.0)


def test_addition_tolerance_is_strict_at_the_boundary():
    task = dataclasses.replace(DA, tolerance=0.25)  # 0.25 and the values below are exact in float32
    tr, _ = make_trials(DA, N_DA)
    last = (np.arange(N_DA) == 39)[:, None, None]
    tr = tr._replace(targets=jnp.asarray(np.where(last, np.ones((1, 2000, 1)), 0), jnp.float32))
    below = np.nextafter(np.float32(1.25), np.float32(0))  # 1.25 - 2^-23
    above = np.nextafter(np.float32(0.75), np.float32(2))  # 0.75 + 2^-24
    out = np.where(last, np.ones((1, 2000, 1)), 0).astype(np.float32)
    out[39, :6, 0] = [1.25, 0.75, below, above, 1.0, 2.0]  # |err| = 0.25, 0.25, < 0.25, < 0.25, 0, 1
    _, accuracy, mse = scores(task, out, tr)
    assert accuracy == pytest.approx((2000 - 3) / 2000)
    expected = (2 * 0.0625 + (0.25 - 2 ** -23) ** 2 + (0.25 - 2 ** -24) ** 2 + 1) / 2000
    assert mse == pytest.approx(expected, rel=1e-6)
    assert scores(DA, out, tr)[1] == pytest.approx((2000 - 5) / 2000)  # the default 0.04: the exact ones only


@pytest.mark.parametrize("settings, message", [
    ({"first_window": 0}, "task.first_window"),
    ({"tolerance": 0.0}, "task.tolerance"),
    ({"n_trials": 0}, "task.n_trials"),
])
def test_addition_settings_errors_name_the_field(settings, message):
    with pytest.raises(ValueError, match=message):
        DelayedAddition(**settings).validate()


def test_addition_too_short_trial_is_refused_naming_the_field():
    assert int(DelayedAddition(trial_ms=21.0).timing({})["trial"]) == 21  # ceil(21/2) = 11 > 10: t2 = 10
    with pytest.raises(ValueError, match=r"^task\.trial_ms: .*more than 20 steps"):
        DelayedAddition(trial_ms=20.0).timing({})
    with pytest.raises(ValueError, match=r"^task\.trial_ms: .*more than 8 steps"):
        DelayedAddition(trial_ms=8.0, first_window=4).timing({})
    with pytest.raises(SweepError, match=r"grid\.trial_ms: .*more than 20 steps"):
        parse_sweep(BAD_SWEEP.format(task="delayed_addition", table="", grid="trial_ms = [20.0, 40.0]"))
    sweep = parse_sweep(BAD_SWEEP.format(task="delayed_addition", table="", grid="trial_ms = [30.0, 41.0]"))
    assert [int(c.timing["trial"]) for c in sweep.cells()] == [30, 41]


# --- evidence accumulation -------------------------------------------------------------------------
EA = EvidenceAccumulation(n_trials=1000, stimulus_ms=100.0, response_ms=50.0)  # dt 5: 20 + delay + 10 steps
N_EA = 32  # the padded length of most tests: a cell with a 10 ms (2-step) delay fills it


def test_evidence_registered_with_its_defaults():
    assert get_task("evidence_accumulation") is EvidenceAccumulation
    task = EvidenceAccumulation()
    assert (task.dt_ms, task.stimulus_ms, task.delay_ms, task.response_ms) == (5.0, 100.0, 0.0, 50.0)
    assert (task.base_rate, task.coherence, task.n_trials) == (0.5, 0.2, 256)
    assert task.cell_axes == ("coherence",) and "delay_ms" in task.axes
    assert (task.n_inputs, task.n_outputs, task.metric_names) == (2, 2, ("accuracy", "reliability"))


def test_evidence_pulses_counts_and_targets_by_hand():
    tr, timing = make_trials(EA, N_EA, coherence=0.5, delay_ms=10.0)
    assert (int(timing["stimulus"]), int(timing["delay"]), int(timing["response"])) == (20, 2, 10)
    assert timing["coherence"] == 0.5
    a = arrays(tr)
    x, y = a["inputs"], a["targets"]
    assert x.shape == (N_EA, 1000, 2) and y.shape == (N_EA, 1000, 2)
    n_ties = 0
    for b in range(40):
        counts = [0, 0]
        for t in range(N_EA):
            for k in range(2):
                assert x[t, b, k] in (0.0, 1.0)
                if t >= 20:
                    assert x[t, b, k] == 0  # no pulse after the stimulus
                counts[k] += int(x[t, b, k])
        assert list(a["counts"][b]) == counts
        if counts[0] == counts[1]:
            n_ties += 1
            winner = a["side"][b]
        else:
            winner = 0 if counts[0] > counts[1] else 1
        assert a["target"][b] == winner
        for t in range(N_EA):
            expected = [1.0 if k == winner else 0.0 for k in range(2)] if 22 <= t < 32 else [0.0, 0.0]
            assert list(y[t, b]) == expected, (b, t)
    np.testing.assert_array_equal(a["loss_weights"], [1.0 if 22 <= t < 32 else 0.0 for t in range(N_EA)])
    np.testing.assert_array_equal(a["score_mask"], [22 <= t < 32 for t in range(N_EA)])
    assert int(a["n_steps"]) == 32
    assert set(a["side"][:40].tolist()) == {0, 1}


@pytest.mark.parametrize("c", [0.0, 0.6, 1.0])
def test_evidence_pulse_rates_follow_the_coherence(c):
    """Per step, the correct side pulses with 0.5 (1 + c) and the other with 0.5 (1 - c)."""
    a = arrays(make_trials(EA, N_EA, coherence=c)[0])  # no delay: 30 steps, 2 padded
    n = 1000 * 20
    side, pulses = a["side"], a["inputs"][:20]  # (20, B, 2)
    assert within_binomial(side.mean(), 0.5, 1000)
    on_side = pulses[:, np.arange(1000), side]
    off_side = pulses[:, np.arange(1000), 1 - side]
    assert within_binomial(on_side.mean(), 0.5 * (1 + c), n), on_side.mean()
    assert within_binomial(off_side.mean(), 0.5 * (1 - c), n), off_side.mean()
    for k in range(2):  # each channel: the high rate on the trials whose side it is, the low one elsewhere
        frac = np.mean(side == k)
        assert abs(pulses[..., k].mean() - (frac * 0.5 * (1 + c) + (1 - frac) * 0.5 * (1 - c))) <= 5 * np.sqrt(0.25 / n)
    assert np.all(a["inputs"][20:] == 0)
    counts = pulses.sum(axis=0)
    np.testing.assert_array_equal(a["counts"], counts)
    ties = counts[:, 0] == counts[:, 1]
    np.testing.assert_array_equal(a["target"][~ties], np.argmax(counts[~ties], axis=1))
    np.testing.assert_array_equal(a["target"][ties], side[ties])
    if c == 0.0:  # C(40, 20) / 4^20 = 12.5% ties: the tie rule is exercised; both channels at 0.5
        assert within_binomial(ties.mean(), 0.1254, 1000)
        assert abs(pulses[..., 0].mean() - pulses[..., 1].mean()) < 5 * np.sqrt(0.5 / n)
        assert abs(np.mean(a["target"] == side) - (0.5 + 0.5 * ties.mean())) < 0.1  # no side wins more pulses
    if c == 0.6:
        assert np.mean(a["target"] == side) > 0.95
    if c == 1.0:  # the other side never pulses, the correct side always does
        assert np.all(on_side == 1) and np.all(off_side == 0) and np.all(a["target"] == side)


def test_evidence_rates_are_clipped():
    task = EvidenceAccumulation(base_rate=0.8)
    np.testing.assert_allclose(task.rates(0.5), (1.0, 0.4), rtol=1e-6)
    np.testing.assert_allclose(task.rates(0.0), (0.8, 0.8), rtol=1e-6)
    np.testing.assert_allclose(EvidenceAccumulation(base_rate=0.3).rates(1.0), (0.6, 0.0), atol=1e-7)


def test_evidence_does_not_depend_on_padding_and_delay_moves_the_window_only():
    short, _ = make_trials(EA, N_EA, coherence=0.3, delay_ms=10.0)
    long, _ = make_trials(EA, 60, coherence=0.3, delay_ms=10.0)
    s, l = arrays(short), arrays(long)
    for name in ("inputs", "targets", "loss_weights", "score_mask"):
        np.testing.assert_array_equal(l[name][:N_EA], s[name])
    for name in ("side", "counts", "target"):
        np.testing.assert_array_equal(l[name], s[name])
    assert np.all(l["inputs"][N_EA:] == 0) and np.all(l["targets"][N_EA:] == 0)
    assert np.all(l["loss_weights"][N_EA:] == 0) and not np.any(l["score_mask"][N_EA:])
    out = np.random.default_rng(2).uniform(0.05, 1, size=(N_EA, 1000, 2)).astype(np.float32)
    padded = np.concatenate([out, np.full((60 - N_EA, 1000, 2), -7.0, np.float32)])
    np.testing.assert_allclose(scores(EA, padded, long), scores(EA, out, short), rtol=1e-6)
    # a longer delay (a traced value, the same program): the same pulses, the window 8 steps later
    later = arrays(make_trials(EA, 60, coherence=0.3, delay_ms=50.0)[0])
    np.testing.assert_array_equal(later["inputs"], l["inputs"])
    np.testing.assert_array_equal(later["targets"][30:40], l["targets"][22:32])
    np.testing.assert_array_equal(np.flatnonzero(later["score_mask"]), np.arange(30, 40))
    assert int(later["n_steps"]) == 40


def test_evidence_same_key_same_trials_other_key_other_trials():
    a = arrays(make_trials(EA, N_EA, coherence=0.3)[0])
    again = arrays(make_trials(EA, N_EA, coherence=0.3)[0])
    other = arrays(make_trials(EA, N_EA, key=OTHER_KEY, coherence=0.3)[0])
    for name in ("inputs", "targets", "side"):
        np.testing.assert_array_equal(a[name], again[name])
    assert not np.array_equal(a["inputs"], other["inputs"]) and not np.array_equal(a["side"], other["side"])


def test_evidence_scoring_by_hand():
    tr, _ = make_trials(EA, N_EA, coherence=0.2, delay_ms=10.0)  # response window: steps 22..31
    target = np.asarray(tr.extra["target"])
    out = np.full((N_EA, 1000, 2), -3.0, np.float32)  # outside the response window: anything
    out[:22, :, 0] = 5.0
    right = np.eye(2, dtype=np.float32)[target]  # (B, 2)
    kind = np.arange(1000) % 4
    for t in range(22, 32):
        correct = (kind == 0) | ((kind == 3) & (t < 27))
        wrong = (kind == 1) | ((kind == 3) & (t >= 27))
        out[t] = np.where(correct[:, None], 0.1 + 0.8 * right, np.where(wrong[:, None], 0.6 - 0.4 * right, 0.5))
    hits = rel = sq = 0.0
    for b in range(1000):
        for t in range(22, 32):
            o = out[t, b].astype(np.float64)
            hits += int(np.argmax(o) == target[b])  # kind 2: equal outputs, channel 0
            rel += o[target[b]] / o.sum()
            sq += sum((o[k] - (k == target[b])) ** 2 for k in range(2))
    loss, accuracy, reliability = scores(EA, out, tr)
    assert hits == 250 * 10 + 250 * 5 + np.sum((kind == 2) & (target == 0)) * 10
    assert accuracy == pytest.approx(hits / 10000, rel=1e-6)
    assert reliability == pytest.approx(rel / 10000, rel=1e-5)
    assert loss == pytest.approx(sq / (10 * 1000 * 2), rel=1e-5)
    # with positive outputs the accuracy is two_choice_scores' too, and the reliability is its
    window = np.asarray(tr.score_mask)[:, None, None]
    positive = np.where(window, out, 0.5).astype(np.float32)
    shared = [float(v) for v in _two_choice(jnp.asarray(positive), tr)]
    np.testing.assert_allclose(shared, scores(EA, positive, tr)[1:], rtol=1e-6)
    perfect = np.where(window, np.asarray(tr.targets), 9.0).astype(np.float32)
    assert scores(EA, perfect, tr) == (0.0, 1.0, 1.0)


@pytest.mark.parametrize("settings, message", [
    ({"base_rate": 0.0}, "task.base_rate"),
    ({"base_rate": 1.5}, "task.base_rate"),
    ({"coherence": -0.1}, "task.coherence"),
    ({"coherence": 1.2}, "task.coherence"),
    ({"n_trials": 0}, "task.n_trials"),
])
def test_evidence_settings_errors_name_the_field(settings, message):
    with pytest.raises(ValueError, match=message):
        EvidenceAccumulation(**settings).validate()


BAD_SWEEP = """
name = "bad"
[model]
family = "leaky_rnn"
n_neurons = 4
[task]
name = "{task}"
{table}
[train]
lr = 0.1
epochs = "1"
[grid]
seed = 1
{grid}
"""


@pytest.mark.parametrize("table, grid, message", [
    ("", "coherence = [0.2, 1.5]", r"grid\.coherence: must lie in \[0, 1\]"),
    ("", "stimulus_ms = [0.0, 50.0]", r"grid\.stimulus_ms: the stimulus"),
    ("response_ms = 0.0", "delay_ms = [0.0, 10.0]", r"task\.response_ms: the response"),
    ("delay_ms = 7.0", "coherence = [0.2]", r"task\.delay_ms: .*whole number"),
])
def test_evidence_grid_errors_name_the_field(table, grid, message):
    with pytest.raises(SweepError, match=message):
        parse_sweep(BAD_SWEEP.format(task="evidence_accumulation", table=table, grid=grid))


# --- through rnnsweep run and the store --------------------------------------------------------------
RUN_SWEEP = """
name = "evidence"
root_seed = 5
[model]
family = "leaky_rnn"
n_neurons = 8
noise_std = 0.0
[task]
name = "evidence_accumulation"
stimulus_ms = 100.0
response_ms = 50.0
n_trials = 1000
[train]
optimizer = "adam"
lr = 0.01
epochs = "10"
chunk_epochs = 10
[grid]
seed = 1
coherence = [0.2, 0.8]
delay_ms = [0.0, 10.0]
[run]
snapshot_every = 10
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("companion_a")
    (root / "evidence.toml").write_text(RUN_SWEEP)
    assert cli.main(["run", str(root / "evidence.toml"), "--store", str(root / "s.zarr"), "--quiet"]) == 0
    return zarr.open_group(str(root / "s.zarr" / "evidence"), mode="r")


def hand_first_epoch(group, sweep, cell, coherence):
    """(loss, accuracy, reliability) of epoch 0 of ``cell`` by hand: its stored initial network
    (snapshot 0), run step by step in numpy on the trials of its data key at ``coherence``."""
    key = jax.random.fold_in(jnp.asarray(sweep.keys([cell])[1][0]), 0)  # the trainer's epoch-0 key
    k_state, _ = jax.random.split(key)
    tr = _trials(sweep.task, {**cell.timing, "coherence": coherence}, N_EA, jax.random.fold_in(key, TRIALS_STREAM))
    p = {name: np.asarray(group[schema.snapshot_array(name)][cell.index + (0,)], np.float64)
         for name in ("W_in", "b_in", "W_rec", "b_rec", "W_out", "b_out")}
    r = np.asarray(sweep.model.initial_state(k_state, 1000), np.float64)
    x = np.asarray(tr.inputs, np.float64)
    a = sweep.model.dt_ms / sweep.model.tau_ms
    outputs = []
    for t in range(N_EA):
        outputs.append(1 / (1 + np.exp(-(r @ p["W_out"].T + p["b_out"]))))  # read before the update
        r = (1 - a) * r + a * np.tanh(r @ p["W_rec"].T + p["b_rec"] + x[t] @ p["W_in"].T + p["b_in"])
    return scores(sweep.task, np.stack(outputs), tr)


@pytest.mark.slow  # ~25 s; a task cell axis through `rnnsweep run` is also tests/test_serial_recall.py's
def test_evidence_axes_reach_the_task_through_the_cli(run):
    coords = store.coordinates(run)
    assert list(coords) == ["seed", "coherence", "delay_ms"]
    np.testing.assert_allclose(coords["coherence"], [0.2, 0.8])
    np.testing.assert_array_equal(coords["delay_ms"], [0.0, 10.0])
    assert np.all(np.asarray(run[schema.STATUS][...]) == schema.Status.DONE)
    np.testing.assert_array_equal(np.asarray(run[schema.steps_array("delay")][...])[0], [[0, 2], [0, 2]])
    np.testing.assert_array_equal(np.asarray(run[schema.N_STEPS][...])[0], [[30, 32], [30, 32]])
    np.testing.assert_array_equal(store.snapshot_epochs(run), [0, 10])
    loss = np.asarray(run[schema.LOSS][...])
    accuracy, reliability = (np.asarray(run[name][...]) for name in ("accuracy", "reliability"))
    assert loss.shape == (1, 2, 2, 10) and np.all(np.isfinite(loss))
    assert np.all((accuracy >= 0) & (accuracy <= 1)) and np.all((reliability > 0) & (reliability < 1))
    # each cell's stored first epoch is its initial network on trials of its own coherence and delay ...
    sweep = parse_sweep(RUN_SWEEP)
    assert sweep.task == EA  # the unit tests' compiled program serves it
    for cell in sweep.cells():
        i = cell.index
        hand = hand_first_epoch(run, sweep, cell, cell.coords["coherence"])
        np.testing.assert_allclose(hand[0::2], (loss[i][0], reliability[i][0]), rtol=1e-4)
        assert hand[1] == pytest.approx(accuracy[i][0], abs=3e-4)  # a near tie may round the other way
        # ... and not on trials of the other coherence (0.2 <-> 0.8)
        swapped = hand_first_epoch(run, sweep, cell, 1.0 - cell.coords["coherence"])
        assert not np.isclose(swapped[0], loss[i][0], rtol=1e-3), cell.coords
