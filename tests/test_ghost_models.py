"""The ghost and abrupt-learning papers' network options: the trainable rank as a grid axis (masked
columns), rank N against a full matrix, the latent readout, the gain-g initialisation, and the
output confidence (the L1 projection of the readout and its schedule) with the trainer's hooks
(``constrain`` at the start of every epoch, ``frozen_params`` never moved); then every new axis
(rank, init_gain, lowered_confidence, lambda_tcr) through ``rnnsweep run`` and ``analyze``."""

from __future__ import annotations

import json
import math
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import zarr

from rnnsweep import cli, schema, store
from rnnsweep.models.leaky_rate import xavier_uniform
from rnnsweep.models.leaky_rnn import LeakyRNN
from rnnsweep.models.lowrank_rnn import LowRankRNN
from rnnsweep.sweep import SweepError, parse_sweep
from rnnsweep.tasks.delayed_activation import DelayedActivation
from rnnsweep.train import CellHyper, TrainConfig, Trainer

N = 6


def test_rank_n_reproduces_the_full_rank_network_for_the_same_matrix():
    key = jax.random.PRNGKey(3)
    full = LeakyRNN(n_neurons=N, n_inputs=1, n_outputs=1, dt_ms=5.0, noise_std=0.0)
    low = LowRankRNN(n_neurons=N, rank=N, n_inputs=1, n_outputs=1, dt_ms=5.0, noise_std=0.0)
    params = full.init(key, **full.cell_args({}))
    w = 1.5 * jax.random.normal(key, (N, N)) / math.sqrt(N)
    params["W_rec"] = w
    low_params = {k: v for k, v in params.items() if k != "W_rec"}
    low_params.update(m=w, n=jnp.eye(N))  # m n^T = W
    inputs = jax.random.normal(jax.random.PRNGKey(1), (8, 3, 1))
    state0 = full.initial_state(jax.random.PRNGKey(2), 3)
    r_full, o_full = jax.jit(full.run)(params, inputs, None, state0)
    r_low, o_low = jax.jit(low.run)(low_params, inputs, None, state0)
    np.testing.assert_allclose(r_low, r_full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o_low, o_full, rtol=1e-5, atol=1e-6)


def test_a_cells_rank_zeroes_the_other_columns_and_they_stay_zero():
    net = LowRankRNN(n_neurons=N, rank=4, n_inputs=1, n_outputs=1, dt_ms=5.0)
    task = DelayedActivation(delay_ms=20.0, response_ms=10.0, n_trials=8)
    trainer = Trainer(net, task, TrainConfig(optimizer="adam", weight_decay=1e-3))
    timing = {"delay": jnp.int32(4), "response": jnp.int32(2), "post": jnp.int32(0)}
    args = {**{k: jnp.float32(v) for k, v in net.cell_args({}).items()}, "rank": jnp.float32(2)}
    hyper = CellHyper(lr=jnp.float32(0.05), timing=timing, n_epochs=jnp.int32(5), init_key=jax.random.PRNGKey(0),
                      data_key=jax.random.PRNGKey(1), model_args=args)
    state, _ = jax.jit(lambda h: trainer.train_cell(h, n_steps_max=6, n_epochs_max=5))(hyper)
    for name in ("m", "n"):
        value = np.asarray(state.params[name])
        assert np.all(value[:, 2:] == 0), name  # exactly zero: no gradient, and decay of 0 is 0
        assert np.all(value[:, :2] != 0), name
    full = LowRankRNN(n_neurons=N, rank=4, n_inputs=1, n_outputs=1, dt_ms=5.0).init(jax.random.PRNGKey(0))
    masked = net.init(jax.random.PRNGKey(0), rank=2)
    np.testing.assert_array_equal(masked["m"][:, :2], full["m"][:, :2])  # nested: the first columns of the draw


def test_latent_readout_by_hand_and_its_confidence_never_trains():
    net = LowRankRNN(n_neurons=3, rank=1, n_inputs=1, n_outputs=1, dt_ms=5.0, readout_from="latent", confidence=10.0,
                     latent_threshold=1.0)
    params = net.init(jax.random.PRNGKey(0), **net.cell_args({}))
    assert "W_out" not in params and float(params["confidence"]) == 10.0
    r = jnp.array([[0.2, -0.4, 0.9]])
    kappa = float(jnp.dot(params["n"][:, 0], r[0]))
    expected = 1 / (1 + math.exp(-10.0 * (kappa - 1.0)))
    assert float(net.read(params, r)[0, 0]) == pytest.approx(expected, rel=1e-5)
    task = DelayedActivation(delay_ms=10.0, response_ms=10.0, n_trials=2)
    trainer = Trainer(net, task, TrainConfig(optimizer="adam", weight_decay=0.1))
    timing = {"delay": jnp.int32(2), "response": jnp.int32(2), "post": jnp.int32(0)}
    args = {k: jnp.float32(v) for k, v in net.cell_args({"lowered_confidence": 0.5, "confidence_epoch": 3}).items()}
    hyper = CellHyper(lr=jnp.float32(0.1), timing=timing, n_epochs=jnp.int32(3), init_key=jax.random.PRNGKey(0),
                      data_key=jax.random.PRNGKey(1), model_args=args)
    run = jax.jit(lambda h: trainer.train_cell(h, n_steps_max=4, n_epochs_max=4))
    state, _ = run(hyper)
    assert float(state.params["confidence"]) == 10.0  # epochs 0-2: before the schedule's epoch 3; never trained
    state, _ = run(hyper._replace(n_epochs=jnp.int32(4)))
    assert float(state.params["confidence"]) == 0.5  # epoch 3 ran with the lowered confidence


def test_gain_initialisation():
    key = jax.random.PRNGKey(7)
    net = LeakyRNN(n_neurons=200, n_inputs=1, n_outputs=1, dt_ms=5.0)
    default = net.init(key)["W_rec"]
    # g = 0 is the Xavier-uniform initialisation, as before the setting existed
    k_rec = jax.random.split(key, 6)[2]
    np.testing.assert_array_equal(default, xavier_uniform(k_rec, 200, 200, jnp.float32) * (1 - jnp.eye(200)))
    strong = net.init(key, init_gain=3.0)["W_rec"]
    assert np.all(np.diag(np.asarray(strong)) == 0)
    off = np.asarray(strong)[~np.eye(200, dtype=bool)]
    assert off.std() == pytest.approx(3.0 / math.sqrt(200), rel=0.02)
    half = LeakyRNN(n_neurons=200, n_inputs=1, n_outputs=1, dt_ms=5.0, init_gain=1.5).init(key)["W_rec"]
    np.testing.assert_allclose(half, np.asarray(strong) / 2, rtol=1e-6)  # one draw, scaled by g


def test_confidence_projection_and_schedule():
    net = LeakyRNN(n_neurons=4, n_inputs=1, n_outputs=2, dt_ms=5.0, readout_norm="l1", confidence=0.0,
                   lowered_confidence=3.0, confidence_epoch=5)
    params = net.init(jax.random.PRNGKey(0))
    args = net.cell_args({})
    before = net.constrain(params, jnp.int32(4), **args)
    for k in params:
        np.testing.assert_array_equal(before[k], params[k])  # c = 0 before epoch 5: the plain readout
    after = net.constrain(params, jnp.int32(5), **args)
    w, b = np.asarray(params["W_out"]), np.asarray(params["b_out"])
    norms = np.abs(w).sum(axis=1)
    np.testing.assert_allclose(np.abs(np.asarray(after["W_out"])).sum(axis=1), [3.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(after["b_out"], b * 3.0 / norms, rtol=1e-6)  # the bias scaled by the same factor
    np.testing.assert_array_equal(after["W_rec"], params["W_rec"])
    # the output is phi(c (w.r + b) / ||w||_1)
    r = jnp.array([[0.1, -0.5, 0.3, 0.7]])
    z = (w @ np.asarray(r[0]) + b) * 3.0 / norms
    np.testing.assert_allclose(net.read(after, r)[0], 1 / (1 + np.exp(-z)), rtol=1e-5)


def test_confidence_gradient_is_the_plain_readouts_at_the_projected_weights():
    """The reference rescales the readout under no_grad: the norm is outside the gradient."""
    net = LeakyRNN(n_neurons=4, n_inputs=1, n_outputs=1, dt_ms=5.0, readout_norm="l1", confidence=0.5)
    plain = LeakyRNN(n_neurons=4, n_inputs=1, n_outputs=1, dt_ms=5.0)
    task = DelayedActivation(delay_ms=10.0, response_ms=10.0, n_trials=2)
    timing = {"delay": jnp.int32(2), "response": jnp.int32(2), "post": jnp.int32(0)}
    hyper = CellHyper(lr=jnp.float32(0.1), timing=timing, n_epochs=jnp.int32(1), init_key=jax.random.PRNGKey(0),
                      data_key=jax.random.PRNGKey(1), model_args={k: jnp.float32(v) for k, v in net.cell_args({}).items()})
    params = net.init(hyper.init_key)
    projected = net.constrain(params, jnp.int32(0), **hyper.model_args)
    grad_plain = jax.jit(jax.grad(lambda p: Trainer(plain, task, TrainConfig()).epoch_loss(p, hyper, jnp.int32(0), 4)[0]))(projected)
    trainer = Trainer(net, task, TrainConfig(optimizer="sgd", momentum=0.0, weight_decay=0.0))
    state, _ = jax.jit(lambda h: trainer.train_cell(h, n_steps_max=4, n_epochs_max=1))(hyper)
    for k in params:  # one SGD step from the projected weights along the plain readout's gradient
        np.testing.assert_allclose(state.params[k], projected[k] - 0.1 * grad_plain[k], rtol=1e-5, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("extra, message", [
    ('family = "leaky_rnn"\nconfidence = 1.0\n', 'model.confidence: the output confidence needs readout_norm = "l1"'),
    ('family = "leaky_rnn"\nreadout_norm = "l1"\nlowered_confidence = 1.0\n', "model.confidence_epoch: give the epoch"),
    ('family = "leaky_rnn"\ninit_gain = -1.0\n', "model.init_gain: must be a non-negative number"),
    ('family = "lowrank_rnn"\nreadout_from = "latent"\n', "model.confidence: the latent readout needs a gain c > 0"),
    ('family = "lowrank_rnn"\nreadout_from = "kappa"\n', "model.readout_from: must be one of"),
    ('family = "lowrank_rnn"\nn_neurons = 4\n[grid]\nseed = 1\nrank = [1, 5]\n', "grid.rank: must be an integer in"),
    ('family = "lowrank_rnn"\n[grid]\nseed = 1\nrank = [1, 1.5]\n', "grid.rank: values must be whole numbers"),
    ('family = "leaky_rnn"\nreadout_norm = "l1"\n[grid]\nseed = 1\nlowered_confidence = [0.5, 1.0]\n',
     "model.confidence_epoch: give the epoch from which the confidence is lowered_confidence (got lowered_confidence = 0.5"),
])
def test_bad_settings_name_the_field(extra, message):
    text = 'name = "x"\n[task]\nname = "delayed_activation"\n[train]\nlr = 0.1\n[model]\n' + extra
    if "[grid]" not in text:
        text += "[grid]\nseed = 1\n"
    with pytest.raises(SweepError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_sweep(text)


RUN_SWEEPS = {
    "leaky": """
        name = "leaky"
        [task]
        name = "delayed_activation"
        delay_ms = 20
        response_ms = 10
        n_trials = 4
        [model]
        family = "leaky_rnn"
        n_neurons = 6
        readout_norm = "l1"
        confidence_epoch = 3
        [train]
        optimizer = "adam"
        lr = 0.05
        epochs = 4
        [regularize.tcr]
        n_units = 3
        [grid]
        seed = 1
        init_gain = [0.0, 2.0]
        lowered_confidence = [0.0, 0.5]
        lambda_tcr = [0.0, 1.0]
    """,
    "lowrank": """
        name = "lowrank"
        [task]
        name = "delayed_activation"
        delay_ms = 20
        response_ms = 10
        n_trials = 4
        [model]
        family = "lowrank_rnn"
        n_neurons = 6
        readout_from = "latent"
        confidence = 10.0
        [train]
        lr = 0.05
        epochs = 4
        [grid]
        seed = 2
        rank = [1, 3]
    """,
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ghost")
    groups = {}
    for name, text in RUN_SWEEPS.items():
        path = root / f"{name}.toml"
        path.write_text(textwrap.dedent(text))
        assert cli.main(["run", str(path), "--store", str(root / f"{name}.zarr"), "--quiet"]) == 0
        groups[name] = zarr.open_group(str(root / f"{name}.zarr" / name), mode="r")
    return root, groups


def test_every_new_axis_reaches_the_store_and_the_cells(runs):
    _, groups = runs
    leaky, lowrank = groups["leaky"], groups["lowrank"]
    assert list(store.coordinates(leaky)) == ["seed", "init_gain", "lowered_confidence", "lambda_tcr"]
    assert np.all(np.asarray(leaky[schema.STATUS][...]) == schema.Status.DONE)
    w_out = np.asarray(leaky[schema.param_array("W_out")][...])  # (seed, gain, lowered c, lambda, output, neuron)
    assert np.isfinite(w_out).all()
    w_rec = np.asarray(leaky[schema.param_array("W_rec")][...])
    assert not np.allclose(w_rec[0, 0], w_rec[0, 1])  # the gain changed the network
    m = np.asarray(lowrank[schema.param_array("m")][...])  # (seed, rank, neuron, rank column)
    assert m.shape[-1] == 3 and np.all(m[:, 0, :, 1:] == 0) and np.all(m[:, 1] != 0)
    np.testing.assert_array_equal(np.asarray(lowrank[schema.param_array("confidence")][...]), 10.0)


def test_analyze_runs_on_the_new_axes(runs):
    root, _ = runs
    for name in RUN_SWEEPS:
        out = root / f"analysis-{name}"
        # the analyses that read these axes (a full analyze with classes ran on ghost_rank_cpu's rank axis; too slow here)
        assert cli.main(["analyze", str(root / f"{name}.zarr"), "--out", str(out), "--quiet",
                         "--only", "confidence_rescue,search_phase" if name == "leaky" else "search_phase"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary, name
    # the leaky sweep lowers its confidence at epoch 3: confidence_rescue reports every lowered value
    rescue = json.loads((root / "analysis-leaky" / "summary.json").read_text())["confidence_rescue"]
    assert {r["lowered_confidence"] for r in rescue["rows"]} == {0.0, 0.5}
    assert all(r["networks"] == 4 for r in rescue["rows"] if r["lr"] is None)  # 2 gains x 2 strengths, 1 seed
    assert (root / "analysis-leaky" / "confidence_rescue.png").is_file()
    assert "confidence_rescue" not in json.loads((root / "analysis-lowrank" / "summary.json").read_text())


def test_confidence_rescue_figure_shows_each_lowered_value():
    from rnnsweep.analysis.confidence_rescue import ConfidenceRescue

    rows = [{"lowered_confidence": c, "lr": None, "selection": sel, "stuck": 4, "recovered": k,
             "fraction": k / 4, "ci95": [max(k / 4 - 0.2, 0), min(k / 4 + 0.2, 1)]}
            for c, k in ((0.0, 3), (0.1, 4), (10.0, 0)) for sel in ("stuck", "learned, then stuck")]
    fig = ConfidenceRescue()._fraction_figure(rows, initial=10.0, name="x")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["plain (c = inf)", "0.1", "10 (unchanged)"]
    heights = [line.get_ydata() for line in ax.get_lines() if len(line.get_ydata()) == 3]
    assert any(np.allclose(h, [0.75, 1.0, 0.0]) for h in heights)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["stuck (n = 12)", "learned, then stuck (n = 12)"]
