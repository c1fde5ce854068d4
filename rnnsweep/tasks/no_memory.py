"""The no-memory control (paper-spec section 1): the DCD cues with no delay, the target held.

Cue A = (0, 1) or B = (1, 0) for ``cue_ms``, then ``response_ms`` more steps; the target is the cue's
vector on every step from ``t = 0`` to the end, with uniform loss weights (pair it with a linear
readout). Accuracy and reliability over ``[cue - 1, cue + response - 1)``, the DCD window with delay 0.
The paper sweeps ``response_ms`` (20..400 ms).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .base import Timing, Trials, loss_weights, register, two_cues, window
from .cues import AbstractCueTask


@register
class NoMemory(AbstractCueTask):
    """The no-memory control: the target is the cue itself, from the first step to the last."""

    name: ClassVar[str] = "no_memory"
    durations: ClassVar[tuple[str, ...]] = ("cue_ms", "response_ms")
    axes: ClassVar[tuple[str, ...]] = ("response_ms",)
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "reliability")

    dt_ms: float = 5.0
    cue_ms: float = 30.0
    response_ms: float = 50.0
    trials_per_cue: int = 64
    loss_weighting: str = "uniform"

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        t = jnp.arange(n_steps_max)[:, None, None]
        cues = two_cues(self.trials_per_cue, dtype)[None]
        n_steps = self.n_steps(timing)
        return Trials(
            inputs=jnp.where(t < timing["cue"], cues, 0).astype(dtype),
            targets=jnp.where(t < n_steps, cues, 0).astype(dtype),
            loss_weights=loss_weights(self.loss_weighting, n_steps, timing["response"], n_steps_max, dtype),
            score_mask=window(timing["cue"] - 1, timing["response"], n_steps_max),
            n_steps=n_steps,
        )
