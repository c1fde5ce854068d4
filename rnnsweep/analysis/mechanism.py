"""Mechanism of a learned network: slow-point manifold (SP) or limit cycle (LC).

The mechanism index (paper-spec section 1, step 4), in JAX, vmapped over networks. Two methods:

``"reference"`` (default) computes what the reference's ``sort_data.py`` computes:

1. probe: the task's first condition (trial 0, cue A) with the model's noise on and a random
   initial state, continued with zero input to ``extend_factor`` (9) times the trial length, the
   trial length counted *without* the post period (``probe_post = False``);
2. the states *after* each update (r_1 .. r_9T; the reference stores the updated state each step);
3. the top-2 principal directions of the centred states, but the projection of the *uncentred*
   states on them;
4. the time-by-time correlation matrix of the projected points with time points as variables
   (``torch.corrcoef`` of a (9T, 2) matrix): each entry is a correlation over 2 numbers, so the
   matrix is ``s s^T`` with ``s_t = sign(p1_t - p2_t)``, entries +-1 (NaN where ``p1_t = p2_t``);
5. ``|fftshift(fft2(.))|^2``; index = power inside the disc of distance <= ``radius`` (3) around
   ``(h//2, w//2)`` over the total power. Index < 0.5 is LC; anything else (a NaN too) is SP.

The value depends on the sign of each principal direction (a flipped direction turns
``p1 - p2`` into ``p1 + p2``). The reference's ``torch.pca_lowrank`` leaves the signs to chance;
rnnsweep fixes them (``sign = "max_loading"``: each direction's largest-magnitude loading is
positive) and reports how many networks change class with the second direction flipped
(``sign = "flip_second"``).

``"robust"`` is rnnsweep's earlier index: a noise-free probe from one fixed initial state, the
states *before* each update, the *centred* projection, and the cosine similarity of the projected
points (a graded matrix instead of +-1); then the same FFT disc ratio (1.0 for a trajectory with no
variance).

A trajectory that settles (SP) puts its power near zero frequency (index near 1); a limit cycle
puts it at the cycle's frequency (index near 0). The alternative criterion (step 5): the RMS of the
outputs around their mean over the last trial length of the first ``oscillation_factor`` (5) trial
lengths of the same probe; above 0.1 means LC.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..models import AbstractModel
from ..settings import one_of
from ..tasks import AbstractTask, Timing

METHODS = ("reference", "robust")
SIGNS = ("max_loading", "flip_second")


@dataclasses.dataclass(frozen=True)
class MechanismConfig:
    method: str = "reference"
    extend_factor: int = 9
    oscillation_factor: int = 5
    radius: float = 3.0
    probe_post: bool = False  # count the post period in the probe's trial length (the reference does not)
    sign: str = "max_loading"  # the reference method's principal-direction signs
    batch_size: int = 64
    seed: int = 0  # key of the probe's initial state (and of its noise, for the reference method)

    def __post_init__(self):
        one_of("mechanism.method", self.method, METHODS)
        one_of("mechanism.sign", self.sign, SIGNS)


def disc_power(matrix: jax.Array, radius: float = 3.0) -> tuple[jax.Array, jax.Array]:
    """``(inside, total)``: the sum of ``|fftshift(fft2(matrix))|^2`` inside the disc of distance <=
    ``radius`` around ``(h//2, w//2)``, and over the whole plane."""
    power = jnp.abs(jnp.fft.fftshift(jnp.fft.fft2(matrix))) ** 2
    h, w = matrix.shape
    i, j = jnp.arange(h) - h // 2, jnp.arange(w) - w // 2
    disc = (i[:, None] ** 2 + j[None, :] ** 2) <= radius**2
    return jnp.sum(jnp.where(disc, power, 0)), jnp.sum(power)


def principal_directions(states: jax.Array, sign: str = "max_loading") -> jax.Array:
    """Top-2 principal directions (neurons, 2) of states (time, neurons), centred over time; each
    direction's largest-magnitude loading made positive (``"flip_second"``: then the second negated)."""
    _, _, vt = jnp.linalg.svd(states - states.mean(axis=0), full_matrices=False)
    v = vt[:2].T
    largest = jnp.take_along_axis(v, jnp.argmax(jnp.abs(v), axis=0)[None], axis=0)[0]
    v = v * jnp.where(largest < 0, -1.0, 1.0)
    return v * jnp.array([1.0, -1.0]) if sign == "flip_second" else v


def row_correlation(x: jax.Array) -> jax.Array:
    """``corrcoef`` with rows as variables (what ``torch.corrcoef``/``np.corrcoef`` compute), clipped to
    [-1, 1]; a row with no spread gives NaN, as there."""
    c = x - x.mean(axis=1, keepdims=True)
    norm = jnp.sqrt(jnp.sum(c * c, axis=1))
    return jnp.clip((c @ c.T) / (norm[:, None] * norm[None, :]), -1.0, 1.0)


def reference_index(states: jax.Array, radius: float = 3.0, sign: str = "max_loading") -> jax.Array:
    """The reference's index of one trajectory of post-update ``states`` (time, neurons)."""
    projected = states @ principal_directions(states, sign)  # the uncentred states
    inside, total = disc_power(row_correlation(projected), radius)
    return inside / total


def robust_index(rates: jax.Array, radius: float = 3.0) -> jax.Array:
    """rnnsweep's earlier index of ``rates`` (time, neurons): centred projection, cosine similarity.
    1.0 for a trajectory with no variance."""
    centred = rates - rates.mean(axis=0)
    u, s, _ = jnp.linalg.svd(centred, full_matrices=False)
    proj = u[:, :2] * s[:2]
    norm = jnp.linalg.norm(proj, axis=-1, keepdims=True)
    unit = proj / jnp.where(norm > 0, norm, 1.0)
    inside, total = disc_power(unit @ unit.T, radius)
    return jnp.where(total > 0, inside / jnp.where(total > 0, total, 1), 1.0)


def mechanism_index_from_rates(rates: jax.Array, radius: float = 3.0, method: str = "reference",
                               sign: str = "max_loading") -> jax.Array:
    """Index of one trajectory (time, neurons): post-update states for ``"reference"``, pre-update
    rates for ``"robust"``."""
    return reference_index(rates, radius, sign) if method == "reference" else robust_index(rates, radius)


def output_oscillation_rms(outputs: jax.Array, trial_steps: int) -> jax.Array:
    """RMS of the outputs (time, outputs) around their mean over the last ``trial_steps`` steps."""
    tail = outputs[-trial_steps:]
    return jnp.sqrt(jnp.mean((tail - tail.mean(axis=0)) ** 2))


def probe_length(task: AbstractTask, timing: Timing, with_post: bool) -> int:
    """The trial length the probe is a multiple of: without the post period unless ``with_post``."""
    return int(task.n_steps(timing)) - (0 if with_post else int(timing.get("post", 0)))


def probe_run(model: AbstractModel, task: AbstractTask, params, timing: Timing, n_steps: int, length: int, key,
              trials: tuple[int, ...] | None = None, noise: bool = False) -> tuple:
    """``trials`` of the task (default: its first condition, e.g. trial 0 = cue A) for their first
    ``n_steps`` steps, then zero input, ``length`` steps in all, from one initial state drawn from
    ``key``; with the model's own noise when ``noise``. Returns rates (time, trials, N), the states
    before each update, and outputs (time, trials, O) read from them."""
    states = probe_trajectory(model, task, params, timing, n_steps, length, key, trials, noise)
    return model.rates(states), model.read(params, states)


def probe_trajectory(model: AbstractModel, task: AbstractTask, params, timing: Timing, n_steps: int, length: int,
                     key, trials: tuple[int, ...] | None = None, noise: bool = False):
    """The model's full states (a pytree, leaves (time, trials, ...)) before each update of the probe
    :func:`probe_run` describes."""
    if trials is None:
        trials = (next(iter(task.conditions().values())),)
    batch = task.trials(timing, int(task.n_steps(timing)), key)
    return input_trajectory(model, params, batch.inputs[:n_steps, jnp.array(trials)], length, key, noise)


def input_trajectory(model: AbstractModel, params, inputs: jax.Array, length: int, key, noise: bool = False):
    """The model's full states (leaves (time, trials, ...)) before each update, driven by ``inputs``
    (T, B, I) and then zero input, ``length`` steps in all, from one initial state drawn from ``key``
    (with the model's own noise when ``noise``)."""
    n_steps, n_trials = inputs.shape[:2]
    k_state, k_noise = jax.random.split(key) if noise else (key, None)
    padded = jnp.zeros((length, n_trials, inputs.shape[2])).at[:n_steps].set(inputs)
    state0 = jax.tree_util.tree_map(lambda x: jnp.repeat(x, n_trials, axis=0), model.initial_state(k_state, 1))
    drawn = model.sample_noise(k_noise, length, n_trials) if noise else None
    return model.scan(model.prepare(params), state0, model.drive(params, padded, drawn))


def probe_states(model: AbstractModel, task: AbstractTask, params, timing: Timing, cfg: MechanismConfig,
                 key) -> tuple[jax.Array, jax.Array, int]:
    """The states the index is computed from (time, N), the outputs (time, O) and the trial length
    ``n``: for ``"reference"`` the noisy probe's states after each of its ``extend_factor * n``
    updates; for ``"robust"`` the noise-free probe's states before each update."""
    n = probe_length(task, timing, cfg.probe_post)
    length = cfg.extend_factor * n
    if cfg.method == "reference":  # one step more: the states after each of the 9T updates
        rates, outputs = probe_run(model, task, params, timing, n, length + 1, key, noise=True)
        return rates[1:, 0], outputs[:-1, 0], n
    rates, outputs = probe_run(model, task, params, timing, n, length, key)
    return rates[:, 0], outputs[:, 0], n


def probe_measures(model: AbstractModel, task: AbstractTask, params, timing: Timing, cfg: MechanismConfig,
                   key) -> tuple[jax.Array, jax.Array]:
    """(index, output RMS) of one network under ``cfg``."""
    states, outputs, n = probe_states(model, task, params, timing, cfg, key)
    index = mechanism_index_from_rates(states, cfg.radius, cfg.method, cfg.sign)
    return index, output_oscillation_rms(outputs[: cfg.oscillation_factor * n], n)


def mechanism_measures(model: AbstractModel, task: AbstractTask, params: dict[str, np.ndarray], timing: Timing,
                       cfg: MechanismConfig = MechanismConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Mechanism index and output-oscillation RMS of many networks of one trial length.

    ``params``: stacked parameters (cells, ...); ``timing``: step counts shared by all of them. Every
    network's probe uses the same draws (from ``cfg.seed``), so a network's index does not depend on
    which others it is computed with. Returns two float arrays (cells,)."""
    key = jax.random.PRNGKey(cfg.seed)
    fn = jax.jit(jax.vmap(lambda p: probe_measures(model, task, p, timing, cfg, key)))
    n = next(iter(params.values())).shape[0]
    index, rms = np.full(n, np.nan), np.full(n, np.nan)
    with jax.default_matmul_precision("highest"):
        for start in range(0, n, cfg.batch_size):
            stop = min(start + cfg.batch_size, n)
            batch = {k: jnp.asarray(v[start:stop]) for k, v in params.items()}
            pad = cfg.batch_size - (stop - start)  # keep one compiled shape
            if pad and n > cfg.batch_size:
                batch = {k: jnp.concatenate([v, jnp.repeat(v[:1], pad, axis=0)]) for k, v in batch.items()}
            i, r = fn(batch)
            index[start:stop], rms[start:stop] = np.asarray(i)[: stop - start], np.asarray(r)[: stop - start]
    return index, rms
