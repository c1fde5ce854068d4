"""Regularisers (TCR, MAR): values and gradients against hand computation, padding, the strength as
traced per-cell data (lambda = 0 is bit-identical to no regulariser; one compiled program serves
every strength), and the sweep file's [regularize] tables and strength axes."""

from __future__ import annotations

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnsweep.models.plrnn import PLRNN
from rnnsweep.regularizers.mar import ManifoldAttractor
from rnnsweep.regularizers.tcr import TemporalConsistency
from rnnsweep.schedule import cell_hypers
from rnnsweep.sweep import SweepError, parse_sweep
from rnnsweep.train import Trainer


def test_tcr_value_and_gradient_by_hand():
    rng = np.random.default_rng(0)
    rates = rng.normal(size=(6, 3, 4))  # T=6, B=3, N=4
    n_steps = 5  # the last step is padding
    reg = TemporalConsistency(n_units=2)
    diffs = [((rates[t, :, :2] - rates[t - 1, :, :2]) ** 2).sum(-1).mean() for t in range(1, n_steps)]
    assert float(reg.penalty(None, {}, jnp.asarray(rates), jnp.int32(n_steps))) == pytest.approx(np.mean(diffs), rel=1e-6)
    # d/dx_i[t] of mean_t mean_b sum_i (x[t]-x[t-1])^2 = 2/(n_d B) ((x[t]-x[t-1]) - (x[t+1]-x[t]))
    grad = np.asarray(jax.grad(lambda r: reg.penalty(None, {}, r, jnp.int32(n_steps)))(jnp.asarray(rates)))
    n_d, b = n_steps - 1, rates.shape[1]
    expected = np.zeros_like(rates)
    for t in range(1, n_steps):
        d = rates[t, :, :2] - rates[t - 1, :, :2]
        expected[t, :, :2] += 2 * d / (n_d * b)
        expected[t - 1, :, :2] -= 2 * d / (n_d * b)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)
    assert np.all(grad[:, :, 2:] == 0) and np.all(grad[n_steps:] == 0)  # other units and padding: no gradient
    all_units = TemporalConsistency().penalty(None, {}, jnp.asarray(rates), jnp.int32(n_steps))
    assert float(all_units) > float(reg.penalty(None, {}, jnp.asarray(rates), jnp.int32(n_steps)))


def test_mar_value_and_gradient_by_hand():
    rng = np.random.default_rng(1)
    a, w, h = rng.normal(size=3), rng.normal(size=(3, 3)), rng.normal(size=3)
    params = {"A": jnp.asarray(a), "W": jnp.asarray(w), "h": jnp.asarray(h), "C": jnp.ones((3, 1))}
    reg = ManifoldAttractor(n_units=2)
    by_hand = sum((a[i] - 1) ** 2 + h[i] ** 2 + sum(w[i, j] ** 2 for j in range(3) if j != i) for i in range(2))
    assert float(reg.penalty(None, params, None, None)) == pytest.approx(by_hand, rel=1e-6)
    grads = jax.grad(lambda p: reg.penalty(None, p, None, None))(params)
    np.testing.assert_allclose(grads["A"], [2 * (a[0] - 1), 2 * (a[1] - 1), 0], rtol=1e-6)
    np.testing.assert_allclose(grads["h"], [2 * h[0], 2 * h[1], 0], rtol=1e-6)
    expected_w = 2 * w * (1 - np.eye(3))
    expected_w[2] = 0  # row 2 is not regulated
    np.testing.assert_allclose(grads["W"], expected_w, rtol=1e-6)
    assert np.all(np.asarray(grads["C"]) == 0)


SWEEP = textwrap.dedent("""
    name = "reg"
    [task]
    name = "delayed_addition"
    trial_ms = 24
    n_trials = 16
    [model]
    family = "plrnn"
    n_neurons = 6
    [train]
    optimizer = "adam"
    lr = 0.01
    epochs = 6
    chunk_epochs = 6
    [grid]
    seed = 2
""")


def _trained(text: str):
    sweep = parse_sweep(text)
    trainer = Trainer(sweep.model, sweep.task, sweep.train, sweep.regularizers)
    cells = sweep.cells()
    hyper = cell_hypers(sweep, cells)
    run = jax.jit(jax.vmap(lambda h: trainer.train_cell(h, n_steps_max=cells[0].n_steps, n_epochs_max=6)))
    state, curves = run(jax.tree_util.tree_map(jnp.asarray, hyper))
    return sweep, run, state, curves, hyper


def _epoch_gradient(text: str):
    """Loss and gradient of the first cell's first epoch, vmapped over the cells as in a block."""
    sweep = parse_sweep(text)
    trainer = Trainer(sweep.model, sweep.task, sweep.train, sweep.regularizers)
    cells = sweep.cells()

    def one(h):
        params = trainer.model.init(h.init_key)
        return jax.value_and_grad(lambda p: trainer.epoch_loss(p, h, jnp.int32(0), cells[0].n_steps)[0])(params)

    return jax.jit(jax.vmap(one))(jax.tree_util.tree_map(jnp.asarray, cell_hypers(sweep, cells)))


def test_zero_strength_is_no_regulariser_and_one_program_serves_every_strength():
    both = SWEEP + "[regularize.tcr]\nn_units = 3\n[regularize.mar]\nn_units = 3\n"
    # an epoch's loss and gradient at strength 0: bit for bit those without the regularisers. (Over many
    # epochs, to float rounding only: XLA fuses the epoch loop's body differently once the program holds
    # the zero penalties, which moved a few elements by 1 ulp after 3 epochs with MAR on this CPU.)
    (loss0, grads0), (loss1, grads1) = _epoch_gradient(SWEEP), _epoch_gradient(both)
    np.testing.assert_array_equal(np.asarray(loss1), np.asarray(loss0))
    for k in grads0:
        np.testing.assert_array_equal(np.asarray(grads1[k]), np.asarray(grads0[k]), err_msg=k)
    # one compiled program for every strength of either: each changes the results, none compiles again
    sweep, run, zero, zero_curves, hyper = _trained(both)
    assert [r.name for r in sweep.regularizers] == ["tcr", "mar"]
    for name in ("tcr", "mar"):
        strengths = {n: np.full(2, 0.5 if n == name else 0.0, np.float32) for n in ("tcr", "mar")}
        state, curves = run(jax.tree_util.tree_map(jnp.asarray, hyper._replace(strengths=strengths)))
        assert not np.allclose(np.asarray(state.params["A"]), np.asarray(zero.params["A"])), name
        assert np.all(np.asarray(curves)[:, 0, 0] > np.asarray(zero_curves)[:, 0, 0]), name  # the penalty is in the loss
    assert run._cache_size() == 1


@pytest.mark.parametrize("name, axis", [("tcr", "lambda_tcr"), ("mar", "lambda_mar")])
def test_a_strength_axis_gives_each_cell_its_coordinate(name, axis):
    grid_sweep = parse_sweep(SWEEP + f"{axis} = [0.0, 0.5]\n")
    assert [r.name for r in grid_sweep.regularizers] == [name]
    strengths = cell_hypers(grid_sweep, grid_sweep.cells()).strengths[name]
    assert sorted(set(strengths.tolist())) == [0.0, 0.5]
    assert grid_sweep.canonical()["regularize"] == {name: {"strength": 0.0, "n_units": 0}}
    assert "regularize" not in parse_sweep(SWEEP).canonical()  # the stored form of a sweep without any


@pytest.mark.parametrize("extra, message", [
    ("[regularize.mar]\nstrength = 1.0\n", "regularize.mar: needs a family with parameters A"),
    ("[regularize.tcr]\nn_units = 101\n", "regularize.tcr.n_units: 101 memory units, but the network has only 100"),
    ("[regularize.tcr]\nstrength = -1.0\n", "regularize.tcr.strength: must be a non-negative number"),
    ("[regularize.tcr]\nstrength = 1.0\n[grid]\nlambda_tcr = [0.0, 1.0]\n", "regularize.tcr.strength: also given as grid axis"),
    ("[grid]\nlambda_tcr = [0.0, -1.0]\n", "grid.lambda_tcr: strengths must be >= 0"),
    ("[regularize.l2]\nstrength = 1.0\n", "regularize.l2: unknown regularizer 'l2'"),
    ("[regularize.tcr]\nunits = 3\n", "regularize.tcr.units: unknown setting"),
])
def test_bad_regularizer_settings_name_the_field(extra, message):
    base = 'name = "x"\n[train]\nlr = 0.1\n'
    text = base + extra
    if "[grid]" not in extra:
        text += "[grid]\nseed = 1\n"
    else:
        text = text.replace("[grid]\n", "[grid]\nseed = 1\n")
    with pytest.raises(SweepError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_sweep(text)


def test_mar_pulls_the_regulated_units_towards_a_plane_attractor():
    net = PLRNN(n_neurons=4, n_inputs=2, n_outputs=1)
    params = net.init(jax.random.PRNGKey(0))
    reg = ManifoldAttractor(n_units=2)
    grads = jax.grad(lambda p: reg.penalty(net, p, None, None))(params)
    stepped = {k: params[k] - 0.25 * grads[k] for k in params}
    assert float(reg.penalty(net, stepped, None, None)) < float(reg.penalty(net, params, None, None))
    np.testing.assert_array_equal(np.asarray(stepped["A"][2:]), np.asarray(params["A"][2:]))


def test_rnnsweep_list_shows_the_regularisers_and_their_axes():
    from rnnsweep.catalog import catalog, format_catalog

    entries = catalog()
    assert entries["regularizers"]["tcr"]["axis"] == "lambda_tcr"
    assert entries["regularizers"]["mar"]["settings"] == {"strength": 0.0, "n_units": 0}
    text = format_catalog(entries)
    assert "REGULARIZERS ([regularize.NAME] tables" in text and "grid axis: lambda_mar (the strength)" in text
