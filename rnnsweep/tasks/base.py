"""The contract every task fulfils, and its registry.

A task is a frozen dataclass of static settings (the sweep file's ``[task]`` table) with pure methods.
It owns everything about the trials: their durations, the inputs and targets of a batch (from the
cell's step counts and a PRNG key), the loss and the per-epoch metrics. The trainer computes::

    trials  = task.trials(timing, n_steps_max, key, dtype)
    outputs = model.run(params, trials.inputs, noise, state0)[1]
    loss, metrics = task.loss(outputs, trials), task.metrics(outputs, trials)

Durations are fields in ms whose names end in ``_ms`` (listed in ``durations``, in trial order); the
ones in ``axes`` may be grid axes and appear in the epoch rule. They are converted to steps of
``dt_ms`` with exact integer arithmetic (a duration that is not a whole number of steps is refused
when the sweep is validated). A cell's :data:`Timing` is a dict of integers: the step count of each
duration, keyed by its name without ``_ms`` (``{"cue": 6, "delay": 20, "response": 10, "post": 0}``),
plus whatever else the task derives on the host from the durations (:meth:`AbstractTask.derived_timing`;
the paper's tasks derive their scoring window, which the reference computed with float arithmetic).
They are traced values (they vary across the cells of a block), the padded length ``n_steps_max``
is static.
Steps at or beyond a cell's own length must get loss weight 0 and lie outside its metrics, so that
padding changes nothing.

Adding a task is one file, ``rnnsweep/tasks/<task>.py`` (or a plug-in file of your own, see
:mod:`rnnsweep.registry`), with a final class decorated by :func:`register`. See docs/plugins.md.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import limits
from ..registry import Registry
from ..settings import Settings, is_number, positive

Timing = dict[str, Any]  # steps of each duration, keyed by its name without "_ms"

REGISTRY: Registry["AbstractTask"] = Registry("task", "name", required=("durations", "axes", "metric_names", "dt_ms"))
register = REGISTRY.register


class Trials(NamedTuple):
    """A batch of trials, time-major and padded to ``n_steps_max``. The trainer reads only
    ``inputs``; the rest is for the task's own ``loss`` and ``metrics``."""

    inputs: jax.Array  # (T, B, I)
    targets: jax.Array  # (T, B, O)
    loss_weights: jax.Array  # (T,), 0 on padded steps
    score_mask: jax.Array  # (T,) bool: the steps the metrics score
    n_steps: jax.Array  # the cell's own length (int32 scalar)
    extra: Any = None  # anything else the task's own loss and metrics need (a pytree), e.g. per-output weights


class TimingError(ValueError):
    """A duration (or combination of durations and cell values) the task cannot use; ``field`` names
    it, or a tuple of fields names a combination (the error then names the first that is a grid axis)."""

    def __init__(self, field: str | tuple[str, ...], message: str):
        self.fields = (field,) if isinstance(field, str) else tuple(field)
        super().__init__(f"{self.fields[0]}: {message}")
        self.field, self.message = self.fields[0], message


class AbstractTask(Settings, abc.ABC):
    """A task: trial structure, loss and metrics. Subclasses are final and registered; they define
    the class attributes below, a ``dt_ms`` setting, their duration settings, and the abstract
    methods."""

    name: ClassVar[str]
    # Every duration field (ms) of a trial, in order; the trial lasts their sum.
    durations: ClassVar[tuple[str, ...]]
    # The durations that may be grid axes (and names in the epoch rule).
    axes: ClassVar[tuple[str, ...]]
    # The per-epoch metrics, stored as curves between ``loss`` and ``grad_norm``.
    metric_names: ClassVar[tuple[str, ...]]
    # Settings other than durations that may be grid axes (numbers, e.g. an input's sparsity). A
    # cell's value reaches the task's methods as ``timing[name]``, a traced float (the setting's own
    # value where it is not a grid axis); the store keeps it as a coordinate only.
    cell_axes: ClassVar[tuple[str, ...]] = ()
    # Cell axes that size arrays (a number of input features). As a grid axis, the task is built at
    # the grid's largest value and each cell uses its own through ``timing[name]``: the task masks
    # what lies beyond it (inputs 0, loss weight 0), so that a cell's numbers are those of a task
    # built at its own size. One compiled program serves every size (see docs/plugins.md).
    size_axes: ClassVar[tuple[str, ...]] = ()

    # --- sizes ------------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def n_inputs(self) -> int: ...

    @property
    @abc.abstractmethod
    def n_outputs(self) -> int: ...

    @property
    @abc.abstractmethod
    def n_trials(self) -> int:
        """Trials in a batch (one batch per epoch)."""

    # --- what each task defines -------------------------------------------------------------
    @abc.abstractmethod
    def check_settings(self) -> None:
        """Raise ``ValueError("task.<field>: ...")`` for impossible settings other than durations."""

    @abc.abstractmethod
    def check_timing(self, timing: Timing) -> None:
        """Raise :class:`TimingError` naming the field when one cell's step counts (and values of the
        :attr:`cell_axes`, also in ``timing``) are unusable."""

    @abc.abstractmethod
    def trials(self, timing: Timing, n_steps_max: int, key: jax.Array, dtype: Any = jnp.float32) -> Trials:
        """The batch of one epoch: every trial of the cell, padded to ``n_steps_max`` steps, its
        randomness (if any) drawn from ``key``."""

    @abc.abstractmethod
    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Scalar loss of the outputs (T, B, O) of a batch."""

    @abc.abstractmethod
    def metrics(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, ...]:
        """One scalar per name in ``metric_names``."""

    def derived_timing(self, durations_ms: dict[str, float], steps: Timing) -> Timing:
        """Further per-cell integers the task computes on the host from the durations (ms) and their
        step counts, e.g. its scoring window; none by default."""
        return {}

    @abc.abstractmethod
    def conditions(self) -> dict[str, int]:
        """Labelled trials of the batch that the analysis probes and draws (the first one is the
        mechanism index's probe), e.g. ``{"cue A": 0, "cue B": 64}``."""

    # --- what the fixed-point finder probes (rnnsweep.analysis.dynamics); the defaults serve tasks whose
    # memory is held at zero input and whose conditions visit every memory state (DCD's two cues) ---
    def finder_probes(self, timing: Timing, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        """Inputs (T, B, I) of the probe trials (T = the trial's steps) whose visited states, continued
        at zero input, seed the fixed-point finder: by default the trial of every :meth:`conditions`
        of the batch drawn from ``key``. A task whose conditions do not visit every memory state (the
        flip-flop's: two random trials) gives its own."""
        n = int(self.n_steps(timing))
        return self.trials(timing, n, key, dtype).inputs[:n, jnp.array(tuple(self.conditions().values()))]

    def memory_outputs(self) -> np.ndarray | None:
        """(K, O) the outputs the network's memory states should read (the flip-flop's 8 sign patterns
        (+-1, +-1, +-1)): the dynamics analysis reports which of them the stable fixed points read.
        None (the default): the task declares none."""
        return None

    # --- shared machinery (not overridden) ----------------------------------------------------
    def validate(self) -> None:
        """Check the settings; the durations are checked per cell by :meth:`timing` (a grid axis
        overrides its setting)."""
        positive("task.dt_ms", self.dt_ms)
        if not set(self.axes) <= set(self.durations) or not all(f.endswith("_ms") for f in self.durations):
            raise TypeError(f"task {self.name}: durations {self.durations} must end in _ms and include axes {self.axes}")
        self.check_settings()

    def steps(self, field: str, value_ms: Any, where: str = "task") -> int:
        """Exact conversion of a duration to steps; ``ValueError`` naming ``where.field`` otherwise."""
        if not is_number(value_ms) or not np.isfinite(value_ms):
            raise ValueError(f"{where}.{field}: must be a finite number of ms, got {value_ms!r}")
        if value_ms < 0:
            raise ValueError(f"{where}.{field}: duration must be >= 0 ms, got {value_ms!r}")
        n = value_ms / self.dt_ms
        if n > limits.MAX_TRIAL_STEPS:
            raise ValueError(f"{where}.{field}: {value_ms} ms is {n:.0f} steps of dt = {self.dt_ms} ms "
                             f"(a trial may last at most {limits.MAX_TRIAL_STEPS:,} steps)")
        if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
            raise ValueError(f"{where}.{field}: {value_ms} ms is not a whole number of dt = {self.dt_ms} ms steps")
        return int(round(n))

    def durations_at(self, coords: Mapping[str, float]) -> dict[str, float]:
        """A cell's durations (ms): its coordinates over the task's settings."""
        return {f: float(coords[f]) if f in coords else getattr(self, f) for f in self.durations}

    def timing(self, coords: Mapping[str, float], grid_axes: tuple[str, ...] = ()) -> Timing:
        """Host-side step counts (numpy int32) of the cell at ``coords``, checked (``check_timing``
        also sees the cell's :meth:`cell_values`); errors name the field as ``grid.<f>`` when it is a
        grid axis, else ``task.<f>``."""
        where = lambda field: "grid" if field in grid_axes else "task"  # noqa: E731
        durations_ms = self.durations_at(coords)
        timing = {f.removesuffix("_ms"): np.int32(self.steps(f, ms, where(f))) for f, ms in durations_ms.items()}
        total = sum(int(v) for v in timing.values())
        if total > limits.MAX_TRIAL_STEPS:
            longest = max(durations_ms, key=durations_ms.get)
            raise ValueError(f"{where(longest)}.{longest}: the trial lasts {total:,} steps "
                             f"(at most {limits.MAX_TRIAL_STEPS:,})")
        try:
            self.check_timing({**timing, **self.cell_values(coords)})
        except TimingError as e:
            field = next((f for f in e.fields if f in grid_axes), e.field)
            raise ValueError(f"{where(field)}.{field}: {e.message}") from None
        extra = self.derived_timing(durations_ms, timing)
        return {**timing, **{k: np.int32(v) for k, v in extra.items()}}

    def cell_values(self, coords: Mapping[str, float]) -> dict[str, float]:
        """A cell's values of the task's :attr:`cell_axes`: its coordinates over the settings."""
        return {f: float(coords[f]) if f in coords else float(getattr(self, f)) for f in self.cell_axes}

    def n_steps(self, timing: Timing):
        """Trial length in steps: the sum of the durations."""
        return sum(timing[f.removesuffix("_ms")] for f in self.durations)


def tasks() -> dict[str, type[AbstractTask]]:
    return REGISTRY.all()


def get_task(name: str) -> type[AbstractTask]:
    return REGISTRY.get(name, "task.name")


# --- helpers the paper's tasks share -------------------------------------------------------------
def two_cues(trials_per_cue: int, dtype: Any = jnp.float32) -> jax.Array:
    """(B, 2) input pattern of each trial: cue A = (0, 1) on trials ``0..k-1``, cue B = (1, 0) on
    trials ``k..2k-1``."""
    cue_a = jnp.tile(jnp.array([[0.0, 1.0]], dtype), (trials_per_cue, 1))
    cue_b = jnp.tile(jnp.array([[1.0, 0.0]], dtype), (trials_per_cue, 1))
    return jnp.concatenate([cue_a, cue_b])


LOSS_WEIGHTINGS = ("emphasis", "uniform")


def loss_weights(kind: str, n_steps: Any, n_emphasised: Any, n_steps_max: int, dtype: Any) -> jax.Array:
    """``kind = "emphasis"``: :func:`emphasis_weights`; ``"uniform"``: :func:`uniform_weights`."""
    if kind == "uniform":
        return uniform_weights(n_steps, n_steps_max, dtype)
    return emphasis_weights(n_steps, n_emphasised, n_steps_max, dtype)


def emphasis_weights(n_steps: Any, n_emphasised: Any, n_steps_max: int, dtype: Any) -> jax.Array:
    """Per-step loss weights (T_max,) of the reference: the last ``K = n_emphasised`` steps of the
    trial get ``1 - K/T``, every earlier step ``K/T``; padded steps 0."""
    t = jnp.arange(n_steps_max)
    n = jnp.asarray(n_steps)
    k = jnp.asarray(n_emphasised)
    frac = k.astype(dtype) / n.astype(dtype)
    w = jnp.where(t >= n - k, 1 - frac, frac)
    return jnp.where(t < n, w, 0).astype(dtype)


def uniform_weights(n_steps: Any, n_steps_max: int, dtype: Any) -> jax.Array:
    """Weight 1 on the cell's own steps, 0 on padded ones."""
    return (jnp.arange(n_steps_max) < jnp.asarray(n_steps)).astype(dtype)


def window(start: Any, length: Any, n_steps_max: int) -> jax.Array:
    """Boolean mask (T_max,) of the steps ``[start, start + length)``."""
    t = jnp.arange(n_steps_max)
    return (t >= start) & (t < start + length)


STEP_ROUNDINGS = ("exact", "reference")


def reference_step(*durations_ms: float, dt_ms: float) -> int:
    """``int(((d1 + d2 + ...) / dt) - 1)`` evaluated as the reference does, in seconds and in float
    arithmetic (e.g. ``int((0.03 + 0.3) / 0.005 - 1) = 64``, one step early, at a 300 ms delay)."""
    return int((sum(d / 1000 for d in durations_ms) / (dt_ms / 1000)) - 1)
