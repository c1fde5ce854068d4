"""Gated recurrent unit (GRU), PyTorch's equations and gate order (``torch.nn.GRU``)::

    r[t]   = sigmoid(W_ir s[t] + b_ir + W_hr h[t] + b_hr)           reset gate
    z[t]   = sigmoid(W_iz s[t] + b_iz + W_hz h[t] + b_hz)           update gate
    n[t]   = tanh(W_in s[t] + b_in + r[t] * (W_hn h[t] + b_hn))     candidate
    h[t+1] = (1 - z[t]) * n[t] + z[t] * h[t]
    o[t]   = W_out h[t] + b_out                # read before the update, as every family here
    h[0]   = 0

The parameters are stored as torch stores them: ``W_ih = [W_ir; W_iz; W_in]`` (3N, n_inputs),
``W_hh = [W_hr; W_hz; W_hn]`` (3N, N), ``b_ih`` and ``b_hh`` (3N), rows in the gate order r, z, n
(a torch ``state_dict``'s ``weight_ih_l0`` etc. copy over unchanged). Both biases are kept, as in
torch: ``b_hn`` sits inside the reset gate's product, so it is not redundant with ``b_in``. The input
projection ``W_ih s + b_ih`` of every step is one matmul outside the time loop
(:meth:`GRU.drive`); the update does the recurrent matmul and the gate arithmetic. The analysis
observes ``h``. There is no process noise; ``dt_ms`` (from the task) only scales
:meth:`~rnnsweep.models.AbstractModel.velocity`.

Initialisation as torch: every weight and bias, the readout's included (torch's ``nn.Linear(N, O)``),
``~ U(-1/sqrt(N), 1/sqrt(N))``, independently (drawn as one vector, split into the parameters).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .base import Params, register
from .gated import AbstractGatedRNN


@register
class GRU(AbstractGatedRNN):
    """Gated recurrent unit (torch.nn.GRU's equations and gate order r, z, n), linear readout.

    Example:
        >>> net = GRU(n_neurons=4, n_inputs=2, n_outputs=1, dt_ms=5.0)
        >>> params = net.init(jax.random.PRNGKey(0))
        >>> params["W_ih"].shape, params["W_hh"].shape
        ((12, 2), (12, 4))
    """

    family: ClassVar[str] = "gru"
    n_gates: ClassVar[int] = 3

    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float32) -> jax.Array:
        return jnp.zeros((n_trials, self.n_neurons), dtype)

    def drive(self, params: Params, inputs: jax.Array, noise: jax.Array | None) -> jax.Array:
        return inputs @ params["W_ih"].T + params["b_ih"]  # (T, B, 3N): every gate's input part at once

    def prepare(self, params: Params) -> tuple[jax.Array, jax.Array]:
        return params["W_hh"].T, params["b_hh"]

    def update(self, prepared: tuple[jax.Array, jax.Array], state: jax.Array, drive_t: jax.Array) -> jax.Array:
        w_hh_t, b_hh = prepared
        x_r, x_z, x_n = jnp.split(drive_t, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(state @ w_hh_t + b_hh, 3, axis=-1)
        r = jax.nn.sigmoid(x_r + h_r)
        z = jax.nn.sigmoid(x_z + h_z)
        n = jnp.tanh(x_n + r * h_n)
        return (1 - z) * n + z * state

    def read(self, params: Params, states: jax.Array) -> jax.Array:
        return states @ params["W_out"].T + params["b_out"]

    def rates(self, states: jax.Array) -> jax.Array:
        return states

    def state_size(self) -> int:
        return self.n_neurons
