"""The trainer's pure per-cell functions: one cell = one network trained on its own grid point.

``Trainer(model, task, train)`` holds the static configuration; its methods are pure functions of
a cell's hyperparameters (:class:`CellHyper`: learning rate, step counts, epoch budget, PRNG keys,
the model's per-cell arguments, all traced) and its state (:class:`CellState`). One epoch is::

    params   = model.constrain(params, epoch, ...)                # identity for most families
    key      = fold_in(data_key, epoch)
    loss, metrics = model.own_loss(...)                          # toy models with analytic losses
                 or task.loss/metrics(model.run(params, task.trials(...), noise, state0))
                    + sum of strength * penalty over the regularisers (rnnsweep.regularizers)
    params  <- optimizer step on the gradient of loss (model.frozen_params() not moved)

and :meth:`Trainer.chunk_cell` scans a fixed number of epochs. The host side (jit, vmap over the
cells of a block, sharding over devices, the loop over chunks) is :mod:`rnnsweep.executor`.

Invariants (tested):

* a cell's result depends only on its hyperparameters and keys (everything is per cell; no
  cross-cell reductions);
* epochs past a cell's own budget and steps past its own trial length are masked exactly;
* a cell whose loss, gradients or parameters become non-finite, or whose parameters exceed
  ``max_param_abs``, stops with status ``diverged``; one whose loss exceeds ``stop_loss_above``
  stops with status ``failed``. Its parameters stay at the last good values and its curves are NaN
  from the next epoch on.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .models import AbstractModel, Params
from .optim import OPTIMIZERS, make_optimizer
from .regularizers import AbstractRegularizer
from .schema import Status, curve_names
from .settings import one_of, positive
from .tasks import AbstractTask, Timing

DTYPES = ("float32", "float64")
MATMUL_PRECISIONS = ("highest", "high", "default", "tensorfloat32", "bfloat16")
# fold_in tag of the task's randomness in an epoch's key; the model's initial state and noise take
# the two halves of split(key), as they always have.
TRIALS_STREAM = 2


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static training settings (the ``[train]`` table)."""

    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-7
    epochs: str = "1000"  # rule evaluated per cell, e.g. "max(1000, 30/lr)" (see rnnsweep.sweep)
    chunk_epochs: int = 100
    stop_loss_above: float = float("inf")
    max_param_abs: float = 1e6
    dtype: str = "float32"
    matmul_precision: str = "highest"

    def validate(self) -> None:
        one_of("train.optimizer", self.optimizer, OPTIMIZERS)
        one_of("train.dtype", self.dtype, DTYPES)
        one_of("train.matmul_precision", self.matmul_precision, MATMUL_PRECISIONS)
        positive("train.chunk_epochs", self.chunk_epochs, integer=True)
        positive("train.momentum", self.momentum, allow_zero=True)
        positive("train.weight_decay", self.weight_decay, allow_zero=True)
        positive("train.max_param_abs", self.max_param_abs)


class CellHyper(NamedTuple):
    """Everything that varies across cells; a pytree of arrays (leading cell axis in a block)."""

    lr: Any
    timing: Timing
    n_epochs: Any
    init_key: Any  # uint32[2]: from the root key and the seed only (paired design)
    data_key: Any  # uint32[2]: the init key with the other coordinates folded in
    model_args: Any = None  # dict of the model family's per-cell init arguments (e.g. a toy's initial r)
    task_args: Any = None  # dict of the task's per-cell values of its cell axes (e.g. an input sparsity)
    strengths: Any = None  # dict: each regulariser's per-cell strength, by regulariser name (e.g. lambda_TCR)


class CellState(NamedTuple):
    params: Params
    opt_state: Any
    status: Any  # int32, a schema.Status
    epochs_run: Any  # int32: epochs whose metrics were recorded


def _tree_all_finite(tree: Any) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _tree_max_abs(tree: Any) -> jax.Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in jax.tree_util.tree_leaves(tree)]))


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Pure training functions of one cell for a (model, task, train) configuration."""

    model: AbstractModel
    task: AbstractTask
    train: TrainConfig
    regularizers: tuple[AbstractRegularizer, ...] = ()

    @property
    def dtype(self) -> Any:
        return jnp.dtype(self.train.dtype)

    @property
    def curve_names(self) -> tuple[str, ...]:
        """The columns of the curves :meth:`chunk_cell` returns (and the store keeps)."""
        return curve_names(self.task.metric_names)

    def optimizer(self, lr: jax.Array) -> optax.GradientTransformation:
        t = self.train
        return make_optimizer(t.optimizer, lr, t.momentum, t.weight_decay)

    def init_cell(self, hyper: CellHyper) -> CellState:
        params = self.model.init(hyper.init_key, self.dtype, **(hyper.model_args or {}))
        opt_state = self.optimizer(hyper.lr).init(params)
        return CellState(params, opt_state, jnp.int32(Status.PENDING), jnp.int32(0))

    def epoch_loss(self, params: Params, hyper: CellHyper, epoch: jax.Array, n_steps_max: int) -> tuple[jax.Array, tuple]:
        """Loss and metrics of one epoch's full batch; its randomness comes from ``(data_key, epoch)``."""
        own = self.model.own_loss(params, hyper.timing, n_steps_max, self.dtype)
        if own is not None:
            return own
        key = jax.random.fold_in(hyper.data_key, epoch)
        k_state, k_noise = jax.random.split(key)
        n_trials = self.task.n_trials
        timing = {**hyper.timing, **(hyper.task_args or {})}  # the task's cell values travel with the steps
        trials = self.task.trials(timing, n_steps_max, jax.random.fold_in(key, TRIALS_STREAM), self.dtype)
        state0 = self.model.initial_state(k_state, n_trials, self.dtype)
        noise = self.model.sample_noise(k_noise, n_steps_max, n_trials, self.dtype)
        rates, outputs = self.model.run(params, trials.inputs, noise, state0)
        loss = self.task.loss(outputs, trials)
        for reg in self.regularizers:  # each cell's strength is traced: one program serves every value
            loss = loss + reg.weighted(hyper.strengths[reg.name], self.model, params, rates, trials.n_steps)
        return loss, tuple(self.task.metrics(outputs, trials))

    def chunk_cell(self, state: CellState, hyper: CellHyper, epoch0: jax.Array, *, n_steps_max: int,
                   n_epochs: int) -> tuple[CellState, jax.Array]:
        """Advance one cell by ``n_epochs`` epochs from ``epoch0``; returns curves (n_epochs, curves)."""
        opt = self.optimizer(hyper.lr)
        grad_fn = jax.value_and_grad(self.epoch_loss, has_aux=True)
        rec_names = self.model.recurrent_params
        train = self.train

        frozen = self.model.frozen_params()

        def one_epoch(state: CellState, epoch):
            stored, opt_state, status, epochs_run = state
            active = (status == Status.PENDING) & (epoch < hyper.n_epochs)
            params = self.model.constrain(stored, epoch, **(hyper.model_args or {}))
            (loss, metrics), grads = grad_fn(params, hyper, epoch, n_steps_max)
            grad_norm = jnp.sqrt(sum(jnp.sum(grads[name] ** 2) for name in rec_names))
            updates, new_opt_state = opt.update(grads, opt_state, params)
            if frozen:
                updates = {k: jnp.zeros_like(u) if k in frozen else u for k, u in updates.items()}
            new_params = optax.apply_updates(params, updates)
            finite = jnp.isfinite(loss) & _tree_all_finite(grads)
            params_ok = _tree_all_finite(new_params) & (_tree_max_abs(new_params) <= train.max_param_abs)
            too_high = loss > train.stop_loss_above
            new_status = jnp.where(
                ~finite | (~too_high & ~params_ok),
                Status.DIVERGED,
                jnp.where(too_high, Status.FAILED, Status.PENDING),
            )
            status = jnp.where(active, new_status, status).astype(jnp.int32)
            update = active & (status == Status.PENDING)
            keep = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(update, n, o), new, old)  # noqa: E731
            curves = jnp.stack([loss, *metrics, grad_norm]).astype(self.dtype)
            curves = jnp.where(active, curves, jnp.nan)
            new_state = CellState(keep(new_params, stored), keep(new_opt_state, opt_state), status, epochs_run + active)
            return new_state, curves

        epochs = epoch0 + jnp.arange(n_epochs, dtype=jnp.int32)
        return jax.lax.scan(one_epoch, state, epochs)

    def finish_cell(self, state: CellState, hyper: CellHyper) -> CellState:
        done = (state.status == Status.PENDING) & (state.epochs_run >= hyper.n_epochs)
        return state._replace(status=jnp.where(done, Status.DONE, state.status).astype(jnp.int32))

    def train_cell(self, hyper: CellHyper, *, n_steps_max: int, n_epochs_max: int) -> tuple[CellState, jax.Array]:
        """The single-network trainer: all epochs of one cell in one scan."""
        state = self.init_cell(hyper)
        state, curves = self.chunk_cell(state, hyper, jnp.int32(0), n_steps_max=n_steps_max, n_epochs=n_epochs_max)
        return self.finish_cell(state, hyper), curves
