"""SGD with momentum and weight decay follows torch.optim.SGD's update formula."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnnsweep.optim import make_optimizer


def test_sgd_matches_torch_formula_by_hand():
    lr, mom, wd = 0.1, 0.9, 0.05
    opt = make_optimizer("sgd", jnp.float32(lr), mom, wd)
    p0 = {"w": jnp.array([1.0, -2.0])}
    g0, g1 = np.array([0.5, 0.25]), np.array([-1.0, 0.75])
    state = opt.init(p0)
    u, state = opt.update({"w": jnp.asarray(g0)}, state, p0)
    p1 = optax.apply_updates(p0, u)
    u, state = opt.update({"w": jnp.asarray(g1)}, state, p1)
    p2 = optax.apply_updates(p1, u)
    # torch: d = g + wd * p; buf = d (first step), then buf = mom * buf + d; p -= lr * buf
    w0 = np.array([1.0, -2.0])
    buf = g0 + wd * w0
    w1 = w0 - lr * buf
    buf = mom * buf + (g1 + wd * w1)
    w2 = w1 - lr * buf
    np.testing.assert_allclose(p1["w"], w1, rtol=1e-6)
    np.testing.assert_allclose(p2["w"], w2, rtol=1e-6)
    # Decoupled (AdamW-style) decay would give a different second step: the test can tell them apart.
    decoupled = w1 - lr * (mom * (g0) + g1) - lr * wd * w1
    assert not np.allclose(w2, decoupled, rtol=1e-6)


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="train.optimizer"):
        make_optimizer("rmsprop", jnp.float32(0.1), 0.9, 0.0)
