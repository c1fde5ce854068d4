"""What the two-cue tasks of the main study (``dcd``, ``no_memory``) share: cue A = (0, 1) on trials
``0..k-1`` and cue B = (1, 0) on trials ``k..2k-1`` (``k = trials_per_cue``), two outputs, weighted MSE,
and accuracy/reliability over a scoring window (:func:`rnnsweep.metrics.two_choice_scores`) that
each task derives on the host (``score_start``, ``score_end`` in its timing), with exact integer
steps or, with ``step_rounding = "reference"``, the reference's float arithmetic.
Each final task declares its settings and builds its trials."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..metrics import two_choice_scores, weighted_mse
from ..settings import one_of, positive
from .base import LOSS_WEIGHTINGS, STEP_ROUNDINGS, AbstractTask, Timing, TimingError, Trials


class AbstractCueTask(AbstractTask):
    """Two cues, two outputs; settings ``trials_per_cue`` and ``loss_weighting`` in the final class."""

    n_inputs = property(lambda self: 2)
    n_outputs = property(lambda self: 2)
    n_trials = property(lambda self: 2 * self.trials_per_cue)

    def check_settings(self) -> None:
        positive("task.trials_per_cue", self.trials_per_cue, integer=True)
        one_of("task.loss_weighting", self.loss_weighting, LOSS_WEIGHTINGS)
        one_of("task.step_rounding", self.step_rounding, STEP_ROUNDINGS)

    def check_timing(self, timing: Timing) -> None:
        if timing["cue"] < 1:
            raise TimingError("cue_ms", "the cue must last at least one step")
        if timing["response"] < 1:
            raise TimingError("response_ms", "the response window must last at least one step")

    def score_mask(self, timing: Timing, n_steps_max: int) -> jax.Array:
        """The steps ``[score_start, score_end)`` of the cell's timing."""
        t = jnp.arange(n_steps_max)
        return (t >= timing["score_start"]) & (t < timing["score_end"])

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        return weighted_mse(outputs, trials)

    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        return two_choice_scores(outputs, trials)

    def conditions(self) -> dict[str, int]:
        return {"cue A": 0, "cue B": self.trials_per_cue}
