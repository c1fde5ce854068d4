"""Delayed activation (ghost paper, paper-spec section 2): no input, one output, target 0 for
``delay_ms`` then 1 for ``response_ms`` (then 0 for ``post_ms``).

The network receives one silent input channel. Loss weights as in DCD (``emphasis`` over the last
``response + post`` steps, or ``uniform``). Accuracy = fraction of the scoring window's steps on the
right side of 0.5, reliability = mean of ``1 - |o - target|``, over ``[delay - 1, delay + response - 1)``
(clipped at 0). The toy models of the theory use this task for its durations only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..metrics import threshold_scores, weighted_mse
from ..settings import one_of, positive
from .base import LOSS_WEIGHTINGS, AbstractTask, Timing, TimingError, Trials, loss_weights, register, window


@register
class DelayedActivation(AbstractTask):
    """Stay silent for a delay, then switch on."""

    name: ClassVar[str] = "delayed_activation"
    durations: ClassVar[tuple[str, ...]] = ("delay_ms", "response_ms", "post_ms")
    axes: ClassVar[tuple[str, ...]] = ("delay_ms", "response_ms", "post_ms")
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "reliability")

    dt_ms: float = 5.0
    delay_ms: float = 0.0
    response_ms: float = 50.0
    post_ms: float = 0.0
    n_trials: int = 128
    loss_weighting: str = "emphasis"

    n_inputs = property(lambda self: 1)
    n_outputs = property(lambda self: 1)

    def check_settings(self) -> None:
        positive("task.n_trials", self.n_trials, integer=True)
        one_of("task.loss_weighting", self.loss_weighting, LOSS_WEIGHTINGS)

    def check_timing(self, timing: Timing) -> None:
        if timing["response"] < 1:
            raise TimingError("response_ms", "the response window must last at least one step")

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        t = jnp.arange(n_steps_max)[:, None, None]
        resp_start = timing["delay"]
        resp_end = resp_start + timing["response"]
        n_steps = self.n_steps(timing)
        ones = jnp.ones((1, self.n_trials, 1), dtype)
        return Trials(
            inputs=jnp.zeros((n_steps_max, self.n_trials, 1), dtype),
            targets=jnp.where((t >= resp_start) & (t < resp_end), ones, 0).astype(dtype),
            loss_weights=loss_weights(self.loss_weighting, n_steps, timing["response"] + timing["post"],
                                      n_steps_max, dtype),
            score_mask=window(resp_start - 1, timing["response"], n_steps_max),
            n_steps=n_steps,
        )

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        return weighted_mse(outputs, trials)

    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        return threshold_scores(outputs, trials)

    def conditions(self) -> dict[str, int]:
        return {"trial": 0}
