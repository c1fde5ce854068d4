"""Rank-k leaky RNN: the leaky rate network with ``W_rec = m n^T`` (Dinc et al., ghost paper).

``m`` and ``n`` are (N, k) with entries ``N(0, 1/N)``; everything else as :class:`LeakyRNN`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax

from .base import Params, register
from .leaky_rnn import LeakyRNN


@register
@dataclasses.dataclass(frozen=True)
class LowRankRNN(LeakyRNN):
    """Leaky RNN whose recurrent matrix is the trainable product ``m @ n.T`` of rank ``rank``."""

    family: ClassVar[str] = "lowrank_rnn"
    recurrent_params: ClassVar[tuple[str, ...]] = ("m", "n")

    rank: int = 1

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.rank, int) or isinstance(self.rank, bool) or not 1 <= self.rank <= self.n_neurons:
            raise ValueError(f"model.rank: must be an integer in [1, n_neurons], got {self.rank!r}")

    def init_recurrent(self, key: jax.Array, dtype: Any) -> Params:
        k_m, k_n = jax.random.split(key)
        scale = 1.0 / math.sqrt(self.n_neurons)
        shape = (self.n_neurons, self.rank)
        return {
            "m": scale * jax.random.normal(k_m, shape, dtype),
            "n": scale * jax.random.normal(k_n, shape, dtype),
        }

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        dims = super().param_dims()
        del dims["W_rec"]
        dims["m"] = ("neuron", "rank")
        dims["n"] = ("neuron", "rank")
        return dims

    def recurrent_weight(self, params: Params) -> jax.Array:
        return params["m"] @ params["n"].T
