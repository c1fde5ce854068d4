"""Feature geometry of a network trained on serial recall (temporal superposition, paper-spec section 4).

A network that recalls the input ``k`` steps back must keep, at every step, the last ``k + m``
inputs (``m`` items recalled) in its state: ``F (k + m)`` features in a state of ``width``
dimensions. Where ``F (k + m) > width`` they must share directions: temporal superposition.

*Feature directions.* The state read at step ``t`` is, for a linear recurrence,
``h = sum_l W^l W_in x[t-1-l]``; the direction that encodes feature ``f`` at lag ``l`` is
``d[l, f] = W^l W_in[:, f]`` (:func:`linear_directions`). For any other network the directions come
from a linear regression of the states on the lagged inputs (:func:`regression_directions`: states
``h[t]`` on every earlier input ``x[t-1], x[t-2], ..., x[0]`` and an intercept, over every step and
sequence of a probe batch). For a linear network that regression is exact (tested against ``W^l
W_in``, to the ridge's shrinkage); for others it is the best linear read of the state.

*Per network* (:func:`network_geometry`), over the window of lags ``0 .. k + m - 1``:

* ``norms[l, f] = |d[l, f]|``, and the readout's *gain* on each target, ``w_out[j, f] . d[k + j, f]``
  (how much of the input reaches its own output); a (feature, item) is *represented* when its gain
  is at least ``gain_threshold``;
* the angles between every pair of directions of the window whose norm is at least ``norm_floor``
  times the longest direction of the same lag (older inputs fade as ``W^l``; a feature whose
  direction is much shorter than its lag's longest is barely in the state, and a zero direction has
  no angle): their histogram in ``n_angle_bins`` bins over
  [0, 180] degrees, the mean ``|cos|`` (interference: 0 for orthogonal directions, 1 for collinear
  ones), the fraction of orthogonal pairs (``|cos| < cos_band``), of obtuse ones
  (``cos <= -cos_band``) and of antipodal ones (``cos <= antipodal_cos``, the sparse regime's pairs);
* the dimensions per feature of each target direction, ``|d|^2 / sum_e (d_hat . d_e)^2`` over every
  direction ``e`` of the window (1: a dimension of its own, 1/2: an antipodal pair, ...; the toy
  models of superposition's measure);
* the *rectified* fraction: of the readout's projections ``p = w_out[o] . d_e`` of every off-target
  direction ``e`` onto every output ``o``, the fraction that the ReLU removes for a lone interferer
  (``p + b_out[o] <= 0``): the "interference-free space" of the sparse regime;
* the eigenvalues of the recurrent matrix over the network's active units (units with any nonzero
  weight) and its spectral radius.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class GeometryConfig:
    gain_threshold: float = 0.5  # a (feature, item) is represented when its readout gain is at least this
    norm_floor: float = 0.1  # directions shorter than this times the longest of their lag take no part in the angles
    cos_band: float = 0.17  # |cos| below this: orthogonal (80-100 degrees); cos below -this: obtuse
    antipodal_cos: float = -0.94  # cos at or below this: an antipodal pair (160-180 degrees)
    n_angle_bins: int = 18  # histogram bins over [0, 180] degrees
    ridge: float = 1e-6  # regularisation of the regression directions (relative to the inputs' power)

    def validate(self) -> None:
        for name in ("gain_threshold", "norm_floor", "cos_band", "ridge"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"geometry.{name}: must be >= 0, got {getattr(self, name)!r}")
        if not -1 <= self.antipodal_cos <= 0:
            raise ValueError(f"geometry.antipodal_cos: must lie in [-1, 0], got {self.antipodal_cos!r}")
        if not (isinstance(self.n_angle_bins, int) and self.n_angle_bins >= 2):
            raise ValueError(f"geometry.n_angle_bins: must be an integer >= 2, got {self.n_angle_bins!r}")


@dataclasses.dataclass(frozen=True)
class Recall:
    """What one network was trained to recall: the task's cell values."""

    lag: int
    n_recalled: int
    n_features: int  # the cell's own features (the first n_features inputs)

    @property
    def window(self) -> int:
        """Lags the state must hold: ``0 .. lag + n_recalled - 1``."""
        return self.lag + self.n_recalled


def linear_directions(W: np.ndarray, W_in: np.ndarray, n_lags: int) -> np.ndarray:
    """``d[l] = W^l W_in`` for ``l < n_lags``: (n_lags, N, F)."""
    out = np.empty((n_lags,) + W_in.shape, np.float64)
    d = np.asarray(W_in, np.float64)
    for lag in range(n_lags):
        out[lag] = d
        d = np.asarray(W, np.float64) @ d
    return out


def regression_directions(states: np.ndarray, inputs: np.ndarray, n_lags: int, ridge: float = 1e-6) -> np.ndarray:
    """Directions (n_lags, N, F) from a least-squares fit of the states read at step ``t``,
    ``states[t]`` (T, B, N), on the inputs ``inputs[t - 1 - l]`` (T, B, F) for ``l < n_lags`` (0 before
    the sequence starts, where the input is indeed 0) and an intercept, over the steps ``1 .. T-1``.
    ``ridge`` (times the mean input power) keeps features that never occur at zero."""
    T, B, F = inputs.shape
    if T < 2:
        raise ValueError(f"regression directions: {T} steps leave no sample")
    steps = np.arange(1, T)
    padded = np.concatenate([np.zeros((n_lags,) + inputs.shape[1:], inputs.dtype), inputs])  # x[t] = padded[t + n_lags]
    X = np.concatenate([padded[steps - 1 - lag + n_lags] for lag in range(n_lags)], axis=-1).reshape(-1, n_lags * F)
    X = np.concatenate([X, np.ones((X.shape[0], 1))], axis=1).astype(np.float64)
    Y = np.asarray(states[steps], np.float64).reshape(-1, states.shape[-1])
    gram = X.T @ X
    reg = ridge * max(np.trace(gram) / gram.shape[0], 1e-30) * np.eye(gram.shape[0])
    reg[-1, -1] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(gram + reg, X.T @ Y)  # (lags * F + 1, N)
    return np.transpose(coef[:-1].reshape(n_lags, F, -1), (0, 2, 1))


def active_units(params: dict[str, np.ndarray], recurrent: np.ndarray) -> np.ndarray:
    """Units with any nonzero weight (a masked width's units are exactly 0), as a bool (N,)."""
    used = np.any(recurrent != 0, axis=0) | np.any(recurrent != 0, axis=1)
    for name, axis in (("W_in", 1), ("W_out", 0)):
        if name in params:
            used |= np.any(np.asarray(params[name]) != 0, axis=axis)
    return used


def network_geometry(directions: np.ndarray, W_out: np.ndarray, b_out: np.ndarray, recurrent: np.ndarray | None,
                     units: np.ndarray, recall: Recall, cfg: GeometryConfig = GeometryConfig()) -> dict[str, Any]:
    """The statistics of one network (see the module docstring). ``directions`` (>= window, N, F_max)
    are indexed ``[lag, unit, feature]``; ``W_out`` (items * F_max, N) and ``b_out`` (items * F_max,)
    are the readout, output ``j * F_max + f`` recalling feature ``f`` at lag ``lag + j``;
    ``recurrent`` (N, N) the matrix whose spectrum is reported (None: not reported); ``units`` the
    active units."""
    F_max = directions.shape[-1]
    n_lags, F = recall.window, recall.n_features
    d = np.asarray(directions[:n_lags][:, units][:, :, :F], np.float64)  # (L, w, F)
    w_out = np.asarray(W_out, np.float64)[:, units]
    flat = np.transpose(d, (0, 2, 1)).reshape(n_lags * F, -1)  # direction e = l * F + f
    norms = np.linalg.norm(flat, axis=1)

    targets = [(recall.lag + j) * F + f for j in range(recall.n_recalled) for f in range(F)]
    outputs = [j * F_max + f for j in range(recall.n_recalled) for f in range(F)]
    gains = np.array([w_out[o] @ flat[e] for o, e in zip(outputs, targets)])

    longest = norms.reshape(n_lags, F).max(axis=1, initial=0.0)  # per lag: older inputs fade with W^l
    kept = (norms > 0) & (norms >= cfg.norm_floor * np.repeat(longest, F))
    unit = flat[kept] / norms[kept, None]
    cos = np.clip(unit @ unit.T, -1.0, 1.0)
    pairs = cos[np.triu_indices(len(unit), k=1)]
    angles = np.degrees(np.arccos(pairs))
    hist = np.histogram(angles, bins=cfg.n_angle_bins, range=(0.0, 180.0))[0]

    dims = []
    for e in targets:
        if norms[e] > 0:
            proj = flat @ (flat[e] / norms[e])
            dims.append(norms[e] ** 2 / np.sum(proj ** 2))
    proj = w_out[outputs] @ flat.T + np.asarray(b_out, np.float64)[outputs][:, None]  # (outputs, directions)
    off = np.ones(proj.shape, bool)
    off[np.arange(len(outputs)), targets] = False
    n_pairs = max(len(pairs), 1)
    out = {
        "norms": norms.reshape(n_lags, F),
        "gains": gains.reshape(recall.n_recalled, F),
        "represented_fraction": float(np.mean(gains >= cfg.gain_threshold)),
        "angle_hist": hist.astype(np.int32),
        "n_pairs": int(len(pairs)),
        "mean_abs_cos": float(np.mean(np.abs(pairs))) if len(pairs) else np.nan,
        "orthogonal_fraction": float(np.sum(np.abs(pairs) < cfg.cos_band) / n_pairs) if len(pairs) else np.nan,
        "obtuse_fraction": float(np.sum(pairs <= -cfg.cos_band) / n_pairs) if len(pairs) else np.nan,
        "antipodal_fraction": float(np.sum(pairs <= cfg.antipodal_cos) / n_pairs) if len(pairs) else np.nan,
        "dims_per_feature": float(np.mean(dims)) if dims else np.nan,
        "rectified_fraction": float(np.mean(proj[off] <= 0)) if off.any() else np.nan,
    }
    if recurrent is not None:
        eig = np.linalg.eigvals(np.asarray(recurrent, np.float64)[np.ix_(units, units)])
        out["eigenvalues"] = eig[np.argsort(-np.abs(eig), kind="stable")]
        out["spectral_radius"] = float(np.abs(eig).max()) if len(eig) else np.nan
    return out
