"""Per-step Gaussian noise of a batch of trials: ``noise[t]`` depends only on ``(key, t)``.

That property makes a cell's noise independent of how long its trials are padded, and (for the
counter-based generators) of which block it is trained in. Three generators (``model.noise_rng``):

* ``"threefry"`` (default): JAX's counter-based threefry2x32, 20 rounds per pair of 32-bit words,
  turned into normals by ``jax.random.normal``. Exact under ``vmap``. On a CPU it is about a third
  of an epoch's time (N = 100, 128 trials).
* ``"hash"``: counter-based as well, and exact under ``vmap``, about 5x cheaper on a CPU. Each
  step's key material ``(s0, s1)`` comes from threefry (``fold_in(key, t)``: one scalar draw per
  step); each element ``i`` (trial x neuron, flat) gets 32 bits from three rounds of a 32-bit
  integer hash keyed by them, ``lowbias32`` (C. Wellons' hash-prospector, bias ~0.17;
  ``x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16``)::

      bits = H(H(H(i ^ s0) + s1) ^ s0)
      u    = (bits >> 8 + 0.5) / 2^24        # in (0, 1), 24 bits: float32's resolution (the top
                                             # value, which float32 rounds to 1, is 1 - 2^-24)
      z    = sqrt(2) erfinv(2 u - 1)         # as jax.random.normal does it

  The normals reach +-5.3 standard deviations (float32 and float64 alike: 24 bits). Checked by
  tests/test_noise.py: moments, a Kolmogorov-Smirnov test of normality, correlations across steps,
  trials, neurons and cells, and exactness under vmap and padding. Not a cryptographic or
  BigCrush-grade generator; it is a noise source for SGD.
* ``"rbg"``: XLA's RngBitGenerator seeded from the key; cheap on a CPU but its values change
  under ``vmap``, so results then depend on how cells are batched. Opt-in only.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

NOISE_RNGS = ("hash", "rbg", "threefry")


def step_noise(key: jax.Array, n_steps: int, shape: tuple[int, ...], dtype: Any, rng: str = "threefry") -> jax.Array:
    """Standard normal noise (n_steps, *shape); step ``t`` depends only on ``(key, t)``, so the first
    ``T`` steps are the same whatever the padded length."""
    if rng == "hash":
        return hash_normal(key, n_steps, shape, dtype)
    if rng == "rbg":
        key = jax.random.key(jax.random.bits(key, dtype=jnp.uint32), impl="rbg")
    return jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(key, t), shape, dtype))(jnp.arange(n_steps))


def lowbias32(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash with good avalanche (uint32 in, uint32 out)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def hash_bits(key: jax.Array, n_steps: int, size: int) -> jax.Array:
    """32 random bits (n_steps, size): element ``i`` of step ``t`` from ``(key, t, i)`` only."""
    if size >= 2**32:
        raise ValueError(f"noise: {size:,} values per step exceed the hash generator's 2^32 counters")
    step_keys = jax.vmap(lambda t: jax.random.bits(jax.random.fold_in(key, t), (2,), jnp.uint32))(jnp.arange(n_steps))
    s0, s1 = step_keys[:, 0:1], step_keys[:, 1:2]
    i = jnp.arange(size, dtype=jnp.uint32)[None, :]
    return lowbias32(lowbias32(lowbias32(i ^ s0) + s1) ^ s0)


def hash_normal(key: jax.Array, n_steps: int, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """Standard normals (n_steps, *shape) from :func:`hash_bits` by the inverse error function."""
    z = normal_of_bits(hash_bits(key, n_steps, math.prod(shape)))
    return z.astype(dtype).reshape(n_steps, *shape)


def normal_of_bits(bits: jax.Array) -> jax.Array:
    """Standard normals (float32) of 32 random bits each, by the inverse error function of their top 24."""
    u = ((bits >> 8).astype(jnp.float32) + 0.5) * (1.0 / (1 << 24))
    # the top value, (2^24 - 0.5) / 2^24, is not a float32 and rounds to 1 (erf_inv(1) = inf, and
    # noise_std = 0 times inf is NaN): it becomes the largest float32 below 1, as every other value stays
    u = jnp.minimum(u, jnp.float32(1.0 - 2.0**-24))
    return math.sqrt(2.0) * jax.lax.erf_inv(2.0 * u - 1.0)
