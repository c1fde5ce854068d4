"""Delayed addition (abrupt learning, paper-spec section 3).

A trial lasts ``T = trial_ms / dt_ms`` steps (``dt_ms = 1``: every ``_ms`` value is a step count;
default ``T = 40``). Two input channels:

* channel 0 (the paper's ``u1``): a value drawn from ``U[0, 1)`` at every step ``0 <= t < T``;
* channel 1 (the paper's ``u2``): 1 at exactly two steps ``t1`` and ``t2``, 0 elsewhere, with
  (``F = first_window``, default 10 steps, and ``H = ceil(T / 2)``, so that ``t < H`` is ``t < T/2``)::

      t1 uniform on {0, 1, ..., F - 1}        (t1 < F)
      t2 uniform on {F, F + 1, ..., H - 1}    (F <= t2 < T/2)

  drawn independently per trial, so ``t1 < t2 < T/2`` always (the two never coincide). A cell needs
  ``H > F``, i.e. ``T > 2 F`` (``T >= 21`` with the default ``F``); shorter trials are refused
  (``trial_ms``). The paper's ``t1 < 10, t2 < T/2`` leaves ``t1 < min(10, T/2)``: with ``T > 2 F``
  that is ``t1 < F``.

One output. The target is ``u1[t1] + u1[t2]`` (the values read from channel 0 of the same trial) at
the trial's last step ``T - 1`` only, 0 at every other step. The engine reads the output of step ``t``
from the state *before* that step's update (a state that has taken in the inputs of steps
``0 .. t-1``), so the scored output has seen the inputs of steps ``0 .. T - 2``: both pulses, since
they come before ``T/2``.

Loss: the MSE at the last step, ``mean over trials of (o[T-1] - target)^2`` (every other step, and
every padded step, weighs 0). Metrics, at the last step only: ``accuracy`` = fraction of trials with
``|o[T-1] - target| < tolerance`` (strict; default 0.04, the paper's criterion) and ``mse`` (the loss).

Random draws come from the ``key`` only: channel 0's element ``(t, trial)`` from
``(key, t, trial)`` by the counter-based hash of :mod:`rnnsweep.models.noise` (so a cell's trials do
not depend on the padded length), ``t1`` and ``t2`` from the key and the cell's ``T``. Inputs are 0 on
padded steps (``t >= T``). Trials per epoch: ``n_trials`` (default 256), drawn afresh every epoch.
``trial_ms`` may be a grid axis.

The search phase (the ``search_phase`` analysis): the paper ends it at 0.08 fraction correct. That is
the chance level of a network that answers the mean, 1: ``u1 + u2`` has a triangular density of peak
1 at 1, so ``P(|u1 + u2 - 1| < 0.04) = 0.08 - 0.04^2 = 0.078``, and on a batch of 64-256 trials the
searching networks' accuracy crosses 0.08 by chance within the first epochs. The MSE separates the
phases instead: answering the mean costs ``Var(u1 + u2) = 1/6 = 0.167``, the plateau of the search;
rnnsweep's criterion is an MSE below 0.04, a quarter of it (``search_criterion``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import positive
from .base import AbstractTask, Timing, TimingError, Trials, register
from .serial_recall import uniform01


@register
class DelayedAddition(AbstractTask):
    """Add the two values of channel 0 marked by the pulses of channel 1; answer at the last step."""

    name: ClassVar[str] = "delayed_addition"
    durations: ClassVar[tuple[str, ...]] = ("trial_ms",)
    axes: ClassVar[tuple[str, ...]] = ("trial_ms",)
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "mse")
    # What ends the search phase for the search_phase analysis (module docstring): the MSE below 0.04.
    search_criterion: ClassVar[tuple[str, str, float]] = ("mse", "below", 0.04)

    dt_ms: float = 1.0
    trial_ms: float = 40.0
    first_window: int = 10  # F (steps): t1 < F <= t2 < T/2
    tolerance: float = 0.04  # a trial is correct when |error| < tolerance at the last step
    n_trials: int = 256  # trials per epoch, drawn afresh from the epoch's key

    n_inputs = property(lambda self: 2)
    n_outputs = property(lambda self: 1)

    def check_settings(self) -> None:
        positive("task.first_window", self.first_window, integer=True)
        positive("task.tolerance", self.tolerance)
        positive("task.n_trials", self.n_trials, integer=True)

    def check_timing(self, timing: Timing) -> None:
        n = int(timing["trial"])
        if (n + 1) // 2 <= self.first_window:
            raise TimingError("trial_ms", f"a trial of {n} steps leaves no step for the second pulse: it must "
                                          f"come at or after first_window = {self.first_window} and before T/2, "
                                          f"so the trial needs more than {2 * self.first_window} steps")

    def pulse_times(self, timing: Timing, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(t1, t2), each (n_trials,) int32: ``t1`` on ``[0, F)``, ``t2`` on ``[F, ceil(T/2))``."""
        k1, k2 = jax.random.split(key)
        half = (jnp.asarray(timing["trial"], jnp.int32) + 1) // 2
        t1 = jax.random.randint(k1, (self.n_trials,), 0, self.first_window, jnp.int32)
        t2 = jax.random.randint(k2, (self.n_trials,), self.first_window, half, jnp.int32)
        return t1, t2

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        k_value, k_times = jax.random.split(key)
        n = jnp.asarray(timing["trial"], jnp.int32)
        t = jnp.arange(n_steps_max)
        own = (t < n)[:, None]  # (T, 1)
        u1 = jnp.where(own, uniform01(k_value, n_steps_max, 1, self.n_trials, dtype)[..., 0], 0)  # (T, B)
        t1, t2 = self.pulse_times(timing, k_times)
        u2 = ((t[:, None] == t1[None, :]) | (t[:, None] == t2[None, :])).astype(dtype)  # (T, B)
        total = (jnp.take_along_axis(u1, t1[None, :], axis=0)[0]
                 + jnp.take_along_axis(u1, t2[None, :], axis=0)[0])  # (B,)
        last = t == n - 1  # (T,)
        return Trials(
            inputs=jnp.stack([u1, u2], axis=-1).astype(dtype),
            targets=jnp.where(last[:, None, None], total[None, :, None], 0).astype(dtype),
            loss_weights=last.astype(dtype),
            score_mask=last,
            n_steps=n,
            extra={"t1": t1, "t2": t2},
        )

    def last_errors(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """(n_trials,) error ``o[T-1] - target`` of each trial at its last step."""
        last = trials.score_mask[:, None]  # (T, 1): the last step only
        return jnp.sum(jnp.where(last, outputs[..., 0] - trials.targets[..., 0], 0), axis=0)

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        w = trials.loss_weights[:, None, None]
        err = jnp.where(w > 0, (outputs - trials.targets) ** 2, 0)  # a non-finite output off the last step counts 0
        return jnp.sum(w * err) / (jnp.sum(trials.loss_weights) * outputs.shape[1] * outputs.shape[2])

    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        err = self.last_errors(outputs, trials)
        accuracy = jnp.mean(jnp.abs(err) < self.tolerance)
        return accuracy.astype(outputs.dtype), self.loss(outputs, trials).astype(outputs.dtype)

    def conditions(self) -> dict[str, int]:
        return {f"trial {i}": i for i in range(min(2, self.n_trials))}
