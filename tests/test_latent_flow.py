"""Low-rank networks: the latent flow of kappa = n.r, its flatness, and its agreement with the finder."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rnnsweep.analysis import dynamics as dyn
from rnnsweep.analysis import latent_flow as lf
from rnnsweep.models.lowrank_rnn import LowRankRNN


def rank1_network(n_neurons=20, gain=2.0, bias=0.0, seed=1):
    """A rank-1 network with ``n^T m = gain`` (and a small bias): bistable for gain > 1."""
    model = LowRankRNN(n_neurons=n_neurons, n_inputs=2, n_outputs=2, dt_ms=5.0, rank=1)
    params = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.PRNGKey(seed)).items()}
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n_neurons, 1))
    params["m"] = m
    params["n"] = gain * m / float(np.sum(m * m))
    params["b_rec"] = bias * rng.normal(size=n_neurons)
    params["b_in"] = np.zeros(n_neurons)
    return model, params


def test_flatness_is_the_length_where_both_speed_and_slope_are_small():
    cfg = lf.FlatnessConfig()
    k = cfg.grid
    flat_middle = np.where(np.abs(k) <= 1, 0.0, k - np.sign(k))  # zero on [-1, 1], then slope 1
    slope = np.where(np.abs(k) <= 1, 0.0, 1.0)
    assert lf.flatness(flat_middle, slope, cfg) == pytest.approx(2.0, abs=2e-3)
    assert lf.flatness(-k, -np.ones_like(k), cfg) == 0  # slow near 0 but steep: not flat
    assert lf.flatness(0.1 * np.ones_like(k), 0.1 * np.ones_like(k), cfg) == pytest.approx(6.0, abs=2e-3)


def test_the_latent_flow_is_the_projection_of_the_network_flow():
    model, params = rank1_network(bias=0.3)
    r = np.random.default_rng(0).uniform(-0.9, 0.9, size=20)
    kappa = params["n"].T @ r
    field = dyn.model_field(model)
    with jax.enable_x64(True):
        full = np.asarray(field({k: np.asarray(v) for k, v in params.items()}, r))
        latent = np.asarray(lf.latent_velocity(*lf.latent_parts(model, params), kappa))
    np.testing.assert_allclose(params["n"].T @ full, latent, atol=1e-12)  # n^T (tau dr/dt) = tau dkappa/dt


def test_a_rank1_networks_fixed_points_are_the_roots_of_its_latent_flow():
    model, params = rank1_network(gain=2.0, bias=0.05)
    cfg = lf.FlatnessConfig()
    v, s, _ = lf.network_flows(model, {k: x[None] for k, x in params.items()}, cfg)
    roots = lf.roots_1d(v[0], s[0], cfg.grid)
    assert len(roots) == 3  # bistable: two stable ends, a saddle between
    m, n, b = (np.asarray(a) for a in lf.latent_parts(model, params))
    expected = []
    for kappa0, slope in roots:
        kappa = lf.refine_root(m, n, b, kappa0)
        expected.append((lf.fixed_point_of_root(m, n, b, kappa), "stable" if slope < 0 else "saddle"))

    x0 = np.stack([np.tanh(m[:, 0] * k + b) for k in np.linspace(-3, 3, 13)])[None]
    pts = dyn.points_of_field(dyn.model_field(model), {k: x[None] for k, x in params.items()}, x0,
                              dyn.FinderConfig(batch_size=1))
    found = pts.network(0)
    assert len(found) == 3
    for point, label in expected:
        match = min(found, key=lambda p: np.linalg.norm(p["x"] - point))
        np.testing.assert_allclose(match["x"], point, atol=1e-7)
        assert match["label"] == label
        # the network's Jacobian: the latent slope, and -1 in the other N - 1 directions
        ev = np.sort(match["eigenvalues"].real)
        assert np.allclose(ev[:-1], -1, atol=1e-8) or np.allclose(ev[1:], -1, atol=1e-8)
    assert [r[1] < 0 for r in roots] == [True, False, True]
