"""The names of the store's layout, defined once.

Everything that writes or reads a store (trainer, store, runner, cluster, analysis) takes these names
from here; nothing repeats them as literals. A sweep's group ``<store>/<sweep name>`` holds:

* one coordinate array per grid axis (``seed``, ``lr``, ``delay_ms``, ...) and ``epoch``;
* the per-epoch curves (*grid, epoch): ``loss``, the task's metrics (``accuracy`` and ``reliability``
  for the paper's tasks; see :func:`curve_names`) and ``grad_norm``;
* per cell (*grid): ``status`` (:class:`Status`), ``epochs_run``, ``n_epochs`` (the budget),
  ``n_steps`` (trial length) and ``steps_<name>`` (the cell's timing: the step count of each of the
  task's durations, and what the task derives from them, such as its scoring window);
* the final parameters ``param_<name>`` (*grid, *parameter dims);
* with ``[run] snapshot_every = K``: the coordinate ``snapshot`` (the epochs 0, K, 2K, ... up to the
  largest budget) and the parameter snapshots ``snapshot_<name>`` (*grid, snapshot, *parameter
  dims): each cell's parameters after that many epochs, NaN past its ``epochs_run``;
* subgroups ``_parts`` (run records of ``run --part``) and ``analysis/<name>`` (one per analysis).
"""

from __future__ import annotations

import enum

SCHEMA_VERSION = 2  # 1: rnnsweep 0.1.0 (no model/task configuration or step counts in the store)


class Status(enum.IntEnum):
    """What became of a cell; stored as int8 in ``status``."""

    PENDING = 0  # not trained yet (or interrupted before its block was written)
    DONE = 1  # trained for its whole epoch budget
    DIVERGED = 2  # loss, gradients or parameters non-finite, or parameters above train.max_param_abs
    FAILED = 3  # loss above train.stop_loss_above (the no-memory control's "loss > 100")


STATUS_NAMES = {s.value: s.name.lower() for s in Status}

# per-cell arrays
STATUS = "status"
EPOCHS_RUN = "epochs_run"
N_EPOCHS = "n_epochs"
N_STEPS = "n_steps"
STEPS_PREFIX = "steps_"
PARAM_PREFIX = "param_"
EPOCH = "epoch"

# parameter snapshots: the coordinate (epochs) and one array per parameter
SNAPSHOT = "snapshot"
SNAPSHOT_PREFIX = "snapshot_"

# per-epoch curves: loss first, grad_norm last, the task's metrics in between
LOSS = "loss"
GRAD_NORM = "grad_norm"


def curve_names(metric_names: tuple[str, ...]) -> tuple[str, ...]:
    """The curves stored for a task with these per-epoch metrics, in the trainer's column order."""
    return (LOSS, *metric_names, GRAD_NORM)


def steps_array(key: str) -> str:
    """Store array of one per-cell timing integer: a duration's step count (``delay_ms`` or ``delay``
    -> ``steps_delay``) or a quantity the task derives (``score_start`` -> ``steps_score_start``)."""
    return STEPS_PREFIX + key.removesuffix("_ms")


def param_array(name: str) -> str:
    return PARAM_PREFIX + name


def snapshot_array(name: str) -> str:
    """Store array of one parameter's snapshots (``W_rec`` -> ``snapshot_W_rec``)."""
    return SNAPSHOT_PREFIX + name


# subgroups
ANALYSIS_GROUP = "analysis"
PARTS_GROUP = "_parts"


class Attr:
    """Attribute keys of a sweep's group."""

    SWEEP_NAME = "sweep_name"
    DESCRIPTION = "description"
    SWEEP_TEXT = "sweep_text"  # the sweep file as written
    SWEEP_CANONICAL = "sweep_canonical"  # JSON of what defines the results (checked by --resume)
    MODEL = "model"  # the model family's settings: {"family": ..., field: value, ...}
    TASK = "task"  # the task's settings: {"name": ..., field: value, ...}
    METRICS = "metric_names"  # the task's per-epoch metrics, as stored between loss and grad_norm
    SCHEMA_VERSION = "schema_version"
    VERSION = "rnnsweep_version"
    GIT_COMMIT = "git_commit"
    JAX_VERSION = "jax_version"
    PYTHON_VERSION = "python_version"
    DEVICE = "device"
    CREATED = "created"
    WALL_TIME = "wall_time_s"
    RUNS = "runs"

    PROVENANCE = (VERSION, GIT_COMMIT, JAX_VERSION, PYTHON_VERSION, DEVICE, CREATED, WALL_TIME)
