"""Rank-k leaky RNN: the leaky rate network with ``W_rec = m n^T`` (Dinc et al., ghost paper).

``m`` and ``n`` are (N, k) with entries ``N(0, 1/N)``; everything else as :mod:`.leaky_rate`.

``rank`` may be a grid axis (the ghost paper's critical learning rate against the trainable rank):
the family is then built at the grid's largest rank R and a cell of rank k zeroes the columns
``j >= k`` of ``m`` and ``n``. Their gradients are then exactly 0 (``dL/dm[:, j] = G n[:, j]``,
``dL/dn[:, j] = G^T m[:, j]``), so they stay 0 and the cell trains a rank-k network. Its ``m`` and
``n`` are the first k columns of the draw at rank R: a seed's networks are nested across ranks (a
paired design), and differ from those of a sweep with the fixed setting ``rank = k``, which draws at
k. ``rank = n_neurons`` is full rank as a product ``m n^T`` (the reference's K = N), whose gradient
geometry differs from a plain matrix (family ``leaky_rnn``).

``readout_from = "latent"`` reads the latent variable ``kappa = n[:, 0] . r`` instead of the neurons,
with a fixed gain, as the reference's rank-1 networks (Figure6/code/A, Figure8/code/B)::

    o[t] = phi(c (kappa[t] - latent_threshold))        phi: the readout setting (sigmoid)

with no trainable readout weights, one output and ``c`` the output confidence (the reference's 10),
following the schedule of :mod:`.leaky_rate` (``confidence``, lowered to ``lowered_confidence`` from
``confidence_epoch``; a lowered confidence of 0 is a gain of 0 here, a constant output 1/2): the
parameter ``confidence`` holds it, set at the start of every epoch and never moved by the optimiser. (The reference reads ``kappa`` after each update, rnnsweep before it,
as every family.)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import one_of, positive
from .base import Params, register
from .leaky_rate import CONFIDENCE_AXES, AbstractLeakyRNN

READOUT_SOURCES = ("neurons", "latent")


@register
class LowRankRNN(AbstractLeakyRNN):
    """Leaky RNN whose recurrent matrix is the trainable product ``m @ n.T`` of rank ``rank``.

    Example:
        >>> net = LowRankRNN(n_neurons=8, rank=2, n_inputs=1, n_outputs=1, dt_ms=5.0, readout_from="latent",
        ...                  confidence=10.0)
        >>> params = net.init(jax.random.PRNGKey(0), **net.cell_args({}))
        >>> sorted(params), params["m"].shape
        (['W_in', 'b_in', 'b_rec', 'confidence', 'm', 'n'], (8, 2))
    """

    family: ClassVar[str] = "lowrank_rnn"
    recurrent_params: ClassVar[tuple[str, ...]] = ("m", "n")
    cell_axes: ClassVar[tuple[str, ...]] = CONFIDENCE_AXES + ("rank",)
    size_axes: ClassVar[tuple[str, ...]] = ("rank",)

    rank: int = 1
    readout_from: str = "neurons"  # "latent": o = phi(c (n[:, 0] . r - latent_threshold)), no readout weights
    latent_threshold: float = 1.0

    @property
    def latent(self) -> bool:
        return self.readout_from == "latent"

    @property
    def uses_confidence(self) -> bool:
        return self.latent or self.readout_norm == "l1"

    def check_family(self) -> None:
        positive("model.rank", self.rank, integer=True)
        if self.rank > self.n_neurons:
            raise ValueError(f"model.rank: must be an integer in [1, n_neurons], got {self.rank!r}")
        one_of("model.readout_from", self.readout_from, READOUT_SOURCES)
        if self.latent:
            if self.n_outputs != 1:
                raise ValueError(f"model.readout_from: the latent readout has one output; the task has {self.n_outputs}")
            if self.readout_norm != "none":
                raise ValueError("model.readout_norm: the latent readout has no readout weights to normalise")
            if not self.confidence > 0:
                raise ValueError(f"model.confidence: the latent readout needs a gain c > 0 (the reference's 10), "
                                 f"got {self.confidence!r}")

    def init(self, key: jax.Array, dtype: Any = jnp.float32, **cell_args: Any) -> Params:
        params = super().init(key, dtype, **cell_args)
        if self.latent:
            del params["W_out"], params["b_out"]
            params["confidence"] = jnp.asarray(cell_args.get("confidence", self.confidence), dtype)
        return params

    def init_recurrent(self, key: jax.Array, dtype: Any, rank: Any = None, **_: Any) -> Params:
        k_m, k_n = jax.random.split(key)
        scale = 1.0 / math.sqrt(self.n_neurons)
        shape = (self.n_neurons, self.rank)
        params = {"m": scale * jax.random.normal(k_m, shape, dtype), "n": scale * jax.random.normal(k_n, shape, dtype)}
        if rank is None:
            return params
        keep = (jnp.arange(self.rank) < rank).astype(dtype)  # this cell's rank: the columns beyond it are 0
        return {name: value * keep for name, value in params.items()}

    def frozen_params(self) -> tuple[str, ...]:
        return ("confidence",) if self.latent else ()

    def constrain(self, params: Params, epoch: jax.Array, **cell_args: Any) -> Params:
        if not self.latent:
            return super().constrain(params, epoch, **cell_args)
        c = self.scheduled_confidence(epoch, cell_args)
        return {**params, "confidence": jnp.asarray(c, params["confidence"].dtype)}

    def read(self, params: Params, states: jax.Array) -> jax.Array:
        if not self.latent:
            return super().read(params, states)
        z = params["confidence"] * (states @ params["n"][:, :1] - self.latent_threshold)
        if self.readout == "sigmoid":
            return jax.nn.sigmoid(z)
        return jax.nn.relu(z) if self.readout == "relu" else z

    def recurrent_weight(self, params: Params) -> jax.Array:
        return params["m"] @ params["n"].T

    def recurrent_dims(self) -> dict[str, tuple[str, ...]]:
        return {"m": ("neuron", "rank"), "n": ("neuron", "rank")}

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        dims = super().param_dims()
        if self.latent:
            del dims["W_out"], dims["b_out"]
            dims["confidence"] = ()
        return dims
