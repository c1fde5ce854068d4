"""The leaky tanh recurrence with its gradient written by hand, so that the weight gradient leaves the
time loop.

For ``s[t+1] = (1 - a) s[t] + a tanh(s[t] @ w + d[t])`` (``w`` is ``W_rec^T``; ``d[t]`` the
state-independent drive, noise included), :func:`leaky_states` returns the states *before* each
update, ``S = (s[0], ..., s[T-1])``. Differentiating the scan with JAX's autodiff runs, at every
step of the backward scan, the state gradient ``delta[t] @ w^T`` *and* the weight gradient
``s[t]^T delta[t]``, accumulated one step at a time. Only the first is sequential. The custom VJP
below runs the backward scan for the state gradient alone::

    lam[T]   = 0
    delta[t] = a lam[t+1] (1 - h[t]^2)                    h[t] = tanh(s[t] @ w + d[t])
    lam[t]   = g[t] + (1 - a) lam[t+1] + delta[t] @ w^T   g[t]: the cotangent of S[t]

and then forms the weight gradient in one matmul over all steps and trials,
``dw = sum_t s[t]^T delta[t]`` (contraction length ``K = T x trials``). ``delta`` is also the
drive's cotangent, so ``dW_in`` and ``db`` (taken by autodiff through :meth:`drive`, outside the
scan) are one matmul each as well; ``dW_out`` already was, since the readout is applied to all
states at once. ``lam[0]`` is the initial state's cotangent.

The forward pass keeps ``S`` and ``h`` (what autodiff keeps as well). Gradients equal autodiff's to
float rounding (tests/test_recurrent_grad.py, in float64, for every leaky family; the summation
order differs, so float32 results agree to rounding, not bit for bit).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def leaky_states(w: jax.Array, state0: jax.Array, drive: jax.Array, alpha: float, unroll: int = 1) -> jax.Array:
    """States (T, B, N) before each of the ``T = len(drive)`` updates, from ``state0`` (B, N), with
    the recurrent matrix ``w`` (N, N) applied as ``state @ w`` and the leak ``alpha = dt / tau``;
    ``unroll`` steps per loop iteration, forward and backward."""
    return _forward(w, state0, drive, alpha, unroll)[0]


def _forward(w, state0, drive, alpha, unroll):
    def body(s, d):
        h = jnp.tanh(s @ w + d)
        return (1 - alpha) * s + alpha * h, (s, h)

    _, (states, acts) = jax.lax.scan(body, state0, drive, unroll=unroll)
    return states, acts


def _fwd(w, state0, drive, alpha, unroll):
    states, acts = _forward(w, state0, drive, alpha, unroll)
    return states, (w, states, acts)


def _bwd(alpha, unroll, residuals, g_states):
    w, states, acts = residuals
    w_t = w.T

    def body(lam_next, xs):
        g, h = xs
        delta = alpha * lam_next * (1 - h * h)
        return g + (1 - alpha) * lam_next + delta @ w_t, delta

    lam0, deltas = jax.lax.scan(body, jnp.zeros_like(states[0]), (g_states, acts), reverse=True, unroll=unroll)
    t, b, n = states.shape
    d_w = states.reshape(t * b, n).T @ deltas.reshape(t * b, n)
    return d_w, lam0, deltas


leaky_states.defvjp(_fwd, _bwd)
