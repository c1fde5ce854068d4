"""Manifold attractor regularisation (MAR; Schmidt et al. 2021, the baseline of the abrupt-learning
paper, paper-spec section 3), for the PLRNN ``x' = A x + W relu(x) + C s + h``::

    L_MAR = sum_{i reg} (A_ii - 1)^2 + sum_{i reg} sum_{j != i} W_ij^2 + sum_{i reg} h_i^2

over the regulated units ``i`` (the first ``n_units``; all when 0): it pulls each regulated unit
towards a perfect integrator (``A_ii = 1``, no input from the other units' ``W`` row, no bias), whose
states form a plane attractor. It needs a family with parameters ``A`` (the diagonal), ``W`` and
``h``: the PLRNN.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import positive
from .base import AbstractRegularizer, check_units, register

NEEDED = ("A", "W", "h")


@register
class ManifoldAttractor(AbstractRegularizer):
    """lambda_MAR * (sum (A_ii - 1)^2 + sum_{j != i} W_ij^2 + sum h_i^2) over the regulated rows i.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"A": jnp.array([0.5, 0.0]), "W": jnp.array([[9.0, 2.0], [3.0, 9.0]]), "h": jnp.array([1.0, 7.0])}
        >>> float(ManifoldAttractor(n_units=1).penalty(None, params, None, None))  # 0.25 + 4 + 1
        5.25
    """

    name: ClassVar[str] = "mar"
    axis: ClassVar[str] = "lambda_mar"

    n_units: int = 0  # the first n_units units are regulated; 0: all of them

    def check_settings(self) -> None:
        positive("regularize.mar.n_units", self.n_units, integer=True, allow_zero=True)

    def check_model(self, model: Any) -> None:
        missing = [p for p in NEEDED if p not in model.param_shapes()]
        if missing:
            raise ValueError(f"regularize.mar: needs a family with parameters A (diagonal), W and h, as plrnn; "
                             f"family {model.family!r} has no {', '.join(missing)}")
        check_units(model, "mar", self.n_units, "regulated")

    def penalty(self, model: Any, params: dict[str, jax.Array], rates: jax.Array, n_steps: jax.Array) -> jax.Array:
        a, w, h = params["A"], params["W"], params["h"]
        k = a.shape[0] if self.n_units == 0 else self.n_units
        off = 1 - jnp.eye(w.shape[0], dtype=w.dtype)[:k]  # rows i < k, without W_ii
        return jnp.sum((a[:k] - 1) ** 2) + jnp.sum((w[:k] * off) ** 2) + jnp.sum(h[:k] ** 2)
