"""What the gated families (:mod:`.gru`, :mod:`.lstm`) share: PyTorch's parameter layout and
initialisation, their settings and cost hints.

Parameters as torch stores them: ``W_ih`` (gates x N, n_inputs), ``W_hh`` (gates x N, N), ``b_ih`` and
``b_hh`` (gates x N), rows in torch's gate order, and a linear readout ``W_out``, ``b_out``. Every
weight and bias, the readout's included (torch's ``nn.Linear(N, O)``), starts ``~ U(-1/sqrt(N),
1/sqrt(N))``, independently (drawn as one vector, split into the parameters).
"""

from __future__ import annotations

import abc
import itertools
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..settings import positive
from .base import AbstractModel, Params


def uniform_params(key: jax.Array, shapes: dict[str, tuple[int, ...]], bound: float, dtype: Any) -> Params:
    """Parameters of the given shapes, every element ``U(-bound, bound)``, from one draw (one random
    op to compile instead of one per parameter: each costs a few tenths of a second of XLA compilation on
    a CPU)."""
    sizes = [math.prod(shape) for shape in shapes.values()]
    flat = jax.random.uniform(key, (sum(sizes),), dtype, -bound, bound)
    parts = jnp.split(flat, list(itertools.accumulate(sizes))[:-1])
    return {name: part.reshape(shape) for (name, shape), part in zip(shapes.items(), parts)}


class AbstractGatedRNN(AbstractModel):
    """A gated family with torch's parameter layout; final classes set ``n_gates`` and the dynamics."""

    recurrent_params: ClassVar[tuple[str, ...]] = ("W_hh",)
    n_gates: ClassVar[int]

    n_neurons: int = 40
    n_inputs: int = 1
    n_outputs: int = 1
    dt_ms: float = 1.0

    @abc.abstractmethod
    def update(self, prepared: Any, state: Any, drive_t: jax.Array) -> Any:
        """One step of the gated dynamics."""

    def check_settings(self) -> None:
        positive("model.n_neurons", self.n_neurons, integer=True)
        positive("model.dt_ms", self.dt_ms)

    def init(self, key: jax.Array, dtype: Any = jnp.float32, **cell_args: Any) -> Params:
        n, i, o, g = self.n_neurons, self.n_inputs, self.n_outputs, self.n_gates
        bound = 1.0 / math.sqrt(n)
        shapes = {"W_ih": (g * n, i), "W_hh": (g * n, n), "b_ih": (g * n,), "b_hh": (g * n,),
                  "W_out": (o, n), "b_out": (o,)}
        return uniform_params(key, shapes, bound, dtype)

    def param_dims(self) -> dict[str, tuple[str, ...]]:
        return {"W_ih": ("gate_neuron", "input"), "W_hh": ("gate_neuron", "neuron"), "b_ih": ("gate_neuron",),
                "b_hh": ("gate_neuron",), "W_out": ("output", "neuron"), "b_out": ("output",)}

    def flops_per_step(self, n_trials: int) -> float:
        n, g = self.n_neurons, self.n_gates
        return 2.0 * n_trials * n * (g * n + g * self.n_inputs + self.n_outputs)
