"""The trainer: one cell = one network trained on its own grid point; one block = many cells, vmapped.

``Trainer(model, task, train)`` builds the pure per-cell functions; :meth:`Trainer.run_chunk` is
``jit(vmap(...))`` over the cells of a block and advances every cell by a fixed number of epochs
(a ``lax.scan`` on the device), so the host can report progress and write the store between
chunks. Everything that varies across cells (learning rate, durations, epoch budget, PRNG keys)
is a traced argument in :class:`CellHyper`; the padded sequence length and the chunk length are
the only static shapes, so blocks of equal shape share one compiled program.

Invariants (tested):

* a cell's result depends only on its hyperparameters and keys, not on its block, its neighbours
  or its position (everything is per cell under ``vmap``; no cross-cell reductions);
* epochs past a cell's own budget and steps past its own trial length are masked exactly;
* a cell whose loss, gradients or parameters become non-finite, or whose parameters exceed
  ``max_param_abs``, stops with status ``diverged``; one whose loss exceeds ``stop_loss_above``
  stops with status ``failed``. Its parameters stay at the last good values and its curves are NaN
  from the next epoch on; its neighbours are untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .models import ModelFamily, Params
from .optim import OPTIMIZERS, make_optimizer
from .tasks import TaskConfig, Timing, build_trials

STATUS_PENDING, STATUS_DONE, STATUS_DIVERGED, STATUS_FAILED = 0, 1, 2, 3
STATUS_NAMES = {STATUS_PENDING: "pending", STATUS_DONE: "done", STATUS_DIVERGED: "diverged", STATUS_FAILED: "failed"}
CURVES = ("loss", "accuracy", "reliability", "grad_norm")
DTYPES = ("float32", "float64")
MATMUL_PRECISIONS = ("highest", "high", "default", "tensorfloat32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static training settings (the ``[train]`` table)."""

    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-7
    epochs: str = "1000"  # rule evaluated per cell, e.g. "max(1000, 30/lr)"
    chunk_epochs: int = 100
    stop_loss_above: float = float("inf")
    max_param_abs: float = 1e6
    dtype: str = "float32"
    matmul_precision: str = "highest"


class CellHyper(NamedTuple):
    """Everything that varies across cells; a pytree of arrays (leading cell axis in a block)."""

    lr: Any
    timing: Timing
    n_epochs: Any
    init_key: Any  # uint32[2]: from the root key and the seed only (paired design)
    data_key: Any  # uint32[2]: the init key with the other coordinates folded in
    model_args: Any = None  # dict of the model family's cell_axes values (e.g. a toy model's initial r)


class CellState(NamedTuple):
    params: Params
    opt_state: Any
    status: Any  # int32, STATUS_*
    epochs_run: Any  # int32: epochs whose metrics were recorded


def _tree_all_finite(tree: Any) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _tree_max_abs(tree: Any) -> jax.Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in jax.tree_util.tree_leaves(tree)]))


class Trainer:
    """Pure training functions for one (model, task, train) configuration."""

    def __init__(self, model: ModelFamily, task: TaskConfig, train: TrainConfig, devices=None):
        if train.optimizer not in OPTIMIZERS:
            raise ValueError(f"train.optimizer: unknown optimizer {train.optimizer!r}")
        self.model, self.task, self.train = model, task, train
        self.dtype = jnp.dtype(train.dtype)
        self.trace_count = 0  # how many block programs were traced (== compiled)
        # The cell axis of a block is sharded over every local device (no communication: cells
        # are independent); blocks must then hold a multiple of len(devices) cells.
        self.devices = list(jax.devices() if devices is None else devices)
        self.mesh = Mesh(np.array(self.devices), ("cells",)) if len(self.devices) > 1 else None
        self._run_chunk = jax.jit(self._chunk_block, static_argnames=("n_steps_max", "n_epochs"))
        self._init_block = jax.jit(jax.vmap(self.init_cell))
        self._train_single = jax.jit(self.train_cell, static_argnames=("n_steps_max", "n_epochs_max"))

    # --- one cell -------------------------------------------------------------------------
    def optimizer(self, lr: jax.Array) -> optax.GradientTransformation:
        t = self.train
        return make_optimizer(t.optimizer, lr, t.momentum, t.weight_decay)

    def init_cell(self, hyper: CellHyper) -> CellState:
        params = self.model.init(hyper.init_key, self.dtype, **(hyper.model_args or {}))
        opt_state = self.optimizer(hyper.lr).init(params)
        return CellState(params, opt_state, jnp.int32(STATUS_PENDING), jnp.int32(0))

    def epoch_loss(self, params: Params, hyper: CellHyper, epoch: jax.Array, trials) -> tuple[jax.Array, Any]:
        """Loss of one epoch's full batch; its randomness comes from ``(data_key, epoch)`` alone."""
        key = jax.random.fold_in(hyper.data_key, epoch)
        return self.model.task_loss(params, self.task, hyper.timing, trials, key, self.dtype)

    def chunk_cell(
        self, state: CellState, hyper: CellHyper, epoch0: jax.Array, *, n_steps_max: int, n_epochs: int
    ) -> tuple[CellState, jax.Array]:
        """Advance one cell by ``n_epochs`` epochs from ``epoch0``; returns curves (n_epochs, 4)."""
        trials = build_trials(self.task, hyper.timing, n_steps_max, self.dtype)
        opt = self.optimizer(hyper.lr)
        grad_fn = jax.value_and_grad(self.epoch_loss, has_aux=True)
        rec_names = self.model.recurrent_params
        train = self.train

        def one_epoch(state: CellState, epoch):
            params, opt_state, status, epochs_run = state
            active = (status == STATUS_PENDING) & (epoch < hyper.n_epochs)
            (loss, (acc, rel)), grads = grad_fn(params, hyper, epoch, trials)
            grad_norm = jnp.sqrt(sum(jnp.sum(grads[name] ** 2) for name in rec_names))
            updates, new_opt_state = opt.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            finite = jnp.isfinite(loss) & _tree_all_finite(grads)
            params_ok = _tree_all_finite(new_params) & (_tree_max_abs(new_params) <= train.max_param_abs)
            too_high = loss > train.stop_loss_above
            new_status = jnp.where(
                ~finite | (~too_high & ~params_ok),
                STATUS_DIVERGED,
                jnp.where(too_high, STATUS_FAILED, STATUS_PENDING),
            )
            status = jnp.where(active, new_status, status).astype(jnp.int32)
            update = active & (status == STATUS_PENDING)
            keep = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(update, n, o), new, old)
            curves = jnp.stack([loss, acc, rel, grad_norm]).astype(self.dtype)
            curves = jnp.where(active, curves, jnp.nan)
            new_state = CellState(keep(new_params, params), keep(new_opt_state, opt_state), status, epochs_run + active)
            return new_state, curves

        epochs = epoch0 + jnp.arange(n_epochs, dtype=jnp.int32)
        return jax.lax.scan(one_epoch, state, epochs)

    def finish_cell(self, state: CellState, hyper: CellHyper) -> CellState:
        done = (state.status == STATUS_PENDING) & (state.epochs_run >= hyper.n_epochs)
        return state._replace(status=jnp.where(done, STATUS_DONE, state.status).astype(jnp.int32))

    def train_cell(self, hyper: CellHyper, *, n_steps_max: int, n_epochs_max: int) -> tuple[CellState, jax.Array]:
        """The single-network trainer: all epochs of one cell in one scan."""
        state = self.init_cell(hyper)
        state, curves = self.chunk_cell(state, hyper, jnp.int32(0), n_steps_max=n_steps_max, n_epochs=n_epochs_max)
        return self.finish_cell(state, hyper), curves

    # --- a block of cells -----------------------------------------------------------------
    def _chunk_block(self, states, hypers, epoch0, *, n_steps_max: int, n_epochs: int):
        self.trace_count += 1
        fn = lambda s, h: self.chunk_cell(s, h, epoch0, n_steps_max=n_steps_max, n_epochs=n_epochs)
        states, curves = jax.vmap(fn)(states, hypers)
        return jax.vmap(self.finish_cell)(states, hypers), curves

    def numerics(self) -> contextlib.ExitStack:
        """The context every compiled call runs in: the matmul precision, and 64-bit mode for float64
        sweeps (scoped, never switched on globally)."""
        stack = contextlib.ExitStack()
        stack.enter_context(jax.default_matmul_precision(self.train.matmul_precision))
        if self.dtype == jnp.float64:
            stack.enter_context(jax.enable_x64(True))
        return stack

    def shard(self, tree: Any) -> Any:
        """Place a block's per-cell arrays with the cell axis split over the devices."""
        if self.mesh is None:
            return tree
        n = len(jax.tree_util.tree_leaves(tree)[0])
        if n % len(self.devices):
            raise ValueError(f"a block of {n} cells cannot be split over {len(self.devices)} devices")
        return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec("cells")))

    def init_block(self, hypers: CellHyper) -> CellState:
        with self.numerics():
            return self._init_block(self.shard(hypers))

    def run_chunk(self, states: CellState, hypers: CellHyper, epoch0: int, n_steps_max: int) -> tuple[CellState, jax.Array]:
        """Advance every cell of a block by ``chunk_epochs`` epochs. Curves: (cells, chunk, 4)."""
        with self.numerics():
            return self._run_chunk(
                states, hypers, jnp.int32(epoch0), n_steps_max=n_steps_max, n_epochs=self.train.chunk_epochs
            )

    def train_single(self, hyper: CellHyper, n_steps_max: int, n_epochs_max: int) -> tuple[CellState, jax.Array]:
        with self.numerics():
            return self._train_single(hyper, n_steps_max=n_steps_max, n_epochs_max=n_epochs_max)

    def train_block(self, hypers: CellHyper, n_steps_max: int, n_epochs_max: int, on_chunk=None) -> tuple[CellState, np.ndarray]:
        """Train a whole block, chunk by chunk. Returns the final states and curves (cells, epochs, 4)."""
        with self.numerics():
            hypers = self.shard(jax.tree_util.tree_map(jnp.asarray, hypers))
        states = self.init_block(hypers)
        pieces = []
        for epoch0 in range(0, n_epochs_max, self.train.chunk_epochs):
            states, curves = self.run_chunk(states, hypers, epoch0, n_steps_max)
            pieces.append(np.asarray(curves))
            status = np.asarray(states.status)
            if on_chunk is not None:
                on_chunk(epoch0, min(epoch0 + self.train.chunk_epochs, n_epochs_max), status)
            if np.all(status != STATUS_PENDING):
                break
        curves = np.concatenate(pieces, axis=1)[:, :n_epochs_max]
        if curves.shape[1] < n_epochs_max:  # every cell stopped early
            pad = np.full((curves.shape[0], n_epochs_max - curves.shape[1], curves.shape[2]), np.nan, curves.dtype)
            curves = np.concatenate([curves, pad], axis=1)
        return states, curves
