"""Shared base of the scalar toy models (``toy_sp``, ``toy_lc``): one trainable rate ``r``,
plain gradient descent, closed-form or numerically integrated losses. Derivations: docs/theory.md.

Time is in units of the task's ``dt_ms`` (use ``dt_ms = 1``): ``T_d`` is the task's delay and
``T_r`` its response window, or ``T_r = T_d`` with ``response_equals_delay``. The initial rate is
``init_r_ratio`` times the optimum ``r*(T_d)`` (a grid axis or a setting), so one ratio means the
same thing at every delay. Accuracy and reliability are both 1 while ``r`` is outside the flat
no-learning zone (the analytic loss is below its plateau) and 0 on it: gradient descent on these
kinked losses bounces around the optimum instead of converging, and what the theory predicts is
whether it stays out of the zone. The engine's classification then applies unchanged. Train in
float64 (``train.dtype``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .base import ModelFamily, Params

LOSSES = ("analytic", "numeric")


@dataclasses.dataclass(frozen=True)
class ScalarToy(ModelFamily):
    recurrent_params: ClassVar[tuple[str, ...]] = ("r",)
    cell_axes: ClassVar[tuple[str, ...]] = ("init_r_ratio",)

    n_inputs: int = 1
    n_outputs: int = 1
    dt_ms: float = 1.0
    init_r_ratio: float = 1.5
    loss: str = "analytic"
    normalize: bool = False  # divide the loss by T_d
    response_equals_delay: bool = True
    confidence: float = 100.0  # a, of the finite-confidence sigmoid readout
    euler_dt: float = 0.1
    n_neurons: int = 1

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"model.loss: must be one of {LOSSES}, got {self.loss!r}")
        for name in ("init_r_ratio", "confidence", "euler_dt"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"model.{name}: must be > 0, got {value!r}")

    # --- what each toy defines --------------------------------------------------------------
    def optimum(self, t_delay, t_response):
        """The rate with zero analytic loss."""
        raise NotImplementedError

    def analytic_loss(self, r, t_d, t_r):
        raise NotImplementedError

    def numeric_loss(self, r, t_d, t_r, n_points: int):
        raise NotImplementedError

    def stuck_loss(self, t_d, t_r):
        """The loss on the flat no-learning plateau (un-normalised)."""
        raise NotImplementedError

    # --- the engine's contract ----------------------------------------------------------------
    def durations(self, timing) -> tuple[Any, Any]:
        t_d = jnp.asarray(timing.delay_steps) * self.dt_ms
        t_r = t_d if self.response_equals_delay else jnp.asarray(timing.response_steps) * self.dt_ms
        return t_d, t_r

    def cell_args(self, coords: dict[str, float], timing: Any = None) -> dict[str, float]:
        ratio = float(coords.get("init_r_ratio", self.init_r_ratio))
        if timing is None:
            return {"init_r": ratio}
        t_d = float(timing.delay_steps) * self.dt_ms
        t_r = t_d if self.response_equals_delay else float(timing.response_steps) * self.dt_ms
        return {"init_r": ratio * float(self.optimum(t_d, t_r))}

    def init(self, key: jax.Array, dtype: Any = jnp.float64, init_r: Any = 1.0, **_: Any) -> Params:
        return {"r": jnp.asarray(init_r, dtype)}

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        return {"r": ()}

    def initial_state(self, key, n_trials, dtype=jnp.float64):
        return jnp.zeros((n_trials, 1), dtype)

    def task_loss(self, params: Params, task, timing, trials, key, dtype):
        t_d, t_r = self.durations(timing)
        r = params["r"]
        if self.loss == "analytic":
            raw = self.analytic_loss(r, t_d, t_r)
        else:  # a static number of integration points covering the longest trial of the block
            span = trials.inputs.shape[0] * self.dt_ms * (2 if self.response_equals_delay else 1)
            raw = self.numeric_loss(r, t_d, t_r, int(round(span / self.euler_dt)))
        learning = self.analytic_loss(r, t_d, t_r) < self.stuck_loss(t_d, t_r)
        score = learning.astype(dtype)
        loss = raw / t_d if self.normalize else raw
        return loss.astype(dtype), (score, score)
