"""k-delay serial recall of sparse features (temporal superposition, paper-spec section 4).

A stream of ``sequence_ms / dt_ms`` steps (``dt_ms = 1``: every ``_ms`` value is a step count). At
every step each of the cell's ``n_features`` features is active independently with probability
``p = 1 - sparsity`` and then drawn from ``U[0, 1)`` (the toy-models-of-superposition convention),
zero otherwise. The network recalls ``n_recalled`` items: item ``j`` is the input ``lag + j`` steps
back, feature ``f`` on output ``j * n_features + f``.

Timing convention. The engine reads the output of step ``t`` from the state *before* that step's
update, a state that has taken in the inputs of steps ``0 .. t-1`` (as the main study's networks do).
The paper's ``y_t = x_{t-k}`` from ``h_t = W h_{t-1} + W_in x_t`` is therefore our target at step
``t + 1``::

    target[t, j * F + f] = x[t - 1 - (lag + j), f]      (0 where t - 1 - lag - j < 0)

so ``lag = 0`` reproduces the newest input. The loss and the metrics count the steps where an
item's target is defined (``t >= 1 + lag + j``) and the cell's own features only.

Loss: MSE weighted per feature by its importance ``importance_decay ** f`` (1: all equal),
normalised by the weights' sum, the scored steps and the trials. Metrics, per epoch: for each feature
its normalised recall error ``e_f = mean (y - target)^2 / mean target^2`` over its scored outputs
(0: perfect, 1: no better than a silent output); ``recall_error`` is the mean of ``e_f`` over the
cell's features and ``recalled_fraction`` the fraction with ``e_f <= tolerance``.

Cell axes (any of them may be a grid axis): ``sparsity``, ``lag`` and ``n_features``, which sizes
the input: as a grid axis the task is built at the largest value and a cell with fewer features
sees zeros on the others, which its loss and metrics ignore. Features are drawn per step and per
feature (element ``(t, f, trial)`` from ``(key, t, f * n_sequences + trial)`` only, by the
counter-based hash of :mod:`rnnsweep.models.noise`), so a cell's inputs do not depend on the
padded length or on the largest ``n_features`` of the grid.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..models.noise import hash_bits
from ..settings import positive
from .base import AbstractTask, Timing, TimingError, Trials, register, uniform_weights


def uniform01(key: jax.Array, n_steps: int, n_features: int, n_trials: int, dtype: Any) -> jax.Array:
    """``U[0, 1)`` draws (n_steps, n_trials, n_features); element ``(t, b, f)`` depends on
    ``(key, t, f * n_trials + b)`` only."""
    bits = hash_bits(key, n_steps, n_features * n_trials)
    u = (bits >> 8).astype(jnp.float32) * (1.0 / (1 << 24))
    return jnp.swapaxes(u.reshape(n_steps, n_features, n_trials), 1, 2).astype(dtype)


@register
class SerialRecall(AbstractTask):
    """Recall the sparse input of ``lag`` steps ago (and optionally the items before it)."""

    name: ClassVar[str] = "serial_recall"
    durations: ClassVar[tuple[str, ...]] = ("sequence_ms",)
    axes: ClassVar[tuple[str, ...]] = ("sequence_ms",)
    cell_axes: ClassVar[tuple[str, ...]] = ("sparsity", "lag", "n_features")
    size_axes: ClassVar[tuple[str, ...]] = ("n_features",)
    metric_names: ClassVar[tuple[str, ...]] = ("recall_error", "recalled_fraction")

    dt_ms: float = 1.0
    sequence_ms: float = 20.0
    n_features: int = 8
    sparsity: float = 0.9  # P(feature inactive at a step); p = 1 - sparsity
    lag: int = 1  # k: steps between an input and its recall (0: the newest input)
    n_recalled: int = 1  # items recalled at every step: lags lag, lag + 1, ..., lag + n_recalled - 1
    importance_decay: float = 1.0  # feature f's loss weight is importance_decay ** f
    tolerance: float = 0.1  # a feature is recalled when its normalised recall error is at most this
    n_sequences: int = 256  # trials (sequences) per epoch, drawn afresh from the epoch's key

    n_inputs = property(lambda self: self.n_features)
    n_outputs = property(lambda self: self.n_features * self.n_recalled)
    n_trials = property(lambda self: self.n_sequences)

    def check_settings(self) -> None:
        positive("task.n_features", self.n_features, integer=True)
        positive("task.n_recalled", self.n_recalled, integer=True)
        positive("task.n_sequences", self.n_sequences, integer=True)
        positive("task.lag", self.lag, integer=True, allow_zero=True)
        positive("task.importance_decay", self.importance_decay)
        positive("task.tolerance", self.tolerance)
        if not 0 <= self.sparsity < 1:
            raise ValueError(f"task.sparsity: must lie in [0, 1) (1 would leave no input), got {self.sparsity!r}")

    def check_timing(self, timing: Timing) -> None:
        oldest = int(timing["lag"]) + self.n_recalled  # steps of the stream before the last item is defined
        if timing["sequence"] <= oldest:
            raise TimingError(("sequence_ms", "lag"), f"a sequence of {int(timing['sequence'])} steps leaves no step to "
                                             f"score: recalling lag {int(timing['lag'])} with n_recalled = "
                                             f"{self.n_recalled} needs more than {oldest} steps")

    def feature_weights(self, n_features: Any, dtype: Any = jnp.float32) -> jax.Array:
        """(n_features,) importance of each feature, 0 beyond the cell's own ``n_features``."""
        f = jnp.arange(self.n_features)
        return jnp.where(f < n_features, jnp.asarray(self.importance_decay, dtype) ** f, 0).astype(dtype)

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        n_feat, n_b, n_items = self.n_features, self.n_sequences, self.n_recalled
        k_active, k_value = jax.random.split(key)
        active = uniform01(k_active, n_steps_max, n_feat, n_b, jnp.float32) < 1 - timing["sparsity"]
        value = uniform01(k_value, n_steps_max, n_feat, n_b, dtype)
        t = jnp.arange(n_steps_max)
        mine = jnp.arange(n_feat) < timing["n_features"]
        x = jnp.where(active & mine & (t < timing["sequence"])[:, None, None], value, 0).astype(dtype)
        lags = jnp.asarray(timing["lag"]).astype(jnp.int32) + jnp.arange(n_items)  # (items,)
        source = t[:, None] - 1 - lags[None, :]  # (T, items): the step each item recalls
        defined = (source >= 0) & (t < timing["sequence"])[:, None]
        recalled = jnp.take(x, jnp.clip(source, 0, None), axis=0)  # (T, items, B, F)
        recalled = jnp.where(defined[:, :, None, None], recalled, 0)
        targets = jnp.moveaxis(recalled, 2, 1).reshape(n_steps_max, n_b, n_items * n_feat)
        weights = defined[:, :, None] * self.feature_weights(timing["n_features"], dtype)[None, None, :]
        return Trials(
            inputs=x,
            targets=targets,
            loss_weights=uniform_weights(timing["sequence"], n_steps_max, dtype),
            score_mask=jnp.any(defined, axis=1),
            n_steps=jnp.asarray(timing["sequence"], jnp.int32),
            extra={"output_weights": weights.reshape(n_steps_max, n_items * n_feat).astype(dtype),
                   "mine": jnp.tile(mine, n_items)},
        )

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        w = trials.extra["output_weights"]  # (T, O): 0 on undefined items, padded steps, others' features
        err = (outputs - trials.targets) ** 2
        return jnp.sum(w[:, None, :] * err) / (jnp.maximum(jnp.sum(w), 1e-30) * outputs.shape[1])

    def feature_errors(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """(n_features,) normalised recall error ``e_f`` of each feature over every item (NaN beyond
        the cell's own features, or where a feature was never active)."""
        scored = (trials.extra["output_weights"] > 0)[:, None, :]  # (T, 1, O)
        sq = jnp.sum(jnp.where(scored, (outputs - trials.targets) ** 2, 0), axis=(0, 1))
        power = jnp.sum(jnp.where(scored, trials.targets ** 2, 0), axis=(0, 1))
        per_item = lambda v: v.reshape(self.n_recalled, self.n_features).sum(0)  # noqa: E731
        mine = trials.extra["mine"][: self.n_features]
        power = per_item(power)
        return jnp.where(mine & (power > 0), per_item(sq) / jnp.where(power > 0, power, 1), jnp.nan)

    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        e = self.feature_errors(outputs, trials)
        counted = jnp.isfinite(e)
        n = jnp.maximum(jnp.sum(counted), 1)
        error = jnp.sum(jnp.where(counted, e, 0)) / n
        recalled = jnp.sum(counted & (e <= self.tolerance)) / n
        return error.astype(outputs.dtype), recalled.astype(outputs.dtype)

    def conditions(self) -> dict[str, int]:
        return {"sequence 0": 0, "sequence 1": 1}
