"""Piecewise-linear RNN (PLRNN) of the abrupt-learning paper (paper-spec section 3)::

    x[t+1] = A x[t] + W relu(x[t]) + C s[t] + h        A = diag(a), W with zero diagonal
    o[t]   = W_out x[t] + b_out                        # read before the update, as every family here
    x[0]   = 0

``A`` is stored as its diagonal ``a`` (parameter ``A``, shape (N,)). ``W``'s diagonal belongs to
``A`` (the self-coupling of a unit is linear), so the update multiplies ``W`` by a fixed off-diagonal
mask ``1 - I``: the diagonal of the stored ``W`` has no effect on the dynamics and receives exactly
zero gradient from the loss. It is 0 at initialisation and stays 0 through training (Adam and SGD
leave a parameter with zero gradient where it is, and the coupled weight decay of 0 is 0). The
analysis observes ``x`` itself (:meth:`PLRNN.rates`). The paper writes the update as
``x[t] = A x[t-1] + W relu(x[t-1]) + C s[t] + h`` with the output read from ``x[T]``; here, as in
every family of rnnsweep, the input of step ``t`` drives the update from ``x[t]`` to ``x[t+1]`` and
the output of step ``t`` is read from ``x[t]`` (so the output at the last step sees the inputs up to
the step before it). There is no process noise. ``dt_ms`` (from the task) only scales
:meth:`~rnnsweep.models.AbstractModel.velocity`: the PLRNN is a discrete map.

Initialisation (settings ``init_a_min``, ``init_a_max``, ``init_w_std``):

* ``A ~ U(init_a_min, init_a_max)``, default ``U(0.5, 0.9)``: every unit starts as a stable leaky
  memory with a time constant ``-1/ln(a)`` between 1.4 and 9.5 steps. (The Durstewitz lab's PLRNN code takes the
  diagonal of a normalised positive-definite matrix instead, about 0.4 for every unit.)
* ``W`` off-diagonal ``~ N(0, init_w_std^2)``, default 0.01 (the Durstewitz lab's convention), zero
  diagonal: the map starts close to its diagonal linear part (W's eigenvalues lie within about
  ``init_w_std sqrt(N)`` of 0, 0.06 at N = 40, the circular law);
* ``C ~ U(-1/sqrt(n_inputs), 1/sqrt(n_inputs))`` (torch's ``nn.Linear`` default), ``h = 0``;
* ``W_out, b_out ~ U(-1/sqrt(N), 1/sqrt(N))`` (torch's ``nn.Linear`` default).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import positive
from .base import AbstractModel, Params, register


@register
class PLRNN(AbstractModel):
    """Piecewise-linear RNN x[t+1] = A x[t] + W relu(x[t]) + C s[t] + h (A diagonal, W zero diagonal),
    linear readout.

    Example:
        >>> net = PLRNN(n_neurons=3, n_inputs=2, n_outputs=1, dt_ms=5.0)
        >>> params = net.init(jax.random.PRNGKey(0))
        >>> params["A"].shape, params["W"].shape, params["C"].shape
        ((3,), (3, 3), (3, 2))
    """

    family: ClassVar[str] = "plrnn"
    # A is the diagonal of the recurrent matrix and W its off-diagonal part: grad_norm covers both.
    recurrent_params: ClassVar[tuple[str, ...]] = ("A", "W")

    n_neurons: int = 40
    n_inputs: int = 1
    n_outputs: int = 1
    dt_ms: float = 1.0
    init_a_min: float = 0.5  # A ~ U(init_a_min, init_a_max) at initialisation
    init_a_max: float = 0.9
    init_w_std: float = 0.01  # standard deviation of W's off-diagonal elements at initialisation

    def check_settings(self) -> None:
        positive("model.n_neurons", self.n_neurons, integer=True)
        positive("model.dt_ms", self.dt_ms)
        positive("model.init_w_std", self.init_w_std, allow_zero=True)
        if not self.init_a_min <= self.init_a_max:
            raise ValueError(f"model.init_a_max: must be at least init_a_min = {self.init_a_min}, "
                             f"got {self.init_a_max}")

    def off_diagonal(self, dtype: Any) -> jax.Array:
        """The fixed mask ``1 - I`` that keeps ``W``'s diagonal out of the dynamics."""
        return 1 - jnp.eye(self.n_neurons, dtype=dtype)

    def init(self, key: jax.Array, dtype: Any = jnp.float32, **cell_args: Any) -> Params:
        n, i, o = self.n_neurons, self.n_inputs, self.n_outputs
        k_u, k_w = jax.random.split(key)
        # A, C, W_out and b_out from one U(0, 1) draw, each part mapped to its interval (one random op
        # to compile instead of four: each costs a few tenths of a second of XLA compilation on a CPU)
        ranges = {"A": ((n,), self.init_a_min, self.init_a_max),
                  "C": ((n, i), -1 / math.sqrt(i), 1 / math.sqrt(i)),
                  "W_out": ((o, n), -1 / math.sqrt(n), 1 / math.sqrt(n)),
                  "b_out": ((o,), -1 / math.sqrt(n), 1 / math.sqrt(n))}
        sizes = [math.prod(shape) for shape, _, _ in ranges.values()]
        parts = jnp.split(jax.random.uniform(k_u, (sum(sizes),), dtype), list(itertools.accumulate(sizes))[:-1])
        params = {name: (low + (high - low) * u).reshape(shape).astype(dtype)
                  for (name, (shape, low, high)), u in zip(ranges.items(), parts)}
        w = self.init_w_std * jax.random.normal(k_w, (n, n), dtype)
        params["W"] = jnp.where(jnp.eye(n, dtype=bool), 0, w).astype(dtype)
        params["h"] = jnp.zeros((n,), dtype)
        return {name: params[name] for name in ("A", "W", "C", "h", "W_out", "b_out")}

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        return {"A": ("neuron",), "W": ("neuron", "neuron_pre"), "C": ("neuron", "input"), "h": ("neuron",),
                "W_out": ("output", "neuron"), "b_out": ("output",)}

    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float32) -> jax.Array:
        return jnp.zeros((n_trials, self.n_neurons), dtype)

    def drive(self, params: Params, inputs: jax.Array, noise: jax.Array | None) -> jax.Array:
        return inputs @ params["C"].T + params["h"]  # no process noise (sample_noise gives None)

    def prepare(self, params: Params) -> tuple[jax.Array, jax.Array]:
        w = params["W"]
        return params["A"], (w * self.off_diagonal(w.dtype)).T  # the masked W^T, once per sequence

    def update(self, prepared: tuple[jax.Array, jax.Array], state: jax.Array, drive_t: jax.Array) -> jax.Array:
        a, w_t = prepared
        return a * state + jax.nn.relu(state) @ w_t + drive_t

    def read(self, params: Params, states: jax.Array) -> jax.Array:
        return states @ params["W_out"].T + params["b_out"]

    def rates(self, states: jax.Array) -> jax.Array:
        return states

    def state_size(self) -> int:
        return self.n_neurons

    def flops_per_step(self, n_trials: int) -> float:
        return 2.0 * n_trials * self.n_neurons * (self.n_neurons + self.n_inputs + self.n_outputs + 1)
