"""Rank-k leaky RNN: the leaky rate network with ``W_rec = m n^T`` (Dinc et al., ghost paper).

``m`` and ``n`` are (N, k) with entries ``N(0, 1/N)``; everything else as :mod:`.leaky_rate`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax

from ..settings import positive
from .base import Params, register
from .leaky_rate import AbstractLeakyRNN


@register
class LowRankRNN(AbstractLeakyRNN):
    """Leaky RNN whose recurrent matrix is the trainable product ``m @ n.T`` of rank ``rank``."""

    family: ClassVar[str] = "lowrank_rnn"
    recurrent_params: ClassVar[tuple[str, ...]] = ("m", "n")

    rank: int = 1

    def check_family(self) -> None:
        positive("model.rank", self.rank, integer=True)
        if self.rank > self.n_neurons:
            raise ValueError(f"model.rank: must be an integer in [1, n_neurons], got {self.rank!r}")

    def init_recurrent(self, key: jax.Array, dtype: Any) -> Params:
        k_m, k_n = jax.random.split(key)
        scale = 1.0 / math.sqrt(self.n_neurons)
        shape = (self.n_neurons, self.rank)
        return {"m": scale * jax.random.normal(k_m, shape, dtype), "n": scale * jax.random.normal(k_n, shape, dtype)}

    def recurrent_weight(self, params: Params) -> jax.Array:
        return params["m"] @ params["n"].T

    def recurrent_dims(self) -> dict[str, tuple[str, ...]]:
        return {"m": ("neuron", "rank"), "n": ("neuron", "rank")}
