"""Optimisers with the learning rate as a traced argument (it varies across the cells of a block).

``sgd`` reproduces ``torch.optim.SGD(lr, momentum, weight_decay)`` with dampening 0 and no
Nesterov: the decay is added to the gradient *before* momentum::

    g' = g + weight_decay * p;   buf = momentum * buf + g';   p = p - lr * buf

(torch's first step sets ``buf = g'``, which equals the formula with ``buf`` starting at 0).
``adam`` is optax's Adam with torch-style (L2, coupled) weight decay added to the gradient.
"""

from __future__ import annotations

import jax
import optax

OPTIMIZERS = ("sgd", "adam")


def make_optimizer(name: str, lr: jax.Array, momentum: float, weight_decay: float) -> optax.GradientTransformation:
    if name == "sgd":
        return optax.chain(
            optax.add_decayed_weights(weight_decay),
            optax.trace(decay=momentum, nesterov=False),
            optax.scale(-lr),
        )
    if name == "adam":
        return optax.chain(optax.add_decayed_weights(weight_decay), optax.scale_by_adam(), optax.scale(-lr))
    raise ValueError(f"train.optimizer: unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})")
