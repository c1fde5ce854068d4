"""RNN with linear recurrence and a ReLU readout (temporal superposition, paper-spec section 4)::

    h[t+1] = W h[t] + W_in x[t]           h[0] = 0
    y[t]   = relu(W_out h[t] + b_out)     # read before the update, as every family here

Initialisation: ``W ~ N(0, init_radius^2 / width)`` (spectral radius about ``init_radius``, the
circular law), ``W_in, W_out ~ N(0, 1 / width)``, ``b_out = init_bias`` (0 by default), every element from ``(key, row,
column)`` alone (the counter-based hash of :mod:`.noise`), so a network does not depend on the
largest width of its grid.

``n_neurons`` (the width) may be a grid axis: the family is then built at the grid's largest width
and each cell zeroes the rows of ``W_in`` and ``W`` and the columns of ``W`` and ``W_out`` beyond its
own width. Those units then stay exactly 0 through training (their state is 0, so every gradient
that reaches or leaves them is 0, and Adam and SGD leave a parameter with zero gradient unchanged),
so the cell trains the network of its own width, at the cost of the largest one. Its numbers equal
a network built at its own width to float rounding (the zero terms can change a sum's blocking).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import positive
from .base import AbstractModel, Params, register
from .noise import hash_normal


@register
class LinearRNN(AbstractModel):
    """Linear recurrence, ReLU readout; the width may be a grid axis.

    Example:
        >>> net = LinearRNN(n_neurons=4, n_inputs=3, n_outputs=3, dt_ms=1.0)
        >>> params = net.init(jax.random.PRNGKey(0), width=2)
        >>> [float(abs(params["W"][2:]).max()), float(abs(params["W"][:, 2:]).max())]
        [0.0, 0.0]
    """

    family: ClassVar[str] = "linear_rnn"
    recurrent_params: ClassVar[tuple[str, ...]] = ("W",)
    cell_axes: ClassVar[tuple[str, ...]] = ("n_neurons",)
    size_axes: ClassVar[tuple[str, ...]] = ("n_neurons",)
    masks_task_sizes: ClassVar[bool] = True  # element-wise draws at scale 1/sqrt(width): a task size axis is exact

    n_neurons: int = 8
    n_inputs: int = 8
    n_outputs: int = 8
    dt_ms: float = 1.0
    init_radius: float = 0.5  # spectral radius of the initial W (about)
    init_bias: float = 0.0  # b_out at initialisation (> 0 keeps the ReLU outputs alive until they have learned)

    def check_settings(self) -> None:
        positive("model.n_neurons", self.n_neurons, integer=True)
        positive("model.init_radius", self.init_radius, allow_zero=True)
        if not -1e6 < self.init_bias < 1e6:
            raise ValueError(f"model.init_bias: must be a finite number, got {self.init_bias!r}")

    def cell_args(self, coords: dict[str, float], timing: Any = None) -> dict[str, float]:
        return {"width": float(coords.get("n_neurons", self.n_neurons))}

    def init(self, key: jax.Array, dtype: Any = jnp.float32, width: Any = None) -> Params:
        n, i, o = self.n_neurons, self.n_inputs, self.n_outputs
        width = n if width is None else width
        unit = (jnp.arange(n) < width).astype(dtype)
        scale = 1 / jnp.sqrt(jnp.asarray(width, dtype))
        k_w, k_in, k_out = jax.random.split(key, 3)
        draw = lambda k, rows, cols: hash_normal(k, rows, (cols,), dtype)  # noqa: E731
        return {
            "W_in": draw(k_in, n, i) * scale * unit[:, None],
            "W": draw(k_w, n, n) * (self.init_radius * scale) * unit[:, None] * unit[None, :],
            "W_out": draw(k_out, o, n) * scale * unit[None, :],
            "b_out": jnp.full((o,), self.init_bias, dtype),
        }

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        return {"W_in": ("neuron", "input"), "W": ("neuron", "neuron_pre"), "W_out": ("output", "neuron"),
                "b_out": ("output",)}

    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float32) -> jax.Array:
        return jnp.zeros((n_trials, self.n_neurons), dtype)

    def drive(self, params: Params, inputs: jax.Array, noise: jax.Array | None) -> jax.Array:
        return inputs @ params["W_in"].T

    def prepare(self, params: Params) -> jax.Array:
        return params["W"].T

    def update(self, w_t: jax.Array, state: jax.Array, drive_t: jax.Array) -> jax.Array:
        return state @ w_t + drive_t

    def read(self, params: Params, states: jax.Array) -> jax.Array:
        return jax.nn.relu(states @ params["W_out"].T + params["b_out"])

    def rates(self, states: jax.Array) -> jax.Array:
        return states

    def state_size(self) -> int:
        return self.n_neurons

    def flops_per_step(self, n_trials: int) -> float:
        return 2.0 * n_trials * self.n_neurons * (self.n_neurons + self.n_inputs + self.n_outputs)
