"""Full-rank leaky firing-rate RNN (paper-spec section 1): ``W_rec`` is a full trainable matrix,
Xavier-uniform with its diagonal set to 0 at initialisation only. See :mod:`.leaky_rate`."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .base import Params, register
from .leaky_rate import AbstractLeakyRNN, xavier_uniform


@register
class LeakyRNN(AbstractLeakyRNN):
    """Leaky tanh rate network with a full recurrent matrix.

    Example:
        >>> net = LeakyRNN(n_neurons=8, n_inputs=2, n_outputs=2, dt_ms=5.0)
        >>> params = net.init(jax.random.PRNGKey(0))
        >>> params["W_rec"].shape
        (8, 8)
    """

    family: ClassVar[str] = "leaky_rnn"
    recurrent_params: ClassVar[tuple[str, ...]] = ("W_rec",)

    def init_recurrent(self, key: jax.Array, dtype: Any) -> Params:
        w_rec = xavier_uniform(key, self.n_neurons, self.n_neurons, dtype)
        return {"W_rec": w_rec * (1 - jnp.eye(self.n_neurons, dtype=dtype))}

    def recurrent_weight(self, params: Params) -> jax.Array:
        return params["W_rec"]

    def recurrent_dims(self) -> dict[str, tuple[str, ...]]:
        return {"W_rec": ("neuron", "neuron_pre")}
