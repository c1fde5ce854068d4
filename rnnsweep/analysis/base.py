"""The contract of an analysis plug-in, and its registry.

An analysis is a frozen dataclass of its options (subclass :class:`Analysis`; no decorator needed),
registered under a ``name``. ``rnnsweep
analyze`` opens the study (:class:`~rnnsweep.analysis.study.Study`), then runs every registered
analysis that applies to it, the ones it ``requires`` first, and collects what each returns in a
:class:`Result`:

* ``cell_arrays``: arrays over the study's grid (leading axes = the grid), written into each
  source store's ``analysis/<name>`` subgroup (the part of the grid that store holds), replacing
  that subgroup only; ``cell_dims`` names their trailing axes (default ``<array>_dim<j>``), and
  ``coords`` gives those axes' values;
* ``arrays``: study-level arrays ``{name: (values, dims)}``, written to every source's subgroup
  too, with ``coords`` for their own axes;
* ``summary``: entries of summary.json (keys unique across analyses); ``report``: its section of
  report.md (markdown lines); ``figures``: the files it drew in the output folder;
* ``value``: any Python object later analyses read (``results[name].value``).

Adding an analysis is one file (``rnnsweep/analysis/<name>.py`` or a plug-in file of one's own);
see docs/plugins.md.
"""

from __future__ import annotations

import abc
import dataclasses
import sys
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from ..registry import Registry
from ..settings import Settings
from .study import Study


@dataclasses.dataclass
class Result:
    cell_arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    cell_dims: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # names of their trailing axes
    arrays: dict[str, tuple[np.ndarray, tuple[str, ...]]] = dataclasses.field(default_factory=dict)
    coords: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    report: list[str] = dataclasses.field(default_factory=list)
    figures: list[str] = dataclasses.field(default_factory=list)
    value: Any = None


@dataclasses.dataclass
class Context:
    """Where an analysis writes its figures, and how it talks."""

    out: Path
    progress: bool = True
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)


class Analysis(Settings, abc.ABC):
    """Every subclass is a frozen dataclass (its annotated fields are the analysis's options) with a
    ``name``, a one-line ``description`` and optionally ``requires``."""

    name: ClassVar[str]
    description: ClassVar[str]  # one line, for `rnnsweep list`
    requires: ClassVar[tuple[str, ...]] = ()
    # Analyses run before this one when they apply, whose results it reads when they ran (it runs
    # without them: ``dynamics`` groups its counts by the ``classes``, a task without classes in one group)
    uses: ClassVar[tuple[str, ...]] = ()
    # False: an opt-in analysis (costly), run only when named (``--only``, or its own flag such as
    # ``analyze --dynamics``)
    default: ClassVar[bool] = True

    @classmethod
    @abc.abstractmethod
    def applies(cls, study: Study) -> str | None:
        """``None`` if the analysis applies to the study, else the reason it does not."""

    @abc.abstractmethod
    def run(self, study: Study, results: dict[str, Result], ctx: Context) -> Result:
        """Analyse the study; ``results`` holds the results of the analyses run before (``requires``)."""


REGISTRY: Registry[Analysis] = Registry("analysis", "name", required=("description",))
register = REGISTRY.register


def analyses() -> dict[str, type[Analysis]]:
    return REGISTRY.all()


def run_order(selected: list[str]) -> list[str]:
    """``selected`` and everything they require or use, those first (registration order otherwise)."""
    known = analyses()
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        if name not in known:
            raise ValueError(f"unknown analysis {name!r} (known: {', '.join(known)})")
        if name in chain:
            raise ValueError(f"analyses require each other in a circle: {' -> '.join(chain + (name,))}")
        for dep in known[name].requires + known[name].uses:
            visit(dep, chain + (name,))
        order.append(name)

    for name in selected:
        visit(name, ())
    return order
