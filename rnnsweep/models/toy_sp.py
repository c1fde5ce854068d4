"""The slow-point (ghost) toy model ``dx/dt = x^2 + r``, ``x(0) = 0`` (paper-spec sections 1, 2).

The output switches from 0 to 1 when ``x`` escapes, at ``t_e = pi / (2 sqrt r)``; the target is 0
for ``t < T_d`` and 1 for ``T_d <= t < T_d + T_r``.

* ``loss = "analytic"``: infinite confidence and threshold: ``L(r) = |T_d - t_e|`` if
  ``t_e < T_d + T_r``, else ``T_r`` (the flat no-learning zone ``r <= pi^2 / (4 (T_d + T_r)^2)``);
* ``loss = "numeric"``: Euler steps ``x <- clip(x + h (x^2 + r), +-1e6)`` over ``[0, T_d + T_r)``,
  output ``sigmoid(a (x - x*))``, ``L = h sum (output - target)^2`` (reference ``h = 0.1``,
  ``x* = 10``).

Plain gradient descent on ``r`` has the critical rate ``eta_c = (pi^4/8) (1/T_d^2 - 1/(T_d+T_r)^2) / T_d^3``
(``3 pi^4 / (32 T^5)`` for ``T_r = T_d = T``; times ``T_d`` with ``normalize``). See docs/theory.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .base import Params, register
from .scalar_toy import AbstractScalarToy

X_CLIP = 1e6


def escape_time(r):
    """``pi / (2 sqrt r)`` for ``r > 0``, infinite otherwise."""
    safe = jnp.where(r > 0, r, 1.0)
    return jnp.where(r > 0, jnp.pi / (2 * jnp.sqrt(safe)), jnp.inf)


@register
class GhostSP(AbstractScalarToy):
    """The ghost ``dx/dt = x^2 + r``: one trainable rate, a slow passage, an abrupt switch."""

    family: ClassVar[str] = "toy_sp"
    mechanism: ClassVar[str | None] = "SP"

    response_equals_delay: bool = True
    x_threshold: float = 10.0

    def optimum(self, t_delay, t_response=None):
        return jnp.pi**2 / (4 * t_delay**2)

    def stuck_loss(self, t_d, t_r):
        return t_r

    def analytic_loss(self, r, t_d, t_r):
        t_e = escape_time(r)
        return jnp.where(t_e < t_d + t_r, jnp.abs(t_d - t_e), t_r)

    def numeric_loss(self, r, t_d, t_r, n_points: int):
        h = self.euler_dt
        t = jnp.arange(n_points) * h

        def step(x, _):
            return jnp.clip(x + h * (x * x + r), -X_CLIP, X_CLIP), x

        _, xs = jax.lax.scan(step, jnp.zeros_like(r), None, length=n_points)
        out = jax.nn.sigmoid(self.confidence * (xs - self.x_threshold))
        target = ((t >= t_d) & (t < t_d + t_r)).astype(out.dtype)
        return h * jnp.sum(jnp.where(t < t_d + t_r, (out - target) ** 2, 0))

    # the ghost as a dynamical system: state x (B, 1), Euler steps of dt_ms
    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float64) -> jax.Array:
        return jnp.zeros((n_trials, 1), dtype)

    def update(self, params: Params, state: jax.Array, drive_t: jax.Array) -> jax.Array:
        return jnp.clip(state + self.dt_ms * (state * state + params["r"]), -X_CLIP, X_CLIP)

    def read(self, params: Params, states: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(self.confidence * (states - self.x_threshold))
