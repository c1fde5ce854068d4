"""The limit-cycle toy model ``x(t) = sin(2 pi r t)``, output 1 while ``x < 0`` (paper-spec section 1).

Loss ``L = (1/T_d) int_0^T_d out dt + (1/T_r) int_T_d^{T_d+T_r} (1 - out) dt``.

* ``loss = "analytic"``: the closed form. For ``r > 0`` the output is 1 on the second half of every
  period, so ``int_0^T out dt = F(r T) / r`` with ``F(u) = floor(u)/2 + max(0, frac(u) - 1/2)``
  (for ``r < 0``, on the first half: ``G(u) = floor(u)/2 + min(frac(u), 1/2)`` of ``|r|``).
  Minimum 0 at ``r* = 1/(2 T_d)`` when ``T_r <= T_d``; flat ``L = 1`` for ``|r| <= 1/(2 (T_d + T_r))``.
* ``loss = "numeric"``: midpoint sums with step ``h`` of ``out = sigmoid(-a x)``.

Plain gradient descent has ``eta_c = T_d^-3 T_r / 4`` for ``T_r << T_d`` (exponent 3) and
``1 / (24 T^2)`` for ``T_r = T_d = T`` (exponent 2); see rnnsweep.analysis.theory and docs/theory.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .base import Params, register
from .scalar_toy import AbstractScalarToy


def time_output_on(r, t):
    """``int_0^t out ds`` for ``out = [sin(2 pi r s) < 0]`` (closed form, any sign of ``r``)."""
    a = jnp.abs(r)
    safe = jnp.where(a > 0, a, 1.0)
    u = safe * t
    whole, frac = jnp.floor(u), u - jnp.floor(u)
    second_half = whole / 2 + jnp.maximum(0.0, frac - 0.5)  # r > 0: out = 1 on (1/2, 1) of a period
    first_half = whole / 2 + jnp.minimum(frac, 0.5)  # r < 0: on (0, 1/2)
    return jnp.where(a > 0, jnp.where(r > 0, second_half, first_half) / safe, 0.0)


@register
class CycleLC(AbstractScalarToy):
    """The cycle ``x = sin(2 pi r t)``: one trainable frequency, the output on while ``x < 0``."""

    family: ClassVar[str] = "toy_lc"
    mechanism: ClassVar[str | None] = "LC"

    response_equals_delay: bool = False

    def optimum(self, t_delay, t_response=None):
        return 1.0 / (2 * t_delay)

    def stuck_loss(self, t_d, t_r):
        return jnp.ones_like(t_d)

    def analytic_loss(self, r, t_d, t_r):
        on_delay = time_output_on(r, t_d)
        on_resp = time_output_on(r, t_d + t_r) - on_delay
        return on_delay / t_d + 1 - on_resp / t_r

    def numeric_loss(self, r, t_d, t_r, n_points: int):
        h = self.euler_dt
        t = (jnp.arange(n_points) + 0.5) * h
        out = jax.nn.sigmoid(-self.confidence * jnp.sin(2 * jnp.pi * r * t))
        delay = jnp.sum(jnp.where(t < t_d, out, 0)) * h / t_d
        resp = jnp.sum(jnp.where((t >= t_d) & (t < t_d + t_r), 1 - out, 0)) * h / t_r
        return delay + resp

    # the cycle as a dynamical system: state (cos, sin) of the phase, rotated by 2 pi r dt per step
    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float64) -> jax.Array:
        return jnp.tile(jnp.array([[1.0, 0.0]], dtype), (n_trials, 1))

    def update(self, params: Params, state: jax.Array, drive_t: jax.Array) -> jax.Array:
        angle = 2 * jnp.pi * params["r"] * self.dt_ms
        c, s = jnp.cos(angle), jnp.sin(angle)
        return jnp.stack([c * state[..., 0] - s * state[..., 1], s * state[..., 0] + c * state[..., 1]], axis=-1)

    def read(self, params: Params, states: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(-self.confidence * states[..., 1:2])
