"""Weighted MSE, accuracy and reliability on hand-built outputs."""

import jax.numpy as jnp
import numpy as np

from rnnsweep.metrics import threshold_scores, two_choice_scores, weighted_mse
from rnnsweep.tasks import Trials


def make_trials(targets, weights, mask, n_steps):
    t = np.asarray(targets, np.float32)
    return Trials(jnp.zeros(t.shape[:2] + (2,)), jnp.asarray(t), jnp.asarray(weights, jnp.float32),
                  jnp.asarray(mask), jnp.int32(n_steps))


def test_weighted_mse_averages_over_the_cells_own_steps():
    rng = np.random.default_rng(0)
    T, Tmax, B, O = 4, 6, 2, 2
    y = rng.random((Tmax, B, O))
    o = rng.random((Tmax, B, O))
    w = np.array([0.25, 0.25, 0.75, 0.75, 0, 0])
    loss = weighted_mse(jnp.asarray(o, jnp.float32), make_trials(y, w, np.zeros(Tmax, bool), T))
    expected = sum(w[t] * (o[t] - y[t]) ** 2 for t in range(T)).sum() / (T * B * O)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)


def test_accuracy_and_reliability_use_the_per_step_target():
    # Two trials (cue A -> channel 1, cue B -> channel 0); window = steps 1..3, where step 1 is the
    # step before the response (target all zero: argmax 0 is "correct", as in the reference).
    y = np.zeros((4, 2, 2))
    y[2:, 0] = [0, 1]
    y[2:, 1] = [1, 0]
    o = np.array([
        [[0.5, 0.5], [0.5, 0.5]],  # t=0 outside the window
        [[0.2, 0.6], [0.9, 0.1]],  # t=1: trial 0 picks channel 1 (wrong vs argmax 0), trial 1 channel 0 (right)
        [[0.1, 0.3], [0.0, 0.0]],  # t=2: trial 0 right; trial 1 outputs 0/0 -> p = NaN -> 0 -> argmax 0 (right)
        [[0.6, 0.2], [0.3, 0.1]],  # t=3: trial 0 wrong, trial 1 right
    ])
    mask = np.array([False, True, True, True])
    acc, rel = two_choice_scores(jnp.asarray(o, jnp.float32), make_trials(y, np.ones(4), mask, 4))
    hits = [0, 1, 1, 1, 0, 1]
    np.testing.assert_allclose(float(acc), np.mean(hits), rtol=1e-6)
    p_correct = [0.2 / 0.8, 0.9, 0.3 / 0.4, 0.0, 0.2 / 0.8, 0.3 / 0.4]
    np.testing.assert_allclose(float(rel), np.mean(p_correct), rtol=1e-6)


def test_single_output_metrics():
    y = np.zeros((3, 1, 1))
    y[1:] = 1
    o = np.array([0.2, 0.7, 0.4]).reshape(3, 1, 1)
    tr = Trials(jnp.zeros((3, 1, 1)), jnp.asarray(y, jnp.float32), jnp.ones(3), jnp.ones(3, bool), jnp.int32(3))
    acc, rel = threshold_scores(jnp.asarray(o, jnp.float32), tr)
    np.testing.assert_allclose(float(acc), 2 / 3, rtol=1e-6)
    np.testing.assert_allclose(float(rel), (0.8 + 0.7 + 0.4) / 3, rtol=1e-6)
