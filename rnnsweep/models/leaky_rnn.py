"""Full-rank leaky firing-rate RNN (paper-spec section 1).

Discrete update, with ``a = dt / tau``::

    r[t+1] = (1 - a) r[t] + a tanh(W_rec r[t] + b_rec + W_in u[t] + b_in + eps[t])
    o[t]   = sigmoid(W_out r[t] + b_out)          # or linear, read before the update

``eps[t] ~ N(0, noise_std^2)`` is fresh for every neuron, trial and step (the caller draws it).
Initialisation as torch: Xavier-uniform weights, ``diag(W_rec) = 0`` at init only, biases
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; initial state ``r[0] = tanh(0.1 N(0, 1))`` per trial.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..metrics import accuracy_reliability, weighted_mse
from .base import ModelFamily, Params, register

READOUTS = ("sigmoid", "linear")
NOISE_RNGS = ("rbg", "threefry")


def xavier_uniform(key: jax.Array, fan_out: int, fan_in: int, dtype: Any) -> jax.Array:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, (fan_out, fan_in), dtype, -bound, bound)


def linear_bias(key: jax.Array, fan_in: int, size: int, dtype: Any) -> jax.Array:
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, (size,), dtype, -bound, bound)


@register
@dataclasses.dataclass(frozen=True)
class LeakyRNN(ModelFamily):
    """Leaky tanh rate network with trainable input, recurrent and output layers.

    Example:
        >>> net = LeakyRNN(n_neurons=8, n_inputs=2, n_outputs=2, dt_ms=5.0)
        >>> params = net.init(jax.random.PRNGKey(0))
        >>> params["W_rec"].shape
        (8, 8)
    """

    family: ClassVar[str] = "leaky_rnn"
    recurrent_params: ClassVar[tuple[str, ...]] = ("W_rec",)

    n_neurons: int = 100
    n_inputs: int = 2
    n_outputs: int = 2
    dt_ms: float = 5.0
    tau_ms: float = 10.0
    noise_std: float = 0.001
    readout: str = "sigmoid"
    init_state_scale: float = 0.1
    noise_rng: str = "threefry"  # generator of the per-step noise; "rbg" is faster but not vmap-exact

    @property
    def alpha(self) -> float:
        return self.dt_ms / self.tau_ms

    def validate(self) -> None:
        if not isinstance(self.n_neurons, int) or isinstance(self.n_neurons, bool) or self.n_neurons < 1:
            raise ValueError(f"model.n_neurons: must be a positive integer, got {self.n_neurons!r}")
        for name in ("tau_ms", "noise_std", "init_state_scale"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"model.{name}: must be a non-negative number, got {value!r}")
        if self.tau_ms <= 0:
            raise ValueError(f"model.tau_ms: must be positive, got {self.tau_ms!r}")
        if not 0 < self.alpha <= 1:
            raise ValueError(
                f"model.tau_ms: dt/tau = {self.dt_ms}/{self.tau_ms} must lie in (0, 1] for a stable Euler step"
            )
        if self.readout not in READOUTS:
            raise ValueError(f"model.readout: must be one of {READOUTS}, got {self.readout!r}")
        if self.noise_rng not in NOISE_RNGS:
            raise ValueError(f"model.noise_rng: must be one of {NOISE_RNGS}, got {self.noise_rng!r}")

    # --- parameters ---------------------------------------------------------------------
    def init_recurrent(self, key: jax.Array, dtype: Any) -> Params:
        w_rec = xavier_uniform(key, self.n_neurons, self.n_neurons, dtype)
        return {"W_rec": w_rec * (1 - jnp.eye(self.n_neurons, dtype=dtype))}

    def init(self, key: jax.Array, dtype: Any = jnp.float32, **cell_args: Any) -> Params:
        k_in, k_bin, k_rec, k_brec, k_out, k_bout = jax.random.split(key, 6)
        n, i, o = self.n_neurons, self.n_inputs, self.n_outputs
        params = {
            "W_in": xavier_uniform(k_in, n, i, dtype),
            "b_in": linear_bias(k_bin, i, n, dtype),
            "b_rec": linear_bias(k_brec, n, n, dtype),
            "W_out": xavier_uniform(k_out, o, n, dtype),
            "b_out": linear_bias(k_bout, n, o, dtype),
        }
        params.update(self.init_recurrent(k_rec, dtype))
        return params

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        return {
            "W_in": ("neuron", "input"),
            "b_in": ("neuron",),
            "W_rec": ("neuron", "neuron_pre"),
            "b_rec": ("neuron",),
            "W_out": ("output", "neuron"),
            "b_out": ("output",),
        }

    def recurrent_weight(self, params: Params) -> jax.Array:
        return params["W_rec"]

    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float32) -> jax.Array:
        z = jax.random.normal(key, (n_trials, self.n_neurons), dtype)
        return jnp.tanh(self.init_state_scale * z)

    # --- dynamics -------------------------------------------------------------------------
    def read(self, params: Params, rates: jax.Array) -> jax.Array:
        z = rates @ params["W_out"].T + params["b_out"]
        return jax.nn.sigmoid(z) if self.readout == "sigmoid" else z

    def simulate(
        self, params: Params, inputs: jax.Array, noise: jax.Array, r0: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        a = self.alpha
        w_rec_t = self.recurrent_weight(params).T
        # The input drive of every step in one matmul, outside the sequential scan.
        drive = inputs @ params["W_in"].T + params["b_in"] + params["b_rec"] + noise

        def step(r, drive_t):
            r_next = (1 - a) * r + a * jnp.tanh(r @ w_rec_t + drive_t)
            return r_next, r

        _, rates = jax.lax.scan(step, r0, drive)
        return rates, self.read(params, rates)

    def task_loss(self, params: Params, task, timing, trials, key: jax.Array, dtype: Any):
        """Weighted MSE and accuracy/reliability of the full batch; the initial states and the
        per-step noise come from ``key`` (step ``t``'s noise from ``(key, t)`` alone, so padding
        the trial changes nothing)."""
        k_r0, k_noise = jax.random.split(key)
        n_steps_max, n_trials = trials.inputs.shape[:2]
        r0 = self.initial_state(k_r0, n_trials, dtype)
        noise = self.noise_std * step_noise(k_noise, n_steps_max, (n_trials, self.n_neurons), dtype, self.noise_rng)
        _, outputs = self.simulate(params, trials.inputs, noise, r0)
        return weighted_mse(outputs, trials), accuracy_reliability(outputs, trials)


def step_noise(key: jax.Array, n_steps: int, shape: tuple[int, ...], dtype: Any, rng: str = "threefry") -> jax.Array:
    """Standard normal noise (n_steps, *shape); step ``t`` depends only on ``(key, t)``, so the first
    ``T`` steps are the same whatever the padded length.

    ``"threefry"`` (default) is JAX's counter-based generator: exact under ``vmap``, so a cell's noise
    does not depend on its block. ``"rbg"`` (opt-in) draws with XLA's RngBitGenerator seeded from
    ``key``: several times cheaper on CPU, where threefry noise is about a third of an epoch's time,
    but its values change under ``vmap``, so results then depend on how cells are batched."""
    if rng == "rbg":
        key = jax.random.key(jax.random.bits(key, dtype=jnp.uint32), impl="rbg")
    return jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(key, t), shape, dtype))(jnp.arange(n_steps))
