"""The serial_recall task and the linear_rnn family (temporal superposition, paper-spec section 4)
against hand-computed cases, and their cell axes (sparsity, lag, n_features, n_neurons) through
``rnnsweep run`` and a real store: a size axis built at the grid's largest value must give each cell
the numbers of an object built at its own size."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import zarr

from rnnsweep import cli, schema, store
from rnnsweep.models.linear_rnn import LinearRNN
from rnnsweep.sweep import SweepError, parse_sweep
from rnnsweep.tasks.serial_recall import SerialRecall

KEY = jax.random.PRNGKey(7)

# Compiling is most of this file's time, so the unit tests share a few compiled programs: a task is a
# static argument (frozen, hashable), and lag, sparsity, n_features and the sequence length travel in
# ``timing`` as traced values, as they do in the trainer.
_trials = jax.jit(lambda task, timing, n, key: task.trials(timing, n, key), static_argnums=(0, 2))
_loss = jax.jit(lambda task, outputs, tr: task.loss(outputs, tr), static_argnums=0)
_metrics = jax.jit(lambda task, outputs, tr: (task.feature_errors(outputs, tr), *task.metrics(outputs, tr)),
                   static_argnums=0)

# static 3 features (a cell may use fewer), 4 sequences of 6 steps, importance 1, 0.5, 0.25
TASK = SerialRecall(n_features=3, n_sequences=4, sequence_ms=6, importance_decay=0.5)
TASK5 = SerialRecall(n_features=5, n_sequences=4, sequence_ms=6, importance_decay=0.5)  # the same, 5 features
TWO_ITEMS = SerialRecall(n_features=2, n_sequences=3, sequence_ms=6, n_recalled=2, importance_decay=0.5)
T_MAX = 10  # padded length: 4 padded steps after the 6 of a sequence


def make_trials(task, n_steps_max=T_MAX, key=KEY, **coords):
    """The trials the trainer builds for a cell at ``coords``: ``{**timing, **cell_values}``."""
    task.validate()
    timing = {**task.timing(coords), **task.cell_values(coords)}
    return _trials(task, timing, n_steps_max, key), timing


def np_trials(tr):
    out = {k: np.asarray(v) for k, v in tr._asdict().items() if k != "extra"}
    out["extra"] = {k: np.asarray(v) for k, v in tr.extra.items()}
    return out


def loss_of(task, outputs, tr) -> float:
    return float(_loss(task, jnp.asarray(outputs), tr))


# --- task: inputs and targets ------------------------------------------------------------------------
@pytest.mark.parametrize("lag", [0, 2])
def test_target_is_the_input_lag_plus_one_steps_back(lag):
    tr, timing = make_trials(TASK, lag=lag, sparsity=0.3)
    assert timing["lag"] == lag and timing["sequence"] == 6 and timing["n_features"] == 3
    tr = np_trials(tr)
    x, y = tr["inputs"], tr["targets"]
    assert x.shape == (10, 4, 3) and y.shape == (10, 4, 3)
    assert np.count_nonzero(x[:6]) > 20  # enough activity for the check to mean something
    for t in range(10):
        for b in range(4):
            for f in range(3):
                if 1 + lag <= t < 6:
                    assert y[t, b, f] == x[t - 1 - lag, b, f], (t, b, f)
                else:
                    assert y[t, b, f] == 0, (t, b, f)
                if t >= 6:
                    assert x[t, b, f] == 0  # padding
    if lag == 0:  # the newest input: the target at t is the input of step t - 1
        np.testing.assert_array_equal(y[1:6], x[0:5])
    np.testing.assert_array_equal(np.flatnonzero(tr["score_mask"]), np.arange(1 + lag, 6))


def test_n_recalled_puts_item_j_on_outputs_j_times_F_plus_f():
    F, lag = 2, 1
    tr = np_trials(make_trials(TWO_ITEMS, lag=lag, sparsity=0.2)[0])
    x, y, w = tr["inputs"], tr["targets"], tr["extra"]["output_weights"]
    assert y.shape == (10, 3, 4) and w.shape == (10, 4)
    for t in range(10):
        for j in range(2):
            back = lag + j  # item j is the input lag + j steps back (recalled one step later)
            for f in range(F):
                o = j * F + f
                src = t - 1 - back
                defined = src >= 0 and t < 6
                for b in range(3):
                    assert y[t, b, o] == (x[src, b, f] if defined else 0), (t, j, f, b)
                assert w[t, o] == (0.5 ** f if defined else 0.0), (t, o)
    np.testing.assert_array_equal(np.flatnonzero(tr["score_mask"]), np.arange(2, 6))  # item 0 defined from t = 2


# --- task: inputs ---------------------------------------------------------------------------------------
def test_inputs_lie_in_unit_interval_and_sparsity_zero_activates_everything():
    x = np.stack([np.asarray(make_trials(TASK, key=jax.random.PRNGKey(k), sparsity=0.0)[0].inputs)
                  for k in range(20)])[:, :6]  # 20 batches x 6 steps x 4 sequences x 3 features
    assert x.min() >= 0 and x.max() < 1
    assert np.count_nonzero(x) == x.size  # P(U = 0) = 2^-24 per element
    assert abs(x.mean() - 0.5) < 5 * np.sqrt(1 / 12 / x.size)  # U[0, 1)


@pytest.mark.parametrize("sparsity", [0.9, 0.3])
def test_sparsity_sets_the_active_fraction(sparsity):
    x = np.stack([np.asarray(make_trials(TASK, key=jax.random.PRNGKey(k), sparsity=sparsity)[0].inputs)
                  for k in range(200)])[:, :6]  # 14,400 draws
    p, n = 1 - sparsity, x.size
    assert abs(np.count_nonzero(x) / n - p) < 5 * np.sqrt(p * (1 - p) / n), np.count_nonzero(x) / n
    active = x[x != 0]
    assert active.max() < 1 and abs(active.mean() - 0.5) < 5 * np.sqrt(1 / 12 / active.size)


def test_cell_n_features_below_the_static_size_leaves_other_features_zero():
    tr = np_trials(make_trials(TASK5, n_features=3.0, sparsity=0.0, lag=0)[0])
    assert tr["inputs"].shape == (10, 4, 5)
    assert np.all(tr["inputs"][..., 3:] == 0) and np.all(tr["targets"][..., 3:] == 0)
    assert np.count_nonzero(tr["inputs"][:6, :, :3]) == 6 * 4 * 3
    assert np.all(tr["extra"]["output_weights"][:, 3:] == 0)
    np.testing.assert_array_equal(tr["extra"]["mine"], [True, True, True, False, False])


def test_inputs_do_not_depend_on_the_static_number_of_features():
    a = np_trials(make_trials(TASK5, n_features=3.0, sparsity=0.5, lag=1)[0])
    b = np_trials(make_trials(TASK, sparsity=0.5, lag=1)[0])
    assert np.count_nonzero(b["inputs"]) > 20
    np.testing.assert_array_equal(a["inputs"][..., :3], b["inputs"])
    np.testing.assert_array_equal(a["targets"][..., :3], b["targets"])
    np.testing.assert_array_equal(a["extra"]["output_weights"][:, :3], b["extra"]["output_weights"])


def test_inputs_follow_the_key_only():
    a = np.asarray(make_trials(TASK, key=jax.random.PRNGKey(1), sparsity=0.5, lag=1)[0].inputs)
    b = np.asarray(make_trials(TASK, key=jax.random.PRNGKey(1), sparsity=0.5, lag=1)[0].inputs)
    c = np.asarray(make_trials(TASK, key=jax.random.PRNGKey(2), sparsity=0.5, lag=1)[0].inputs)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a[:6] == c[:6]) < 0.5  # only some shared zeros agree


def test_inputs_targets_and_loss_do_not_depend_on_padding():
    timing = {**TASK.timing({}), **TASK.cell_values({"lag": 1, "sparsity": 0.4})}
    short_tr, long_tr = _trials(TASK, timing, 6, KEY), _trials(TASK, timing, 10, KEY)
    short, long = np_trials(short_tr), np_trials(long_tr)
    for name in ("inputs", "targets", "loss_weights", "score_mask"):
        np.testing.assert_array_equal(long[name][:6], short[name], err_msg=name)
        assert not long[name][6:].any(), name
    np.testing.assert_array_equal(long["extra"]["output_weights"][:6], short["extra"]["output_weights"])
    assert not long["extra"]["output_weights"][6:].any()
    out_s = np.full(short["targets"].shape, 0.3, np.float32)
    out_l = np.concatenate([out_s, np.full((4,) + out_s.shape[1:], 9.0, np.float32)])  # garbage on padded steps
    np.testing.assert_allclose(loss_of(TASK, out_l, long_tr), loss_of(TASK, out_s, short_tr), rtol=1e-6)


# --- task: loss and metrics by hand ------------------------------------------------------------------------
def test_loss_is_the_importance_weighted_mse_over_scored_steps_and_own_features():
    # static 3 features, the cell has 2; weights 1 and 0.5 (decay 0.5), lag 1: steps 2..5 scored of 6.
    tr, _ = make_trials(TASK, n_features=2.0, lag=1, sparsity=0.3)
    y = np.asarray(tr.targets)
    out = y.copy()
    out[2:6, :, 1] += 0.4  # feature 1 off by 0.4 on every scored step
    out[:2] += 7.0  # steps before the first defined target: ignored
    out[6:] -= 5.0  # padded steps: ignored
    out[..., 2] = 11.0  # the feature beyond the cell's own: ignored
    # sum over 4 steps x 4 trials of 0.5 * 0.16, over (4 trials x 4 steps x (1 + 0.5))
    np.testing.assert_allclose(loss_of(TASK, out, tr), 0.16 * 0.5 / 1.5, rtol=1e-6)
    out[2:6, :, 1] -= 0.4
    out[2:6, :, 0] += 0.4  # the same error on feature 0 (weight 1)
    np.testing.assert_allclose(loss_of(TASK, out, tr), 0.16 * 1 / 1.5, rtol=1e-6)

    # an arbitrary error, summed by explicit loops
    rng = np.random.default_rng(0)
    out = y + rng.normal(size=y.shape).astype(np.float32)
    num = den = 0.0
    for t in range(2, 6):
        for f in range(2):
            weight = 0.5 ** f
            den += weight * 4
            for b in range(4):
                num += weight * (float(out[t, b, f]) - float(y[t, b, f])) ** 2
    np.testing.assert_allclose(loss_of(TASK, out, tr), num / den, rtol=1e-5)


def test_loss_with_two_items_counts_each_item_over_its_own_defined_steps():
    # F = 2, lag 0, n_recalled 2, 6 steps: item 0 scored on t = 1..5 (5 steps), item 1 on t = 2..5 (4).
    tr, _ = make_trials(TWO_ITEMS, lag=0, sparsity=0.0)
    y = np.asarray(tr.targets)
    out = y.copy()
    out[:, :, 2] += 0.3  # item 1, feature 0 (weight 1), also on t = 0, 1 where it is undefined
    total_weight = 5 * 1.5 + 4 * 1.5
    np.testing.assert_allclose(loss_of(TWO_ITEMS, out, tr), 0.09 * 4 / total_weight, rtol=1e-6)


def test_metrics_by_hand():
    tr, _ = make_trials(TASK, n_features=2.0, lag=1, sparsity=0.2)  # tolerance 0.1
    y = np.asarray(tr.targets)
    out = y.copy()
    out[..., 1] *= 0.5  # e_1 = 0.25 > tolerance
    out[:2] = 3.0  # undefined steps and
    out[6:] = 3.0  # padded steps: not scored
    out[..., 2] = 1.0  # the feature beyond the cell: not counted
    e, error, recalled = (np.asarray(v) for v in _metrics(TASK, jnp.asarray(out), tr))
    np.testing.assert_allclose(e[:2], [0.0, 0.25], rtol=1e-6, atol=1e-7)
    assert np.isnan(e[2])
    np.testing.assert_allclose(error, 0.125, rtol=1e-6)
    assert recalled == 0.5
    out[..., 1] = y[..., 1] * 1.3  # e_1 = 0.09 <= tolerance: both features recalled
    _, error, recalled = (np.asarray(v) for v in _metrics(TASK, jnp.asarray(out), tr))
    np.testing.assert_allclose(error, 0.045, rtol=1e-5)
    assert recalled == 1.0
    # a silent output scores 1 on every feature: nothing recalled
    e, error, recalled = (np.asarray(v) for v in _metrics(TASK, jnp.zeros_like(tr.targets), tr))
    np.testing.assert_allclose(e[:2], [1.0, 1.0], rtol=1e-6)
    assert error == 1.0 and recalled == 0.0


def never_active_feature_1():
    """A cell of 3 features whose feature 1 is never active in the batch, and outputs of 0.5 everywhere."""
    tr, _ = make_trials(TASK, lag=1, sparsity=0.2)
    tr = tr._replace(inputs=tr.inputs.at[..., 1].set(0), targets=tr.targets.at[..., 1].set(0))
    return tr, jnp.full(tr.targets.shape, 0.5)


def test_metrics_leave_out_a_feature_that_was_never_active():
    tr, out = never_active_feature_1()
    out = out.at[..., 0].set(tr.targets[..., 0])  # feature 0 perfect, feature 2 silent-ish (0.5): e_2 > 0
    e, error, recalled = (np.asarray(v) for v in _metrics(TASK, out, tr))
    assert np.isfinite(e[0]) and np.isfinite(e[2]) and not np.isfinite(e[1])
    np.testing.assert_allclose(error, (e[0] + e[2]) / 2, rtol=1e-6)
    assert recalled == 0.5  # feature 0 of the two counted


def test_feature_errors_are_nan_for_a_feature_never_active_as_documented():
    tr, out = never_active_feature_1()
    e = np.asarray(_metrics(TASK, out, tr)[0])
    assert np.isnan(e[1]), e


# --- validation ----------------------------------------------------------------------------------------------
def sweep_text(grid: str, task: str = "", model: str = "", train: str = "") -> str:
    return f"""
name = "sr"
[model]
family = "linear_rnn"
{model}
[task]
name = "serial_recall"
sequence_ms = 20.0
n_features = 3
n_sequences = 4
{task}
[train]
lr = 0.01
epochs = "5"
chunk_epochs = 5
{train}
[grid]
seed = 1
{grid}
"""


def test_valid_grid_of_every_axis_parses_and_builds_at_the_largest_size():
    sweep = parse_sweep(sweep_text("lag = [0, 18]\nsparsity = [0.0, 0.5]\nn_features = [4, 2]\nn_neurons = [3, 5]")
                        .replace("n_features = 3\n", ""))
    assert sweep.task.n_features == 4 and sweep.task.n_inputs == 4 and sweep.model.n_inputs == 4
    assert sweep.model.n_neurons == 5 and sweep.model.n_outputs == 4


@pytest.mark.parametrize("grid, extra, message", [
    ("lag = [0, 30]", "", r"grid\.lag: a sequence of 20 steps"),
    ("lag = [0, 19]", "", r"grid\.lag: "),  # 20 steps: lag 19 leaves no step (target at t = 20)
    ("lag = [1.5]", "", r"grid\.lag: .*whole"),
    ("lag = [-1]", "", r"grid\.lag"),
    ("sparsity = [0.5, 1.0]", "", r"grid\.sparsity"),
    ("sparsity = [-0.1]", "", r"grid\.sparsity"),
    ("n_features = [2.5]", "", r"grid\.n_features: .*whole"),
    ("n_features = [0, 2]", "", r"grid\.n_features"),
    ("n_neurons = [0, 4]", "", r"grid\.n_neurons"),
    ("n_neurons = [2.5]", "", r"grid\.n_neurons: .*whole"),
])
def test_invalid_grid_values_name_the_field(grid, extra, message):
    text = sweep_text(grid, task=extra)
    if "n_features" in grid:
        text = text.replace("n_features = 3\n", "")
    with pytest.raises(SweepError, match=message):
        parse_sweep(text)


def test_sequence_too_short_for_a_fixed_lag_names_the_field():
    with pytest.raises(SweepError, match=r"task\.sequence_ms"):
        parse_sweep(sweep_text("", task="lag = 20"))
    with pytest.raises(SweepError, match=r"grid\.sequence_ms"):
        parse_sweep(sweep_text("sequence_ms = [20.0, 3.0]", task="lag = 2").replace("sequence_ms = 20.0\n", ""))
    with pytest.raises(SweepError, match=r"task\.sequence_ms"):  # n_recalled counts too: 20 <= 18 + 2
        parse_sweep(sweep_text("", task="lag = 18\nn_recalled = 2"))
    parse_sweep(sweep_text("", task="lag = 17\nn_recalled = 2"))  # 20 > 19: one scored step


def test_fixed_settings_are_checked_too():
    with pytest.raises(SweepError, match=r"task\.sparsity"):
        parse_sweep(sweep_text("", task="sparsity = 1.0"))
    with pytest.raises(SweepError, match=r"model\.n_neurons"):
        parse_sweep(sweep_text("", model="n_neurons = 0"))
    with pytest.raises(SweepError, match=r"task\.lag: .*also given as grid axis"):
        parse_sweep(sweep_text("lag = [0, 1]", task="lag = 1"))


LEAKY_SWEEP = """
name = "leaky"
[model]
family = "leaky_rnn"
n_neurons = 4
[task]
name = "serial_recall"
sequence_ms = 8.0
n_sequences = 4
[train]
lr = 0.01
epochs = "3"
chunk_epochs = 3
[grid]
seed = 1
n_features = {n_features}
"""


def test_a_task_size_axis_is_refused_with_a_family_that_cannot_mask_it():
    # leaky_rnn's torch-style init (Xavier bounds, b_in's 1/sqrt(fan_in)) depends on n_inputs, so the
    # n_features = 2 cell of a [2, 3] grid would start from another network than a sweep at n_features = 2
    with pytest.raises(SweepError, match=r"grid\.n_features: .*'leaky_rnn' cannot mask exactly.*linear_rnn"):
        parse_sweep(LEAKY_SWEEP.format(n_features="[2, 3]"))
    assert parse_sweep(LEAKY_SWEEP.format(n_features="[2]")).task.n_features == 2  # one value: nothing to mask


# --- model: linear_rnn by hand -------------------------------------------------------------------------------
W = [[0.5, -0.2], [0.1, 0.3]]
W_IN = [[1.0, 2.0], [-1.0, 0.5]]
W_OUT = [[1.0, -1.0], [2.0, 0.5]]
B_OUT = [0.1, -0.3]


def hand_net():
    net = LinearRNN(n_neurons=2, n_inputs=2, n_outputs=2)
    params = {"W": jnp.array(W), "W_in": jnp.array(W_IN), "W_out": jnp.array(W_OUT), "b_out": jnp.array(B_OUT)}
    return net, params


def hand_step(h, x):
    """h' = W h + W_in x, y = relu(W_out h + b_out), in plain Python."""
    new = [sum(W[i][j] * h[j] for j in range(2)) + sum(W_IN[i][k] * x[k] for k in range(2)) for i in range(2)]
    out = [max(0.0, sum(W_OUT[o][j] * h[j] for j in range(2)) + B_OUT[o]) for o in range(2)]
    return new, out


def test_one_step_by_hand():
    net, params = hand_net()
    h = jnp.array([[0.2, -0.4], [1.0, 0.5]])
    x = jnp.array([[0.3, 0.0], [0.1, 0.7]])
    new, out = jax.jit(net.step)(params, h, x)
    # trial 0: h' = (0.5*0.2 + 0.2*0.4 + 0.3, 0.1*0.2 - 0.3*0.4 - 0.3) = (0.48, -0.4)
    #          y  = relu(0.2 + 0.4 + 0.1, 0.4 - 0.2 - 0.3) = (0.7, 0): read from h, before the update
    np.testing.assert_allclose(new[0], [0.48, -0.4], rtol=1e-6)
    np.testing.assert_allclose(out[0], [0.7, 0.0], rtol=1e-6)
    for b in range(2):
        hand_new, hand_out = hand_step([float(v) for v in h[b]], [float(v) for v in x[b]])
        np.testing.assert_allclose(new[b], hand_new, rtol=1e-6)
        np.testing.assert_allclose(out[b], hand_out, rtol=1e-6, atol=1e-7)


def test_run_reads_before_the_update_like_a_python_loop():
    net, params = hand_net()
    xs = np.array([[[1.0, 0.0]], [[0.0, -1.0]], [[0.5, 0.5]]], np.float32)  # (T=3, B=1, I=2)
    state0 = jnp.zeros((1, 2))
    np.testing.assert_array_equal(net.initial_state(KEY, 1), state0)
    rates, outputs = jax.jit(net.run)(params, jnp.asarray(xs), None, state0)
    h = [0.0, 0.0]
    for t in range(3):
        np.testing.assert_allclose(rates[t, 0], h, rtol=1e-6, atol=1e-7)
        h, out = hand_step(h, [float(v) for v in xs[t, 0]])
        np.testing.assert_allclose(outputs[t, 0], out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(outputs[0, 0], [0.1, 0.0], atol=1e-7)  # h0 = 0: relu(b_out)
    np.testing.assert_allclose(outputs[1, 0], [1 + 1 + 0.1, 2 - 0.5 - 0.3], rtol=1e-6)  # h1 = W_in x0 = (1, -1)


def test_init_masks_beyond_the_width_and_does_not_depend_on_the_largest_width():
    big = LinearRNN(n_neurons=120, n_inputs=2, n_outputs=3, init_radius=0.5)
    small = LinearRNN(n_neurons=80, n_inputs=2, n_outputs=3, init_radius=0.5)
    key = jax.random.PRNGKey(5)
    both = jax.jit(lambda width: (big.init(key, width=width), small.init(key, width=width)))(80.0)  # one compile
    p, q = ({k: np.asarray(v) for k, v in params.items()} for params in both)
    assert p["W"].shape == (120, 120) and p["W_in"].shape == (120, 2) and p["W_out"].shape == (3, 120)
    assert np.all(p["W"][80:] == 0) and np.all(p["W"][:, 80:] == 0)
    assert np.all(p["W_in"][80:] == 0) and np.all(p["W_out"][:, 80:] == 0)
    assert np.all(p["W"][:80, :80] != 0) and np.all(p["W_in"][:80] != 0) and np.all(p["W_out"][:, :80] != 0)
    np.testing.assert_array_equal(p["W"][:80, :80], q["W"])
    np.testing.assert_array_equal(p["W_in"][:80], q["W_in"])
    np.testing.assert_array_equal(p["W_out"][:, :80], q["W_out"])
    np.testing.assert_array_equal(p["b_out"], 0)
    np.testing.assert_array_equal(q["b_out"], 0)
    # W ~ N(0, init_radius^2 / width), W_in and W_out ~ N(0, 1 / width) (6,400, 160 and 240 draws)
    np.testing.assert_allclose(q["W"].std(), 0.5 / np.sqrt(80), rtol=0.05)
    np.testing.assert_allclose(abs(q["W"].mean()), 0, atol=5 * 0.5 / np.sqrt(80) / 80)
    np.testing.assert_allclose(np.concatenate([q["W_in"].ravel(), q["W_out"].ravel()]).std(), 1 / np.sqrt(80),
                               rtol=0.15)


# --- through rnnsweep run and the store ---------------------------------------------------------------------
RUN_SWEEP = """
name = "{name}"
root_seed = 3
[model]
family = "linear_rnn"
[task]
name = "serial_recall"
sequence_ms = 8.0
n_sequences = 16
importance_decay = 0.8
[train]
optimizer = "adam"
lr = 0.03
weight_decay = 0.0
epochs = "30"
chunk_epochs = 30
[grid]
seed = 1
n_neurons = {n_neurons}
n_features = {n_features}
lag = [0, 2]
sparsity = [0.5, 0.8]
[run]
snapshot_every = 30
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A: every axis, sizes [2, 4] neurons x [2, 3] features; B: the same cells at sizes 2 and 2 only."""
    root = tmp_path_factory.mktemp("serial_recall")
    groups = {}
    for name, n_neurons, n_features in (("a", "[2, 4]", "[2, 3]"), ("b", "[2]", "[2]")):
        path = root / f"{name}.toml"
        path.write_text(RUN_SWEEP.format(name=name, n_neurons=n_neurons, n_features=n_features))
        assert cli.main(["run", str(path), "--store", str(root / "s.zarr"), "--quiet"]) == 0
        groups[name] = zarr.open_group(str(root / "s.zarr" / name), mode="r")
    return groups


def cell(group, name, **coords):
    """The array ``name`` at the cell with these coordinates (every grid axis given)."""
    axes = store.coordinates(group)
    index = tuple(int(np.flatnonzero(np.isclose(values, coords[axis]))[0]) for axis, values in axes.items())
    return np.asarray(group[name][...])[index]


def test_every_axis_reaches_the_store(runs):
    a = runs["a"]
    coords = store.coordinates(a)
    assert list(coords) == ["seed", "n_neurons", "n_features", "lag", "sparsity"]
    np.testing.assert_array_equal(coords["n_neurons"], [2, 4])
    np.testing.assert_array_equal(coords["n_features"], [2, 3])
    np.testing.assert_array_equal(coords["lag"], [0, 2])
    np.testing.assert_allclose(coords["sparsity"], [0.5, 0.8])
    assert np.all(np.asarray(a[schema.STATUS][...]) == schema.Status.DONE)
    assert a[schema.param_array("W")].shape == (1, 2, 2, 2, 2, 4, 4)  # built at the largest width
    assert a[schema.param_array("W_in")].shape == (1, 2, 2, 2, 2, 4, 3)  # ... and the most features
    assert {"recall_error", "recalled_fraction"} <= set(a.array_keys())
    loss = np.asarray(a[schema.LOSS][...])
    assert loss.shape[-1] == 30 and np.all(np.isfinite(loss))
    assert np.all(loss[..., -1] < loss[..., 0])  # every cell learns something
    # the lag and the sparsity reach the task: a longer lag or sparser input changes the numbers
    base = cell(a, schema.LOSS, seed=0, n_neurons=4, n_features=3, lag=0, sparsity=0.5)
    for other in ({"lag": 2}, {"sparsity": 0.8}):
        coords = {"seed": 0, "n_neurons": 4, "n_features": 3, "lag": 0, "sparsity": 0.5, **other}
        assert not np.allclose(cell(a, schema.LOSS, **coords), base, rtol=1e-3), other
    # the recall error counts the cell's own features only: finite everywhere
    assert np.all(np.isfinite(np.asarray(a["recall_error"][...])))


def grid_axes_line(text: str, entry: str) -> str:
    """The ``grid axes:`` line under ``entry:`` in the output of ``rnnsweep list``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{entry}:"))
    return next(line for line in lines[start + 1:] if "grid axes" in line)


def test_list_shows_the_new_axes(capsys):
    assert cli.main(["list"]) == 0
    text = capsys.readouterr().out
    task_axes = grid_axes_line(text, "serial_recall")
    assert all(axis in task_axes for axis in ("sequence_ms", "sparsity", "lag", "n_features")), task_axes
    assert "n_neurons" in grid_axes_line(text, "linear_rnn")


LAGS_SPARSITIES = list(itertools.product([0, 2], [0.5, 0.8]))


@pytest.mark.parametrize("lag, sparsity", LAGS_SPARSITIES)
def test_a_masked_cell_equals_the_network_of_its_own_size(runs, lag, sparsity):
    """A's cell (2 neurons, 2 features), trained at 4 neurons x 3 features with masks, is B's cell
    (built at 2 x 2) to float rounding."""
    a, b = runs["a"], runs["b"]
    at = dict(seed=0, n_neurons=2, n_features=2, lag=lag, sparsity=sparsity)
    for curve in (schema.LOSS, "recall_error", "recalled_fraction", schema.GRAD_NORM):
        np.testing.assert_allclose(cell(a, curve, **at), cell(b, curve, **at), rtol=1e-5, atol=1e-7, err_msg=curve)
    names = ("W", "W_in", "W_out", "b_out")
    pa, pb = ({k: cell(g, schema.param_array(k), **at) for k in names} for g in (a, b))
    ia, ib = ({k: cell(g, schema.snapshot_array(k), **at)[0] for k in names} for g in (a, b))  # epoch 0
    assert pb["W"].shape == (2, 2) and pb["W_in"].shape == (2, 2) and pb["W_out"].shape == (2, 2)
    # the initial networks are the same to the bit (drawn per element, scaled by the cell's own width)
    for k in ("W", "W_in", "W_out"):
        np.testing.assert_array_equal(ia[k][:2, :2], ib[k], err_msg=k)
    # ... and so are the trained ones, to float rounding
    np.testing.assert_allclose(pa["W"][:2, :2], pb["W"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pa["W_in"][:2, :2], pb["W_in"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pa["W_out"][:2, :2], pb["W_out"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pa["b_out"][:2], pb["b_out"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(pa["W"][:2, :2], ia["W"][:2, :2])  # (the cell did train)
    # units beyond the cell's width: exactly 0 after training
    assert np.all(pa["W"][2:] == 0) and np.all(pa["W"][:, 2:] == 0)
    assert np.all(pa["W_in"][2:] == 0) and np.all(pa["W_out"][:, 2:] == 0)
    # the feature beyond the cell's own (weight_decay = 0): its input column, output row and bias never move
    np.testing.assert_array_equal(pa["W_in"][:, 2], ia["W_in"][:, 2])
    np.testing.assert_array_equal(pa["W_out"][2], ia["W_out"][2])
    np.testing.assert_array_equal(pa["b_out"][2], ia["b_out"][2])
    assert np.any(pa["W_out"][2] != 0)  # (a real, drawn row: the check above means something)


def test_a_wider_cell_with_fewer_features_masks_only_the_features(runs):
    """A's (4 neurons, 2 features) cell: its 4 units are live, and its third feature untouched."""
    a = runs["a"]
    at = dict(seed=0, n_neurons=4, n_features=2, lag=2, sparsity=0.5)
    w = cell(a, schema.param_array("W"), **at)
    assert np.all(w != 0)
    w_in, w_in0 = cell(a, schema.param_array("W_in"), **at), cell(a, schema.snapshot_array("W_in"), **at)[0]
    np.testing.assert_array_equal(w_in[:, 2], w_in0[:, 2])
    assert np.all(w_in[:, :2] != w_in0[:, :2])


def test_leaky_family_relu_readout_is_the_rectified_linear_readout():
    from rnnsweep.models.leaky_rnn import LeakyRNN

    relu, linear = (LeakyRNN(n_neurons=3, n_inputs=2, n_outputs=2, readout=r) for r in ("relu", "linear"))
    params = jax.jit(relu.init)(jax.random.PRNGKey(0))
    states = jnp.asarray(np.random.default_rng(1).normal(size=(4, 5, 3)), jnp.float32)
    z = np.asarray(jax.jit(linear.read)(params, states))
    assert (z < 0).any() and (z > 0).any()
    np.testing.assert_array_equal(np.asarray(jax.jit(relu.read)(params, states)), np.maximum(z, 0))


def test_linear_rnn_init_bias_sets_the_readout_bias_only():
    a, b = (jax.jit(LinearRNN(n_neurons=3, n_inputs=2, n_outputs=2, init_bias=v).init)(jax.random.PRNGKey(0))
            for v in (0.0, 0.1))
    np.testing.assert_array_equal(b["b_out"], np.full(2, 0.1, np.float32))
    np.testing.assert_array_equal(a["b_out"], np.zeros(2, np.float32))
    for name in ("W", "W_in", "W_out"):
        np.testing.assert_array_equal(a[name], b[name])
