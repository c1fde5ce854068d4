"""The no-memory control (paper-spec section 1): the DCD cues with no delay, the target held.

Cue A = (0, 1) or B = (1, 0) for ``cue_ms``, then ``response_ms`` more steps; the target is the cue's
vector on every step from ``t = 0`` to the end, with uniform loss weights (pair it with a linear
readout). The paper sweeps ``response_ms`` (20..400 ms).

Scoring window (``score_window``): ``"reference"`` (default) is what the reference computed: its
DCD window formula with the response length in the place of the delay,
``[int((cue + response)/dt - 1), int((cue + 2 response)/dt - 1))``, cut at the trial's end; that is
the trial's **last step** only (with ``step_rounding = "reference"``, the last two steps at 300 ms).
``"response"`` scores ``[cue - 1, cue + response - 1)``, the DCD window with delay 0 (rnnsweep 0.1).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import one_of
from .base import Timing, Trials, loss_weights, reference_step, register, two_cues
from .cues import AbstractCueTask


SCORE_WINDOWS = ("reference", "response")


@register
class NoMemory(AbstractCueTask):
    """The no-memory control: the target is the cue itself, from the first step to the last."""

    name: ClassVar[str] = "no_memory"
    durations: ClassVar[tuple[str, ...]] = ("cue_ms", "response_ms")
    axes: ClassVar[tuple[str, ...]] = ("response_ms",)
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "reliability")
    # stores written before score_window existed scored the response window
    settings_added: ClassVar[dict[str, str]] = {"score_window": "response"}

    dt_ms: float = 5.0
    cue_ms: float = 30.0
    response_ms: float = 50.0
    trials_per_cue: int = 64
    loss_weighting: str = "uniform"
    score_window: str = "reference"
    step_rounding: str = "exact"

    def check_settings(self) -> None:
        super().check_settings()
        one_of("task.score_window", self.score_window, SCORE_WINDOWS)

    def derived_timing(self, durations_ms: dict[str, float], steps: Timing) -> Timing:
        n = int(self.n_steps(steps))
        cue, response = int(steps["cue"]), int(steps["response"])
        if self.score_window == "response":
            start, end = cue - 1, cue - 1 + response
        elif self.step_rounding == "reference":
            start = reference_step(durations_ms["cue_ms"], durations_ms["response_ms"], dt_ms=self.dt_ms)
            end = reference_step(durations_ms["cue_ms"], durations_ms["response_ms"], durations_ms["response_ms"],
                                 dt_ms=self.dt_ms)
        else:
            start, end = cue + response - 1, cue + 2 * response - 1
        return {"score_start": max(start, 0), "score_end": min(end, n)}

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        t = jnp.arange(n_steps_max)[:, None, None]
        cues = two_cues(self.trials_per_cue, dtype)[None]
        n_steps = self.n_steps(timing)
        return Trials(
            inputs=jnp.where(t < timing["cue"], cues, 0).astype(dtype),
            targets=jnp.where(t < n_steps, cues, 0).astype(dtype),
            loss_weights=loss_weights(self.loss_weighting, n_steps, timing["response"], n_steps_max, dtype),
            score_mask=self.score_mask(timing, n_steps_max),
            n_steps=n_steps,
        )
