"""The abrupt-learning paper's model families (paper-spec section 3): ``plrnn``, ``gru`` and ``lstm``.

One step of each against the update written out in plain Python arithmetic on a network of two
units with hand-set parameters; ``run`` against a Python loop of ``step``; the PLRNN's masked ``W``
diagonal (no effect, zero gradient, still zero after training through ``rnnsweep run``); the LSTM's
``(h, c)`` state through ``run``, ``step`` and ``velocity``; parameter shapes and store dimensions;
torch-style initialisation; the settings' errors; a gradient step of the trainer's epoch loss for the
gated families. The cross-check against torch's own ``nn.GRU``/``nn.LSTM`` is marked slow (it imports
torch, an optional dependency).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import zarr

from rnnsweep import cli, schema, settings
from rnnsweep.models import get_family
from rnnsweep.models.gru import GRU
from rnnsweep.models.lstm import LSTM
from rnnsweep.models.plrnn import PLRNN
from rnnsweep.tasks.dcd import DCD
from rnnsweep.train import CellHyper, TrainConfig, Trainer

FAMILIES = {"plrnn": PLRNN, "gru": GRU, "lstm": LSTM}


def sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


def as_lists(params):
    return {k: np.asarray(v, dtype=np.float64).tolist() for k, v in params.items()}


# --- one step by hand -------------------------------------------------------------------------------
def test_plrnn_step_equals_the_update_by_hand():
    net = PLRNN(n_neurons=2, n_inputs=1, n_outputs=1, dt_ms=5.0)
    params = {"A": jnp.array([0.5, 0.8]),
              "W": jnp.array([[7.0, 0.3], [-0.4, -9.0]]),  # the diagonal (7, -9) must have no effect
              "C": jnp.array([[1.0], [-2.0]]), "h": jnp.array([0.1, -0.2]),
              "W_out": jnp.array([[1.5, -0.5]]), "b_out": jnp.array([0.25])}
    x = [[0.7, -0.3], [-0.5, 0.4]]  # two trials
    s = [[0.6], [-1.0]]
    new, out = jax.jit(net.step)(params, jnp.array(x), jnp.array(s))
    p = as_lists(params)
    for b in range(2):
        for i in range(2):
            expected = p["A"][i] * x[b][i] + p["C"][i][0] * s[b][0] + p["h"][i]
            expected += sum(p["W"][i][j] * max(x[b][j], 0.0) for j in range(2) if j != i)
            assert float(new[b, i]) == pytest.approx(expected, abs=1e-6)
        readout = sum(p["W_out"][0][j] * x[b][j] for j in range(2)) + p["b_out"][0]
        assert float(out[b, 0]) == pytest.approx(readout, abs=1e-6)  # read from the state before the step
    # trial 0 worked out on paper: 0.5*0.7 + 0.3*relu(-0.3) + 1*0.6 + 0.1 and 0.8*(-0.3) - 0.4*0.7 - 2*0.6 - 0.2
    np.testing.assert_allclose(np.asarray(new[0]), [1.05, -1.92], atol=1e-6)
    assert float(out[0, 0]) == pytest.approx(1.45, abs=1e-6)


GRU_PARAMS = {  # rows in torch's order r, z, n (two units each)
    "W_ih": [[0.5], [-0.3], [0.8], [0.1], [-0.6], [0.9]],
    "W_hh": [[0.2, -0.4], [0.7, 0.1], [-0.5, 0.3], [0.6, -0.2], [0.4, 0.8], [-0.9, 0.5]],
    "b_ih": [0.1, -0.2, 0.3, 0.05, -0.15, 0.25],
    "b_hh": [-0.3, 0.2, 0.1, -0.1, 0.4, -0.35],
    "W_out": [[1.2, -0.7]], "b_out": [0.05],
}


def test_gru_step_equals_torch_equations_by_hand():
    net = GRU(n_neurons=2, n_inputs=1, n_outputs=1, dt_ms=2.0)
    p = GRU_PARAMS
    h = [[0.3, -0.6], [-0.2, 0.9]]
    s = [[0.7], [-1.1]]
    new, out = jax.jit(net.step)({k: jnp.array(v) for k, v in p.items()}, jnp.array(h), jnp.array(s))
    n_units = 2
    for b in range(2):
        for j in range(n_units):
            def pre(row):
                return p["W_ih"][row][0] * s[b][0] + p["b_ih"][row]

            def rec(row):
                return sum(p["W_hh"][row][k] * h[b][k] for k in range(n_units)) + p["b_hh"][row]

            r = sigmoid(pre(j) + rec(j))
            z = sigmoid(pre(n_units + j) + rec(n_units + j))
            cand = math.tanh(pre(2 * n_units + j) + r * rec(2 * n_units + j))
            assert float(new[b, j]) == pytest.approx((1 - z) * cand + z * h[b][j], abs=1e-6)
        readout = sum(p["W_out"][0][k] * h[b][k] for k in range(n_units)) + p["b_out"][0]
        assert float(out[b, 0]) == pytest.approx(readout, abs=1e-6)


LSTM_PARAMS = {  # rows in torch's order i, f, g, o (two units each)
    "W_ih": [[0.5], [-0.3], [0.8], [0.1], [-0.6], [0.9], [0.2], [-0.7]],
    "W_hh": [[0.2, -0.4], [0.7, 0.1], [-0.5, 0.3], [0.6, -0.2], [0.4, 0.8], [-0.9, 0.5], [0.3, 0.3],
             [-0.1, 0.6]],
    "b_ih": [0.1, -0.2, 0.3, 0.05, -0.15, 0.25, 0.0, 0.4],
    "b_hh": [-0.3, 0.2, 0.1, -0.1, 0.4, -0.35, 0.2, -0.05],
    "W_out": [[1.2, -0.7]], "b_out": [0.05],
}


def test_lstm_step_equals_torch_equations_by_hand():
    net = LSTM(n_neurons=2, n_inputs=1, n_outputs=1, dt_ms=2.0)
    p = LSTM_PARAMS
    h = [[0.3, -0.6], [-0.2, 0.9]]
    c = [[1.5, -0.4], [0.2, -2.0]]
    s = [[0.7], [-1.1]]
    (new_h, new_c), out = jax.jit(net.step)({k: jnp.array(v) for k, v in p.items()}, (jnp.array(h), jnp.array(c)),
                                            jnp.array(s))
    n_units = 2
    for b in range(2):
        for j in range(n_units):
            def gate(g):
                row = g * n_units + j
                return (p["W_ih"][row][0] * s[b][0] + p["b_ih"][row]
                        + sum(p["W_hh"][row][k] * h[b][k] for k in range(n_units)) + p["b_hh"][row])

            i, f, g, o = sigmoid(gate(0)), sigmoid(gate(1)), math.tanh(gate(2)), sigmoid(gate(3))
            c_next = f * c[b][j] + i * g
            assert float(new_c[b, j]) == pytest.approx(c_next, abs=1e-6)
            assert float(new_h[b, j]) == pytest.approx(o * math.tanh(c_next), abs=1e-6)
        readout = sum(p["W_out"][0][k] * h[b][k] for k in range(n_units)) + p["b_out"][0]
        assert float(out[b, 0]) == pytest.approx(readout, abs=1e-6)


# --- run = a loop of step; the LSTM's pytree state --------------------------------------------------
# Test data come from numpy: each jax.random op in a program costs about 0.3 s of XLA compilation.
def normal(rng, *shape):
    return jnp.asarray(rng.standard_normal(shape), jnp.float32)


def random_params(net, rng, scale=0.5):
    """Parameters of the family's shapes, every element (W's diagonal too) N(0, scale^2)."""
    return {name: scale * normal(rng, *shape) for name, shape in net.param_shapes().items()}


def random_state(net, rng, n_trials):
    """A nonzero state of the family's own structure (the initial states are all zero)."""
    template = jax.eval_shape(lambda: net.initial_state(jax.random.PRNGKey(0), n_trials))
    return jax.tree_util.tree_map(lambda x: normal(rng, *x.shape), template)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_run_equals_a_loop_of_step(family):
    net = FAMILIES[family](n_neurons=3, n_inputs=2, n_outputs=2, dt_ms=5.0)

    @jax.jit
    def both(params, state0, inputs):
        rates, outputs = net.run(params, inputs, None, state0)
        state, looped = state0, []
        for t in range(4):  # a Python loop, unrolled at trace time: step by step
            looped.append(jax.tree_util.tree_leaves(state)[0])
            state, out = net.step(params, state, inputs[t])
            looped.append(out)
        return rates, outputs, looped

    rng = np.random.default_rng(1)
    rates, outputs, looped = both(random_params(net, rng), random_state(net, rng, 2), normal(rng, 4, 2, 2))
    assert rates.shape == (4, 2, 3) and outputs.shape == (4, 2, 2)
    for t in range(4):
        # rates: x for the PLRNN, h for the gated families
        np.testing.assert_allclose(rates[t], looped[2 * t], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(outputs[t], looped[2 * t + 1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(rates[0], rates[3])  # the state moved


def lstm_numpy(p, h, c, x):
    """One LSTM step in float64 numpy (torch's equations, gate order i, f, g, o)."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    a = x @ p["W_ih"].T + p["b_ih"] + h @ p["W_hh"].T + p["b_hh"]
    i, f, g, o = np.split(a, 4, axis=-1)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    c = sig(f) * c + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c), c


def test_lstm_state_pytree_flows_through_run_step_and_velocity():
    net = LSTM(n_neurons=3, n_inputs=1, n_outputs=1, dt_ms=4.0)
    inputs = jnp.array([[[0.5], [-1.0]], [[0.0], [2.0]], [[1.0], [0.3]]])
    u = jnp.array([[0.4], [-0.4]])

    @jax.jit
    def everything(params, state):
        zero = net.initial_state(None, 2)
        rates, _ = net.run(params, inputs, None, state)
        shifted, _ = net.run(params, inputs, None, (state[0], state[1] + 1.0))
        stepped = state
        for t in range(3):
            stepped, _ = net.step(params, stepped, inputs[t])
        one, _ = net.step(params, state, u)
        velocity = net.velocity(params, state, u)
        grad_c0 = jax.grad(lambda c: jnp.sum(net.run(params, inputs, None, (state[0], c))[1] ** 2))(state[1])
        return zero, state, rates, shifted, stepped, one, velocity, grad_c0

    rng = np.random.default_rng(2)
    params = random_params(net, rng)
    zero, state, rates, shifted, stepped, (h1, c1), (vh, vc), grad_c0 = everything(params, random_state(net, rng, 2))
    assert isinstance(zero, tuple) and len(zero) == 2 and zero[0].shape == zero[1].shape == (2, 3)
    assert not np.any(np.asarray(zero[0])) and not np.any(np.asarray(zero[1]))
    # the cell state is carried through the scan and the steps: both equal a numpy loop over (h, c)
    h, c = (np.asarray(x, np.float64) for x in state)
    for t in range(3):
        np.testing.assert_allclose(rates[t], h, rtol=1e-5, atol=1e-6)
        h, c = lstm_numpy(params, h, c, np.asarray(inputs[t], np.float64))
    assert isinstance(stepped, tuple) and len(stepped) == 2
    np.testing.assert_allclose(stepped[0], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stepped[1], c, rtol=1e-5, atol=1e-6)
    assert not np.allclose(shifted[1:], rates[1:], atol=1e-3)  # h at later steps depends on c0
    # velocity: the state change of one noise-free step per ms, for h and c alike
    np.testing.assert_allclose(vh, (np.asarray(h1) - np.asarray(state[0])) / 4.0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vc, (np.asarray(c1) - np.asarray(state[1])) / 4.0, rtol=1e-5, atol=1e-6)
    assert not np.allclose(vh, vc)
    # gradients reach the initial cell state through the scan
    assert np.all(np.isfinite(grad_c0)) and np.any(np.asarray(grad_c0) != 0)


# --- the PLRNN's W diagonal ---------------------------------------------------------------------------
def test_plrnn_w_diagonal_has_no_effect_and_zero_gradient():
    net = PLRNN(n_neurons=3, n_inputs=1, n_outputs=1, dt_ms=5.0)
    state = jnp.array([[0.5, 1.0, 2.0], [1.5, 0.3, 0.8]])  # positive: every relu passes at the first step

    @jax.jit
    def check(params, inputs):  # params: every element of W, the diagonal too, would matter if it were used
        loss = lambda p: jnp.sum(net.run(p, inputs, None, state)[1] ** 2)  # noqa: E731
        moved = dict(params, W=params["W"] + 10.0 * jnp.eye(3))
        outputs = net.run(params, inputs, None, state)[1]
        return jax.grad(loss)(params)["W"], outputs, net.run(moved, inputs, None, state)[1]

    rng = np.random.default_rng(3)
    params = random_params(net, rng)
    assert np.all(np.diag(np.asarray(params["W"])) != 0)
    grad_w, outputs, outputs_moved = check(params, normal(rng, 4, 2, 1))
    np.testing.assert_array_equal(np.diag(np.asarray(grad_w)), 0.0)
    assert np.all(np.asarray(grad_w)[~np.eye(3, dtype=bool)] != 0)
    np.testing.assert_array_equal(outputs_moved, outputs)


PLRNN_SWEEP = """
name = "plrnn_da"
root_seed = 0
[model]
family = "plrnn"
n_neurons = 5
[task]
name = "delayed_activation"
dt_ms = 5.0
delay_ms = 20.0
response_ms = 15.0
n_trials = 4
[train]
optimizer = "adam"
epochs = "10"
chunk_epochs = 10
[grid]
seed = 2
lr = [0.05]
"""


def test_plrnn_trains_through_rnnsweep_run_and_its_w_diagonal_stays_zero(tmp_path):
    sweep = tmp_path / "plrnn.toml"
    sweep.write_text(PLRNN_SWEEP)
    store = tmp_path / "p.zarr"
    assert cli.main(["run", str(sweep), "--store", str(store), "--quiet"]) == 0
    group = zarr.open_group(str(store / "plrnn_da"), mode="r")
    assert np.all(np.asarray(group["status"][...]) == schema.Status.DONE)
    assert tuple(group[schema.param_array("W")].metadata.dimension_names) == ("seed", "lr", "neuron", "neuron_pre")
    assert group[schema.param_array("A")].shape == (2, 1, 5) and group[schema.param_array("C")].shape == (2, 1, 5, 1)
    w = np.asarray(group[schema.param_array("W")][...])
    assert np.all(np.isfinite(w))
    np.testing.assert_array_equal(np.diagonal(w, axis1=-2, axis2=-1), 0.0)
    assert np.all(w[..., ~np.eye(5, dtype=bool)] != 0)
    assert np.all(np.asarray(group[schema.param_array("h")][...]) != 0)  # h starts at 0: the cells trained
    loss, grad_norm = np.asarray(group["loss"][...]), np.asarray(group["grad_norm"][...])
    assert loss.shape == (2, 1, 10) and np.all(np.isfinite(loss))
    # epoch 0 has grad_norm 0: x[0] = 0, h = 0 and the task's input is silent, so the state stays at 0 and
    # A and W get no gradient until h has moved; from epoch 1 on they do
    assert np.all(grad_norm[..., 0] == 0) and np.all(grad_norm[..., 1:] > 0)


# --- the gated families under the trainer -----------------------------------------------------------
@pytest.mark.parametrize("family", ["gru", "lstm"])
def test_gated_families_take_a_trainer_gradient_step(family):
    task = DCD(dt_ms=10.0, cue_ms=20.0, delay_ms=20.0, response_ms=20.0, trials_per_cue=2)
    net = FAMILIES[family](n_neurons=4, n_inputs=task.n_inputs, n_outputs=task.n_outputs, dt_ms=task.dt_ms)
    trainer = Trainer(net, task, TrainConfig(optimizer="adam"))
    timing = task.timing({})
    n_steps = int(task.n_steps(timing))
    hyper = CellHyper(lr=jnp.float32(0.05), timing=timing, n_epochs=jnp.int32(2), init_key=jax.random.PRNGKey(0),
                      data_key=jax.random.PRNGKey(1))

    @jax.jit
    def one_step(hyper):
        params = trainer.init_cell(hyper).params
        loss_fn = lambda p: trainer.epoch_loss(p, hyper, jnp.int32(0), n_steps)[0]  # noqa: E731
        loss, grads = jax.value_and_grad(loss_fn)(params)
        opt = trainer.optimizer(hyper.lr)
        updates, _ = opt.update(grads, opt.init(params), params)
        return params, loss, grads, loss_fn(optax.apply_updates(params, updates))

    params, loss, grads, loss_after = one_step(hyper)
    assert set(grads) == set(params) and np.isfinite(float(loss))
    for name, g in grads.items():
        assert np.all(np.isfinite(g)) and np.any(np.asarray(g) != 0), name
    assert float(loss_after) < float(loss)


# --- shapes, initialisation, settings ---------------------------------------------------------------
def check_plrnn_init(p, net):
    n = net.n_neurons
    assert net.init_a_min <= p["A"].min() < net.init_a_min + 0.02
    assert net.init_a_max - 0.02 < p["A"].max() <= net.init_a_max
    np.testing.assert_array_equal(np.diag(p["W"]), 0.0)
    np.testing.assert_allclose(p["W"][~np.eye(n, dtype=bool)].std(), net.init_w_std, rtol=0.03)
    np.testing.assert_array_equal(p["h"], 0.0)
    for name, bound in (("C", 1 / math.sqrt(net.n_inputs)), ("W_out", 1 / math.sqrt(n)), ("b_out", 1 / math.sqrt(n))):
        assert np.abs(p[name]).max() <= bound, name
        if p[name].size >= 100:
            assert np.abs(p[name]).max() > 0.95 * bound, name
            np.testing.assert_allclose(p[name].std(), bound / math.sqrt(3), rtol=0.1)


def check_torch_init(p, net):
    bound = 1 / math.sqrt(net.n_neurons)
    for name, value in p.items():
        assert np.abs(value).max() <= bound, name
        if value.size >= 100:
            assert np.abs(value).max() > 0.95 * bound, name
            np.testing.assert_allclose(value.std(), bound / math.sqrt(3), rtol=0.1)
    assert not np.allclose(p["b_ih"], p["b_hh"])
    assert not np.allclose(p["W_hh"][: net.n_neurons], p["W_hh"][net.n_neurons: 2 * net.n_neurons])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_init_agrees_with_param_shapes_and_dims(family):
    assert get_family(family) is FAMILIES[family]
    # the PLRNN with non-default init settings: they must reach init
    extra = {"init_a_min": 0.3, "init_a_max": 0.7, "init_w_std": 0.05} if family == "plrnn" else {}
    net = FAMILIES[family](n_neurons=100, n_inputs=3, n_outputs=2, dt_ms=5.0, **extra)
    shapes, dims = net.param_shapes(), net.param_dims()
    params, state = jax.jit(lambda k: (net.init(k), net.initial_state(k, 5)))(jax.random.PRNGKey(3))
    params = {name: np.asarray(value) for name, value in params.items()}
    assert set(shapes) == set(dims) == set(params)
    assert set(net.recurrent_params) <= set(params)
    size_of = {}
    for name, shape in shapes.items():
        assert params[name].shape == shape and params[name].dtype == np.float32, name
        assert len(dims[name]) == len(shape) and len(set(dims[name])) == len(shape), name
        for dim, size in zip(dims[name], shape):
            assert size_of.setdefault(dim, size) == size, f"{name}: dimension {dim} has two sizes"
    assert size_of["neuron"] == 100 and size_of["output"] == 2 and size_of["input"] == 3
    # the initial state: zeros, state_size floats per trial
    leaves = jax.tree_util.tree_leaves(state)
    assert sum(x.size for x in leaves) == 5 * net.state_size() and not any(np.any(np.asarray(x)) for x in leaves)
    assert net.flops_per_step(8) == 2 * net.flops_per_step(4) > 0
    (check_plrnn_init if family == "plrnn" else check_torch_init)(params, net)


@pytest.mark.parametrize("family, table, field", [
    ("plrnn", {"n_neurons": 0}, "model.n_neurons"),
    ("plrnn", {"init_a_min": 0.9, "init_a_max": 0.5}, "model.init_a_max"),
    ("plrnn", {"init_w_std": -0.1}, "model.init_w_std"),
    ("gru", {"n_neurons": -3}, "model.n_neurons"),
    ("lstm", {"n_neurons": 0}, "model.n_neurons"),
    ("lstm", {"n_hidden": 8}, "model.n_hidden"),
])
def test_impossible_settings_name_the_field(family, table, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        settings.build(FAMILIES[family], table, "model", fixed={"n_inputs": 1, "n_outputs": 1, "dt_ms": 5.0})
    with pytest.raises(ValueError, match=r"model\.dt_ms"):
        settings.build(FAMILIES[family], {}, "model", fixed={"n_inputs": 1, "n_outputs": 1, "dt_ms": 0.0})


# --- against torch itself (optional dependency, slow to import) -------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("family", ["gru", "lstm"])
def test_gated_families_match_torch(family):
    torch = pytest.importorskip("torch")
    n, i, o, steps, trials = 5, 3, 2, 6, 4
    net = FAMILIES[family](n_neurons=n, n_inputs=i, n_outputs=o, dt_ms=1.0)
    params = net.init(jax.random.PRNGKey(0))
    layer = (torch.nn.GRU if family == "gru" else torch.nn.LSTM)(i, n).double()
    with torch.no_grad():  # the stored parameters are torch's state_dict, unchanged
        for ours, theirs in (("W_ih", "weight_ih_l0"), ("W_hh", "weight_hh_l0"), ("b_ih", "bias_ih_l0"),
                             ("b_hh", "bias_hh_l0")):
            getattr(layer, theirs).copy_(torch.tensor(np.asarray(params[ours], dtype=np.float64)))
    inputs = np.random.default_rng(4).standard_normal((steps, trials, i)).astype(np.float32).astype(np.float64)
    hidden, _ = layer(torch.tensor(inputs))  # (steps, trials, n): the states after each step
    rates, outputs = net.run(params, jnp.asarray(inputs, jnp.float32), None, net.initial_state(None, trials))
    # rates[t] is the state before step t: 0, then torch's output t - 1
    np.testing.assert_array_equal(rates[0], 0.0)
    np.testing.assert_allclose(rates[1:], hidden.detach().numpy()[:-1], rtol=1e-4, atol=1e-5)
    w_out, b_out = np.asarray(params["W_out"], np.float64), np.asarray(params["b_out"], np.float64)
    np.testing.assert_allclose(outputs[1:], hidden.detach().numpy()[:-1] @ w_out.T + b_out, rtol=1e-4, atol=1e-5)
