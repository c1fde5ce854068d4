"""Checkpoints of a block in flight, so that a kill loses at most ``[run] checkpoint_minutes``.

At a chunk boundary, at most every ``checkpoint_minutes`` of wall time (and when SIGTERM or Ctrl-C
asks the run to stop), the runner saves the block's carried state: every cell's parameters,
optimiser state, status and recorded epochs, the curves so far and the next epoch, together with
the block's composition (its units, padded size and shapes). The PRNG needs no state: every draw is
folded from the cell's keys and the epoch.

One file per block, ``<store>/<sweep>/_checkpoints/<block id>.npz``, written to a temporary name and
renamed over the previous one: a kill during the write leaves the previous checkpoint whole. The
cells of a checkpointed block stay pending in the store until the block finishes and is written;
then its checkpoint is deleted. ``--resume`` rebuilds each checkpointed block exactly as it was
(same units, same padded size, so the same compiled program) and continues it from its saved
epoch: the result is bit-identical to an uninterrupted run of that block.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np

from . import store

FOLDER = "_checkpoints"


def unit_key(index: Sequence[Any]) -> list:
    """A unit's store selection as JSON (slices as [start, stop])."""
    return [[s.start, s.stop] if isinstance(s, slice) else int(s) for s in index]


def block_id(unit_indices: Sequence[Sequence[Any]], n_padded: int, n_steps_max: int, n_epochs_max: int) -> str:
    text = json.dumps([[unit_key(ix) for ix in unit_indices], n_padded, n_steps_max, n_epochs_max])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def save(path: Path, meta: dict[str, Any], states: Any, curves: np.ndarray) -> None:
    """Write a checkpoint atomically: a temporary file of a unique name, then a rename over ``path``
    (its folder must exist: :func:`rnnsweep.store.side_folder`)."""
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(states)]
    with store.replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), curves=curves, n_leaves=np.array(len(leaves)),
                 **{f"leaf_{i}": leaf for i, leaf in enumerate(leaves)})
        f.flush()
        os.fsync(f.fileno())


def load(path: Path, like: Any) -> tuple[dict[str, Any], Any, np.ndarray]:
    """``(meta, states, curves)`` of a checkpoint; ``like`` is a freshly initialised block state that
    gives the tree structure, shapes and dtypes. Raises ``ValueError`` for a file that does not fit."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        curves = data["curves"]
        leaves = [data[f"leaf_{i}"] for i in range(int(data["n_leaves"]))]
    treedef = jax.tree_util.tree_structure(like)
    reference = jax.tree_util.tree_leaves(like)
    if len(leaves) != len(reference) or any(a.shape != b.shape or a.dtype != b.dtype
                                            for a, b in zip(leaves, reference)):
        raise ValueError("its arrays do not fit the block's state")
    return meta, jax.tree_util.tree_unflatten(treedef, leaves), curves


def read_meta(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["meta"]))


def saved(folder: Path) -> list[Path]:
    """The checkpoint files in a sweep's checkpoint folder (not the temporary files of an
    interrupted write)."""
    return sorted(folder.glob("*.npz"))
