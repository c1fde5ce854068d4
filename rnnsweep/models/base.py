"""The contract every model family fulfils, and the registry that finds them.

A model family is a frozen dataclass of its static settings (sizes, time constants, readout)
with pure methods. Parameters are plain dicts of arrays (pytrees); nothing hides in globals.
Adding a family is a one-file change: write ``rnnsweep/models/<family>.py`` with a class
decorated by :func:`register`; the package imports every module in this folder.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

Params = dict[str, jax.Array]

_REGISTRY: dict[str, type["ModelFamily"]] = {}


def register(cls: type["ModelFamily"]) -> type["ModelFamily"]:
    """Class decorator: make a model family available under ``cls.family``."""
    if cls.family in _REGISTRY:
        raise ValueError(f"model family {cls.family!r} registered twice")
    _REGISTRY[cls.family] = cls
    return cls


def families() -> dict[str, type["ModelFamily"]]:
    return dict(_REGISTRY)


class ModelFamily:
    """Abstract base: a recurrent network ``r[t+1] = step(r[t], u[t], eps[t])``, ``o[t] = readout(r[t])``.

    Subclasses are frozen dataclasses. ``n_inputs``, ``n_outputs`` and ``dt_ms`` come from the task;
    the other fields from the sweep file's ``[model]`` table (see :meth:`from_settings`).
    """

    family: ClassVar[str]
    # Parameters whose gradient norm is recorded as ``grad_norm`` (the recurrent weights).
    recurrent_params: ClassVar[tuple[str, ...]]
    # Fields filled in from the task rather than the [model] table.
    task_fields: ClassVar[tuple[str, ...]] = ("n_inputs", "n_outputs", "dt_ms")
    # Settings that may also be grid axes; each cell's value reaches ``init`` as a traced keyword.
    cell_axes: ClassVar[tuple[str, ...]] = ()
    # "SP" or "LC" for families whose mechanism is known by construction (the toy models); None:
    # decided per network by the mechanism index.
    mechanism: ClassVar[str | None] = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any], **from_task: Any) -> "ModelFamily":
        """Build from a ``[model]`` table; raises ``ValueError`` naming any bad field."""
        names = {f.name for f in dataclasses.fields(cls)} - set(cls.task_fields)
        unknown = sorted(set(settings) - names)
        if unknown:
            raise ValueError(
                f"model.{unknown[0]}: unknown setting for family {cls.family!r} "
                f"(allowed: {', '.join(sorted(names))})"
            )
        obj = cls(**settings, **from_task)
        obj.validate()
        return obj

    def validate(self) -> None:
        """Raise ``ValueError('model.<field>: ...')`` for impossible settings."""

    # --- the pure functions -------------------------------------------------------------
    def init(self, key: jax.Array, dtype: Any = jnp.float32, **cell_args: Any) -> Params:
        """Initial parameters; ``cell_args`` holds this cell's values of ``cell_axes``."""
        raise NotImplementedError

    def cell_args(self, coords: dict[str, float], timing: Any = None) -> dict[str, float]:
        """The traced keyword arguments of ``init`` for one cell, from its coordinates (over this
        family's settings for ``cell_axes``) and its step counts (``None``: any valid placeholder)."""
        return {}

    def task_loss(self, params: Params, task: Any, timing: Any, trials: Any, key: jax.Array,
                  dtype: Any) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """Loss and (accuracy, reliability) of one epoch: the full batch of ``trials`` (see
        :mod:`rnnsweep.tasks`), with ``key`` for the epoch's initial states and noise."""
        raise NotImplementedError

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        """Dimension names of each parameter, for the store (unique within one parameter)."""
        raise NotImplementedError

    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float32) -> jax.Array:
        raise NotImplementedError

    def simulate(
        self, params: Params, inputs: jax.Array, noise: jax.Array, r0: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Run ``T`` steps. ``inputs`` (T, B, I), ``noise`` (T, B, N), ``r0`` (B, N).

        Returns ``(rates, outputs)``, both time-major: ``rates[t]`` is the state *before* the
        update at step ``t`` and ``outputs[t] = readout(rates[t])``.
        """
        raise NotImplementedError

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = jax.eval_shape(lambda k: self.init(k, jnp.float32, **self.cell_args({})), jax.random.PRNGKey(0))
        return {name: tuple(s.shape) for name, s in shapes.items()}
