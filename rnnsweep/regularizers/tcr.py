"""Temporal consistency regularisation (TCR; Haputhanthri, Dinc et al., paper-spec section 3)::

    L_TCR = mean over t of  sum over the N_reg memory units i of (x_i[t] - x_i[t-1])^2

averaged over the trials of the batch, with ``x`` the observed state (the leaky families' rates, the
PLRNN's ``x``). The memory units are the first ``n_units`` (all units when 0): at initialisation the
units are exchangeable, so which ones is a convention. ``t`` runs over the differences within the
cell's own trial, ``t = 1 .. n_steps - 1`` of the states before each update (padding steps never
count). It rewards states that hold still, the slow manifold a memory needs, from the first epoch on.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import positive
from .base import AbstractRegularizer, check_units, register


@register
class TemporalConsistency(AbstractRegularizer):
    """lambda_TCR * mean_t sum_{i < n_units} (x_i[t] - x_i[t-1])^2 (mean over trials too).

    Example:
        >>> import jax.numpy as jnp
        >>> rates = jnp.array([[[0.0, 5.0]], [[1.0, 5.0]], [[3.0, 9.0]]])   # (T=3, B=1, N=2)
        >>> float(TemporalConsistency(n_units=1).penalty(None, {}, rates, jnp.int32(3)))  # (1 + 4) / 2
        2.5
    """

    name: ClassVar[str] = "tcr"
    axis: ClassVar[str] = "lambda_tcr"

    n_units: int = 0  # N_reg: the first n_units units are the memory units; 0: all of them

    def check_settings(self) -> None:
        positive("regularize.tcr.n_units", self.n_units, integer=True, allow_zero=True)

    def check_model(self, model: Any) -> None:
        check_units(model, "tcr", self.n_units, "memory")

    def penalty(self, model: Any, params: dict[str, jax.Array], rates: jax.Array, n_steps: jax.Array) -> jax.Array:
        x = rates if self.n_units == 0 else rates[..., : self.n_units]
        step = jnp.diff(x, axis=0)  # (T-1, B, n): x[t] - x[t-1], t = 1 .. T-1
        t = jnp.arange(1, rates.shape[0])
        inside = (t < n_steps).astype(rates.dtype)  # a difference between two steps of the cell's own trial
        per_step = jnp.mean(jnp.sum(step**2, axis=-1), axis=-1)  # (T-1,): sum over units, mean over trials
        return jnp.sum(per_step * inside) / jnp.maximum(jnp.sum(inside), 1)
