"""Long short-term memory (LSTM), PyTorch's equations and gate order (``torch.nn.LSTM``)::

    i[t]   = sigmoid(W_ii s[t] + b_ii + W_hi h[t] + b_hi)     input gate
    f[t]   = sigmoid(W_if s[t] + b_if + W_hf h[t] + b_hf)     forget gate
    g[t]   = tanh(W_ig s[t] + b_ig + W_hg h[t] + b_hg)        cell candidate
    o[t]   = sigmoid(W_io s[t] + b_io + W_ho h[t] + b_ho)     output gate
    c[t+1] = f[t] * c[t] + i[t] * g[t]
    h[t+1] = o[t] * tanh(c[t+1])
    y[t]   = W_out h[t] + b_out                # read before the update, as every family here
    h[0] = c[0] = 0

The state is the pytree ``(h, c)``, each (trials, N); :meth:`LSTM.rates` (what the analysis
observes) is ``h``, while :meth:`~rnnsweep.models.AbstractModel.velocity` and a fixed-point search
see both. The parameters are stored as torch stores them: ``W_ih = [W_ii; W_if; W_ig; W_io]``
(4N, n_inputs), ``W_hh`` (4N, N), ``b_ih`` and ``b_hh`` (4N), rows in the gate order i, f, g, o (a
torch ``state_dict``'s ``weight_ih_l0`` etc. copy over unchanged). Both biases are kept, as in torch
(only their sum matters; it is added in :meth:`LSTM.drive`). The input projection of every step is
one matmul outside the time loop; the update does the recurrent matmul and the gate arithmetic.
There is no process noise; ``dt_ms`` (from the task) only scales ``velocity``.

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
class LSTM(AbstractGatedRNN):
    """Long short-term memory (torch.nn.LSTM's equations and gate order i, f, g, o), state (h, c),
    linear readout of h.

    Example:
        >>> net = LSTM(n_neurons=4, n_inputs=2, n_outputs=1, dt_ms=5.0)
        >>> h, c = net.initial_state(jax.random.PRNGKey(0), 3)
        >>> net.init(jax.random.PRNGKey(0))["W_hh"].shape, h.shape, c.shape
        ((16, 4), (3, 4), (3, 4))
    """

    family: ClassVar[str] = "lstm"
    n_gates: ClassVar[int] = 4

    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float32) -> tuple[jax.Array, jax.Array]:
        zeros = jnp.zeros((n_trials, self.n_neurons), dtype)
        return zeros, zeros

    def drive(self, params: Params, inputs: jax.Array, noise: jax.Array | None) -> jax.Array:
        # (T, B, 4N): every gate's input part and both biases at once
        return inputs @ params["W_ih"].T + (params["b_ih"] + params["b_hh"])

    def prepare(self, params: Params) -> jax.Array:
        return params["W_hh"].T

    def update(self, w_hh_t: jax.Array, state: tuple[jax.Array, jax.Array], drive_t: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
        h, c = state
        i, f, g, o = jnp.split(drive_t + h @ w_hh_t, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return jax.nn.sigmoid(o) * jnp.tanh(c), c

    def read(self, params: Params, states: tuple[jax.Array, jax.Array]) -> jax.Array:
        return states[0] @ params["W_out"].T + params["b_out"]

    def rates(self, states: tuple[jax.Array, jax.Array]) -> jax.Array:
        return states[0]

    def state_size(self) -> int:
        return 2 * self.n_neurons
