"""3-bit flip-flop (abrupt-learning paper, paper-spec section 3).

Three input and three output channels. At every step ``t`` of a trial of ``trial_ms / dt_ms`` steps,
each input channel independently carries a pulse with probability ``pulse_prob``, of sign +1 or -1
with probability 1/2 each, and 0 otherwise. Output ``k`` must hold the sign of channel ``k``'s last
pulse: it flips when a pulse of the other sign arrives and ignores pulses of the sign it holds and
the other channels.

Timing convention. The engine reads the output of step ``t`` from the state *before* that step's
update (a state that has taken in the inputs of steps ``0 .. t-1``; see
:mod:`rnnsweep.tasks.serial_recall`), so a pulse at step ``s`` can show on the output from step
``s + 1`` on::

    target[t, b, k] = sign of the last pulse of channel k at a step s < t    (0 before any pulse)

A channel's target is therefore 0 up to and including the step of its first pulse (no memory yet);
the network is asked to output 0 there.

Loss: MSE over every step of the cell's own length, every trial and every channel (weight 1 per
step, 0 on padded steps; :func:`rnnsweep.metrics.weighted_mse`). Metrics: ``accuracy`` = fraction of
(step, trial, channel) entries after that channel's first pulse (target +-1, ``t`` within the cell's
length) where ``sign(output) == target`` (NaN if no channel pulsed in the batch); ``mse`` = the
unweighted MSE over the cell's own steps (equal to the loss). Targets are +-1: pair the task with
``readout = "linear"`` (the default sigmoid readout cannot go below 0).

``pulse_prob`` is a cell axis: it may be a grid axis (each cell's value reaches :meth:`trials` as
``timing["pulse_prob"]``); ``trial_ms`` is the duration axis.

Trials are drawn afresh from each epoch's key: the pulse presence and sign of channel ``k``,
trial ``b`` at step ``t`` come from ``(key, t, k * n_trials + b)`` only (the counter-based hash of
:mod:`rnnsweep.models.noise`), so a cell's trials do not depend on the padded length. Steps at or
beyond the cell's length have zero input, zero target and zero loss weight.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ..metrics import weighted_mse
from ..models.noise import hash_bits
from ..settings import positive
from .base import AbstractTask, Timing, TimingError, Trials, register, uniform_weights

N_BITS = 3


def pulses(key: jax.Array, n_steps: int, n_channels: int, n_trials: int, pulse_prob: Any, dtype: Any) -> jax.Array:
    """(n_steps, n_trials, n_channels) pulses in {-1, 0, +1}: element ``(t, b, k)`` from
    ``(key, t, k * n_trials + b)`` only. A pulse is present when the top 24 bits of one hash, read as
    ``u`` in ``[0, 1)``, satisfy ``u < pulse_prob``; its sign is the top bit of a second hash (1: +1)."""
    k_on, k_sign = jax.random.split(key)
    size = n_channels * n_trials
    u = (hash_bits(k_on, n_steps, size) >> 8).astype(jnp.float32) * (1.0 / (1 << 24))
    sign = jnp.where((hash_bits(k_sign, n_steps, size) >> 31) == 1, 1.0, -1.0)
    p = jnp.where(u < pulse_prob, sign, 0.0)
    return jnp.swapaxes(p.reshape(n_steps, n_channels, n_trials), 1, 2).astype(dtype)


def held_signs(x: jax.Array) -> jax.Array:
    """The flip-flop's targets of pulses ``x`` (T, B, K): at step ``t``, the last nonzero ``x[s]`` with
    ``s < t`` (0 if none)."""
    n_steps = x.shape[0]
    t = jnp.arange(n_steps)[:, None, None]
    last = jax.lax.cummax(jnp.where(x != 0, t, -1), axis=0)  # last pulse at s <= t
    held = jnp.where(last >= 0, jnp.take_along_axis(x, jnp.clip(last, 0, None), axis=0), 0)
    return jnp.concatenate([jnp.zeros_like(x[:1]), held[:-1]], axis=0)  # ... at s < t


@register
class ThreeBitFlipFlop(AbstractTask):
    """Hold the sign of each of three channels' last +-1 pulse."""

    name: ClassVar[str] = "three_bit_flip_flop"
    durations: ClassVar[tuple[str, ...]] = ("trial_ms",)
    axes: ClassVar[tuple[str, ...]] = ("trial_ms",)
    cell_axes: ClassVar[tuple[str, ...]] = ("pulse_prob",)
    metric_names: ClassVar[tuple[str, ...]] = ("accuracy", "mse")

    dt_ms: float = 5.0
    trial_ms: float = 500.0
    pulse_prob: float = 0.05  # P(a channel pulses at a step); the pulse is +1 or -1 with probability 1/2
    n_trials: int = 128  # trials per epoch, drawn afresh from the epoch's key

    n_inputs = property(lambda self: N_BITS)
    n_outputs = property(lambda self: N_BITS)

    def check_settings(self) -> None:
        positive("task.n_trials", self.n_trials, integer=True)
        if not 0 < self.pulse_prob <= 1:
            raise ValueError(f"task.pulse_prob: must lie in (0, 1], got {self.pulse_prob!r}")

    def check_timing(self, timing: Timing) -> None:
        if timing["trial"] < 2:
            raise TimingError("trial_ms", "a trial must last at least 2 steps (a pulse, then a step that holds it)")

    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        n_steps = jnp.asarray(timing["trial"], jnp.int32)
        own = (jnp.arange(n_steps_max) < n_steps)[:, None, None]
        x = pulses(key, n_steps_max, N_BITS, self.n_trials, timing["pulse_prob"], dtype)
        x = jnp.where(own, x, 0).astype(dtype)
        return Trials(
            inputs=x,
            targets=jnp.where(own, held_signs(x), 0).astype(dtype),
            loss_weights=uniform_weights(n_steps, n_steps_max, dtype),
            score_mask=own[:, 0, 0],
            n_steps=n_steps,
        )

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        return weighted_mse(outputs, trials)

    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        y = trials.targets
        scored = trials.score_mask[:, None, None] & (y != 0)
        hits = jnp.sum(jnp.where(scored, jnp.sign(outputs) == y, False))
        n = jnp.sum(scored)
        accuracy = jnp.where(n > 0, hits / jnp.maximum(n, 1), jnp.nan)
        own = trials.score_mask[:, None, None]
        mse = jnp.sum(jnp.where(own, (outputs - y) ** 2, 0)) / (
            trials.n_steps.astype(outputs.dtype) * outputs.shape[1] * outputs.shape[2])
        return accuracy.astype(outputs.dtype), mse.astype(outputs.dtype)

    def conditions(self) -> dict[str, int]:
        return {"trial 0": 0, "trial 1": 1}

    def finder_probes(self, timing: Timing, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        """Sixteen deterministic probes (``key`` unused) that visit every memory state, every flip
        between neighbouring ones and the states before a channel's first pulse: :func:`octant_probes`."""
        return octant_probes(int(self.n_steps(timing)), dtype)

    def memory_outputs(self) -> np.ndarray:
        """The 8 sign patterns (+-1, +-1, +-1), in the order of :func:`octants`."""
        return octants()


def octants() -> np.ndarray:
    """(8, 3) the sign patterns: row ``k`` has -1 on channel ``c`` where bit ``c`` of ``k`` is set."""
    k = np.arange(1 << N_BITS)
    return np.where((k[:, None] >> np.arange(N_BITS)) & 1, -1.0, 1.0)


def octant_probes(n_steps: int, dtype: Any = jnp.float32) -> jax.Array:
    """(n_steps, 16, 3) probe inputs, two per octant ``k`` (``octants()[k]``). Trial ``k`` builds the
    octant up one channel at a time: channel ``c`` pulses at step ``(c + 1) n_steps / 4``, so it visits
    the states before each channel's first pulse (output 0 there), then rests in octant ``k``. Trial
    ``8 + k`` sets octant ``k`` at once (channel ``c`` pulses at step ``c``), then flips channel ``c``
    at step ``(c + 1) n_steps / 4`` (at least ``c + 3``) and rests in the opposite octant. So the
    probes rest in every octant twice and cross between neighbouring octants 24 times. Steps past the
    last are clipped to it."""
    x = np.zeros((n_steps, 2 << N_BITS, N_BITS))
    signs = octants()
    build, flip = slice(0, 1 << N_BITS), slice(1 << N_BITS, 2 << N_BITS)
    for c in range(N_BITS):
        late = min(max((c + 1) * n_steps // 4, c + 3), n_steps - 1)
        x[late, build, c] = signs[:, c]
        x[min(c, n_steps - 1), flip, c] = signs[:, c]
        x[late, flip, c] = -signs[:, c]
    return jnp.asarray(x, dtype)
