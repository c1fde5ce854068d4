"""Delayed cue discrimination with a signed cue (the ghost paper's DCD, paper-spec section 2).

One input channel carries a cue of +1 (trials ``0..k-1``) or -1 (trials ``k..2k-1``, ``k =
trials_per_sign``) for ``cue_ms``; then ``delay_ms`` of zero input; then ``response_ms`` in which the
one output's target is the cue's sign. The target is 0 at every other step. This is the library's
version of the "delayed_sign" worked example of docs/plugins.md, with ``dcd``'s loss weighting.

The ghost paper reads this task out with a tanh; rnnsweep's leaky families offer ``readout =
"linear"`` (and sigmoid, relu), not tanh: use ``"linear"`` (the default sigmoid cannot reach -1).

Loss: :func:`rnnsweep.metrics.weighted_mse` with the weights of ``dcd`` (``loss_weighting =
"emphasis"``: the last ``K = response`` steps weigh ``1 - K/T`` and every earlier step ``K/T``;
``"uniform"``: 1 on every step of the cell). Metrics over the exact response window
``[cue + delay, cue + delay + response)``: ``accuracy`` = fraction of steps with ``sign(o) ==
target`` (an output of exactly 0 is wrong), ``reliability`` = mean of ``clip(1 - |o - target| / 2,
0, 1)`` (1 at the target, 0 at the opposite sign or beyond).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..metrics import weighted_mse
from ..settings import one_of, positive
from .base import LOSS_WEIGHTINGS, AbstractTask, Timing, TimingError, Trials, loss_weights, register, window


@register
class DCDSign(AbstractTask):
    """Remember the sign of a +-1 cue across a delay (ghost paper's DCD)."""

    name: ClassVar[str] = "dcd_sign"
    durations: ClassVar[tuple[str, ...]] = ("cue_ms", "delay_ms", "response_ms")
    axes: ClassVar[tuple[str, ...]] = ("delay_ms", "response_ms")
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "reliability")

    dt_ms: float = 5.0
    cue_ms: float = 30.0
    delay_ms: float = 0.0
    response_ms: float = 50.0
    trials_per_sign: int = 64
    loss_weighting: str = "emphasis"

    n_inputs = property(lambda self: 1)
    n_outputs = property(lambda self: 1)
    n_trials = property(lambda self: 2 * self.trials_per_sign)

    def check_settings(self) -> None:
        positive("task.trials_per_sign", self.trials_per_sign, integer=True)
        one_of("task.loss_weighting", self.loss_weighting, LOSS_WEIGHTINGS)

    def check_timing(self, timing: Timing) -> None:
        if timing["cue"] < 1:
            raise TimingError("cue_ms", "the cue must last at least one step")
        if timing["response"] < 1:
            raise TimingError("response_ms", "the response window must last at least one step")

    def signs(self, dtype: Any = jnp.float32) -> jax.Array:
        """(B,) cue of every trial: +1 on the first ``trials_per_sign``, -1 on the rest."""
        return jnp.repeat(jnp.array([1.0, -1.0], dtype), self.trials_per_sign)

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        t = jnp.arange(n_steps_max)[:, None, None]
        sign = self.signs(dtype)[None, :, None]
        start = timing["cue"] + timing["delay"]
        n_steps = self.n_steps(timing)
        return Trials(
            inputs=jnp.where(t < timing["cue"], sign, 0).astype(dtype),
            targets=jnp.where((t >= start) & (t < start + timing["response"]), sign, 0).astype(dtype),
            loss_weights=loss_weights(self.loss_weighting, n_steps, timing["response"], n_steps_max, dtype),
            score_mask=window(start, timing["response"], n_steps_max),
            n_steps=n_steps,
        )

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        return weighted_mse(outputs, trials)

    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        mask = trials.score_mask[:, None]
        n = jnp.maximum(jnp.sum(trials.score_mask), 1) * outputs.shape[1]
        o, y = outputs[..., 0], trials.targets[..., 0]
        accuracy = jnp.sum(jnp.where(mask, jnp.sign(o) == jnp.sign(y), 0)) / n
        reliability = jnp.sum(jnp.where(mask, jnp.clip(1 - jnp.abs(o - y) / 2, 0, 1), 0)) / n
        return accuracy.astype(outputs.dtype), reliability.astype(outputs.dtype)

    def conditions(self) -> dict[str, int]:
        return {"+1": 0, "-1": self.trials_per_sign}
