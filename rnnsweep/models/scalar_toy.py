"""Shared base of the scalar toy models (``toy_sp``, ``toy_lc``): one trainable rate ``r``, plain
gradient descent, closed-form or numerically integrated losses. Derivations: docs/theory.md.

Time is in units of the task's ``dt_ms`` (use ``dt_ms = 1``): ``T_d`` is the task's delay and
``T_r`` its response window, or ``T_r = T_d`` with ``response_equals_delay``. The initial rate is
``init_r_ratio`` times the optimum ``r*(T_d)`` (a grid axis or a setting), so one ratio means the
same thing at every delay. Accuracy and reliability are both 1 while ``r`` is outside the flat
no-learning zone (the analytic loss is below its plateau) and 0 on it: gradient descent on these
kinked losses bounces around the optimum instead of converging, and what the theory predicts is
whether it stays out of the zone. The engine's classification then applies unchanged. Train in
float64 (``train.dtype``).

The loss is the model's own (:meth:`AbstractScalarToy.own_loss`, the documented hook of the model
contract): the task (``delayed_activation``) only supplies the durations. The dynamics are real all
the same (``step``, ``run`` and ``velocity`` work): the ghost ``dx/dt = x^2 + r`` and the rotation of
the limit cycle.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import one_of, positive
from .base import AbstractModel, Params

LOSSES = ("analytic", "numeric")


class AbstractScalarToy(AbstractModel):
    recurrent_params: ClassVar[tuple[str, ...]] = ("r",)
    cell_axes: ClassVar[tuple[str, ...]] = ("init_r_ratio",)

    n_inputs: int = 1
    n_outputs: int = 1
    dt_ms: float = 1.0
    init_r_ratio: float = 1.5
    loss: str = "analytic"
    normalize: bool = False  # divide the loss by T_d
    confidence: float = 100.0  # a, of the finite-confidence sigmoid readout
    euler_dt: float = 0.1
    n_neurons: int = 1
    response_equals_delay: bool = False  # T_r = T_d; toy_sp redeclares it with default True

    # --- what each toy defines --------------------------------------------------------------
    @abc.abstractmethod
    def optimum(self, t_delay, t_response):
        """The rate with zero analytic loss."""

    @abc.abstractmethod
    def analytic_loss(self, r, t_d, t_r):
        """The loss at infinite confidence (un-normalised)."""

    @abc.abstractmethod
    def numeric_loss(self, r, t_d, t_r, n_points: int):
        """The finite-confidence loss, integrated with ``n_points`` steps of ``euler_dt``."""

    @abc.abstractmethod
    def stuck_loss(self, t_d, t_r):
        """The loss on the flat no-learning plateau (un-normalised)."""

    # --- the objective ------------------------------------------------------------------------
    def check_settings(self) -> None:
        one_of("model.loss", self.loss, LOSSES)
        for name in ("init_r_ratio", "confidence", "euler_dt"):
            positive(f"model.{name}", getattr(self, name))

    def objective(self, r, t_d, t_r, n_points: int):
        """The training loss of rate ``r``: analytic or numeric, divided by ``T_d`` with ``normalize``."""
        raw = self.analytic_loss(r, t_d, t_r) if self.loss == "analytic" else self.numeric_loss(r, t_d, t_r, n_points)
        return raw / t_d if self.normalize else raw

    def learning(self, r, t_d, t_r):
        """True while ``r`` is outside the no-learning zone."""
        return self.analytic_loss(r, t_d, t_r) < self.stuck_loss(t_d, t_r)

    def task_durations(self, timing) -> tuple[Any, Any]:
        t_d = jnp.asarray(timing["delay"]) * self.dt_ms
        t_r = t_d if self.response_equals_delay else jnp.asarray(timing["response"]) * self.dt_ms
        return t_d, t_r

    def own_loss(self, params: Params, timing: Any, n_steps_max: int, dtype: Any):
        t_d, t_r = self.task_durations(timing)
        # a static number of integration points covering the longest trial of the block
        span = n_steps_max * self.dt_ms * (2 if self.response_equals_delay else 1)
        loss = self.objective(params["r"], t_d, t_r, int(round(span / self.euler_dt)))
        score = self.learning(params["r"], t_d, t_r).astype(dtype)
        return loss.astype(dtype), (score, score)

    # --- the engine's contract ----------------------------------------------------------------
    def cell_args(self, coords: dict[str, float], timing: Any = None) -> dict[str, float]:
        ratio = float(coords.get("init_r_ratio", self.init_r_ratio))
        if timing is None:
            return {"init_r": ratio}
        t_d, t_r = (float(x) for x in self.task_durations(timing))
        return {"init_r": ratio * float(self.optimum(t_d, t_r))}

    def init(self, key: jax.Array, dtype: Any = jnp.float64, init_r: Any = 1.0, **_: Any) -> Params:
        return {"r": jnp.asarray(init_r, dtype)}

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        return {"r": ()}

    def drive(self, params: Params, inputs: jax.Array, noise: jax.Array | None) -> jax.Array:
        return jnp.zeros(inputs.shape[:-1] + (1,), inputs.dtype)  # autonomous: no input

    def rates(self, states: jax.Array) -> jax.Array:
        return states

    def state_size(self) -> int:
        return 2

    def flops_per_step(self, n_trials: int) -> float:
        return 10.0 * n_trials
