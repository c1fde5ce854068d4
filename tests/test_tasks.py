"""Task arrays, loss weights and scoring windows against hand-computed cases (paper-spec section 1)."""

import jax
import numpy as np
import pytest

from rnnsweep.tasks import get_task, tasks
from rnnsweep.tasks.dcd import DCD
from rnnsweep.tasks.delayed_activation import DelayedActivation
from rnnsweep.tasks.no_memory import NoMemory


def trials_for(task, n_steps_max=None, **coords):
    task.validate()
    timing = task.timing(coords)
    n = int(task.n_steps(timing))
    tr = task.trials(timing, n_steps_max or n, jax.random.PRNGKey(0))
    return {k: np.asarray(v) for k, v in tr._asdict().items()}, n


def test_registry_finds_every_task_file():
    assert {"dcd", "no_memory", "delayed_activation"} <= set(tasks())
    with pytest.raises(ValueError, match="task.name: unknown task 'no_such_task'"):
        get_task("no_such_task")


def test_dcd_without_post_period():
    task = DCD(trials_per_cue=2)  # dt 5 ms, cue 30 ms = 6 steps, response 10 steps
    tr, n = trials_for(task, delay_ms=100.0)  # delay 20 steps
    assert n == 6 + 20 + 10
    # Cue A = (0, 1) on trials 0..1, cue B = (1, 0) on trials 2..3, for the first 6 steps only.
    np.testing.assert_array_equal(tr["inputs"][:6, 0], [[0, 1]] * 6)
    np.testing.assert_array_equal(tr["inputs"][:6, 3], [[1, 0]] * 6)
    assert not tr["inputs"][6:].any()
    # Target = the cue's one-hot vector in the response window [26, 36), zero elsewhere.
    np.testing.assert_array_equal(tr["targets"][26:36, 1], [[0, 1]] * 10)
    np.testing.assert_array_equal(tr["targets"][26:36, 2], [[1, 0]] * 10)
    assert not tr["targets"][:26].any()
    # Loss weights: the last 10 steps 1 - 10/T, every other step 10/T.
    expected = np.r_[np.full(26, 10 / 36), np.full(10, 1 - 10 / 36)]
    np.testing.assert_allclose(tr["loss_weights"], expected, rtol=1e-6)
    # Scoring window [T_in + T_delay - 1, T_in + T_delay + T_resp - 1) = [25, 35).
    np.testing.assert_array_equal(np.flatnonzero(tr["score_mask"]), np.arange(25, 35))


def test_dcd_with_post_period_weights_last_16_steps():
    task = DCD(trials_per_cue=1)
    tr, n = trials_for(task, delay_ms=40.0, post_ms=30.0)  # 6 + 8 + 10 + 6
    assert n == 30
    expected = np.r_[np.full(14, 16 / 30), np.full(16, 1 - 16 / 30)]
    np.testing.assert_allclose(tr["loss_weights"], expected, rtol=1e-6)
    assert not tr["targets"][24:].any()  # the post period's target is 0
    assert tr["targets"][14:24].any()
    np.testing.assert_array_equal(np.flatnonzero(tr["score_mask"]), np.arange(13, 23))


def test_padding_adds_only_zero_weight_steps_outside_the_window():
    task = DCD(trials_per_cue=2)
    own, n = trials_for(task, delay_ms=60.0)
    padded, _ = trials_for(task, n_steps_max=n + 13, delay_ms=60.0)
    for key in ("inputs", "targets", "loss_weights", "score_mask"):
        np.testing.assert_array_equal(padded[key][:n], own[key])
        assert not padded[key][n:].any()


@pytest.mark.parametrize("delay_ms,start", [(300.0, 6 + 60 - 1), (320.0, 6 + 64 - 1)])
def test_exact_step_arithmetic_at_the_reference_quirk_delays(delay_ms, start):
    # The reference's float/int() conversion moves these windows one step early (and shortens the
    # 320 ms one to 9 steps); exact integer arithmetic keeps the rule.
    tr, _ = trials_for(DCD(trials_per_cue=1), delay_ms=delay_ms)
    np.testing.assert_array_equal(np.flatnonzero(tr["score_mask"]), np.arange(start, start + 10))


def test_no_memory_control():
    task = NoMemory(trials_per_cue=1)
    assert task.loss_weighting == "uniform" and task.axes == ("response_ms",)
    tr, n = trials_for(task, response_ms=100.0)
    assert n == 6 + 20
    np.testing.assert_array_equal(tr["targets"][:, 0], [[0, 1]] * n)  # held from t = 0 to the end
    np.testing.assert_array_equal(tr["targets"][:, 1], [[1, 0]] * n)
    np.testing.assert_array_equal(tr["loss_weights"], np.ones(n))
    # the reference's window: its DCD formula with the response in the delay's place -> the last step
    np.testing.assert_array_equal(np.flatnonzero(tr["score_mask"]), [n - 1])
    with pytest.raises(ValueError, match="grid.response_ms: the response window"):
        task.timing({"response_ms": 0.0}, grid_axes=("response_ms",))


def test_delayed_activation():
    task = DelayedActivation(n_trials=2)
    tr, n = trials_for(task, delay_ms=50.0)
    assert n == 20 and tr["inputs"].shape == (20, 2, 1) and not tr["inputs"].any()
    np.testing.assert_array_equal(tr["targets"][:, 0, 0], np.r_[np.zeros(10), np.ones(10)])
    np.testing.assert_array_equal(np.flatnonzero(tr["score_mask"]), np.arange(9, 19))


@pytest.mark.parametrize("value,message", [(33.0, "not a whole number"), (-5.0, ">= 0")])
def test_impossible_durations_name_the_field(value, message):
    with pytest.raises(ValueError, match=f"task.delay_ms: .*{message}"):
        DCD().steps("delay_ms", value)
    with pytest.raises(ValueError, match=f"grid.delay_ms: .*{message}"):
        DCD().timing({"delay_ms": value}, grid_axes=("delay_ms",))


def test_trials_with_a_key_are_reproducible_and_padding_invariant():
    # the key reaches the task (a random task draws from it); the paper's tasks do not depend on it
    task = DCD(trials_per_cue=2)
    timing = task.timing({"delay_ms": 20.0})
    a = task.trials(timing, 20, jax.random.PRNGKey(1))
    b = task.trials(timing, 20, jax.random.PRNGKey(2))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_a_setting_added_later_reads_old_stores_with_its_old_value():
    # no_memory's score_window came after stores existed; they scored the response window
    from rnnsweep.settings import stored_settings
    from rnnsweep.sweep import parse_sweep, sweep_differences

    assert stored_settings(NoMemory, {})["score_window"] == "response" and NoMemory().score_window == "reference"
    assert stored_settings(DCD, {})["step_rounding"] == DCD().step_rounding == "exact"
    text = 'name = "nm"\n[model]\nn_neurons = 3\nreadout = "linear"\n[task]\nname = "no_memory"\n{extra}\n[grid]\nseed = 1\nlr = [0.1]\nresponse_ms = [20.0]\n[train]\nepochs = \"2\"\n'
    sweep = parse_sweep(text.format(extra=""))
    stored = sweep.canonical()
    del stored["task"]["score_window"]
    assert [str(d) for d in sweep_differences(sweep, stored)] == [
        "task.score_window (store: 'response', sweep file: 'reference')"]
    assert sweep_differences(parse_sweep(text.format(extra='score_window = "response"')), stored) == []
