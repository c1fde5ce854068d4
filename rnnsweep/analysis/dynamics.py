"""Slow, fixed and ghost points of many networks at once (every network of a trial length through one
work queue of minimisations, on the device).

For the continuous-time vector field ``F(x)`` of a network at a constant input (the model family's
:meth:`~rnnsweep.models.AbstractModel.velocity`, in units of the family's own time constant: for
the leaky families ``F(r) = tau dr/dt = -r + tanh(W_rec r + b + W_in u)``), the finder minimises
the speed ``q(x) = |F(x)|^2 / 2`` from many initial states with optimistix's BFGS (the way
FixedPointFinder does it, one network at a time, with Adam; here all the networks' minimisations go
through one queue of compiled calls, :func:`points_of_field`).
Then, per network:

1. candidates with ``q >= slow_q`` are dropped (the minimiser stopped on a fast part of the flow);
2. the rest are de-duplicated: sorted by ``q``, a candidate within ``unique_tol`` (RMS distance per
   state unit) of a slower kept one is a duplicate;
3. each unique point's Jacobian ``dF/dx`` and its eigenvalues ``lambda`` (in units of 1/time unit)
   label it (:data:`LABELS`):

   * ``q < fixed_q``: a fixed point; ``stable`` if every ``Re lambda < 0``, ``unstable`` if every
     ``Re lambda > 0``, else ``saddle``;
   * otherwise a slow point: a ``ghost`` when exactly one eigenvalue is near zero
     (``|lambda| < zero_eig``) and every other has a negative real part (the ghost-mechanism paper's
     signature of a saddle-node that has just disappeared), else ``slow``.

Per network it reports the counts by label, the slowest point (its state and ``q``) and the
dimension of the slow manifold there (the number of eigenvalues with ``|lambda| < zero_eig``).

The initial states are states the network visits: the task's probe trials (every condition, then
zero input to ``probe_factor`` trial lengths, noise-free, :func:`.mechanism.probe_trajectory`), taken at
evenly spaced times, plus Gaussian jitter of ``jitter``. All networks use the same draws (from
``seed``), so a network's points do not depend on which networks it is batched with.

The solver runs in float64 by default (``dtype``): telling a fixed point (``q ~ 1e-20``) from a slow
point needs more than float32's 7 digits. :func:`points_of_field` finds the points of any vector
field (the tests use ``dx/dt = x^2 + r``), :func:`find_points` is the same computation for one network
as one pure, vmappable program, and :func:`network_points` is the driver for stored networks of a
model family.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ..models import AbstractModel
from ..settings import one_of, positive
from ..tasks import AbstractTask, Timing
from .mechanism import input_trajectory

# point labels, stored as int8 codes (their index); -1 = no point (dropped or a duplicate)
LABELS = ("stable", "saddle", "unstable", "ghost", "slow")
STABLE, SADDLE, UNSTABLE, GHOST, SLOW = range(len(LABELS))
NO_POINT = -1
DTYPES = ("float64", "float32")


@dataclasses.dataclass(frozen=True)
class FinderConfig:
    """Options of the slow-point finder; tolerances are in the vector field's units (see the module)."""

    n_initial: int = 64  # initial states per network
    jitter: float = 0.05  # std of the Gaussian jitter added to the visited states
    probe_factor: int = 3  # probe length in trial lengths (the trial, then zero input)
    max_steps: int = 2000  # BFGS steps per initial state, in all
    round_steps: int = 64  # BFGS steps per round (a minimisation still running after it continues in the next)
    rtol: float = 1e-10  # BFGS's relative and absolute tolerances (optimistix's Cauchy criterion)
    atol: float = 1e-14
    fixed_q: float = 1e-10  # q below this: a fixed point
    slow_q: float = 1e-4  # q below this: a slow point (candidates above are dropped)
    unique_tol: float = 1e-3  # RMS distance per state unit under which two points are one
    zero_eig: float = 0.05  # |eigenvalue| below this counts as zero (ghosts, slow-manifold dimension)
    dtype: str = "float64"
    # networks per compiled call (batch_size x n_initial minimisations side by side). None: 1 on a CPU,
    # whose caches favour small batches (80 networks/s with 1, 24 with 64 on 1,000 networks of N = 32,
    # docs/performance.md); 64 on an accelerator, which needs wide batches to be busy (not measured yet)
    batch_size: int | None = None
    seed: int = 0  # key of the initial states' jitter and of the probe's initial state

    def __post_init__(self):
        one_of("dynamics.dtype", self.dtype, DTYPES)
        for name in ("n_initial", "probe_factor", "max_steps", "round_steps"):
            positive(f"dynamics.{name}", getattr(self, name), integer=True)
        if self.batch_size is not None:
            positive("dynamics.batch_size", self.batch_size, integer=True)
        for name in ("rtol", "atol", "fixed_q", "slow_q", "unique_tol", "zero_eig"):
            positive(f"dynamics.{name}", getattr(self, name))
        positive("dynamics.jitter", self.jitter, allow_zero=True)
        if self.fixed_q >= self.slow_q:
            raise ValueError(f"dynamics.fixed_q: must be below slow_q ({self.slow_q}), got {self.fixed_q}")

    @property
    def networks_per_call(self) -> int:
        """:attr:`batch_size`, or its default for the platform JAX computes on."""
        if self.batch_size is not None:
            return self.batch_size
        return 1 if jax.default_backend() == "cpu" else 64


Field = Callable[[Any, jax.Array], jax.Array]  # (params, x) -> dx/dt, x a flat state vector


def speed(field: Field, params: Any, x: jax.Array) -> jax.Array:
    """``q(x) = |F(x)|^2 / 2``."""
    f = field(params, x)
    return 0.5 * jnp.sum(f * f)


def minimise_speed(field: Field, params: Any, x0: jax.Array, cfg: FinderConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One round of BFGS on ``q`` from ``x0``, at most ``cfg.round_steps`` steps: ``(x, q(x), steps)``;
    ``steps == round_steps`` means it has not converged yet."""
    solver = optx.BFGS(rtol=cfg.rtol, atol=cfg.atol)
    solution = optx.minimise(lambda x, p: speed(field, p, x), solver, x0, args=params, max_steps=cfg.round_steps,
                             throw=False)
    x = solution.value
    return x, speed(field, params, x), solution.stats["num_steps"]


def unique_points(x: jax.Array, q: jax.Array, cfg: FinderConfig) -> jax.Array:
    """Which candidates (P, D) to keep: below ``slow_q``, and not within ``unique_tol`` (RMS per unit)
    of a slower kept candidate. Returns a boolean mask (P,) in the candidates' order."""
    order = jnp.argsort(q)
    xs, qs = x[order], q[order]
    rms = jnp.sqrt(jnp.mean((xs[:, None, :] - xs[None, :, :]) ** 2, axis=-1))
    close = rms < cfg.unique_tol
    below = qs < cfg.slow_q

    def visit(kept, i):
        keep = below[i] & ~jnp.any(kept & close[i])
        return kept.at[i].set(keep), None

    kept, _ = jax.lax.scan(visit, jnp.zeros(len(qs), bool), jnp.arange(len(qs)))
    return jnp.zeros_like(kept).at[order].set(kept)


def find_points(field: Field, params: Any, x0: jax.Array, cfg: FinderConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The finder for one network, in one program (vmappable over networks; :func:`points_of_field`
    runs the same rounds as a work queue instead): minimise ``q`` from each initial state ``x0``
    (P, D) in rounds of ``round_steps`` until converged or ``max_steps``, then de-duplicate. Returns
    ``(x (P, D), q (P,), kept (P,))``."""
    rounds = -(-cfg.max_steps // cfg.round_steps)

    def one_round(carry, _):
        x, q, running = carry
        xn, qn, steps = jax.vmap(lambda s: minimise_speed(field, params, s, cfg))(x)
        keep = running[:, None]
        return (jnp.where(keep, xn, x), jnp.where(running, qn, q), running & (steps >= cfg.round_steps)), None

    start = (x0, jnp.full(x0.shape[0], jnp.inf, x0.dtype), jnp.ones(x0.shape[0], bool))
    (x, q, _), _ = jax.lax.scan(one_round, start, None, length=rounds)
    q = jnp.where(jnp.isfinite(q), q, jnp.inf)
    return x, q, unique_points(x, q, cfg)


def jacobian(field: Field, params: Any, x: jax.Array) -> jax.Array:
    """``dF/dx`` at ``x`` (D, D)."""
    return jax.jacfwd(lambda s: field(params, s))(x)


def label_points(eigenvalues: np.ndarray, q: np.ndarray, cfg: FinderConfig) -> np.ndarray:
    """Labels (:data:`LABELS` codes) of points with Jacobian ``eigenvalues`` (..., D) and speeds ``q``
    (...)."""
    re = eigenvalues.real
    near_zero = np.abs(eigenvalues) < cfg.zero_eig
    fixed = q < cfg.fixed_q
    fixed_label = np.where(np.all(re < 0, -1), STABLE, np.where(np.all(re > 0, -1), UNSTABLE, SADDLE))
    ghost = (near_zero.sum(-1) == 1) & np.all(near_zero | (re < 0), -1)
    return np.where(fixed, fixed_label, np.where(ghost, GHOST, SLOW)).astype(np.int8)


@dataclasses.dataclass
class Points:
    """The finder's result for ``n`` networks with ``P`` candidates each."""

    x: np.ndarray  # (n, P, D) where each minimisation ended
    q: np.ndarray  # (n, P) speed there (inf where non-finite)
    kept: np.ndarray  # (n, P) bool: a unique point below slow_q
    labels: np.ndarray  # (n, P) int8: LABELS code of each kept point, NO_POINT elsewhere
    eigenvalues: np.ndarray  # (n, P, D) complex, of each kept point's Jacobian (NaN elsewhere)
    config: FinderConfig

    @property
    def n_networks(self) -> int:
        return self.q.shape[0]

    def counts(self) -> np.ndarray:
        """(n, len(LABELS)) points of each label per network."""
        return np.stack([np.sum(self.labels == code, axis=1) for code in range(len(LABELS))], axis=1)

    def slowest(self) -> np.ndarray:
        """(n,) index of each network's slowest kept point (-1 where none was kept)."""
        q = np.where(self.kept, self.q, np.inf)
        return np.where(self.kept.any(1), np.argmin(q, axis=1), -1)

    def slowest_q(self) -> np.ndarray:
        i = self.slowest()
        return np.where(i >= 0, np.take_along_axis(self.q, np.maximum(i, 0)[:, None], 1)[:, 0], np.nan)

    def slowest_x(self) -> np.ndarray:
        """(n, D) the slowest kept point of each network (NaN where none)."""
        i = self.slowest()
        x = np.take_along_axis(self.x, np.maximum(i, 0)[:, None, None], 1)[:, 0]
        return np.where((i >= 0)[:, None], x, np.nan)

    def manifold_dim(self) -> np.ndarray:
        """(n,) eigenvalues with ``|lambda| < zero_eig`` at the slowest point (-1 where none)."""
        i = self.slowest()
        ev = np.take_along_axis(self.eigenvalues, np.maximum(i, 0)[:, None, None], 1)[:, 0]
        dims = np.sum(np.abs(ev) < self.config.zero_eig, axis=-1)
        return np.where(i >= 0, dims, -1)

    def network(self, k: int) -> list[dict[str, Any]]:
        """The kept points of network ``k``, slowest first: ``{"x", "q", "label", "eigenvalues"}``."""
        idx = [int(i) for i in np.argsort(self.q[k]) if self.kept[k, i]]
        return [{"x": self.x[k, i], "q": float(self.q[k, i]), "label": LABELS[self.labels[k, i]],
                 "eigenvalues": self.eigenvalues[k, i]} for i in idx]


def compiled_finder(field: Field, cfg: FinderConfig) -> tuple[Callable, Callable, Callable]:
    """The jitted programs of a field, built once per field and solver settings (the batch size, the
    number of starts and the labelling tolerances do not change them): one round of minimisations
    ``(lane params, x) -> (x, q, steps)``, the de-duplication of networks ``(x, q) -> kept`` and the
    Jacobians ``(lane params, x) -> dF/dx``."""
    solver_only = FinderConfig(rtol=cfg.rtol, atol=cfg.atol, round_steps=cfg.round_steps, fixed_q=cfg.fixed_q,
                               slow_q=cfg.slow_q, unique_tol=cfg.unique_tol, dtype=cfg.dtype)
    return _compiled_finder(field, solver_only)


@functools.lru_cache(maxsize=64)
def _compiled_finder(field: Field, cfg: FinderConfig) -> tuple[Callable, Callable, Callable]:
    minimise = jax.jit(jax.vmap(lambda p, x: minimise_speed(field, p, x, cfg)))
    unique = jax.jit(jax.vmap(lambda x, q: unique_points(x, q, cfg)))
    jac = jax.jit(jax.vmap(lambda p, x: jacobian(field, p, x)))
    return minimise, unique, jac


def lane_batches(lanes: np.ndarray, size: int):
    """``lanes`` in batches of ``size``, the last one padded with copies of its first lane to a power of
    four (at least 64): few compiled shapes (each costs seconds to compile), little padded work.
    Yields ``(padded lanes, real count)``."""
    for start in range(0, len(lanes), size):
        chunk = lanes[start:start + size]
        padded = min(size, 64)
        while padded < len(chunk):
            padded = min(size, 4 * padded)
        yield np.concatenate([chunk, np.full(padded - len(chunk), chunk[0])]), len(chunk)


def points_of_field(field: Field, params: Any, x0: np.ndarray, cfg: FinderConfig = FinderConfig()) -> Points:
    """The finder for any vector field: ``params`` stacked over ``n`` networks (a pytree with leading
    axis n), ``x0`` (n, P, D) initial states.

    The n x P minimisations run as a work queue of *lanes*: ``networks_per_call x P`` lanes side by side per
    compiled call, ``round_steps`` BFGS steps per round, the lanes that have not converged going back
    to the queue (continuing from where they stopped) until ``max_steps``. So a slow minimisation
    holds up only its own lane, not the whole batch (as a vmapped while loop would), and a lane's
    result depends on its own parameters and initial state only, never on the other networks."""
    dtype = np.float64 if cfg.dtype == "float64" else np.float32
    minimise, unique, jac = compiled_finder(field, cfg)
    n, n_start, dim = x0.shape
    host = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), params)
    lane_net = np.repeat(np.arange(n), n_start)
    x = np.asarray(x0, dtype).reshape(n * n_start, dim).copy()
    q = np.full(n * n_start, np.inf)
    used = np.zeros(n * n_start, int)
    size = cfg.networks_per_call * n_start
    with jax.enable_x64(cfg.dtype == "float64"), jax.default_matmul_precision("highest"):
        queue = np.arange(n * n_start)
        while len(queue):
            again = []
            for lanes, real in lane_batches(queue, size):
                p = jax.tree_util.tree_map(lambda a: a[lane_net[lanes]], host)
                xn, qn, steps = (np.asarray(a)[:real] for a in minimise(p, x[lanes]))
                done = lanes[:real]
                x[done], q[done] = xn, qn
                used[done] += steps
                again.append(done[(steps >= cfg.round_steps) & (used[done] < cfg.max_steps)])
            queue = np.concatenate(again)
        q = np.where(np.isfinite(q), q, np.inf)
        x, q = x.reshape(n, n_start, dim), q.reshape(n, n_start)
        kept = np.zeros((n, n_start), bool)
        for nets, real in lane_batches(np.arange(n), cfg.networks_per_call):
            kept[nets[:real]] = np.asarray(unique(x[nets], q[nets]))[:real]
        ev = np.full(x.shape, np.nan, complex)
        where = np.argwhere(kept)  # eigenvalues of the kept points only (LAPACK on the host: portable)
        for rows, real in lane_batches(np.arange(len(where)), size):
            net, point = where[rows].T
            p = jax.tree_util.tree_map(lambda a: a[net], host)
            jacs = np.asarray(jac(p, x[net, point]))[:real]
            ev[net[:real], point[:real]] = np.linalg.eigvals(jacs)
    labels = np.where(kept, label_points(ev, q, cfg), NO_POINT).astype(np.int8)
    return Points(x, q, kept, labels, ev, cfg)


# --- networks of a model family ---------------------------------------------------------------------
def time_unit_ms(model: AbstractModel) -> float:
    """The time unit of the vector field: the family's time constant ``tau_ms`` if it has one, else
    its step ``dt_ms``."""
    return float(getattr(model, "tau_ms", model.dt_ms))


def model_field(model: AbstractModel, inputs: tuple[float, ...] | None = None) -> Field:
    """The model's vector field at constant ``inputs`` (default zero) on flat state vectors, in units
    of :func:`time_unit_ms`. The same arguments give the same function (so its programs compile once)."""
    return _model_field(model, None if inputs is None else tuple(float(x) for x in np.ravel(inputs)))


def state_unravel(model: AbstractModel) -> Callable[[jax.Array], Any]:
    """Flat state vector (D,) -> the model's state pytree of one trial (leaves (1, ...)), in the
    vector's own dtype (ravel_pytree's inverse would cast to the template's float32)."""
    template = jax.eval_shape(lambda: model.initial_state(jax.random.PRNGKey(0), 1))
    leaves, treedef = jax.tree_util.tree_flatten(template)
    sizes = [int(np.prod(leaf.shape)) for leaf in leaves]

    def unravel(x):
        parts = jnp.split(x, np.cumsum(sizes)[:-1])
        return jax.tree_util.tree_unflatten(treedef, [p.reshape(leaf.shape) for p, leaf in zip(parts, leaves)])

    return unravel


@functools.lru_cache(maxsize=64)
def _model_field(model: AbstractModel, inputs: tuple[float, ...] | None) -> Field:
    unravel = state_unravel(model)
    unit = time_unit_ms(model)
    u = np.zeros((1, model.n_inputs)) if inputs is None else np.reshape(inputs, (1, model.n_inputs))

    def field(params, x):
        v = model.velocity(params, unravel(x), jnp.asarray(u, x.dtype))
        return unit * jnp.concatenate([leaf.reshape(-1) for leaf in jax.tree_util.tree_leaves(v)])

    return field


def flat_states(states: Any) -> jax.Array:
    """A state pytree whose leaves have leading axes (time, trials) as flat vectors (time, trials, D),
    in the order of the state's leaves (as :func:`model_field` reads them)."""
    leaves = jax.tree_util.tree_leaves(states)
    return jnp.concatenate([x.reshape(x.shape[:2] + (-1,)) for x in leaves], axis=-1)


def initial_states(model: AbstractModel, task: AbstractTask, params: dict, timing: Timing,
                   cfg: FinderConfig) -> jax.Array:
    """``n_initial`` states one network visits (P, D): its noise-free probe of the task's
    :meth:`~rnnsweep.tasks.AbstractTask.finder_probes` (by default the trial of every task condition)
    continued at zero input (:func:`.mechanism.input_trajectory`), at evenly spaced times, plus
    jitter. The draws come from ``cfg.seed`` only."""
    n = int(task.n_steps(timing))
    k_probe, k_jitter = jax.random.split(jax.random.PRNGKey(cfg.seed))
    states = input_trajectory(model, params, task.finder_probes(timing, k_probe), cfg.probe_factor * n, k_probe)
    flat = flat_states(states)  # (time, conditions, D)
    visited = jnp.swapaxes(flat, 0, 1).reshape(-1, flat.shape[-1])
    pick = np.linspace(0, visited.shape[0] - 1, cfg.n_initial).round().astype(int)
    chosen = visited[pick]
    return chosen + cfg.jitter * jax.random.normal(k_jitter, chosen.shape, chosen.dtype)


def compiled_starts(model: AbstractModel, task: AbstractTask, timing: Timing, cfg: FinderConfig) -> Callable:
    """The jitted initial states of a batch of networks of one trial length, once per what they depend on."""
    # step counts stay integers, the task's cell values (the flip-flop's pulse_prob) floats: int() made them 0
    key = tuple(sorted((k, np.asarray(v).item()) for k, v in timing.items()))
    return _starts_program(model, task, key, FinderConfig(n_initial=cfg.n_initial, jitter=cfg.jitter,
                                                             probe_factor=cfg.probe_factor, seed=cfg.seed))


@functools.lru_cache(maxsize=64)
def _starts_program(model: AbstractModel, task: AbstractTask, timing: tuple, cfg: FinderConfig) -> Callable:
    return jax.jit(jax.vmap(lambda p: initial_states(model, task, p, dict(timing), cfg)))


def network_points(model: AbstractModel, task: AbstractTask, params: dict[str, np.ndarray], timing: Timing,
                   cfg: FinderConfig = FinderConfig(), inputs: tuple[float, ...] | None = None) -> Points:
    """Slow, fixed and ghost points of stacked networks (``params``: (n, ...) per name) of one trial
    length, at constant ``inputs`` (default zero: the delay period's dynamics)."""
    starts = compiled_starts(model, task, timing, cfg)
    with jax.default_matmul_precision("highest"):
        n = next(iter(params.values())).shape[0]
        size = max(cfg.networks_per_call, 64)  # the probes: plain matmuls, wide batches pay on every platform
        x0 = np.concatenate([np.asarray(starts({k: jnp.asarray(v[i:i + size]) for k, v in params.items()}))
                             for i in range(0, n, size)])
    return points_of_field(model_field(model, inputs), params, x0, cfg)


# --- what the points read out ------------------------------------------------------------------------
def point_outputs(model: AbstractModel, params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The outputs (n, P, O) the networks (``params`` stacked over n) read at flat states ``x`` (n, P, D)
    (NaN where ``x`` is)."""
    unravel = state_unravel(model)
    read = jax.jit(jax.vmap(jax.vmap(lambda p, s: model.read(p, unravel(s))[0], (None, 0))))
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        out = read({k: jnp.asarray(np.asarray(v, np.float64)) for k, v in params.items()},
                   jnp.asarray(np.nan_to_num(np.asarray(x, np.float64))))
        return np.where(np.isnan(x).any(-1, keepdims=True), np.nan, np.asarray(out))


@dataclasses.dataclass
class Coverage:
    """Which of a task's memory outputs (K, O) the stable fixed points of ``n`` networks read."""

    nearest: np.ndarray  # (n, P) index of the memory output nearest each stable point (-1 elsewhere)
    error: np.ndarray  # (n, P) max |output - that memory output| over the outputs (NaN elsewhere)
    covered: np.ndarray  # (n, K) bool: some stable point reads memory output k within tol
    tol: float

    @property
    def n_covered(self) -> np.ndarray:
        """(n,) memory outputs covered per network."""
        return self.covered.sum(1)

    @property
    def on_target(self) -> np.ndarray:
        """(n,) stable points that read a memory output within tol."""
        return np.sum(self.error < self.tol, axis=1)

    @property
    def worst_error(self) -> np.ndarray:
        """(n,) the largest error of a stable point that reads a memory output within tol (NaN where none)."""
        err = np.where(self.error < self.tol, self.error, -np.inf).max(1)
        return np.where(np.isfinite(err), err, np.nan)


def memory_coverage(outputs: np.ndarray, labels: np.ndarray, targets: np.ndarray, tol: float = 0.5) -> Coverage:
    """For each stable point (``labels == STABLE``) with outputs ``outputs`` (n, P, O): the nearest of
    the ``targets`` (K, O) and the largest deviation from it over the outputs; a target is covered
    when some stable point reads it within ``tol`` on every output. For the flip-flop's targets
    (+-1, +-1, +-1) and tol <= 1, the covered targets are the output octants (sign patterns) the
    stable points occupy, counted only where they read close to the target."""
    targets = np.asarray(targets, float)
    stable = labels == STABLE
    dev = np.abs(np.nan_to_num(outputs)[:, :, None, :] - targets[None, None])  # (n, P, K, O)
    dist = dev.max(-1)
    nearest = np.where(stable, np.argmin(dist, -1), -1)
    error = np.where(stable, np.take_along_axis(dist, np.maximum(nearest, 0)[..., None], -1)[..., 0], np.nan)
    hit = stable & (error < tol)
    covered = np.zeros((outputs.shape[0], len(targets)), bool)
    net, point = np.nonzero(hit)
    covered[net, nearest[net, point]] = True
    return Coverage(nearest, error, covered, tol)
