"""Full-rank leaky firing-rate RNN (paper-spec section 1): ``W_rec`` is a full trainable matrix,
Xavier-uniform with its diagonal set to 0 at initialisation only. See :mod:`.leaky_rate`.

``init_gain = g > 0`` draws ``W_rec ~ N(0, g^2 / N)`` instead (diagonal 0 too), the "strongly
connected" initialisation of the abrupt-learning paper (g > 1: chaotic at initialisation) and the
``sd`` option of the ghost paper's code; 0 (the default) keeps Xavier-uniform, whose variance
``2 / (2N) = 1/N`` is that of g = 1. ``init_gain`` may be a grid axis (each cell's ``g`` scales one
standard normal draw, the same for every g of a seed)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import positive
from .base import Params, register
from .leaky_rate import CONFIDENCE_AXES, AbstractLeakyRNN, xavier_uniform


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
    cell_axes: ClassVar[tuple[str, ...]] = CONFIDENCE_AXES + ("init_gain",)

    init_gain: float = 0.0  # g > 0: W_rec ~ N(0, g^2/N) at initialisation; 0: Xavier-uniform

    def check_family(self) -> None:
        positive("model.init_gain", self.init_gain, allow_zero=True)

    def init_recurrent(self, key: jax.Array, dtype: Any, init_gain: Any = None, **_: Any) -> Params:
        n = self.n_neurons
        g = self.init_gain if init_gain is None else init_gain
        xavier = xavier_uniform(key, n, n, dtype)
        gaussian = jax.random.normal(jax.random.fold_in(key, 1), (n, n), dtype) / math.sqrt(n)
        w_rec = jnp.where(jnp.asarray(g) > 0, jnp.asarray(g, dtype) * gaussian, xavier)
        return {"W_rec": w_rec * (1 - jnp.eye(n, dtype=dtype))}

    def recurrent_weight(self, params: Params) -> jax.Array:
        return params["W_rec"]

    def recurrent_dims(self) -> dict[str, tuple[str, ...]]:
        return {"W_rec": ("neuron", "neuron_pre")}
