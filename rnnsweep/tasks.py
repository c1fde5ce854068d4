"""Trial builders: inputs, targets, loss weights and the scoring window of one cell.

Durations are given in ms and converted to steps of ``dt_ms`` with exact integer arithmetic (a
duration that is not a whole number of steps is rejected when the sweep is validated). The
reference code converts with float arithmetic and ``int()`` truncation, which moves the scoring
window one step early at delays of 300 and 320 ms (and shortens it to 9 steps at 320 ms); we do
not reproduce that quirk (see docs/reference-differences.md).

Everything that may vary across the cells of a block (delay, response and post lengths) is a
traced integer in :class:`Timing`; the padded length ``n_steps_max`` is static. Steps at or
beyond a cell's own length get loss weight 0 and lie outside its scoring window, so padding
changes nothing.

Tasks (paper-spec sections 1 and 2):

* ``dcd``: delayed cue discrimination. Cue A = (0, 1) for trials ``0..k-1``, cue B = (1, 0) for
  trials ``k..2k-1``, shown for ``cue_ms``; then ``delay_ms`` of zero input; then ``response_ms``
  in which the target is the cue's one-hot vector; then ``post_ms`` with target 0.
* ``no_memory``: the control. The same cues, no delay, the target is the cue's vector from
  ``t = 0`` to the end (``cue_ms + response_ms``), uniform loss weights (pair with a linear readout).
* ``delayed_activation``: no input (one silent channel), one output, target 0 for ``delay_ms`` then
  1 for ``response_ms`` (then 0 for ``post_ms``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

TASKS = ("dcd", "no_memory", "delayed_activation")
LOSS_WEIGHTINGS = ("emphasis", "uniform")
# Durations that may be grid axes (varied per cell), in ms.
TIMING_FIELDS = ("delay_ms", "response_ms", "post_ms")


class Timing(NamedTuple):
    """Per-cell step counts (int32 scalars, traced)."""

    cue_steps: Any
    delay_steps: Any
    response_steps: Any
    post_steps: Any

    @property
    def n_steps(self):
        return self.cue_steps + self.delay_steps + self.response_steps + self.post_steps


class Trials(NamedTuple):
    inputs: jax.Array  # (T, B, I)
    targets: jax.Array  # (T, B, O)
    loss_weights: jax.Array  # (T,), 0 on padded steps
    score_mask: jax.Array  # (T,) bool, the scoring window
    n_steps: jax.Array  # the cell's own length (int32 scalar)


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """Static task settings (the ``[task]`` table). Timing fields are defaults that grid axes override."""

    name: str = "dcd"
    dt_ms: float = 5.0
    cue_ms: float = 30.0
    delay_ms: float = 0.0
    response_ms: float = 50.0
    post_ms: float = 0.0
    trials_per_cue: int = 64
    loss_weighting: str = ""  # "" = the task's default: uniform for no_memory, else emphasis

    def __post_init__(self):
        if not self.loss_weighting:
            default = "uniform" if self.name == "no_memory" else "emphasis"
            object.__setattr__(self, "loss_weighting", default)

    @property
    def n_inputs(self) -> int:
        return 1 if self.name == "delayed_activation" else 2

    @property
    def n_outputs(self) -> int:
        return 1 if self.name == "delayed_activation" else 2

    @property
    def n_trials(self) -> int:
        return 2 * self.trials_per_cue

    def validate(self) -> None:
        if self.name not in TASKS:
            raise ValueError(f"task.name: unknown task {self.name!r} (known: {', '.join(TASKS)})")
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"task.loss_weighting: must be one of {LOSS_WEIGHTINGS}, got {self.loss_weighting!r}")
        if not _is_number(self.dt_ms) or self.dt_ms <= 0:
            raise ValueError(f"task.dt_ms: must be a positive number, got {self.dt_ms!r}")
        if not isinstance(self.trials_per_cue, int) or isinstance(self.trials_per_cue, bool) or self.trials_per_cue < 1:
            raise ValueError(f"task.trials_per_cue: must be a positive integer, got {self.trials_per_cue!r}")
        for field in ("cue_ms",) + TIMING_FIELDS:
            self.steps(field, getattr(self, field))

    def steps(self, field: str, value_ms: float, where: str = "task") -> int:
        """Exact conversion of a duration to steps; ``ValueError`` naming ``where.field`` otherwise."""
        if not _is_number(value_ms):
            raise ValueError(f"{where}.{field}: must be a number of ms, got {value_ms!r}")
        if value_ms < 0:
            raise ValueError(f"{where}.{field}: duration must be >= 0 ms, got {value_ms!r}")
        n = value_ms / self.dt_ms
        if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
            raise ValueError(
                f"{where}.{field}: {value_ms} ms is not a whole number of dt = {self.dt_ms} ms steps"
            )
        return int(round(n))

    def check_timing(self, delay_ms: float, response_ms: float, post_ms: float, grid_axes: tuple[str, ...] = ()) -> None:
        """Reject duration combinations the task cannot use, naming the field (``grid.<f>`` when the
        field is a grid axis, else ``task.<f>``)."""
        where = lambda field: "grid" if field in grid_axes else "task"
        cue = self.steps("cue_ms", self.cue_ms)
        if self.steps("response_ms", response_ms, where("response_ms")) < 1:
            raise ValueError(f"{where('response_ms')}.response_ms: the response window must last at least one step")
        if self.name == "no_memory":
            if delay_ms != 0:
                raise ValueError(f"{where('delay_ms')}.delay_ms: the no_memory task has no delay (must be 0), got {delay_ms}")
            if post_ms != 0:
                raise ValueError(f"{where('post_ms')}.post_ms: the no_memory task has no post period (must be 0), got {post_ms}")
        if self.name in ("dcd", "no_memory") and cue < 1:
            raise ValueError("task.cue_ms: the cue must last at least one step")
        if self.name == "delayed_activation" and cue != 0:
            raise ValueError("task.cue_ms: delayed_activation has no cue (set cue_ms = 0)")
        self.steps("delay_ms", delay_ms, where("delay_ms"))
        self.steps("post_ms", post_ms, where("post_ms"))

    def timing(self, delay_ms: float, response_ms: float, post_ms: float) -> Timing:
        """Host-side step counts of one cell (numpy int32)."""
        return Timing(
            np.int32(self.steps("cue_ms", self.cue_ms)),
            np.int32(self.steps("delay_ms", delay_ms)),
            np.int32(self.steps("response_ms", response_ms)),
            np.int32(self.steps("post_ms", post_ms)),
        )


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def cue_vectors(task: TaskConfig, dtype: Any = jnp.float32) -> jax.Array:
    """(B, I) input pattern of each trial: cue A = (0, 1) then cue B = (1, 0)."""
    k = task.trials_per_cue
    if task.name == "delayed_activation":
        return jnp.zeros((task.n_trials, 1), dtype)
    cue_a = jnp.tile(jnp.array([[0.0, 1.0]], dtype), (k, 1))
    cue_b = jnp.tile(jnp.array([[1.0, 0.0]], dtype), (k, 1))
    return jnp.concatenate([cue_a, cue_b])


def loss_weights(task: TaskConfig, timing: Timing, n_steps_max: int, dtype: Any = jnp.float32) -> jax.Array:
    """Per-step loss weights (T_max,).

    ``emphasis`` (reference): with ``K = response + post`` steps, the last ``K`` steps of the trial
    get ``1 - K/T`` and every earlier step ``K/T`` (``K = 10`` without a post period, 16 with the
    30 ms post period, as in paper-spec). ``uniform``: 1 everywhere. Padded steps: 0.
    """
    t = jnp.arange(n_steps_max)
    n = jnp.asarray(timing.n_steps)
    inside = t < n
    if task.loss_weighting == "uniform":
        return inside.astype(dtype)
    k = jnp.asarray(timing.response_steps + timing.post_steps)
    frac = k.astype(dtype) / n.astype(dtype)
    w = jnp.where(t >= n - k, 1 - frac, frac)
    return jnp.where(inside, w, 0).astype(dtype)


def score_mask(timing: Timing, n_steps_max: int) -> jax.Array:
    """Scoring window ``[cue + delay - 1, cue + delay + response - 1)``: it starts one step early, as
    in the reference (clipped at 0 when there is neither cue nor delay)."""
    t = jnp.arange(n_steps_max)
    start = timing.cue_steps + timing.delay_steps - 1
    return (t >= start) & (t < start + timing.response_steps)


def build_trials(task: TaskConfig, timing: Timing, n_steps_max: int, dtype: Any = jnp.float32) -> Trials:
    """All trials of one epoch (the full batch), time-major, padded to ``n_steps_max``."""
    t = jnp.arange(n_steps_max)[:, None, None]
    cues = cue_vectors(task, dtype)[None]  # (1, B, I)
    cue_end = timing.cue_steps
    resp_start = timing.cue_steps + timing.delay_steps
    resp_end = resp_start + timing.response_steps
    inputs = jnp.where(t < cue_end, cues, 0).astype(dtype)
    if task.name == "no_memory":
        targets = jnp.where(t < resp_end, cues, 0)
    elif task.name == "delayed_activation":
        targets = jnp.where((t >= resp_start) & (t < resp_end), jnp.ones_like(cues), 0)
    else:
        targets = jnp.where((t >= resp_start) & (t < resp_end), cues, 0)
    return Trials(
        inputs=inputs,
        targets=targets.astype(dtype),
        loss_weights=loss_weights(task, timing, n_steps_max, dtype),
        score_mask=score_mask(timing, n_steps_max),
        n_steps=timing.n_steps,
    )
