"""The paper's conditions, declared once: how each is fitted and what the paper (or the theory)
reports for it (paper-spec section 1, "Critical delay and scaling exponent" and "Reported results").

The ``scaling`` analysis picks the first condition whose ``matches`` accepts the study's model and
task (``rnnsweep analyze --condition NAME`` overrides the choice); a study that matches none of the
paper's conditions is fitted with the generic settings and compared with nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..models import AbstractModel
from ..tasks import AbstractTask


@dataclasses.dataclass(frozen=True)
class FitConfig:
    min_max_failed: float = 0.1  # skip an lr whose largest failed fraction is below (post sweep: 0.2)
    p0: tuple[float, float] = (0.1, 0.1)  # initial (x0, k) of the exp-saturation fit
    sp_rates: int | None = None  # SP boundary over the first N rates, largest first (paper: 25 of 30)
    n_boot: int = 200
    boot_seed: int = 0


@dataclasses.dataclass(frozen=True)
class Condition:
    name: str
    description: str
    matches: Callable[[AbstractModel, AbstractTask], bool]
    fit: FitConfig = FitConfig()
    # law -> (beta, error, R^2) reported by the paper (or the theory, for the toy models)
    reference: dict[str, tuple[float, float, float]] = dataclasses.field(default_factory=dict)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return getattr(obj, name, default)


def _dcd(post: bool) -> Callable[[AbstractModel, AbstractTask], bool]:
    return lambda m, t: t.name == "dcd" and (_get(t, "post_ms", 0) > 0) == post


NOPOST_FIT = FitConfig(min_max_failed=0.1, p0=(0.1, 0.1), sp_rates=25)

CONDITIONS: tuple[Condition, ...] = (
    Condition("toy_sp_normalized", "ghost toy model, loss divided by T (theory: T^-4)",
              lambda m, t: m.family == "toy_sp" and m.normalize, reference={"learning_boundary": (4.0, 0.0, 1.0)}),
    Condition("toy_sp_raw", "ghost toy model (theory: T^-5)",
              lambda m, t: m.family == "toy_sp", reference={"learning_boundary": (5.0, 0.0, 1.0)}),
    Condition("toy_lc_response_equals_delay", "limit-cycle toy model, T_r = T (theory: T^-2)",
              lambda m, t: m.family == "toy_lc" and m.response_equals_delay,
              reference={"learning_boundary": (2.0, 0.0, 1.0)}),
    Condition("toy_lc_short_response", "limit-cycle toy model, T_r << T (theory: T^-3)",
              lambda m, t: m.family == "toy_lc", reference={"learning_boundary": (3.0, 0.0, 1.0)}),
    Condition("no_memory", "no-memory control: critical learning rate per response window",
              lambda m, t: t.name == "no_memory", reference={"no_memory": (0.38, 0.02, 0.97)}),
    Condition("post", "DCD with a post-response period",
              _dcd(post=True), FitConfig(min_max_failed=0.2, p0=(0.5, 0.1)),
              reference={"learning_boundary": (2.65, 0.23, 0.93)}),
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
