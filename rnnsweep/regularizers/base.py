"""The contract every regulariser fulfils, and its registry.

A regulariser is a frozen dataclass of static settings (the sweep file's ``[regularize.<name>]``
table) with a pure :meth:`AbstractRegularizer.penalty`. The trainer adds, for every regulariser of
the sweep::

    loss = task.loss(outputs, trials) + strength * regularizer.penalty(model, params, rates, n_steps)

where ``strength`` is the cell's value (a traced float: the ``strength`` setting, or the cell's
coordinate on the regulariser's grid axis :attr:`AbstractRegularizer.axis`, e.g. ``lambda_tcr``),
so one compiled program serves every strength of a grid. A cell whose strength is 0 trains exactly
as without the regulariser (the term is a ``where``, not a product: a non-finite penalty cannot leak
into it; tested bit for bit). The curve ``loss`` is the total, penalty included.

``rates`` are the model's observed states (T, B, N) *before* each step's update, as
:meth:`~rnnsweep.models.AbstractModel.run` returns them; ``n_steps`` is the cell's own trial length
(steps at or beyond it are padding and must not count).

Adding a regulariser is one file, ``rnnsweep/regularizers/<name>.py`` (or a plug-in file of your
own), with a final class decorated by :func:`register`. See docs/plugins.md.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..registry import Registry
from ..settings import Settings, positive

REGISTRY: Registry["AbstractRegularizer"] = Registry("regularizer", "name", required=("axis",))
register = REGISTRY.register


class AbstractRegularizer(Settings, abc.ABC):
    """A penalty on the network's parameters or activity, weighted per cell."""

    name: ClassVar[str]
    # The grid axis of the strength (``grid.<axis> = [...]``); the name the analysis sees it by.
    axis: ClassVar[str]

    strength: float = 0.0  # the weight of the penalty where ``axis`` is not a grid axis

    # --- what each regulariser defines ----------------------------------------------------------
    @abc.abstractmethod
    def check_settings(self) -> None:
        """Raise ``ValueError("regularize.<name>.<field>: ...")`` for impossible settings."""

    @abc.abstractmethod
    def check_model(self, model: Any) -> None:
        """Raise ``ValueError("regularize.<name>...: ...")`` when the penalty does not apply to
        ``model`` (a family without the parameters it needs, fewer units than it regulates)."""

    @abc.abstractmethod
    def penalty(self, model: Any, params: dict[str, jax.Array], rates: jax.Array, n_steps: jax.Array) -> jax.Array:
        """The unweighted penalty, a scalar."""

    # --- written once ---------------------------------------------------------------------------
    def validate(self) -> None:
        positive(f"regularize.{self.name}.strength", self.strength, allow_zero=True)
        self.check_settings()

    def weighted(self, strength: jax.Array, model: Any, params: dict[str, jax.Array], rates: jax.Array,
                 n_steps: jax.Array) -> jax.Array:
        """``strength * penalty``, exactly 0 (value and gradient) where ``strength`` is 0."""
        value = self.penalty(model, params, rates, n_steps)
        return jnp.where(strength != 0, strength * value, jnp.zeros_like(value))


def check_units(model: Any, name: str, n_units: int, kind: str) -> None:
    """Raise ``ValueError`` naming ``regularize.<name>...`` unless the family has ``n_neurons`` units and
    at least ``n_units`` of them (the ``kind`` of unit the regulariser takes: "memory", "regulated")."""
    n = getattr(model, "n_neurons", None)
    if not isinstance(n, int):
        raise ValueError(f"regularize.{name}: needs a family with n_neurons units; family {model.family!r} has none")
    if n_units > n:
        raise ValueError(f"regularize.{name}.n_units: {n_units} {kind} units, but the network has only {n} "
                         "(model.n_neurons)")


def regularizers() -> dict[str, type[AbstractRegularizer]]:
    return REGISTRY.all()


def get_regularizer(name: str) -> type[AbstractRegularizer]:
    return REGISTRY.get(name, f"regularize.{name}")
