"""The leaky firing-rate RNN family (paper-spec section 1), abstract over its recurrent matrix.

Discrete update, with ``a = dt / tau``::

    r[t+1] = (1 - a) r[t] + a tanh(W_rec r[t] + b_rec + W_in u[t] + b_in + eps[t])
    o[t]   = sigmoid(W_out r[t] + b_out)          # or linear, or relu; read before the update

``eps[t] ~ N(0, noise_std^2)`` is fresh for every neuron, trial and step. Initialisation as torch:
Xavier-uniform weights, biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; initial state
``r[0] = tanh(init_state_scale N(0, 1))`` per trial. The final classes say what ``W_rec`` is:
:class:`~rnnsweep.models.leaky_rnn.LeakyRNN` (a full matrix, zero diagonal at init) and
:class:`~rnnsweep.models.lowrank_rnn.LowRankRNN` (``m n^T``).

Output confidence (ghost paper, paper-spec section 2), with ``readout_norm = "l1"``: at the start of
every epoch the readout is projected onto ``||W_out[o]||_1 = c`` (``W_out[o]`` and ``b_out[o]``
divided by ``||W_out[o]||_1 / c``), so the output is ``phi(c (w.r + b) / ||w||_1)``. As in the
reference code (fatihdinc/ghost-mechanism, Figure8/code/C: an in-place rescaling under ``no_grad``
before every forward pass), the norm is a projection, outside the gradient: the gradient is that of
``phi(w.r + b)`` at the projected weights, and the optimiser (its state kept) steps from there. ``c``
follows a schedule: ``confidence`` until epoch ``confidence_epoch``, ``lowered_confidence`` from it
on (``confidence_epoch = 0``: never lowered); a ``c`` of 0 means no projection, the plain readout (the
reference's ``c = inf``). All three may be grid axes. The stored weights are the last step's; the
projection is applied again by the next forward pass.
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import one_of, positive
from .base import AbstractModel, Params
from .leaky_scan import leaky_states
from .noise import NOISE_RNGS, step_noise

READOUTS = ("sigmoid", "linear", "relu")
READOUT_NORMS = ("none", "l1")
CONFIDENCE_AXES = ("confidence", "lowered_confidence", "confidence_epoch")
RECURRENT_GRADS = ("after_scan", "autodiff")


def xavier_uniform(key: jax.Array, fan_out: int, fan_in: int, dtype: Any) -> jax.Array:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, (fan_out, fan_in), dtype, -bound, bound)


def linear_bias(key: jax.Array, fan_in: int, size: int, dtype: Any) -> jax.Array:
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, (size,), dtype, -bound, bound)


class AbstractLeakyRNN(AbstractModel):
    """Leaky tanh rate network with trainable input, recurrent and output layers; the settings every
    leaky family shares are declared here once."""

    n_neurons: int = 100
    n_inputs: int = 2
    n_outputs: int = 2
    dt_ms: float = 5.0
    tau_ms: float = 10.0
    noise_std: float = 0.001
    readout: str = "sigmoid"
    init_state_scale: float = 0.1
    noise_rng: str = "hash"  # generator of the per-step noise (.noise): "threefry" (JAX's), "rbg" (not vmap-exact)
    # How the recurrence is differentiated: "after_scan" (a hand-written VJP, .leaky_scan: only the
    # state gradient is sequential, dW_rec is one matmul over all steps and trials) or "autodiff"
    # (JAX differentiates the scan; dW_rec accumulates step by step). Equal to float rounding.
    recurrent_grad: str = "after_scan"
    # Steps per iteration of the time loop (lax.scan's unroll): fewer, larger loop iterations (fewer
    # kernel launches and loop round trips on a GPU); equal to float rounding (XLA fuses the unrolled
    # body differently).
    scan_unroll: int = 1
    # The output confidence (module docstring): "l1" projects the readout onto ||W_out[o]||_1 = c.
    readout_norm: str = "none"
    confidence: float = 0.0  # c from the first epoch (0: no projection)
    lowered_confidence: float = 0.0  # c from confidence_epoch on (0: no projection)
    confidence_epoch: int = 0  # the epoch from which c is lowered_confidence (0: never)
    # What stores written before these settings existed (or before their defaults changed, for a store
    # that did not record them) were trained with.
    settings_added: ClassVar[dict[str, Any]] = {"recurrent_grad": "autodiff", "noise_rng": "threefry", "scan_unroll": 1}
    cell_axes: ClassVar[tuple[str, ...]] = CONFIDENCE_AXES

    # --- what each leaky family defines ---------------------------------------------------------
    @abc.abstractmethod
    def init_recurrent(self, key: jax.Array, dtype: Any, **cell_args: Any) -> Params:
        """The recurrent parameters (``cell_args``: this cell's values of the family's cell axes)."""

    @abc.abstractmethod
    def recurrent_weight(self, params: Params) -> jax.Array:
        """The (N, N) matrix ``W_rec`` from the recurrent parameters."""

    @abc.abstractmethod
    def recurrent_dims(self) -> dict[str, tuple[str, ...]]:
        """Store dimension names of the recurrent parameters."""

    def check_family(self) -> None:
        """Checks of the family's own settings (none by default)."""

    @property
    def uses_confidence(self) -> bool:
        """True when the confidence schedule shapes the readout (here: ``readout_norm = "l1"``)."""
        return self.readout_norm == "l1"

    def check_confidence(self) -> None:
        for name in ("confidence", "lowered_confidence"):
            positive(f"model.{name}", getattr(self, name), allow_zero=True)
        positive("model.confidence_epoch", self.confidence_epoch, integer=True, allow_zero=True)
        if self.lowered_confidence != 0 and self.confidence_epoch == 0:
            raise ValueError("model.confidence_epoch: give the epoch from which the confidence is lowered_confidence "
                             f"(got lowered_confidence = {self.lowered_confidence} and confidence_epoch = 0, never)")
        if not self.uses_confidence:
            used = [n for n in CONFIDENCE_AXES if getattr(self, n) != 0]
            if used:
                raise ValueError(f"model.{used[0]}: the output confidence needs readout_norm = \"l1\" (the L1-normalised "
                                 "readout of the ghost paper)")

    def scheduled_confidence(self, epoch: jax.Array, cell_args: dict[str, Any]) -> jax.Array:
        """The cell's confidence ``c`` at ``epoch`` (traced)."""
        values = {n: cell_args.get(n, getattr(self, n)) for n in CONFIDENCE_AXES}
        lowered = (values["confidence_epoch"] > 0) & (epoch >= values["confidence_epoch"])
        return jnp.where(lowered, values["lowered_confidence"], values["confidence"])

    # --- the contract ---------------------------------------------------------------------------
    @property
    def alpha(self) -> float:
        return self.dt_ms / self.tau_ms

    def check_settings(self) -> None:
        positive("model.n_neurons", self.n_neurons, integer=True)
        for name in ("noise_std", "init_state_scale"):
            positive(f"model.{name}", getattr(self, name), allow_zero=True)
        positive("model.tau_ms", self.tau_ms)
        if not 0 < self.alpha <= 1:
            raise ValueError(
                f"model.tau_ms: dt/tau = {self.dt_ms}/{self.tau_ms} must lie in (0, 1] for a stable Euler step"
            )
        one_of("model.readout", self.readout, READOUTS)
        one_of("model.readout_norm", self.readout_norm, READOUT_NORMS)
        one_of("model.noise_rng", self.noise_rng, NOISE_RNGS)
        one_of("model.recurrent_grad", self.recurrent_grad, RECURRENT_GRADS)
        positive("model.scan_unroll", self.scan_unroll, integer=True)
        self.check_family()
        self.check_confidence()

    def cell_args(self, coords: dict[str, float], timing: Any = None) -> dict[str, float]:
        return {name: float(coords.get(name, getattr(self, name))) for name in type(self).cell_axes}

    def constrain(self, params: Params, epoch: jax.Array, **cell_args: Any) -> Params:
        if self.readout_norm != "l1":
            return params
        c = self.scheduled_confidence(epoch, cell_args)
        w, b = params["W_out"], params["b_out"]
        norm = jnp.sum(jnp.abs(w), axis=1)  # ||W_out[o]||_1 per output
        scale = jnp.where(c > 0, c / jnp.where(norm > 0, norm, 1), 1).astype(w.dtype)
        return {**params, "W_out": w * scale[:, None], "b_out": b * scale}

    def init(self, key: jax.Array, dtype: Any = jnp.float32, **cell_args: Any) -> Params:
        k_in, k_bin, k_rec, k_brec, k_out, k_bout = jax.random.split(key, 6)
        n, i, o = self.n_neurons, self.n_inputs, self.n_outputs
        params = {
            "W_in": xavier_uniform(k_in, n, i, dtype),
            "b_in": linear_bias(k_bin, i, n, dtype),
            "b_rec": linear_bias(k_brec, n, n, dtype),
            "W_out": xavier_uniform(k_out, o, n, dtype),
            "b_out": linear_bias(k_bout, n, o, dtype),
        }
        params.update(self.init_recurrent(k_rec, dtype, **cell_args))
        return params

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        return {"W_in": ("neuron", "input"), "b_in": ("neuron",), **self.recurrent_dims(), "b_rec": ("neuron",),
                "W_out": ("output", "neuron"), "b_out": ("output",)}

    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float32) -> jax.Array:
        z = jax.random.normal(key, (n_trials, self.n_neurons), dtype)
        return jnp.tanh(self.init_state_scale * z)

    def sample_noise(self, key: jax.Array, n_steps: int, n_trials: int, dtype: Any = jnp.float32) -> jax.Array:
        return self.noise_std * step_noise(key, n_steps, (n_trials, self.n_neurons), dtype, self.noise_rng)

    def drive(self, params: Params, inputs: jax.Array, noise: jax.Array | None) -> jax.Array:
        drive = inputs @ params["W_in"].T + params["b_in"] + params["b_rec"]
        return drive if noise is None else drive + noise

    def prepare(self, params: Params) -> jax.Array:
        return self.recurrent_weight(params).T  # W_rec^T, once per sequence

    def update(self, w_rec_t: jax.Array, state: jax.Array, drive_t: jax.Array) -> jax.Array:
        a = self.alpha
        return (1 - a) * state + a * jnp.tanh(state @ w_rec_t + drive_t)

    def scan(self, w_rec_t: jax.Array, state0: jax.Array, drive: jax.Array, unroll: int | None = None) -> jax.Array:
        unroll = unroll or self.scan_unroll
        if self.recurrent_grad == "autodiff":
            return super().scan(w_rec_t, state0, drive, unroll)
        return leaky_states(w_rec_t, state0, drive, self.alpha, unroll)

    def read(self, params: Params, states: jax.Array) -> jax.Array:
        z = states @ params["W_out"].T + params["b_out"]
        if self.readout == "sigmoid":
            return jax.nn.sigmoid(z)
        return jax.nn.relu(z) if self.readout == "relu" else z

    def rates(self, states: jax.Array) -> jax.Array:
        return states

    def state_size(self) -> int:
        return self.n_neurons

    def saved_arrays(self, platform: str) -> float:
        # Fitted to XLA's memory analysis of the compiled block programs (N = 100, 128 trials, T = 16 to
        # 96; benchmarks/results/h200 and docs/performance.md). GPU: 5.1-5.3 arrays whatever the
        # settings, 6.1 with scan_unroll = 4. CPU: 5.4 with the hand-written gradient and hash noise,
        # +2 with autodiff's gradient, +3 with threefry noise (the generator's temporaries over all steps).
        if platform != "cpu":
            return 6.5
        return 6.0 + 2.0 * (self.recurrent_grad == "autodiff") + 3.0 * (self.noise_rng == "threefry")

    def flops_per_step(self, n_trials: int) -> float:
        return 2.0 * n_trials * self.n_neurons * (self.n_neurons + self.n_inputs + self.n_outputs)
