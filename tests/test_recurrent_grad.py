"""The leaky families' hand-written recurrent gradient (models/leaky_scan.py) equals autodiff's.

In float64 the two must agree to ~1e-12 relative: same mathematics, different summation order. A
wrong sign, a missing leak term, an off-by-one step or a transposed weight gradient each give
differences of order 1. Every registered leaky family is checked, with noise and several cells
under vmap. Training in float32 with the hand-written gradient is checked against golden data made
with autodiff's (tests/test_golden.py, rtol 1e-4).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from rnnsweep.models import families
from rnnsweep.models.base import AbstractModel
from rnnsweep.models.leaky_rate import AbstractLeakyRNN
from rnnsweep.models.leaky_scan import leaky_states

LEAKY = sorted(name for name, cls in families().items() if issubclass(cls, AbstractLeakyRNN))

def _grads(family: str, mode: str, n_steps: int = 9, n_trials: int = 4):
    """Gradients of a loss that reads every output and every state (random weights), through the
    family's whole ``run`` (drive, prepare, scan, readout), with noise. One network: vmap is checked
    on the scan itself below (compiling is what costs time here: the random draws are made outside
    the compiled gradient, which holds only the run and the loss)."""
    cls = families()[family]
    extra = {"rank": 2} if family == "lowrank_rnn" else {}
    model = cls(n_neurons=7, n_inputs=2, n_outputs=2, dt_ms=5.0, tau_ms=20.0, noise_std=0.3, recurrent_grad=mode, **extra)
    assert model.scan.__func__ is not AbstractModel.scan or mode == "autodiff"

    key = jax.random.PRNGKey(7)
    params = model.init(key, jnp.float64)
    k_in, k_state, k_noise, k_out, k_rates = jax.random.split(jax.random.fold_in(key, 1), 5)
    inputs = jax.random.normal(k_in, (n_steps, n_trials, 2), jnp.float64)
    noise = model.sample_noise(k_noise, n_steps, n_trials, jnp.float64)
    state0 = model.initial_state(k_state, n_trials, jnp.float64)
    out_weights = jax.random.normal(k_out, (n_steps, n_trials, 2), jnp.float64)
    rate_weights = jax.random.normal(k_rates, (n_steps, n_trials, 7), jnp.float64)

    def loss(params):
        rates, outputs = model.run(params, inputs, noise, state0)
        return jnp.sum(outputs * out_weights) + jnp.sum(rates ** 2 * rate_weights)

    value, grads = jax.jit(jax.value_and_grad(loss))(params)
    return np.asarray(value), {k: np.asarray(v) for k, v in grads.items()}


@pytest.mark.parametrize("family", LEAKY)
def test_hand_written_gradient_equals_autodiff_in_float64(family):
    assert {"leaky_rnn", "lowrank_rnn"} <= set(LEAKY)
    with jax.enable_x64(True):
        loss_a, grads_a = _grads(family, "after_scan")
        loss_b, grads_b = _grads(family, "autodiff")
    assert grads_a["W_in"].dtype == np.float64
    np.testing.assert_array_equal(loss_a, loss_b)  # the forward pass is the same computation
    for name in grads_b:
        scale = np.max(np.abs(grads_b[name]))
        assert scale > 1e-6, name  # the check below would be empty otherwise
        np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=0, atol=1e-12 * scale, err_msg=name)


def test_custom_vjp_of_the_states_equals_autodiff_for_any_cotangent():
    """Directly on the scan, with a random cotangent on every state (not only what a loss reads),
    for one network and for a batch of networks under vmap (as the engine runs it)."""
    with jax.enable_x64(True):
        k = jax.random.split(jax.random.PRNGKey(0), 4)
        w = 0.6 * jax.random.normal(k[0], (5, 5), jnp.float64)
        s0 = jnp.tanh(jax.random.normal(k[1], (3, 5), jnp.float64))
        drive = jax.random.normal(k[2], (9, 3, 5), jnp.float64)
        cot = jax.random.normal(k[3], (9, 3, 5), jnp.float64)
        alpha = 0.3

        def plain(w, s0, drive):
            model = dataclasses.replace(families()["leaky_rnn"](n_neurons=5), dt_ms=3.0, tau_ms=10.0)
            return AbstractModel.scan(model, w, s0, drive)

        np.testing.assert_array_equal(plain(w, s0, drive), leaky_states(w, s0, drive, alpha))
        _, vjp_a = jax.vjp(lambda *a: leaky_states(*a, alpha), w, s0, drive)
        _, vjp_b = jax.vjp(plain, w, s0, drive)
        for got, want, name in zip(vjp_a(cot), vjp_b(cot), ("w", "state0", "drive")):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)
        check_grads(lambda *a: leaky_states(*a, alpha), (w, s0, drive), order=1, modes=["rev"])

        # a batch of 4 networks under vmap: each network's gradient as computed alone
        kb = jax.random.split(jax.random.PRNGKey(1), 3)
        ws = 0.6 * jax.random.normal(kb[0], (4, 5, 5), jnp.float64)
        drives = jax.random.normal(kb[1], (4, 9, 3, 5), jnp.float64)
        cots = jax.random.normal(kb[2], (4, 9, 3, 5), jnp.float64)

        def grads(fn, w, drive, cot):
            return jax.vjp(fn, w, s0, drive)[1](cot)

        scan_a = lambda *a: leaky_states(*a, alpha)  # noqa: E731
        batched = jax.vmap(lambda w, d, c: grads(scan_a, w, d, c))(ws, drives, cots)
        for i in range(4):
            for got, want in zip(batched, grads(plain, ws[i], drives[i], cots[i])):
                np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["after_scan", "autodiff"])
def test_unrolling_the_time_loop_changes_nothing_but_rounding(mode):
    model = families()["leaky_rnn"](n_neurons=6, noise_std=0.1, recurrent_grad=mode)
    params = model.init(jax.random.PRNGKey(0))
    inputs = jax.random.normal(jax.random.PRNGKey(1), (11, 3, 2))
    noise = model.sample_noise(jax.random.PRNGKey(2), 11, 3)
    state0 = model.initial_state(jax.random.PRNGKey(3), 3)

    def grads(m):
        return jax.jit(jax.grad(lambda p: jnp.sum(m.run(p, inputs, noise, state0)[1] ** 2)))(params)

    unrolled = grads(dataclasses.replace(model, scan_unroll=4))  # 11 steps: two full iterations and a remainder
    for name, value in grads(model).items():  # float32: XLA fuses the unrolled body differently
        np.testing.assert_allclose(unrolled[name], value, rtol=1e-5, atol=1e-6 * np.max(np.abs(value)), err_msg=name)
