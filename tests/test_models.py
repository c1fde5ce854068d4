"""Model families: torch-style initialisation and the discrete update of paper-spec section 1."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnsweep.models import families, get_family
from rnnsweep.models.leaky_rnn import LeakyRNN
from rnnsweep.models.lowrank_rnn import LowRankRNN


def test_registry_finds_every_family_file():
    assert {"leaky_rnn", "lowrank_rnn"} <= set(families())
    with pytest.raises(ValueError, match="model.family"):
        get_family("gru")


def test_unknown_model_setting_is_named():
    with pytest.raises(ValueError, match="model.n_nerons"):
        LeakyRNN.from_settings({"n_nerons": 5}, n_inputs=2, n_outputs=2, dt_ms=5.0)


def test_init_follows_torch_defaults():
    n, i, o = 200, 2, 2
    net = LeakyRNN(n_neurons=n, n_inputs=i, n_outputs=o)
    p = {k: np.asarray(v) for k, v in net.init(jax.random.PRNGKey(3)).items()}
    assert p["W_rec"].shape == (n, n) and p["W_in"].shape == (n, i) and p["W_out"].shape == (o, n)
    np.testing.assert_array_equal(np.diag(p["W_rec"]), 0.0)
    off = p["W_rec"][~np.eye(n, dtype=bool)]
    for w, bound in [(off, math.sqrt(6 / (2 * n))), (p["W_in"], math.sqrt(6 / (n + i))),
                     (p["W_out"], math.sqrt(6 / (n + o)))]:
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.9 * bound  # uniform over the whole interval, not a narrower one
    np.testing.assert_allclose(off.std(), math.sqrt(6 / (2 * n)) / math.sqrt(3), rtol=0.02)
    # Linear default biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    assert np.abs(p["b_in"]).max() <= 1 / math.sqrt(i) and np.abs(p["b_in"]).max() > 0.5 / math.sqrt(i)
    assert np.abs(p["b_rec"]).max() <= 1 / math.sqrt(n) and np.abs(p["b_rec"]).max() > 0.9 / math.sqrt(n)
    assert np.abs(p["b_out"]).max() <= 1 / math.sqrt(n)


def test_initial_state_is_tanh_of_scaled_normal():
    net = LeakyRNN(n_neurons=5)
    key = jax.random.PRNGKey(1)
    r0 = net.initial_state(key, 4)
    np.testing.assert_allclose(r0, jnp.tanh(0.1 * jax.random.normal(key, (4, 5))), rtol=1e-6)


@pytest.mark.parametrize("readout", ["sigmoid", "linear"])
@pytest.mark.parametrize("tau_ms", [10.0, 20.0])
def test_simulate_matches_the_discrete_update(readout, tau_ms):
    net = LeakyRNN(n_neurons=7, n_inputs=2, n_outputs=2, dt_ms=5.0, tau_ms=tau_ms, readout=readout)
    p = net.init(jax.random.PRNGKey(0))
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    T, B = 9, 3
    u = jax.random.normal(k1, (T, B, 2))
    eps = 0.3 * jax.random.normal(k2, (T, B, 7))
    r0 = net.initial_state(k3, B)
    with jax.default_matmul_precision("highest"):
        rates, outputs = net.simulate(p, u, eps, r0)
    q = {k: np.asarray(v, np.float64) for k, v in p.items()}
    a = 5.0 / tau_ms
    r = np.asarray(r0, np.float64)
    for t in range(T):
        z = r @ q["W_out"].T + q["b_out"]
        o = 1 / (1 + np.exp(-z)) if readout == "sigmoid" else z  # read before the update
        np.testing.assert_allclose(rates[t], r, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(outputs[t], o, rtol=1e-5, atol=1e-6)
        pre = r @ q["W_rec"].T + q["b_rec"] + np.asarray(u[t]) @ q["W_in"].T + q["b_in"] + np.asarray(eps[t])
        r = (1 - a) * r + a * np.tanh(pre)  # noise inside the tanh


def test_lowrank_weight_is_outer_product():
    n, k = 300, 2
    net = LowRankRNN(n_neurons=n, rank=k)
    p = net.init(jax.random.PRNGKey(0))
    assert "W_rec" not in p and p["m"].shape == (n, k) and p["n"].shape == (n, k)
    w = net.recurrent_weight(p)
    np.testing.assert_allclose(w, p["m"] @ p["n"].T, rtol=1e-6)
    assert np.linalg.matrix_rank(np.asarray(w, np.float64), tol=1e-6) == k
    np.testing.assert_allclose(np.var(np.asarray(p["m"])), 1 / n, rtol=0.15)
    with pytest.raises(ValueError, match="model.rank"):
        LowRankRNN.from_settings({"rank": 0}, n_inputs=2, n_outputs=2, dt_ms=5.0)
