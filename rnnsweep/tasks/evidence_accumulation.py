"""Evidence accumulation (abrupt learning, paper-spec section 3): count two streams of pulses and
report the one with more.

A trial is ``stimulus_ms``, then ``delay_ms``, then ``response_ms`` (``S``, ``D``, ``R`` steps of
``dt_ms``; the trial lasts ``S + D + R`` steps). Every trial draws its *correct side* ``s`` (channel 0
or 1) with probability 1/2 each, independently of the other trials. At every step ``t < S`` input
channel ``k`` carries a pulse (1) with probability ``p_k``, independently across steps, channels and
trials, 0 otherwise; after the stimulus both channels are 0. With ``c = coherence`` and
``b = base_rate``::

    p_s     = clip(b * (1 + c), 0, 1)      (the correct side)
    p_other = clip(b * (1 - c), 0, 1)

so ``c = 0`` gives both channels the rate ``b`` and ``c = 1`` silences the other side (with the
defaults ``b = 0.5``, ``0 <= c <= 1``, nothing is clipped).

Two outputs. The target channel is the channel that got MORE pulses during the stimulus; on a tie
(equal counts) it is the drawn correct side ``s``. In the response window ``[S + D, S + D + R)`` the
target is that channel's one-hot vector, 0 at every other step.

Loss: MSE over the response window with uniform weights, ``sum over response steps, trials and both
outputs of (o - target)^2 / (R * n_trials * 2)``; every other step (stimulus, delay, padding) weighs 0.
Metrics over the response window (the scoring window): ``accuracy`` = fraction of (trial, response
step) pairs whose larger output is on the target channel (``argmax`` of the raw outputs; equal outputs
count as channel 0), and ``reliability`` = mean of the normalised output ``o_k / (o_0 + o_1)`` on the
target channel, as :func:`rnnsweep.metrics.two_choice_scores` computes it (with the default sigmoid
readout the outputs are positive, and the accuracy equals that function's too).

``coherence`` is a cell axis: as a grid axis each cell's value reaches :meth:`trials` as
``timing["coherence"]`` (a traced float). Every duration may be a grid axis. Random draws come from the
``key`` only: the sides from the key and ``n_trials``, the pulse of channel ``k`` at step ``t`` of
trial ``b`` from ``(key, t, k * n_trials + b)`` by the counter-based hash of
:mod:`rnnsweep.models.noise` (a ``U[0, 1)`` value below ``p_k``), so a cell's trials do not depend on
the padded length. ``Trials.extra`` carries each trial's ``side``, ``counts`` (n_trials, 2) and
``target`` channel.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..metrics import two_choice_scores
from ..settings import positive
from .base import AbstractTask, Timing, TimingError, Trials, register, window
from .serial_recall import uniform01


@register
class EvidenceAccumulation(AbstractTask):
    """Two streams of random pulses; after a delay, report the stream that pulsed more."""

    name: ClassVar[str] = "evidence_accumulation"
    durations: ClassVar[tuple[str, ...]] = ("stimulus_ms", "delay_ms", "response_ms")
    axes: ClassVar[tuple[str, ...]] = ("stimulus_ms", "delay_ms", "response_ms")
    cell_axes: ClassVar[tuple[str, ...]] = ("coherence",)
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "reliability")

    dt_ms: float = 5.0
    stimulus_ms: float = 100.0
    delay_ms: float = 0.0
    response_ms: float = 50.0
    base_rate: float = 0.5  # b: pulse probability per step at coherence 0
    coherence: float = 0.2  # c: the correct side pulses with b (1 + c), the other with b (1 - c)
    n_trials: int = 256  # trials per epoch, drawn afresh from the epoch's key

    n_inputs = property(lambda self: 2)
    n_outputs = property(lambda self: 2)

    def check_settings(self) -> None:
        positive("task.n_trials", self.n_trials, integer=True)
        if not 0 < self.base_rate <= 1:
            raise ValueError(f"task.base_rate: must lie in (0, 1] (a pulse probability), got {self.base_rate!r}")
        if not 0 <= self.coherence <= 1:
            raise ValueError(f"task.coherence: must lie in [0, 1], got {self.coherence!r}")

    def check_timing(self, timing: Timing) -> None:
        if timing["stimulus"] < 1:
            raise TimingError("stimulus_ms", "the stimulus must last at least one step")
        if timing["response"] < 1:
            raise TimingError("response_ms", "the response window must last at least one step")

    def rates(self, coherence: Any) -> tuple[jax.Array, jax.Array]:
        """(p_correct, p_other): the pulse probabilities per step, clipped to [0, 1] (float32)."""
        c = jnp.asarray(coherence, jnp.float32)
        return (jnp.clip(self.base_rate * (1 + c), 0, 1), jnp.clip(self.base_rate * (1 - c), 0, 1))

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        k_side, k_pulse = jax.random.split(key)
        side = jax.random.bernoulli(k_side, 0.5, (self.n_trials,)).astype(jnp.int32)  # (B,)
        p_correct, p_other = self.rates(timing["coherence"])
        rate = jnp.where(jnp.arange(2)[None, :] == side[:, None], p_correct, p_other)  # (B, 2)
        t = jnp.arange(n_steps_max)
        stimulus = (t < timing["stimulus"])[:, None, None]
        pulses = stimulus & (uniform01(k_pulse, n_steps_max, 2, self.n_trials, jnp.float32) < rate[None])  # (T, B, 2)
        counts = jnp.sum(pulses, axis=0, dtype=jnp.int32)  # (B, 2)
        target = jnp.where(counts[:, 1] > counts[:, 0], 1, jnp.where(counts[:, 0] > counts[:, 1], 0, side))
        response = window(timing["stimulus"] + timing["delay"], timing["response"], n_steps_max)  # (T,)
        one_hot = jax.nn.one_hot(target, 2, dtype=dtype)  # (B, 2)
        return Trials(
            inputs=pulses.astype(dtype),
            targets=jnp.where(response[:, None, None], one_hot[None], 0).astype(dtype),
            loss_weights=response.astype(dtype),
            score_mask=response,
            n_steps=jnp.asarray(self.n_steps(timing), jnp.int32),
            extra={"side": side, "counts": counts, "target": target.astype(jnp.int32)},
        )

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        w = trials.loss_weights[:, None, None]
        err = jnp.where(w > 0, (outputs - trials.targets) ** 2, 0)
        return jnp.sum(w * err) / (jnp.maximum(jnp.sum(trials.loss_weights), 1) * outputs.shape[1] * outputs.shape[2])

    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        mask = trials.score_mask[:, None]  # (T, 1)
        hit = jnp.argmax(outputs, axis=-1) == trials.extra["target"][None, :]  # (T, B)
        n = jnp.maximum(jnp.sum(trials.score_mask), 1) * outputs.shape[1]
        accuracy = jnp.sum(jnp.where(mask, hit, 0)) / n
        _, reliability = two_choice_scores(outputs, trials)
        return accuracy.astype(outputs.dtype), reliability.astype(outputs.dtype)

    def conditions(self) -> dict[str, int]:
        return {f"trial {i}": i for i in range(min(2, self.n_trials))}
