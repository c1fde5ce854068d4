"""Mechanism of a learned network: slow-point manifold (SP) or limit cycle (LC).

The mechanism index (paper-spec section 1, step 4), in JAX, vmapped over networks:

1. run the task's first condition (trial 0, cue A) noise-free and continue with zero input for
   ``extend_factor`` (9) times the trial length in total;
2. project the firing rates on their top 2 principal components (rates centred over time);
3. the time-by-time similarity matrix of the projected states (``similarity``: ``"cosine"``, the
   normalised dot product of the centred 2-D states, by default; ``"pearson"``: numpy's
   ``corrcoef`` of the rows, which for 2-D states is +-1);
4. its 2-D FFT, shifted to centre; index = power inside a disc of ``radius`` (3) bins around the
   centre over the total power. A trajectory that settles (SP) puts its power near zero frequency
   (index near 1); a limit cycle puts it at the cycle's frequency (index near 0).

The alternative criterion (step 5): the RMS of the outputs around their mean over the last trial
length of a ``oscillation_factor`` (5) times extended run; above 0.1 means LC. The same noise-free
run serves both: its first 5 trial lengths are the 5x run.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..models import AbstractModel
from ..tasks import AbstractTask, Timing


@dataclasses.dataclass(frozen=True)
class MechanismConfig:
    extend_factor: int = 9
    oscillation_factor: int = 5
    radius: float = 3.0
    similarity: str = "cosine"
    batch_size: int = 64
    seed: int = 0  # key of the initial state r0 = tanh(0.1 N(0, 1)) of the probe trial


def similarity_matrix(proj: jax.Array, kind: str = "cosine") -> jax.Array:
    if kind == "cosine":
        norm = jnp.linalg.norm(proj, axis=-1, keepdims=True)
        unit = proj / jnp.where(norm > 0, norm, 1.0)
        return unit @ unit.T
    if kind == "pearson":
        centred = proj - proj.mean(axis=-1, keepdims=True)
        norm = jnp.linalg.norm(centred, axis=-1, keepdims=True)
        unit = centred / jnp.where(norm > 0, norm, 1.0)
        return unit @ unit.T
    raise ValueError(f"similarity: must be 'cosine' or 'pearson', got {kind!r}")


def mechanism_index_from_rates(rates: jax.Array, radius: float = 3.0, similarity: str = "cosine") -> jax.Array:
    """Index of one trajectory ``rates`` (time, neurons). 1.0 for a trajectory with no variance."""
    centred = rates - rates.mean(axis=0)
    u, s, _ = jnp.linalg.svd(centred, full_matrices=False)
    proj = u[:, :2] * s[:2]
    corr = similarity_matrix(proj, similarity)
    power = jnp.abs(jnp.fft.fftshift(jnp.fft.fft2(corr))) ** 2
    n = corr.shape[0]
    i = jnp.arange(n) - n // 2
    disc = (i[:, None] ** 2 + i[None, :] ** 2) <= radius**2
    total = jnp.sum(power)
    return jnp.where(total > 0, jnp.sum(jnp.where(disc, power, 0)) / jnp.where(total > 0, total, 1), 1.0)


def output_oscillation_rms(outputs: jax.Array, trial_steps: int) -> jax.Array:
    """RMS of the outputs (time, outputs) around their mean over the last ``trial_steps`` steps."""
    tail = outputs[-trial_steps:]
    return jnp.sqrt(jnp.mean((tail - tail.mean(axis=0)) ** 2))


def probe_run(model: AbstractModel, task: AbstractTask, params, timing: Timing, n_steps: int, factor: int, key,
              trials: tuple[int, ...] | None = None) -> tuple:
    """Noise-free ``trials`` (default: the task's first condition, e.g. trial 0 = cue A) followed by
    zero input, ``factor * n_steps`` steps in total, all from one initial state drawn from ``key``.
    Returns rates (time, trials, N) and outputs (time, trials, O)."""
    if trials is None:
        trials = (next(iter(task.conditions().values())),)
    batch = task.trials(timing, n_steps, key)
    picked = batch.inputs[:, jnp.array(trials)]
    inputs = jnp.zeros((factor * n_steps, len(trials), task.n_inputs)).at[:n_steps].set(picked)
    state0 = jax.tree_util.tree_map(lambda x: jnp.repeat(x, len(trials), axis=0), model.initial_state(key, 1))
    return model.run(params, inputs, None, state0)


def mechanism_measures(model: AbstractModel, task: AbstractTask, params: dict[str, np.ndarray], timing: Timing,
                       cfg: MechanismConfig = MechanismConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Mechanism index and output-oscillation RMS of many networks of one trial length.

    ``params``: stacked parameters (cells, ...); ``timing``: step counts shared by all of them.
    Returns two float arrays (cells,)."""
    n_steps = int(task.n_steps(timing))
    key = jax.random.PRNGKey(cfg.seed)

    def one(p):
        rates, outputs = probe_run(model, task, p, timing, n_steps, cfg.extend_factor, key)
        rates, outputs = rates[:, 0], outputs[:, 0]
        index = mechanism_index_from_rates(rates, cfg.radius, cfg.similarity)
        rms = output_oscillation_rms(outputs[: cfg.oscillation_factor * n_steps], n_steps)
        return index, rms

    fn = jax.jit(jax.vmap(one))
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
