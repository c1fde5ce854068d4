"""Losses and per-epoch metrics the paper's tasks share (paper-spec section 1, "Loss and metrics").

* :func:`weighted_mse`: averaged over batch x time x outputs, with the cell's own length ``T`` in
  the denominator (padded steps carry weight 0 and do not count).
* :func:`two_choice_scores` (two outputs): over the scoring window, normalise the outputs to sum 1
  per step (``p = o / sum(o)``, NaN -> 0); accuracy ``= 1 - mean |argmax(p) - argmax(target)|``;
  reliability ``=`` mean of ``p`` on the correct channel ``argmax(target)``. Both use the per-step
  target, as the reference does, so the window's first step (one step before the response, target
  all zero) counts channel 0 as correct.
* :func:`threshold_scores` (one output, delayed activation): accuracy = fraction of window steps on
  the right side of 0.5; reliability = mean of ``1 - |o - target|`` clipped to [0, 1].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from .tasks.base import Trials


def weighted_mse(outputs: jax.Array, trials: "Trials") -> jax.Array:
    err = (outputs - trials.targets) ** 2  # (T, B, O)
    total = jnp.sum(trials.loss_weights[:, None, None] * err)
    count = trials.n_steps.astype(outputs.dtype) * outputs.shape[1] * outputs.shape[2]
    return total / count


def _window_mean(values: jax.Array, mask: jax.Array, n_trials: int, dtype) -> jax.Array:
    n_scored = jnp.maximum(jnp.sum(mask), 1) * n_trials
    return (jnp.sum(jnp.where(mask[:, None], values, 0)) / n_scored).astype(dtype)


def two_choice_scores(outputs: jax.Array, trials: "Trials") -> tuple[jax.Array, jax.Array]:
    """(accuracy, reliability) of two-output trials."""
    p = outputs / jnp.sum(outputs, axis=-1, keepdims=True)
    p = jnp.nan_to_num(p, nan=0.0)
    correct = jnp.argmax(trials.targets, axis=-1)  # (T, B)
    hit = 1 - jnp.abs(jnp.argmax(p, axis=-1) - correct)
    rel = jnp.take_along_axis(p, correct[..., None], axis=-1)[..., 0]
    n = outputs.shape[1]
    return (_window_mean(hit, trials.score_mask, n, outputs.dtype),
            _window_mean(rel, trials.score_mask, n, outputs.dtype))


def threshold_scores(outputs: jax.Array, trials: "Trials") -> tuple[jax.Array, jax.Array]:
    """(accuracy, reliability) of one-output trials."""
    o, y = outputs[..., 0], trials.targets[..., 0]
    hit = (o > 0.5) == (y > 0.5)
    rel = jnp.clip(1 - jnp.abs(o - y), 0, 1)
    n = outputs.shape[1]
    return (_window_mean(hit, trials.score_mask, n, outputs.dtype),
            _window_mean(rel, trials.score_mask, n, outputs.dtype))
