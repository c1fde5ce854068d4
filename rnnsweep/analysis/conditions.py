"""The paper's conditions, declared once: how each is classified and fitted, and what the paper (or
the theory) reports for it (paper-spec section 1; the reference's sort_data.py and Figure scripts).

A study's condition is the first whose ``matches`` accepts its model and task; ``rnnsweep analyze
--condition NAME`` overrides the choice. The ``classes`` analysis takes its rules (``Thresholds``) and
the ``scaling`` analysis its fits (``FitConfig``) from it. A study that matches none of the paper's
conditions is analysed with the defaults and compared with nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..models import AbstractModel
from ..tasks import AbstractTask
from .classify import Thresholds
from .fitting import FitConfig


@dataclasses.dataclass(frozen=True)
class Condition:
    name: str
    description: str
    matches: Callable[[AbstractModel, AbstractTask], bool]
    fit: FitConfig = FitConfig()
    rules: Thresholds = Thresholds()
    # law -> (beta, error, R^2) reported by the paper (or the theory, for the toy models)
    reference: dict[str, tuple[float, float, float]] = dataclasses.field(default_factory=dict)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return getattr(obj, name, default)


def _dcd(post: bool) -> Callable[[AbstractModel, AbstractTask], bool]:
    return lambda m, t: t.name == "dcd" and (_get(t, "post_ms", 0) > 0) == post


NOPOST_FIT = FitConfig(sp_rates=25)  # the SP boundary over the 25 largest of the 30 rates
# the post sweep: stricter skip rules, another start, and lr 0.0719686 left out of both power laws
POST_FIT = FitConfig(min_max_failed=0.2, p0=(0.5, 0.1), sp_min_max=0.2, exclude_lrs=(0.0719686,))
# the no-memory control: no stability rule; runs stopped by the loss limit are classified too
NO_MEMORY_RULES = Thresholds(stability=False, classify_loss_limited=True)

# The toy models are rnnsweep's own check of the theory, not a reference figure: their boundaries are
# fitted with the robust fits (a grid of starts; the reference's single start fails at these delays).
TOY_FIT = FitConfig(method="robust")

CONDITIONS: tuple[Condition, ...] = (
    Condition("toy_sp_normalized", "ghost toy model, loss divided by T (theory: T^-4)",
              lambda m, t: m.family == "toy_sp" and m.normalize, TOY_FIT,
              reference={"learning_boundary": (4.0, 0.0, 1.0)}),
    Condition("toy_sp_raw", "ghost toy model (theory: T^-5)",
              lambda m, t: m.family == "toy_sp", TOY_FIT, reference={"learning_boundary": (5.0, 0.0, 1.0)}),
    Condition("toy_lc_response_equals_delay", "limit-cycle toy model, T_r = T (theory: T^-2)",
              lambda m, t: m.family == "toy_lc" and m.response_equals_delay, TOY_FIT,
              reference={"learning_boundary": (2.0, 0.0, 1.0)}),
    Condition("toy_lc_short_response", "limit-cycle toy model, T_r << T (theory: T^-3)",
              lambda m, t: m.family == "toy_lc", TOY_FIT, reference={"learning_boundary": (3.0, 0.0, 1.0)}),
    Condition("no_memory", "no-memory control: critical learning rate per response window; no stability rule",
              lambda m, t: t.name == "no_memory", rules=NO_MEMORY_RULES, reference={"no_memory": (0.38, 0.02, 0.97)}),
    Condition("post", "DCD with a post-response period (skip rules 0.2, lr 0.0720 left out of the fits)",
              _dcd(post=True), POST_FIT, reference={"learning_boundary": (2.65, 0.23, 0.93)}),
    Condition("long_tau", "DCD without post period, tau above 10 ms (paper: 'similar scaling', no number)",
              lambda m, t: _dcd(post=False)(m, t) and _get(m, "tau_ms", 10.0) > 10.0, NOPOST_FIT),
    Condition("nopost", "DCD without post period (the narrow and broad sweeps; SP boundary over the 25 largest rates)",
              _dcd(post=False), NOPOST_FIT,
              reference={"learning_boundary": (2.72, 0.07, 0.98), "sp_boundary": (4.05, 0.10, 0.99)}),
    Condition("generic", "any other study: default fits, nothing to compare with", lambda m, t: True),
)


def condition_named(name: str) -> Condition:
    for c in CONDITIONS:
        if c.name == name:
            return c
    raise ValueError(f"--condition: unknown condition {name!r} (known: {', '.join(c.name for c in CONDITIONS)})")


def condition_of(model: AbstractModel, task: AbstractTask) -> Condition:
    return next(c for c in CONDITIONS if c.matches(model, task))
