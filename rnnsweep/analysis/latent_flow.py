"""The latent dynamics of low-rank networks (the ghost and abrupt-learning papers).

A rank-k leaky network (:class:`~rnnsweep.models.lowrank_rnn.LowRankRNN`, ``W_rec = m n^T``) at
constant input ``u`` follows ``tau dr/dt = -r + tanh(m n^T r + b)`` with ``b = b_rec + b_in + W_in u``.
Its latent variable ``kappa = n^T r`` (k numbers) obeys a closed k-dimensional flow, exactly::

    tau dkappa/dt = -kappa + n^T tanh(m kappa + b)

and every fixed point of the network is ``r* = tanh(m kappa* + b)`` for a root ``kappa*`` of that
flow; at such a point the network's Jacobian has the eigenvalues of the latent flow's Jacobian and
``-1`` (the other N - k directions). For rank 1 the abrupt-learning paper scores how *flat* the flow
is: the length of the ``kappa`` in ``[-span, span]`` (3) where ``|kappa'| < speed_tol`` (0.2) and
``|dkappa'/dkappa| < slope_tol`` (0.2), a long flat stretch being the slow manifold a memory
needs. Everything here is vmappable over networks.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..models import AbstractModel


@dataclasses.dataclass(frozen=True)
class FlatnessConfig:
    span: float = 3.0  # kappa in [-span, span]
    speed_tol: float = 0.2  # |kappa'| below this ...
    slope_tol: float = 0.2  # ... and |dkappa'/dkappa| below this: flat
    n_grid: int = 6001  # grid points over [-span, span]

    @property
    def grid(self) -> np.ndarray:
        return np.linspace(-self.span, self.span, self.n_grid)


def is_low_rank(model: AbstractModel) -> bool:
    """Whether ``model`` is a family with ``W_rec = m n^T`` (parameters ``m`` and ``n``)."""
    return {"m", "n"} <= set(model.param_shapes())


def latent_parts(model: AbstractModel, params: dict, inputs=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(m (N, k), n (N, k), b (N,))`` of one low-rank network at constant ``inputs`` (default zero)."""
    u = jnp.zeros(model.n_inputs) if inputs is None else jnp.asarray(inputs)
    b = params["b_rec"] + params["b_in"] + params["W_in"] @ u
    return params["m"], params["n"], b


def latent_velocity(m: jax.Array, n: jax.Array, b: jax.Array, kappa: jax.Array) -> jax.Array:
    """``tau dkappa/dt = -kappa + n^T tanh(m kappa + b)`` at ``kappa`` (k,)."""
    return -kappa + n.T @ jnp.tanh(m @ kappa + b)


def flow_1d(m: jax.Array, n: jax.Array, b: jax.Array, grid: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Rank 1: ``(kappa', dkappa'/dkappa)`` on a grid of kappa values (G,)."""
    f = lambda k: latent_velocity(m, n, b, k[None])[0]  # noqa: E731
    return jax.vmap(f)(grid), jax.vmap(jax.grad(f))(grid)


def flatness(velocity: np.ndarray, slope: np.ndarray, cfg: FlatnessConfig = FlatnessConfig()) -> np.ndarray:
    """The length of the flat part of rank-1 flows sampled on ``cfg.grid`` (..., G)."""
    flat = (np.abs(velocity) < cfg.speed_tol) & (np.abs(slope) < cfg.slope_tol)
    return flat.sum(-1) * (2 * cfg.span / (cfg.n_grid - 1))


def network_flows(model: AbstractModel, params: dict[str, np.ndarray], cfg: FlatnessConfig = FlatnessConfig(),
                  inputs=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-1 flows of stacked networks: ``(kappa' (n, G), slope (n, G), flatness (n,))`` on ``cfg.grid``."""
    grid = jnp.asarray(cfg.grid)

    def one(p):
        return flow_1d(*latent_parts(model, p, inputs), grid)

    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        v, s = jax.jit(jax.vmap(one))({k: jnp.asarray(x, jnp.float64) for k, x in params.items()})
    v, s = np.asarray(v), np.asarray(s)
    return v, s, flatness(v, s, cfg)


def roots_1d(velocity: np.ndarray, slope: np.ndarray, grid: np.ndarray) -> list[tuple[float, float]]:
    """Roots of one rank-1 flow sampled on ``grid``: ``(kappa*, dkappa'/dkappa there)`` per sign change,
    by linear interpolation between the grid points around it."""
    out = []
    for i in np.flatnonzero(np.sign(velocity[:-1]) * np.sign(velocity[1:]) <= 0):
        v0, v1 = velocity[i], velocity[i + 1]
        t = 0.0 if v0 == v1 else v0 / (v0 - v1)
        if out and abs(grid[i] + t * (grid[i + 1] - grid[i]) - out[-1][0]) < 1e-12:
            continue  # a root exactly on a grid point shows up in two intervals
        out.append((float(grid[i] + t * (grid[i + 1] - grid[i])), float(slope[i] + t * (slope[i + 1] - slope[i]))))
    return out


def refine_root(m, n, b, kappa0: float, steps: int = 50) -> float:
    """Newton's method on the rank-1 latent flow from ``kappa0`` (float64)."""
    with jax.enable_x64(True):
        m, n, b = (jnp.asarray(a, jnp.float64) for a in (m, n, b))
        f = lambda k: latent_velocity(m, n, b, k[None])[0]  # noqa: E731
        k = jnp.float64(kappa0)
        for _ in range(steps):
            k = k - f(k) / jax.grad(f)(k)
        return float(k)


def fixed_point_of_root(m, n, b, kappa: np.ndarray) -> np.ndarray:
    """The network state ``r* = tanh(m kappa* + b)`` of a latent root."""
    return np.tanh(np.asarray(m) @ np.atleast_1d(kappa) + np.asarray(b))
