"""The feature-geometry analysis (temporal superposition): known answers on hand-built networks, the
two ways of finding feature directions against each other, batching, and the plug-in end to end."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest
import zarr

from rnnsweep import cli
from rnnsweep.analysis import analyze
from rnnsweep.analysis.geometry import (GeometryConfig, Recall, active_units, linear_directions, network_geometry,
                                        regression_directions)
from rnnsweep.analysis.geometry_analysis import angle_figure, source_geometry, transition
from rnnsweep.analysis.study import Study
from rnnsweep.models.linear_rnn import LinearRNN
from rnnsweep.tasks.serial_recall import SerialRecall


def shift_register(n_features: int, lag: int) -> tuple[LinearRNN, dict]:
    """A linear RNN that is an exact delay line: block ``l`` of the state holds the input ``l`` steps
    back (``l = 0 .. lag``), and the readout copies block ``lag``."""
    F, width = n_features, n_features * (lag + 1)
    net = LinearRNN(n_neurons=width, n_inputs=F, n_outputs=F, dt_ms=1.0)
    W = np.zeros((width, width))
    for block in range(lag):
        for f in range(F):
            W[(block + 1) * F + f, block * F + f] = 1.0
    W_in = np.zeros((width, F))
    W_in[np.arange(F), np.arange(F)] = 1.0
    W_out = np.zeros((F, width))
    W_out[np.arange(F), lag * F + np.arange(F)] = 1.0
    return net, {"W": W, "W_in": W_in, "W_out": W_out, "b_out": np.zeros(F)}


def probe(net, task, params, key=0):
    """States, inputs and outputs of one batch of the task, as the trainer would run it."""
    timing = {**task.timing({}), **task.cell_values({})}
    n = int(task.n_steps(timing))

    @jax.jit  # one compiled program (eager dispatch of the scan and the draws is slow)
    def run(p, k):
        trials = task.trials(timing, n, k)
        states, outputs = net.run(p, trials.inputs, None, net.initial_state(jax.random.PRNGKey(1), task.n_trials))
        return states, trials, outputs, task.feature_errors(outputs, trials)

    p = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    states, trials, outputs, errors = run(p, jax.random.PRNGKey(key))
    return np.asarray(states), trials, outputs, np.asarray(errors)


@pytest.mark.parametrize("lag", [0, 2])
def test_shift_register_recalls_perfectly_with_orthogonal_directions_and_a_nilpotent_spectrum(lag):
    F = 2
    net, params = shift_register(F, lag)
    task = SerialRecall(n_features=F, lag=lag, sparsity=0.5, sequence_ms=12, n_sequences=16)
    states, trials, outputs, errors = probe(net, task, params)
    np.testing.assert_array_equal(errors, np.zeros(F))
    recall = Recall(lag, 1, F)
    dirs = linear_directions(params["W"], params["W_in"], recall.window)
    units = active_units(params, params["W"])
    g = network_geometry(dirs, params["W_out"], params["b_out"], params["W"], units, recall)
    n_dirs = F * (lag + 1)
    assert g["n_pairs"] == n_dirs * (n_dirs - 1) // 2
    assert g["mean_abs_cos"] == 0.0 and g["orthogonal_fraction"] == 1.0 and g["obtuse_fraction"] == 0.0
    assert g["angle_hist"].sum() == g["n_pairs"] and g["angle_hist"][GeometryConfig().n_angle_bins // 2] == g["n_pairs"]
    np.testing.assert_array_equal(g["norms"], np.ones((lag + 1, F)))  # every feature at every lag, unit length
    np.testing.assert_array_equal(g["gains"], np.ones((1, F)))
    assert g["represented_fraction"] == 1.0 and g["dims_per_feature"] == 1.0
    np.testing.assert_allclose(np.abs(g["eigenvalues"]), 0.0, atol=1e-12)  # a shift is nilpotent
    assert len(g["eigenvalues"]) == n_dirs and g["spectral_radius"] < 1e-12
    # the regression on the lagged inputs finds the same directions (the system is exactly linear)
    found = regression_directions(states, np.asarray(trials.inputs), recall.window, ridge=0.0)
    np.testing.assert_allclose(found, dirs, atol=1e-5)


def test_width_one_network_has_full_interference():
    F, lag = 3, 1
    net = LinearRNN(n_neurons=1, n_inputs=F, n_outputs=F, dt_ms=1.0)
    params = {k: np.asarray(v, np.float64) for k, v in jax.jit(net.init)(jax.random.PRNGKey(3)).items()}
    recall = Recall(lag, 1, F)
    g = network_geometry(linear_directions(params["W"], params["W_in"], recall.window), params["W_out"],
                         params["b_out"], params["W"], np.ones(1, bool), recall)
    assert g["n_pairs"] == 15  # 6 directions on one line
    assert g["mean_abs_cos"] == pytest.approx(1.0)
    assert g["orthogonal_fraction"] == 0.0
    assert g["angle_hist"][0] + g["angle_hist"][-1] == 15  # every pair at 0 or 180 degrees
    assert g["spectral_radius"] == pytest.approx(abs(float(params["W"][0, 0])))


def test_masked_units_are_left_out_of_the_spectrum_and_the_angles():
    net, params = shift_register(2, 1)  # width 4 ...
    padded = {"W": np.pad(params["W"], ((0, 3), (0, 3))), "W_in": np.pad(params["W_in"], ((0, 3), (0, 0))),
              "W_out": np.pad(params["W_out"], ((0, 0), (0, 3))), "b_out": params["b_out"]}  # ... in 7 units
    units = active_units(padded, padded["W"])
    assert units.tolist() == [True] * 4 + [False] * 3
    recall = Recall(1, 1, 2)
    a = network_geometry(linear_directions(params["W"], params["W_in"], 2), params["W_out"], params["b_out"],
                         params["W"], np.ones(4, bool), recall)
    b = network_geometry(linear_directions(padded["W"], padded["W_in"], 2), padded["W_out"], padded["b_out"],
                         padded["W"], units, recall)
    assert len(b["eigenvalues"]) == 4
    for k in ("mean_abs_cos", "spectral_radius", "dims_per_feature", "rectified_fraction"):
        assert a[k] == b[k]


def test_obtuse_pairs_and_rectified_interference_by_hand():
    # two features in one plane at 180 degrees (an antipodal pair), lag 0, read by relu(+-x)
    dirs = np.array([[[1.0, -1.0], [0.0, 0.0]]])  # (lag, unit, feature)
    W_out = np.array([[1.0, 0.0], [-1.0, 0.0]])
    g = network_geometry(dirs, W_out, np.zeros(2), None, np.ones(2, bool), Recall(0, 1, 2))
    assert g["n_pairs"] == 1 and g["obtuse_fraction"] == 1.0 and g["mean_abs_cos"] == 1.0
    assert g["rectified_fraction"] == 1.0  # each output sees the other feature with weight -1: the ReLU removes it
    assert g["dims_per_feature"] == pytest.approx(0.5)  # an antipodal pair shares one dimension
    np.testing.assert_array_equal(g["gains"], [[1.0, 1.0]])
    assert "spectral_radius" not in g
    g = network_geometry(dirs, np.array([[1.0, 0.0], [1.0, 0.0]]), np.zeros(2), None, np.ones(2, bool),
                         Recall(0, 1, 2))
    assert g["rectified_fraction"] == 0.5  # output 1 now reads feature 0 with +1: interference gets through
    np.testing.assert_array_equal(g["gains"], [[1.0, -1.0]])
    assert g["represented_fraction"] == 0.5


def test_transition_midpoint_sharpness_and_z():
    x = np.array([0.0, 0.9, 0.99, 0.999])
    step = transition(x, np.array([0.2, 0.2, 0.8, 0.8]), np.full(4, 0.01))
    assert step["change"] == pytest.approx(0.6) and step["sharpness"] == 1.0
    assert step["z"] == pytest.approx(0.6 / np.sqrt(2e-4))
    assert step["midpoint"] == pytest.approx(1 - np.sqrt(0.1 * 0.01))  # half-way between p = 0.1 and 0.01 in log p
    ramp = transition(x, np.array([0.0, 1.0, 2.0, 3.0]), np.full(4, 0.5))
    assert ramp["sharpness"] == pytest.approx(1 / 3) and ramp["midpoint"] == pytest.approx(1 - np.sqrt(0.1 * 0.01))
    flat = transition(x, np.full(4, 0.3), np.full(4, np.nan))  # one seed: no error bars, no z
    assert flat["change"] == 0 and np.isnan(flat["midpoint"]) and np.isnan(flat["z"])


TINY = """
name = "geo"
[model]
family = "linear_rnn"
n_neurons = 3
[task]
name = "serial_recall"
sequence_ms = 10
n_features = 3
n_sequences = 32
[train]
optimizer = "adam"
epochs = "40"
chunk_epochs = 20
lr = 0.03
[grid]
seed = 2
sparsity = [0.0, 0.9]
lag = [0, 1]
"""


@pytest.fixture(scope="module")
def geo_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("geo")
    (tmp / "geo.toml").write_text(TINY)
    store = tmp / "geo.zarr"
    assert cli.main(["run", str(tmp / "geo.toml"), "--store", str(store), "--quiet"]) == 0
    return store


def test_geometry_does_not_depend_on_how_networks_are_batched(geo_store):
    source = Study.open([geo_store]).sources[0]
    one = source_geometry(source, GeometryConfig(), "auto", 0, batch_size=1)
    many = source_geometry(source, GeometryConfig(), "auto", 0, batch_size=64)
    three = source_geometry(source, GeometryConfig(), "regression", 0, batch_size=3)
    three_again = source_geometry(source, GeometryConfig(), "regression", 0, batch_size=8)
    # from the weights: exactly equal (one network at a time, in numpy)
    for k in one.scalars:
        if k != "recall_error":
            np.testing.assert_array_equal(one.scalars[k], many.scalars[k], err_msg=k)
    np.testing.assert_array_equal(one.angle_hist, many.angle_hist)
    np.testing.assert_array_equal(one.norms, many.norms)
    # from the probe (run vmapped over a batch of networks): to float32 rounding
    for a, b in ((one, many), (three, three_again)):
        np.testing.assert_allclose(a.feature_error, b.feature_error, rtol=1e-5)
        for k in a.scalars:
            np.testing.assert_allclose(a.scalars[k], b.scalars[k], rtol=1e-4, atol=1e-6, err_msg=k)
        np.testing.assert_allclose(a.norms, b.norms, rtol=1e-4, atol=1e-6)
    # the regression on the probe's states finds the weights' directions of a trained linear network (exactly: the
    # state is linear in the inputs, which are 0 before the sequence)
    np.testing.assert_allclose(three.norms, one.norms, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(three.scalars["spectral_radius"], one.scalars["spectral_radius"])


def test_analyze_writes_geometry_arrays_report_and_figures(geo_store, tmp_path):
    out = tmp_path / "analysis"
    summary = analyze([geo_store], out, progress=False, log=lambda s: None)
    group = zarr.open_group(str(geo_store / "geo" / "analysis" / "geometry"), mode="r")
    hist = np.asarray(group["angle_hist"][...])
    assert hist.shape == (2, 2, 2, 18)  # seed, sparsity, lag, angle bin
    pairs = {0: 3 * 2 // 2, 1: 6 * 5 // 2}  # lag 0: 3 directions, lag 1: 6 (when none is zero)
    for lag_i, n in pairs.items():
        assert np.all(hist[:, :, lag_i].sum(-1) <= n)
    assert np.asarray(group["feature_norms"]).shape == (2, 2, 2, 2, 3)
    assert np.all(np.isnan(np.asarray(group["feature_norms"])[:, :, 0, 1]))  # lag 0 has no second lag
    assert np.asarray(group["mean_spectral_radius"]).shape == (2, 2)
    assert np.all(np.asarray(group["n_networks"]) == 2)
    transitions = summary["geometry"]["transitions"]
    assert len(transitions) == 2 and {t["lag"] for t in transitions} == {0.0, 1.0}
    report = (out / "report.md").read_text()
    assert "## Feature geometry" in report and "### Transitions along sparsity" in report
    for stem in ("geometry_phase", "angle_histograms", "spectral_radius", "eigenvalue_spectra"):
        assert (out / f"{stem}.png").stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["geometry"]["networks"] == 8
    pooled = summary["geometry"]["by_sparsity"]
    assert [r["sparsity"] for r in pooled] == [0.0, 0.9] and all(r["networks"] == 4 for r in pooled)
    for r in pooled:
        assert r["orthogonal"] + r["aligned"] + r["oblique"] == pytest.approx(1.0)
        assert r["pairs"] == hist[:, int(r["sparsity"] > 0)].sum()
    assert "### Angle distribution by sparsity" in report


def test_angle_figure_shows_one_normalised_histogram_per_sparsity(geo_store):
    study = Study.open([geo_store])
    geo = source_geometry(study.sources[0], GeometryConfig(), "auto", 0, batch_size=8)
    fig = angle_figure(study, geo.angle_hist, "geo", GeometryConfig())
    panels = fig.axes
    assert [ax.get_title().split("\n")[0] for ax in panels] == ["sparsity 0", "sparsity 0.9"]
    for ax in panels:
        heights = [p.get_height() for p in ax.patches]
        assert len(heights) == 18 and sum(heights) == pytest.approx(1.0)
        assert "4 networks" in ax.get_title()
    plt.close(fig)
