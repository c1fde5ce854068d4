"""The per-step noise generators (rnnsweep/models/noise.py): distribution, independence, exactness.

The statistical checks use 5-sigma (or p < 1e-6) bounds on ~10^6 draws from a fixed key, so they do
not fail by chance, while a generator with a visible flaw (a wrong scale, a constant offset, a
repeated stream across steps or cells, a truncated tail) fails them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from rnnsweep.models.noise import NOISE_RNGS, hash_bits, lowbias32, step_noise

N_STEPS, SHAPE = 40, (128, 100)  # the benchmark's batch: 512,000 normals


@pytest.fixture(scope="module")
def hash_draws():
    key = jax.random.PRNGKey(1234)
    return np.asarray(step_noise(key, N_STEPS, SHAPE, jnp.float32, "hash"), np.float64)


def test_lowbias32_is_the_published_hash():
    # x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16, in plain Python
    def reference(x):
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    xs = [0, 1, 2, 0xDEADBEEF, 0xFFFFFFFF, 123456789]
    got = np.asarray(lowbias32(jnp.asarray(xs, jnp.uint32)))
    assert [int(g) for g in got] == [reference(x) for x in xs]


def test_hash_noise_has_the_moments_of_a_standard_normal(hash_draws):
    z = hash_draws.ravel()
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.skew(z)) < 5 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-6
    assert 4.0 < np.max(np.abs(z)) < 5.5  # tails reached, and bounded by the 24-bit uniforms


def test_hash_noise_is_uncorrelated_across_steps_trials_neurons_and_cells(hash_draws):
    z = hash_draws
    bound = 5 / np.sqrt(z[:-1].size)
    assert abs(np.corrcoef(z[:-1].ravel(), z[1:].ravel())[0, 1]) < bound  # step t vs t + 1
    assert abs(np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]) < bound  # neighbouring trials
    assert abs(np.corrcoef(z[:, :, :-1].ravel(), z[:, :, 1:].ravel())[0, 1]) < bound  # neighbouring neurons
    # the same step of two cells (keys that differ as a block's cells' do: by fold_in)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(7), i))(jnp.arange(2))
    a, b = (np.asarray(step_noise(k, 4, SHAPE, jnp.float32, "hash")).ravel() for k in keys)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(a.size)
    # the bits of consecutive counters: each bit set half the time, and no step repeats another's bits
    bits = np.asarray(hash_bits(jax.random.PRNGKey(3), 8, 1 << 16))
    ones = np.unpackbits(bits.view(np.uint8)).mean()
    assert abs(ones - 0.5) < 5 * 0.5 / np.sqrt(bits.size * 32)
    assert len({row.tobytes() for row in bits}) == 8


@pytest.mark.parametrize("rng", ["hash", "threefry"])
def test_a_step_depends_only_on_key_and_step_alone_or_batched(rng):
    key = jax.random.PRNGKey(5)
    short = step_noise(key, 6, (3, 4), jnp.float32, rng)
    long = step_noise(key, 11, (3, 4), jnp.float32, rng)
    np.testing.assert_array_equal(short, long[:6])  # padding the trial changes nothing
    keys = jax.random.split(key, 5)
    batched = jax.vmap(lambda k: step_noise(k, 6, (3, 4), jnp.float32, rng))(keys)
    for i in range(5):
        np.testing.assert_array_equal(batched[i], step_noise(keys[i], 6, (3, 4), jnp.float32, rng))


def test_every_generator_is_offered_and_float64_works():
    assert set(NOISE_RNGS) == {"hash", "rbg", "threefry"}
    with jax.enable_x64(True):
        z = step_noise(jax.random.PRNGKey(0), 3, (2, 2), jnp.float64, "hash")
    assert z.dtype == jnp.float64 and z.shape == (3, 2, 2)


def test_the_extreme_bit_patterns_give_finite_normals():
    # (2^24 - 1 + 0.5) / 2^24 rounds to 1.0 in float32, and erf_inv(1) = inf: with noise_std = 0 that was
    # 0 * inf = NaN, and a noise-free network (superposition_nonlinear_cpu.toml) diverged in most cells
    from rnnsweep.models.noise import normal_of_bits

    z = np.asarray(normal_of_bits(jnp.array([0, 1 << 8, 0xFFFFFE00, 0xFFFFFFFF], jnp.uint32)))
    assert np.all(np.isfinite(z))
    assert z[0] == pytest.approx(-5.42, abs=0.01) and z[3] == pytest.approx(5.29, abs=0.01)
    assert z[0] < z[1] < 0 < z[2] < z[3]
