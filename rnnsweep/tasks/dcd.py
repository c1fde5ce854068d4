"""Delayed cue discrimination (paper-spec section 1).

Cue A = (0, 1) on trials ``0..k-1`` and cue B = (1, 0) on trials ``k..2k-1`` (``k = trials_per_cue``)
for ``cue_ms``; then ``delay_ms`` of zero input; then ``response_ms`` in which the target is the cue's
one-hot vector; then ``post_ms`` with target 0. Loss: weighted MSE, the last ``K = response + post``
steps weighted ``1 - K/T`` and every other step ``K/T`` (``loss_weighting = "emphasis"``, the
reference's; ``"uniform"``: 1 everywhere). Accuracy and reliability over the scoring window
``[cue + delay - 1, cue + delay + response - 1)``, which starts one step early as in the reference.

The reference computes the window's ends with float arithmetic in seconds and ``int()`` truncation
(``int(((cue + delay) / dt) - 1)``), which moves the window at some delays: at 300 ms it starts one
step early, at 320 ms it ends one step short (9 steps), at 440 ms (the long-tau grid) it starts one
step earlier still (11 steps). ``step_rounding = "exact"`` (the default) uses exact integer steps;
``"reference"`` reproduces the reference's windows (docs/reference-differences.md).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .base import Timing, Trials, loss_weights, reference_step, register, two_cues
from .cues import AbstractCueTask


@register
class DCD(AbstractCueTask):
    """Delayed cue discrimination: two cues, a delay, a response window, an optional post period.

    Example:
        >>> task = DCD(delay_ms=100.0, trials_per_cue=2)
        >>> timing = task.timing({})
        >>> int(task.n_steps(timing))  # 6 cue + 20 delay + 10 response steps
        36
    """

    name: ClassVar[str] = "dcd"
    durations: ClassVar[tuple[str, ...]] = ("cue_ms", "delay_ms", "response_ms", "post_ms")
    axes: ClassVar[tuple[str, ...]] = ("delay_ms", "response_ms", "post_ms")
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "reliability")

    dt_ms: float = 5.0
    cue_ms: float = 30.0
    delay_ms: float = 0.0
    response_ms: float = 50.0
    post_ms: float = 0.0
    trials_per_cue: int = 64
    loss_weighting: str = "emphasis"
    step_rounding: str = "exact"

    def derived_timing(self, durations_ms: dict[str, float], steps: Timing) -> Timing:
        if self.step_rounding == "reference":
            start = reference_step(durations_ms["cue_ms"], durations_ms["delay_ms"], dt_ms=self.dt_ms)
            end = reference_step(durations_ms["cue_ms"], durations_ms["delay_ms"], durations_ms["response_ms"],
                                 dt_ms=self.dt_ms)
        else:
            start = int(steps["cue"] + steps["delay"]) - 1
            end = start + int(steps["response"])
        return {"score_start": max(start, 0), "score_end": min(end, int(self.n_steps(steps)))}

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        t = jnp.arange(n_steps_max)[:, None, None]
        cues = two_cues(self.trials_per_cue, dtype)[None]  # (1, B, 2)
        resp_start = timing["cue"] + timing["delay"]
        resp_end = resp_start + timing["response"]
        n_steps = self.n_steps(timing)
        return Trials(
            inputs=jnp.where(t < timing["cue"], cues, 0).astype(dtype),
            targets=jnp.where((t >= resp_start) & (t < resp_end), cues, 0).astype(dtype),
            loss_weights=loss_weights(self.loss_weighting, n_steps, timing["response"] + timing["post"],
                                      n_steps_max, dtype),
            score_mask=self.score_mask(timing, n_steps_max),
            n_steps=n_steps,
        )
