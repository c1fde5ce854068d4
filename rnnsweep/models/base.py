"""The contract every model family fulfils, and the registry that finds them.

A model family is a frozen dataclass of static settings (the sweep file's ``[model]`` table, plus the
input/output sizes ``n_inputs``, ``n_outputs`` and ``dt_ms`` that come from the task) with pure
methods; parameters are plain dicts of arrays (the store keeps one array per name). One time step is split into three pure pieces,
so that the parts that do not depend on the state run as large matmuls outside the sequential scan
(as cuDNN does for its RNNs):

* ``drive(params, inputs, noise)``: the state-independent input to every step at once;
* ``prepare(params)``: whatever the update needs from the parameters, computed once per sequence
  (the leaky families' ``W_rec^T``, a low-rank ``m n^T``); by default the parameters themselves;
* ``update(prepared, state, drive_t) -> state``: the sequential part (run over all steps by
  :meth:`AbstractModel.scan`, which a family may replace with an equivalent that has a cheaper
  gradient);
* ``read(params, states) -> outputs``: the outputs, read from the state *before* each update.

Two optional hooks shape training itself: :meth:`AbstractModel.constrain` maps the parameters at the
start of every epoch (a projection, a scheduled value, e.g. the ghost paper's readout confidence
lowered from a given epoch), and :meth:`AbstractModel.frozen_params` names parameters the optimiser
never moves (such a scheduled value).

The base class writes the scan once (:meth:`AbstractModel.run`) and composes the pieces into
:meth:`AbstractModel.step` (one step, for anyone stepping by hand) and
:meth:`AbstractModel.velocity` (the continuous-time vector field ``F(x)``, for fixed points).
The state may be any pytree (an LSTM's is ``(h, c)``); :meth:`AbstractModel.rates` says which part
of it the analysis observes. Cost hints (``state_size``, ``flops_per_step``) feed the memory rule
and the time planner.

The abstract/final pattern (equinox's docs/pattern.md), without equinox: abstract classes
(``Abstract*``) declare the contract with abstract methods, final classes are registered and
instantiated, and a final class is never subclassed. One deliberate departure: a family's shared
settings are declared once in its abstract class (the leaky families' ``n_neurons``, ``tau_ms``, ...)
rather than repeated in each final class. Equinox Modules were tried for this and dropped: every
method access on a Module builds a bound-method Module, which made enumerating the cells of
``sweeps/dcd_post.toml`` take 20 s instead of well under a second.

A model family whose loss is analytic (the toy models of the theory) returns it from
:meth:`AbstractModel.own_loss`; the trainer then skips the task's trials, loss and metrics. Every
other family returns ``None`` there and is trained on the task. Adding a family is one file; see
docs/plugins.md.
"""

from __future__ import annotations

import abc
import functools
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..registry import Registry
from ..settings import Settings

Params = dict[str, jax.Array]
State = Any  # a pytree with a leading trial axis on every leaf

REGISTRY: Registry["AbstractModel"] = Registry("model family", "family",
                                                required=("recurrent_params", "n_inputs", "n_outputs", "dt_ms"))
register = REGISTRY.register

# Fields filled in from the task rather than the [model] table.
TASK_FIELDS = ("n_inputs", "n_outputs", "dt_ms")


class AbstractModel(Settings, abc.ABC):
    """A recurrent network family. Subclasses are frozen settings; parameters are passed explicitly.

    A final family defines the class attributes ``family`` (its name) and ``recurrent_params`` (the
    parameters whose gradient norm is recorded as ``grad_norm``), the settings fields ``n_inputs``,
    ``n_outputs`` and ``dt_ms`` (filled in from the task), and the abstract methods below."""

    family: ClassVar[str]
    recurrent_params: ClassVar[tuple[str, ...]]
    # Settings that may also be grid axes; each cell's value reaches ``init`` through ``cell_args``.
    cell_axes: ClassVar[tuple[str, ...]] = ()
    # Cell axes that size arrays (a hidden width). As a grid axis, the family is built at the grid's
    # largest value and each cell gets its own through ``cell_args``; ``init`` zeroes what lies beyond
    # it so that training leaves it at zero (the family's job, tested per family). One compiled
    # program serves every size.
    size_axes: ClassVar[tuple[str, ...]] = ()
    # True when ``init`` draws every input and output weight independently of ``n_inputs`` and
    # ``n_outputs`` (the element of row i, column j from the key, i and j alone, at a scale that does
    # not depend on them): then a *task's* size axis (a number of input features) is exact with this
    # family, each cell's network being the first rows/columns of the largest one. A sweep with a
    # task size axis and a family without it is refused (Xavier-style bounds depend on the fan-in).
    masks_task_sizes: ClassVar[bool] = False
    # "SP" or "LC" for families whose mechanism is known by construction (the toy models); None:
    # decided per network by the analysis.
    mechanism: ClassVar[str | None] = None

    # --- what each family defines ---------------------------------------------------------------
    @abc.abstractmethod
    def check_settings(self) -> None:
        """Raise ``ValueError("model.<field>: ...")`` for impossible settings."""

    @abc.abstractmethod
    def init(self, key: jax.Array, dtype: Any = jnp.float32, **cell_args: Any) -> Params:
        """Initial parameters; ``cell_args`` holds this cell's values from :meth:`cell_args`."""

    @abc.abstractmethod
    def param_dims(self) -> dict[str, tuple[str, ...]]:
        """Dimension names of each parameter, for the store (unique within one parameter)."""

    @abc.abstractmethod
    def initial_state(self, key: jax.Array, n_trials: int, dtype: Any = jnp.float32) -> State:
        """The state at the start of each of ``n_trials`` trials (drawn afresh every epoch)."""

    @abc.abstractmethod
    def drive(self, params: Params, inputs: jax.Array, noise: jax.Array | None) -> Any:
        """The state-independent input of every step: ``inputs`` (T, B, I), ``noise`` as drawn by
        :meth:`sample_noise` (or None: noise-free). Returns a pytree with leading axis T."""

    @abc.abstractmethod
    def update(self, prepared: Any, state: State, drive_t: Any) -> State:
        """One step of the dynamics; ``prepared`` is :meth:`prepare` of the parameters."""

    @abc.abstractmethod
    def read(self, params: Params, states: State) -> jax.Array:
        """Outputs (..., B, O) of states (..., B, ...): any number of leading axes."""

    @abc.abstractmethod
    def rates(self, states: State) -> jax.Array:
        """The observed activity (..., B, N) of states, as the analysis sees it."""

    @abc.abstractmethod
    def state_size(self) -> int:
        """Floats of state per trial (the memory rule keeps one per step for the backward pass)."""

    @abc.abstractmethod
    def flops_per_step(self, n_trials: int) -> float:
        """Multiply-adds x 2 of one forward step of a batch (drive, update and readout)."""

    def saved_arrays(self, platform: str) -> float:
        """How many arrays of (steps x trials x :meth:`state_size`) floats a block keeps per cell for
        the backward pass on ``platform`` ("cpu", "gpu", ...): the memory rule's multiplier
        (``schedule.bytes_per_cell``). Default 8, a safe figure for a family that was not measured."""
        return 8.0

    def sample_noise(self, key: jax.Array, n_steps: int, n_trials: int, dtype: Any = jnp.float32) -> jax.Array | None:
        """Noise of every step of a batch; step ``t``'s draw must depend on ``(key, t)`` only, so that
        padding a trial changes nothing. Default: no noise."""
        return None

    def prepare(self, params: Params) -> Any:
        """What :meth:`update` needs from the parameters, computed once outside the scan."""
        return params

    def cell_args(self, coords: dict[str, float], timing: Any = None) -> dict[str, float]:
        """The traced keyword arguments of ``init`` (and :meth:`constrain`) for one cell, from its
        coordinates (over this family's settings for ``cell_axes``) and its step counts (``None``: any
        valid placeholder)."""
        return {}

    def constrain(self, params: Params, epoch: jax.Array, **cell_args: Any) -> Params:
        """The parameters an epoch starts from: the trainer applies this to the parameters at the
        start of every epoch, before the forward pass and the optimiser step (a projection onto a
        constraint set, or parameters that follow a schedule of ``epoch``). ``cell_args`` as for
        ``init``. Default: the parameters themselves (no operation enters the program)."""
        return params

    def frozen_params(self) -> tuple[str, ...]:
        """Parameters the optimiser never moves (their updates are zeroed): values set by ``init`` and
        :meth:`constrain` only. Default: none."""
        return ()

    def own_loss(self, params: Params, timing: Any, n_steps_max: int, dtype: Any) -> tuple[Any, tuple] | None:
        """The hook for families with an analytic loss: ``(loss, metrics)`` of one epoch, metrics
        matching the task's ``metric_names``. ``None`` (the default): train on the task."""
        return None

    # --- written once ---------------------------------------------------------------------------
    @property
    def has_own_loss(self) -> bool:
        """True for families trained on their own analytic loss (:meth:`own_loss`)."""
        return type(self).own_loss is not AbstractModel.own_loss

    def validate(self) -> None:
        self.check_settings()

    def run(self, params: Params, inputs: jax.Array, noise: jax.Array | None, state0: State) -> tuple[jax.Array, jax.Array]:
        """Run ``T`` steps from ``state0``. Returns ``(rates, outputs)``, time-major: ``rates[t]`` is
        the observed state *before* the update at step ``t`` and ``outputs[t]`` is read from it."""
        states = self.scan(self.prepare(params), state0, self.drive(params, inputs, noise))
        return self.rates(states), self.read(params, states)

    def scan(self, prepared: Any, state0: State, drive: Any, unroll: int | None = None) -> State:
        """The states *before* each step's update (time-major), from ``state0`` and the drive of
        every step. Default: :meth:`update` in a ``lax.scan``, differentiated by autodiff. A family
        may override it with a faster equivalent (the leaky families' hand-written gradient,
        :mod:`.leaky_scan`); it must equal this one to float rounding. ``unroll``: steps per loop
        iteration (``lax.scan``'s; default 1, or the family's own ``scan_unroll`` setting)."""

        def body(state, drive_t):
            return self.update(prepared, state, drive_t), state

        _, states = jax.lax.scan(body, state0, drive, unroll=unroll or 1)
        return states

    def step(self, params: Params, state: State, inputs: jax.Array, noise: jax.Array | None = None) -> tuple[State, jax.Array]:
        """One step from ``state`` with ``inputs`` (B, I): ``(next state, output read from state)``."""
        drive = self.drive(params, inputs[None], None if noise is None else noise[None])
        drive_t = jax.tree_util.tree_map(lambda x: x[0], drive)
        return self.update(self.prepare(params), state, drive_t), self.read(params, state)

    def velocity(self, params: Params, state: State, inputs: jax.Array) -> State:
        """The noise-free continuous-time vector field ``F(x) = (x[t+1] - x[t]) / dt`` (per ms) at
        constant ``inputs``; for a leaky family, ``tau dr/dt = -r + tanh(...)``."""
        new, _ = self.step(params, state, inputs)
        return jax.tree_util.tree_map(lambda a, b: (a - b) / self.dt_ms, new, state)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(_param_shapes(self))

    def n_params(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes().values())


def families() -> dict[str, type[AbstractModel]]:
    return REGISTRY.all()


def get_family(name: str) -> type[AbstractModel]:
    return REGISTRY.get(name, "model.family")


@functools.lru_cache(maxsize=256)
def _param_shapes(model: AbstractModel) -> tuple[tuple[str, tuple[int, ...]], ...]:
    shapes = jax.eval_shape(lambda k: model.init(k, jnp.float32, **model.cell_args({})), jax.random.PRNGKey(0))
    return tuple((name, tuple(s.shape)) for name, s in shapes.items())
