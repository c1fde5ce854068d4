"""Delayed match-to-sample (ghost paper, paper-spec section 2).

Two input channels, one output. A first stimulus ``s1`` in {A, B} for ``cue_ms``, ``delay_ms`` of
zero input, a second stimulus ``s2`` in {A, B} for ``test_ms``, then ``response_ms`` in which the
target is 1 if ``s1 == s2`` and 0 otherwise; the target is 0 at every other step. Stimuli are one-hot
as in ``dcd`` (:func:`rnnsweep.tasks.base.two_cues`): A = (0, 1), B = (1, 0).

The batch is deterministic: the four conditions AA, AB, BA, BB (``s1 s2``), each on
``k = trials_per_condition`` consecutive trials, in that order (AA on trials ``0..k-1``, AB on
``k..2k-1``, BA on ``2k..3k-1``, BB on ``3k..4k-1``); the match trials are AA and BB.

Loss: :func:`rnnsweep.metrics.weighted_mse` with the weights of ``dcd`` (``loss_weighting =
"emphasis"``: the last ``K = response`` steps weigh ``1 - K/T`` and every earlier step ``K/T``;
``"uniform"``: 1 on every step of the cell). Metrics (:func:`rnnsweep.metrics.threshold_scores`, one
output, threshold 0.5): ``accuracy`` = fraction of the response window's steps on the right side of
0.5, ``reliability`` = mean of ``clip(1 - |o - target|, 0, 1)``, over the exact response window
``[cue + delay + test, cue + delay + test + response)`` (no one-step-early start: that is a quirk of
the main study's reference code, which this task does not have). Meant for the default sigmoid
readout.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..metrics import threshold_scores, weighted_mse
from ..settings import one_of, positive
from .base import LOSS_WEIGHTINGS, AbstractTask, Timing, TimingError, Trials, loss_weights, register, window

CONDITIONS = ("AA", "AB", "BA", "BB")
STIMULI = {"A": (0.0, 1.0), "B": (1.0, 0.0)}


@register
class DMTS(AbstractTask):
    """Delayed match-to-sample: is the second stimulus the first one?"""

    name: ClassVar[str] = "dmts"
    durations: ClassVar[tuple[str, ...]] = ("cue_ms", "delay_ms", "test_ms", "response_ms")
    axes: ClassVar[tuple[str, ...]] = ("delay_ms", "test_ms", "response_ms")
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "reliability")

    dt_ms: float = 5.0
    cue_ms: float = 30.0
    delay_ms: float = 0.0
    test_ms: float = 30.0
    response_ms: float = 50.0
    trials_per_condition: int = 32
    loss_weighting: str = "emphasis"

    n_inputs = property(lambda self: 2)
    n_outputs = property(lambda self: 1)
    n_trials = property(lambda self: 4 * self.trials_per_condition)

    def check_settings(self) -> None:
        positive("task.trials_per_condition", self.trials_per_condition, integer=True)
        one_of("task.loss_weighting", self.loss_weighting, LOSS_WEIGHTINGS)

    def check_timing(self, timing: Timing) -> None:
        for field in ("cue", "test", "response"):
            if timing[field] < 1:
                raise TimingError(f"{field}_ms", f"the {field} period must last at least one step")

    def stimuli(self, dtype: Any = jnp.float32) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(B, 2) first stimulus, (B, 2) second stimulus and (B,) match (1.0 / 0.0) of every trial."""
        k = self.trials_per_condition
        s1 = jnp.array([STIMULI[c[0]] for c in CONDITIONS for _ in range(k)], dtype)
        s2 = jnp.array([STIMULI[c[1]] for c in CONDITIONS for _ in range(k)], dtype)
        match = jnp.array([float(c[0] == c[1]) for c in CONDITIONS for _ in range(k)], dtype)
        return s1, s2, match

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        t = jnp.arange(n_steps_max)[:, None, None]
        s1, s2, match = self.stimuli(dtype)
        test_start = timing["cue"] + timing["delay"]
        resp_start = test_start + timing["test"]
        resp_end = resp_start + timing["response"]
        n_steps = self.n_steps(timing)
        inputs = (jnp.where(t < timing["cue"], s1[None], 0)
                  + jnp.where((t >= test_start) & (t < resp_start), s2[None], 0))
        return Trials(
            inputs=inputs.astype(dtype),
            targets=jnp.where((t >= resp_start) & (t < resp_end), match[None, :, None], 0).astype(dtype),
            loss_weights=loss_weights(self.loss_weighting, n_steps, timing["response"], n_steps_max, dtype),
            score_mask=window(resp_start, timing["response"], n_steps_max),
            n_steps=n_steps,
        )

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        return weighted_mse(outputs, trials)

    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        return threshold_scores(outputs, trials)

    def conditions(self) -> dict[str, int]:
        k = self.trials_per_condition
        return {c: i * k for i, c in enumerate(CONDITIONS)}
