"""The host side of training: a block of cells as one compiled program on the devices.

:class:`Executor` wraps a :class:`~rnnsweep.train.Trainer`: ``jit(vmap(chunk_cell))`` over the cells
of a block, with the cell axis sharded over every local device (no communication: cells are
independent), the numerics context (matmul precision, scoped 64-bit mode), and the loop over chunks
of epochs that reports progress and stops early when every cell has stopped. The padded sequence
length and the chunk length are the only static shapes, so blocks of equal shape share one program.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .schema import Status
from .train import CellHyper, CellState, Trainer


class Executor:
    """Compiled block programs of one :class:`Trainer`."""

    def __init__(self, trainer: Trainer, devices=None):
        self.trainer = trainer
        self.trace_count = 0  # how many block programs were traced (== compiled)
        # blocks must hold a multiple of len(devices) cells when there are several devices
        self.devices = list(jax.devices() if devices is None else devices)
        self.mesh = Mesh(np.array(self.devices), ("cells",)) if len(self.devices) > 1 else None
        self._run_chunk = jax.jit(self._chunk_block, static_argnames=("n_steps_max", "n_epochs"))
        self._init_block = jax.jit(jax.vmap(trainer.init_cell))
        self._train_single = jax.jit(trainer.train_cell, static_argnames=("n_steps_max", "n_epochs_max"))

    @property
    def chunk_epochs(self) -> int:
        return self.trainer.train.chunk_epochs

    def _chunk_block(self, states, hypers, epoch0, *, n_steps_max: int, n_epochs: int):
        self.trace_count += 1
        t = self.trainer
        fn = lambda s, h: t.chunk_cell(s, h, epoch0, n_steps_max=n_steps_max, n_epochs=n_epochs)  # noqa: E731
        states, curves = jax.vmap(fn)(states, hypers)
        return jax.vmap(t.finish_cell)(states, hypers), curves

    def numerics(self) -> contextlib.ExitStack:
        """The context every compiled call runs in: the matmul precision, and 64-bit mode for float64
        sweeps (scoped, never switched on globally)."""
        stack = contextlib.ExitStack()
        stack.enter_context(jax.default_matmul_precision(self.trainer.train.matmul_precision))
        if self.trainer.dtype == jnp.float64:
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

    def run_chunk(self, states: CellState, hypers: CellHyper, epoch0: int, n_steps_max: int,
                  n_epochs: int | None = None) -> tuple[CellState, jax.Array]:
        """Advance every cell of a block by ``n_epochs`` (default ``chunk_epochs``) epochs. Curves:
        (cells, chunk, curves)."""
        with self.numerics():
            return self._run_chunk(states, hypers, jnp.int32(epoch0), n_steps_max=n_steps_max,
                                   n_epochs=n_epochs or self.chunk_epochs)

    def compile_chunk(self, states: CellState, hypers: CellHyper, n_steps_max: int):
        """The block's chunk program compiled ahead of time: ``(program, bytes)``. ``program(states,
        hypers, epoch0)`` does what :meth:`run_chunk` does (call it inside :meth:`numerics`);
        ``bytes`` is XLA's own account of its memory (arguments + outputs + temporaries - aliased),
        or None where the backend does not report it."""
        with self.numerics():
            compiled = self._run_chunk.lower(states, hypers, jnp.int32(0), n_steps_max=n_steps_max,
                                             n_epochs=self.chunk_epochs).compile()
        stats = compiled.memory_analysis()
        if stats is None:
            return compiled, None
        return compiled, int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
                             - stats.alias_size_in_bytes)

    def train_single(self, hyper: CellHyper, n_steps_max: int, n_epochs_max: int) -> tuple[CellState, jax.Array]:
        """The single-network trainer, compiled."""
        with self.numerics():
            return self._train_single(hyper, n_steps_max=n_steps_max, n_epochs_max=n_epochs_max)

    def chunk_length(self, snapshot_every: int = 0, first: int = 0) -> int:
        """Epochs per chunk of a block that starts at epoch ``first``: ``chunk_epochs``, or with
        snapshots every ``snapshot_every`` epochs the largest length that puts a chunk boundary at
        every multiple of it, ``gcd(chunk_epochs, snapshot_every, first)`` (``first`` is a multiple of
        it unless a checkpoint was saved with another ``chunk_epochs``)."""
        return math.gcd(self.chunk_epochs, snapshot_every, first) if snapshot_every else self.chunk_epochs

    def train_block(self, hypers: CellHyper, n_steps_max: int, n_epochs_max: int,
                    on_chunk: Callable[[int, int, np.ndarray], None] | None = None,
                    start: tuple[CellState, np.ndarray, int] | None = None,
                    at_boundary: Callable[[CellState, list, int], None] | None = None,
                    snapshot_every: int = 0,
                    on_snapshot: Callable[[CellState, int], None] | None = None) -> tuple[CellState, np.ndarray]:
        """Train a whole block, chunk by chunk. Returns the final states and curves (cells, epochs, curves).

        ``start``: continue from saved ``(states, curves so far, next epoch)`` instead of the initial
        networks. ``at_boundary(states, curve pieces, next epoch)`` is called between chunks (to save a
        checkpoint; it may raise ``KeyboardInterrupt`` to stop). ``on_snapshot(states, epoch)`` is
        called with the initial states (epoch 0, unless continuing) and after every multiple of
        ``snapshot_every`` epochs up to ``n_epochs_max`` (the chunks shrink to
        :meth:`chunk_length`; the results do not change), before ``at_boundary``, until every cell
        has stopped."""
        with self.numerics():
            hypers = self.shard(jax.tree_util.tree_map(jnp.asarray, hypers))
            if start is not None:
                states = self.shard(jax.tree_util.tree_map(jnp.asarray, start[0]))
        pieces = [start[1]] if start is not None and start[1].shape[1] else []
        first = 0 if start is None else start[2]
        every = snapshot_every if on_snapshot is not None else 0
        if start is None:
            states = self.init_block(hypers)
            if every:
                on_snapshot(states, 0)
        length = self.chunk_length(every, first)
        for epoch0 in range(first, n_epochs_max, length):
            epoch1 = epoch0 + length
            states, curves = self.run_chunk(states, hypers, epoch0, n_steps_max, length)
            pieces.append(np.asarray(curves))
            status = np.asarray(states.status)
            if on_chunk is not None:
                on_chunk(epoch0, min(epoch1, n_epochs_max), status)
            if every and epoch1 % every == 0 and epoch1 <= n_epochs_max:
                on_snapshot(states, epoch1)
            if np.all(status != Status.PENDING):
                break
            if at_boundary is not None and epoch1 < n_epochs_max:
                at_boundary(states, pieces, epoch1)
        curves = np.concatenate(pieces, axis=1)[:, :n_epochs_max]
        if curves.shape[1] < n_epochs_max:  # every cell stopped early
            pad = np.full((curves.shape[0], n_epochs_max - curves.shape[1], curves.shape[2]), np.nan, curves.dtype)
            curves = np.concatenate([curves, pad], axis=1)
        return states, curves
